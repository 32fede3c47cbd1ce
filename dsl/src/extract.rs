//! Finding the `#!watchflakes` script at the start of an issue body (upstream's `findScript`).

/// Where the script of an issue body stands, before parsing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Extracted {
    /// The script text, exactly as extracted (quoted in every comment).
    Script(String),
    /// The body has no script at its start.
    NoScript,
}

/// Extraction failures that upstream does not survive.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// The body is empty or only whitespace (upstream crashes with an index out of range).
    #[error("empty issue body: no script can be found")]
    EmptyBody,
}

/// Extracts the script from an issue body.
///
/// After `\r\n` → `\n` and dropping leading blank lines, the first line must open either a
/// fenced block (a run of backquotes at column 0; closed by a later line that starts with the
/// fence and is otherwise only backquotes and whitespace) or an indented block (lines starting
/// with a tab or four spaces; indentation kept). The block's first line, trimmed, must be
/// `#!watchflakes`.
pub fn find_script(body: &str) -> Result<Extracted, ExtractError> {
    let body: std::borrow::Cow<'_, str> = if body.contains("\r\n") {
        body.replace("\r\n", "\n").into()
    } else {
        body.into()
    };
    // Lines with the offset each starts at; only those up to the block's end are looked at.
    let mut lines = body.split_inclusive('\n').scan(0, |offset, line| {
        let start = *offset;
        *offset += line.len();
        Some((start, line))
    });
    let (first_start, first) = lines
        .by_ref()
        .find(|(_, line)| !line.trim().is_empty())
        .ok_or(ExtractError::EmptyBody)?;
    let after_first = first_start + first.len();
    let block: &str = if first.starts_with("```") {
        let fence_len = first.bytes().take_while(|&b| b == b'`').count();
        let fence = &first[..fence_len];
        let close = lines.find(|(_, line)| {
            line.strip_prefix(fence)
                .is_some_and(|rest| rest.trim_start_matches('`').trim().is_empty())
        });
        match close {
            Some((close_start, _)) => &body[after_first..close_start],
            None => "",
        }
    } else if is_indented(first) {
        let end = lines
            .find(|(_, line)| !is_indented(line))
            .map_or(body.len(), |(start, _)| start);
        &body[first_start..end]
    } else {
        ""
    };
    let header = block.split_inclusive('\n').next().unwrap_or("");
    if header.trim() != "#!watchflakes" {
        return Ok(Extracted::NoScript);
    }
    Ok(Extracted::Script(block.to_owned()))
}

fn is_indented(line: &str) -> bool {
    line.starts_with('\t') || line.starts_with("    ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenced_and_indented_blocks() {
        let fenced = "```\n#!watchflakes\npost <- pkg == \"x\"\n```\nprose\n";
        assert_eq!(
            find_script(fenced),
            Ok(Extracted::Script(
                "#!watchflakes\npost <- pkg == \"x\"\n".into()
            ))
        );
        let indented = "\n    #!watchflakes\n    post <- pkg == \"x\"\nprose";
        assert_eq!(
            find_script(indented),
            Ok(Extracted::Script(
                "    #!watchflakes\n    post <- pkg == \"x\"\n".into()
            ))
        );
        assert_eq!(
            find_script("prose\n```\n#!watchflakes\n```"),
            Ok(Extracted::NoScript)
        );
        assert_eq!(find_script(" \r\n\t\n"), Err(ExtractError::EmptyBody));
        assert_eq!(find_script(""), Err(ExtractError::EmptyBody));
    }

    #[test]
    fn fence_rules() {
        // A shorter fence does not close; a longer one does; an unclosed fence yields no text.
        let body = "````watchflakes\n#!watchflakes\n```\n`````  \nrest";
        assert_eq!(
            find_script(body),
            Ok(Extracted::Script("#!watchflakes\n```\n".into()))
        );
        assert_eq!(find_script("```\n#!watchflakes\n"), Ok(Extracted::NoScript));
    }
}
