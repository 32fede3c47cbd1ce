//! Shortening a test or build log to the snippet shown in issues and comments (watchflakes'
//! `snippet`).

/// Logs with at most this many (non-blank-trimmed) lines are kept whole.
const MAX_WHOLE: usize = 30;
/// Lines kept at the start, in the middle window and at the end of a long log.
const PART: usize = 10;
/// The line that marks an omission.
const DOTS: &str = "...\n";

/// Shortens `log` to its interesting lines, exactly as watchflakes does.
///
/// Leading and trailing blank lines are dropped. A log of at most 30 lines is returned as it
/// is (without a final newline if it had none). A longer one becomes its first 10 lines, a
/// window of up to 10 lines starting at the first important-looking line (`panic:`,
/// `fatal error:`, `--- FAIL:`, `: internal compiler error:`) among the lines between the
/// head and the tail, and the last 10 lines, with `...` lines marking omissions.
pub fn snippet(log: &str) -> String {
    let mut lines: Vec<&str> = log.split_inclusive('\n').collect();
    let first = lines
        .iter()
        .position(|l| !l.trim().is_empty())
        .unwrap_or(lines.len());
    lines.drain(..first);
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    let n = lines.len();
    if n <= MAX_WHOLE {
        return lines.concat();
    }

    let mut keep: Vec<&str> = Vec::with_capacity(3 * PART + 2);
    keep.extend_from_slice(&lines[..PART]);
    let tail = n - PART;
    let mut dots_before_tail = true;
    if let Some(i) = (PART..tail).find(|&i| is_important(lines[i])) {
        if i > PART {
            keep.push(DOTS);
        }
        let mut end = i + PART;
        if end >= tail {
            dots_before_tail = false;
            end = tail;
        }
        keep.extend_from_slice(&lines[i..end]);
    }
    if dots_before_tail {
        keep.push(DOTS);
    }
    keep.extend_from_slice(&lines[tail..]);
    keep.concat()
}

/// Whether a line starts the middle window.
fn is_important(line: &str) -> bool {
    let s = line.trim();
    s.starts_with("panic:")
        || s.starts_with("fatal error:")
        || s.starts_with("--- FAIL:")
        || s.contains(": internal compiler error:")
}

#[cfg(test)]
mod tests {
    use super::snippet;

    fn numbered(n: usize, special: &[(usize, &str)]) -> String {
        (0..n)
            .map(|i| {
                special
                    .iter()
                    .find(|(at, _)| *at == i)
                    .map_or_else(|| format!("line {i}\n"), |(_, s)| format!("{s}\n"))
            })
            .collect()
    }

    #[test]
    fn empty_and_blank_logs() {
        assert_eq!(snippet(""), "");
        assert_eq!(snippet("\n\n  \t\n"), "");
        assert_eq!(snippet("\n\n  a\n\n\n"), "  a\n");
        // Unicode white space counts as blank, as Go's strings.TrimSpace has it.
        assert_eq!(snippet("\u{a0}\nx\n\u{2003}\n"), "x\n");
    }

    #[test]
    fn thirty_one_lines_with_nothing_important() {
        let out = snippet(&numbered(31, &[]));
        let expected: String = (0..10)
            .map(|i| format!("line {i}\n"))
            .chain(std::iter::once("...\n".to_owned()))
            .chain((21..31).map(|i| format!("line {i}\n")))
            .collect();
        assert_eq!(out, expected);
    }

    #[test]
    fn window_clipped_at_tail_drops_dots() {
        // 31 lines, panic at index 11 (window would be 11..21, tail starts at 21).
        let out = snippet(&numbered(31, &[(11, "panic: x")]));
        assert!(out.contains("line 9\n...\npanic: x\n"));
        assert!(out.contains("line 20\nline 21\n"), "{out}");
        assert_eq!(out.matches("...").count(), 1);
        assert_eq!(out.lines().count(), 10 + 1 + 10 + 10);
    }

    #[test]
    fn important_line_in_tail_is_ignored() {
        let out = snippet(&numbered(40, &[(35, "panic: late")]));
        assert_eq!(out.matches("...\n").count(), 1);
        assert!(out.contains("panic: late"));
        assert_eq!(out.lines().count(), 21);
    }

    #[test]
    fn indented_markers_count() {
        let out = snippet(&numbered(45, &[(12, "\t  fatal error: stack")]));
        assert!(out.contains("...\n\t  fatal error: stack\nline 13\n"));
        assert!(out.contains("line 21\n...\nline 35\n"));
    }

    proptest::proptest! {
        #[test]
        fn short_logs_are_only_trimmed_and_long_ones_bounded(
            lines in proptest::collection::vec("[ a-z:-]{0,12}", 0..80),
            final_newline: bool,
        ) {
            let mut log = lines.join("\n");
            if final_newline {
                log.push('\n');
            }
            let out = snippet(&log);
            let kept: Vec<&str> = log.split_inclusive('\n').collect();
            let first = kept.iter().position(|l| !l.trim().is_empty()).unwrap_or(kept.len());
            let last = kept.iter().rposition(|l| !l.trim().is_empty()).map_or(first, |i| i + 1);
            let trimmed = &kept[first..last.max(first)];
            if trimmed.len() <= 30 {
                proptest::prop_assert_eq!(out, trimmed.concat());
            } else {
                // Head, tail, at most one window, at most two `...` lines.
                proptest::prop_assert!(out.split_inclusive('\n').count() <= 32);
                proptest::prop_assert!(out.starts_with(&trimmed[..10].concat()));
                proptest::prop_assert!(out.ends_with(&trimmed[trimmed.len() - 10..].concat()));
            }
        }
    }
}
