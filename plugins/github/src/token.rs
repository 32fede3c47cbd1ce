//! The API token: kept out of every `Debug` output and every message.

use std::fmt;

/// A GitHub token. It has no `Display`, and its `Debug` prints no part of it; the only way to
/// the text is `Token::header`, which builds the `Authorization` value.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// A token from its text, without surrounding whitespace. `None` if nothing is left.
    pub fn new(text: &str) -> Option<Token> {
        let text = text.trim();
        (!text.is_empty()).then(|| Token(text.to_owned()))
    }

    /// The `Authorization` header value.
    pub(crate) fn header(&self) -> String {
        format!("Bearer {}", self.0)
    }

    /// `text` with every occurrence of the token replaced by `[redacted]`: applied to every
    /// message the plugin returns, whatever produced it.
    pub(crate) fn scrub(&self, text: &str) -> String {
        text.replace(&self.0, "[redacted]")
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token([redacted])")
    }
}

/// Scrubs `text` of an optional token.
pub(crate) fn scrub(token: Option<&Token>, text: &str) -> String {
    match token {
        Some(token) => token.scrub(text),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_scrub_hide_the_token() {
        let token = Token::new(" ghp_secret123\n").expect("token");
        assert_eq!(format!("{token:?}"), "Token([redacted])");
        assert_eq!(token.header(), "Bearer ghp_secret123");
        assert_eq!(token.scrub("bad ghp_secret123 here"), "bad [redacted] here");
        assert!(Token::new(" \n").is_none());
    }
}
