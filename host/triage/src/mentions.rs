//! De-duplication by build-URL mentions (docs/triage.md, "One cycle", step 8): which comments
//! watchflakes signed, the build URLs they mention, and whether an issue body is newer than
//! the last signed comment (step 2).

use std::collections::BTreeSet;

use flakewatch_core::Timestamp;

/// Whether a comment was written by watchflakes: it contains `\n— watchflakes` or
/// `\n— [watchflakes](` (the dash is U+2014).
pub fn is_signed(comment: &str) -> bool {
    comment.contains("\n\u{2014} watchflakes") || comment.contains("\n\u{2014} [watchflakes](")
}

/// The build URLs a comment mentions, in order, as upstream's
/// `` [("']https://ci.chromium.org/(ui/)?b/[0-9]+['")] `` finds them: each URL directly
/// enclosed by `(`, `"` or `'` on the left and `'`, `"` or `)` on the right, returned without
/// those characters. Matches do not overlap, so a quote closing one URL cannot open the next.
/// As in the regexp, each `.` of `ci.chromium.org` stands for any character but a newline.
pub fn build_url_mentions(comment: &str) -> Vec<&str> {
    let mut urls = Vec::new();
    let mut at = 0;
    while let Some(offset) = comment[at..].find(['(', '"', '\'']) {
        let start = at + offset;
        match match_len(&comment[start..]) {
            Some(len) => {
                urls.push(&comment[start + 1..start + len - 1]);
                at = start + len;
            }
            // The opening characters are ASCII, one byte long.
            None => at = start + 1,
        }
    }
    urls
}

/// The length of the build-URL match at the start of `s`, if there is one.
fn match_len(s: &str) -> Option<usize> {
    let rest = s.strip_prefix(['(', '"', '\''])?;
    let rest = rest.strip_prefix("https://ci")?;
    let rest = skip_non_newline(rest)?.strip_prefix("chromium")?;
    let rest = skip_non_newline(rest)?.strip_prefix("org/")?;
    // `(ui/)?` then `b/`: taking `ui/` is the only way a match can go on when it is there.
    let rest = rest.strip_prefix("ui/").unwrap_or(rest);
    let rest = rest.strip_prefix("b/")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let rest = rest[digits..].strip_prefix(['\'', '"', ')'])?;
    Some(s.len() - rest.len())
}

/// Skips one character other than `\n` (the regexp's `.`).
fn skip_non_newline(s: &str) -> Option<&str> {
    let c = s.chars().next().filter(|&c| c != '\n')?;
    Some(&s[c.len_utf8()..])
}

/// The build URLs already mentioned on an issue.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mentions {
    urls: BTreeSet<String>,
}

impl Mentions {
    /// No mentions.
    pub fn new() -> Mentions {
        Mentions::default()
    }

    /// Records the URLs of one comment if watchflakes signed it, each as found and with
    /// `ci.chromium.org/ui/b/` rewritten to `ci.chromium.org/b/` (an older URL form). Returns
    /// whether the comment was signed; unsigned comments are ignored.
    pub fn add_comment(&mut self, comment: &str) -> bool {
        if !is_signed(comment) {
            return false;
        }
        for url in build_url_mentions(comment) {
            self.urls.insert(url.to_owned());
            self.urls
                .insert(url.replacen("ci.chromium.org/ui/b/", "ci.chromium.org/b/", 1));
        }
        true
    }

    /// Records one URL, e.g. after posting it.
    pub fn insert(&mut self, url: impl Into<String>) {
        self.urls.insert(url.into());
    }

    /// Whether `url` is mentioned.
    pub fn contains(&self, url: &str) -> bool {
        self.urls.contains(url)
    }

    /// The mentioned URLs, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.urls.iter().map(String::as_str)
    }

    /// The number of mentioned URLs.
    pub fn len(&self) -> usize {
        self.urls.len()
    }

    /// Whether nothing is mentioned.
    pub fn is_empty(&self) -> bool {
        self.urls.is_empty()
    }
}

/// One issue comment, as far as watchflakes looks at it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Comment<'a> {
    /// When the comment was created.
    pub created: Timestamp,
    /// Its Markdown body.
    pub body: &'a str,
}

/// What an issue's comments say (`readComments` upstream).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommentScan {
    /// Whether the issue body is newer than every signed comment, so that a script error
    /// on it has not been complained about yet.
    pub new_body: bool,
    /// The build URLs the signed comments mention.
    pub mentions: Mentions,
}

/// Scans an issue's comments. `last_edited` is when the body was last edited, `None` if it
/// never was; then any signed comment counts as newer than the body (upstream compares with
/// Go's zero time).
pub fn scan_comments<'a, I>(last_edited: Option<Timestamp>, comments: I) -> CommentScan
where
    I: IntoIterator<Item = Comment<'a>>,
{
    let mut scan = CommentScan {
        new_body: true,
        mentions: Mentions::new(),
    };
    for comment in comments {
        if !scan.mentions.add_comment(comment.body) {
            continue;
        }
        if last_edited.is_none_or(|edited| comment.created > edited) {
            scan.new_body = false;
        }
    }
    scan
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIG: &str = "\n\n\u{2014} [watchflakes](https://go.dev/wiki/Watchflakes)\n";

    #[test]
    fn signature_forms() {
        assert!(is_signed("x\n\u{2014} watchflakes"));
        assert!(is_signed(SIG));
        assert!(!is_signed("\u{2014} watchflakes"));
        assert!(!is_signed("x\n- watchflakes"));
        assert!(!is_signed("x\n\u{2014} [watchflakes]"));
    }

    #[test]
    fn enclosing_characters() {
        let found = build_url_mentions(
            "('https://ci.chromium.org/b/1') \"https://ci.chromium.org/ui/b/2\" \
             (https://ci.chromium.org/b/3\" https://ci.chromium.org/b/4) \
             (https://ci.chromium.org/b/) (https://ci.chromium.org/b/5x) \
             [https://ci.chromium.org/b/6]",
        );
        assert_eq!(
            found,
            [
                "https://ci.chromium.org/b/1",
                "https://ci.chromium.org/ui/b/2",
                "https://ci.chromium.org/b/3"
            ]
        );
    }

    #[test]
    fn matches_do_not_overlap() {
        let found =
            build_url_mentions("\"https://ci.chromium.org/b/1\"https://ci.chromium.org/b/2\"");
        assert_eq!(found, ["https://ci.chromium.org/b/1"]);
    }

    #[test]
    fn dots_match_any_character_but_newline() {
        assert_eq!(
            build_url_mentions("(https://ciéchromium-org/b/7)"),
            ["https://ciéchromium-org/b/7"]
        );
        assert!(build_url_mentions("(https://ci\nchromium.org/b/7)").is_empty());
        assert!(build_url_mentions("(https://ci.chromium.org/ui/c/7)").is_empty());
    }

    #[test]
    fn old_urls_are_also_recorded_in_the_new_form() {
        let mut m = Mentions::new();
        assert!(m.add_comment(&format!(
            "<a href=\"https://ci.chromium.org/ui/b/42\">{SIG}"
        )));
        assert_eq!(
            m.iter().collect::<Vec<_>>(),
            [
                "https://ci.chromium.org/b/42",
                "https://ci.chromium.org/ui/b/42"
            ]
        );
        assert!(!m.add_comment("unsigned 'https://ci.chromium.org/b/43'"));
        assert!(!m.contains("https://ci.chromium.org/b/43"));
        m.insert("https://ci.chromium.org/b/44");
        assert_eq!(m.len(), 3);
        assert!(!m.is_empty());
    }

    #[test]
    fn new_body_depends_on_signed_comments_after_the_edit() {
        let t = |s| Timestamp::from_unix(s, 0).expect("valid");
        let signed = format!("ok{SIG}");
        let comments = [
            Comment {
                created: t(10),
                body: &signed,
            },
            Comment {
                created: t(30),
                body: "human reply",
            },
        ];
        assert!(!scan_comments(None, comments).new_body);
        assert!(!scan_comments(Some(t(5)), comments).new_body);
        // Equal times are not "after".
        assert!(scan_comments(Some(t(10)), comments).new_body);
        assert!(scan_comments(Some(t(20)), comments).new_body);
        assert!(scan_comments(None, []).new_body);
    }

    proptest::proptest! {
        #[test]
        fn found_urls_are_enclosed_build_urls(
            text in "([\"'()]|https://ci.chromium.org/(ui/)?b/[0-9]{0,3}|x|\n){0,12}"
        ) {
            for url in build_url_mentions(&text) {
                proptest::prop_assert!(url.starts_with("https://ci"));
                proptest::prop_assert!(url.ends_with(|c: char| c.is_ascii_digit()));
                proptest::prop_assert!(text.contains(url));
            }
        }
    }
}
