//! Format detection by content: XML is JUnit; JSON lines with `Action` are `go test -json`,
//! with `action` mozlog (errorsummary when the actions or keys say so); a pre-1.24
//! `FAIL\t<pkg> [build failed]` line alone is `go test -json` too.

use super::model::Format;

/// Bytes of an input's start that detection looks at.
pub const HEAD_BYTES: usize = 64 * 1024;

/// Why detection could not decide.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Undetected {
    /// Nothing but whitespace.
    Empty,
    /// Starts like UTF-16 (named).
    Utf16(&'static str),
    /// Neither XML nor known JSON lines.
    Unknown,
}

/// Decides the format of an input from its first bytes (up to [`HEAD_BYTES`]).
pub fn detect(head: &[u8]) -> Result<Format, Undetected> {
    if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[b'<', 0]) {
        return Err(Undetected::Utf16("UTF-16LE"));
    }
    if head.starts_with(&[0xFE, 0xFF]) || head.starts_with(&[0, b'<']) {
        return Err(Undetected::Utf16("UTF-16BE"));
    }
    let head = head.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(head);
    let start = head.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else {
        return Err(Undetected::Empty);
    };
    if head[start] == b'<' {
        return Ok(Format::Junit);
    }
    let text = String::from_utf8_lossy(&head[start..]);
    // The last line may be cut by the head's end; only look at complete lines then.
    let complete = if head.len() >= HEAD_BYTES {
        text.rfind('\n').map_or("", |i| &text[..i])
    } else {
        &text
    };
    let mut go_build_line = false;
    for line in complete.lines().take(500) {
        let line = line.trim();
        if line.starts_with('{') {
            let Ok(serde_json::Value::Object(object)) =
                serde_json::from_str::<serde_json::Value>(line)
            else {
                continue;
            };
            if object.contains_key("Action") {
                return Ok(Format::GoTest);
            }
            if let Some(action) = object.get("action").and_then(|a| a.as_str()) {
                let summary = matches!(action, "test_groups" | "test_result" | "group_result")
                    || (object.contains_key("line") && !object.contains_key("time"));
                return Ok(if summary {
                    Format::MozlogErrorSummary
                } else {
                    Format::MozlogRaw
                });
            }
        } else if let Some(rest) = line.strip_prefix("FAIL\t")
            && rest.ends_with(" failed]")
            && rest.contains(" [")
        {
            go_build_line = true;
        }
    }
    if go_build_line {
        return Ok(Format::GoTest);
    }
    Err(Undetected::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_format() {
        assert_eq!(
            detect(b"\xEF\xBB\xBF  <?xml?><testsuites/>"),
            Ok(Format::Junit)
        );
        assert_eq!(detect(b"noise\n{\"Action\":\"run\"}\n"), Ok(Format::GoTest));
        assert_eq!(detect(b"FAIL\tx [build failed]\n"), Ok(Format::GoTest));
        assert_eq!(
            detect(b"{\"action\":\"suite_start\",\"time\":1}\n"),
            Ok(Format::MozlogRaw)
        );
        assert_eq!(
            detect(b"{\"action\":\"log\",\"line\":3}\n"),
            Ok(Format::MozlogErrorSummary)
        );
        assert_eq!(detect(b" \n\t"), Err(Undetected::Empty));
        assert_eq!(detect(b"=== RUN   TestX\n"), Err(Undetected::Unknown));
        assert_eq!(detect(b"\xFF\xFE<\0"), Err(Undetected::Utf16("UTF-16LE")));
    }
}
