//! Credentials kept out of every `Debug` output, message and log: an access token, a private
//! key.

use std::fmt;

/// A secret text (an access token, a PEM private key). It has no `Display`, and its `Debug`
/// prints no part of it; `Secret::expose` (crate-private) is the one way to the text, used where the
/// secret is sent (an `Authorization` header, a signature).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A secret from its text, without surrounding whitespace. `None` if nothing is left.
    pub fn new(text: &str) -> Option<Secret> {
        let text = text.trim();
        (!text.is_empty()).then(|| Secret(text.to_owned()))
    }

    /// The text, for sending it where it belongs.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the secret replaced by `[redacted]`.
    pub fn scrub(&self, text: &str) -> String {
        // A secret shorter than this could match ordinary text; such a secret is also
        // worthless as a credential, so there is nothing to hide in practice.
        if self.0.len() < 4 {
            return text.to_owned();
        }
        text.replace(&self.0, "[redacted]")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_scrub_hide_the_secret() {
        let secret = Secret::new(" ya29.secret-token\n").expect("secret");
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
        assert_eq!(secret.expose(), "ya29.secret-token");
        assert_eq!(
            secret.scrub("refused ya29.secret-token here"),
            "refused [redacted] here"
        );
        assert!(Secret::new(" \n").is_none());
    }
}
