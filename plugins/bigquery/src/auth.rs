//! Credentials: an access token given as it is, or a service-account JSON key whose signed
//! RS256 JWT is exchanged for an OAuth access token at the key's `token_uri` (RFC 7523, as
//! Google's OAuth 2.0 server-to-server flow does it). The token is cached until shortly
//! before it expires. Signing is `ring`'s RSASSA-PKCS1-v1_5 with SHA-256.

use std::fmt;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde::Deserialize;

use crate::secret::Secret;

/// The OAuth scope asked for.
pub const SCOPE: &str = "https://www.googleapis.com/auth/bigquery";

/// How long before its expiry a cached token is replaced.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// How long a signed assertion is valid (Google accepts at most one hour).
const ASSERTION_LIFETIME: u64 = 3600;

/// Where the access token comes from.
#[derive(Debug)]
pub enum Credentials {
    /// A token given as it is (`FLAKEWATCH_BIGQUERY_TOKEN`, option `token`): used until
    /// BigQuery refuses it.
    Token(Secret),
    /// A service-account key: tokens are obtained and renewed by the plugin.
    ServiceAccount(Box<ServiceAccount>),
    /// No credentials (an emulator, which accepts anything).
    None,
}

/// The fields of a service-account JSON key file that are used.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type", default)]
    kind: String,
    client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: Option<String>,
    #[serde(default = "default_token_uri")]
    token_uri: String,
}

fn default_token_uri() -> String {
    "https://oauth2.googleapis.com/token".to_owned()
}

/// A service account: who it is, its signing key, where tokens come from, and the cached
/// token.
pub struct ServiceAccount {
    client_email: String,
    key_id: Option<String>,
    token_uri: String,
    key: RsaKeyPair,
    cached: Mutex<Option<(Secret, Instant)>>,
}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .field("key", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// The token endpoint's answer.
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub(crate) access_token: String,
    #[serde(default)]
    pub(crate) expires_in: Option<u64>,
}

impl ServiceAccount {
    /// Reads a JSON key file. Messages name the file and what is wrong with it, never its
    /// contents.
    pub fn from_file(path: &Path) -> Result<ServiceAccount, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("key-file {}: {}", path.display(), e.kind()))?;
        ServiceAccount::from_json(&text)
            .map_err(|why| format!("key-file {}: {why}", path.display()))
    }

    /// Reads a JSON key.
    pub fn from_json(text: &str) -> Result<ServiceAccount, String> {
        let file: KeyFile = serde_json::from_str(text).map_err(|e| {
            // serde's message may quote a value: give only the position.
            format!(
                "not a service-account JSON key (line {}, column {})",
                e.line(),
                e.column()
            )
        })?;
        if !file.kind.is_empty() && file.kind != "service_account" {
            return Err(format!(
                "the key's type is {:?}, not \"service_account\"",
                file.kind
            ));
        }
        if !(file.token_uri.starts_with("https://") || file.token_uri.starts_with("http://")) {
            return Err("the key's token_uri is not an http(s) URL".to_owned());
        }
        let der = pem_pkcs8(&file.private_key)?;
        let key = RsaKeyPair::from_pkcs8(&der)
            .map_err(|e| format!("the key's private_key is not an RSA PKCS#8 key ({e})"))?;
        Ok(ServiceAccount {
            client_email: file.client_email,
            key_id: file.private_key_id,
            token_uri: file.token_uri,
            key,
            cached: Mutex::new(None),
        })
    }

    /// The token endpoint.
    pub fn token_uri(&self) -> &str {
        &self.token_uri
    }

    /// The cached token, when it is still good for a while.
    pub(crate) fn cached(&self) -> Option<Secret> {
        let cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        match &*cached {
            Some((token, until)) if Instant::now() + EXPIRY_MARGIN < *until => Some(token.clone()),
            _ => None,
        }
    }

    /// Keeps a token obtained now for `expires_in` seconds.
    pub(crate) fn remember(&self, token: Secret, expires_in: u64) {
        let until = Instant::now() + Duration::from_secs(expires_in);
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some((token, until));
    }

    /// Forgets the cached token (BigQuery refused it).
    pub(crate) fn forget(&self) {
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// A signed assertion for the token request, issued `now` (seconds since the epoch).
    pub fn assertion(&self, now: u64) -> Result<Secret, String> {
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.key_id {
            header["kid"] = serde_json::Value::String(kid.clone());
        }
        let claims = serde_json::json!({
            "iss": self.client_email,
            "scope": SCOPE,
            "aud": self.token_uri,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| "signing the token request failed".to_owned())?;
        let jwt = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature));
        Secret::new(&jwt).ok_or_else(|| "empty assertion".to_owned())
    }

    /// The form body of the token request (`application/x-www-form-urlencoded`).
    pub(crate) fn token_request_body(&self) -> Result<Secret, String> {
        let assertion = self.assertion(epoch_seconds())?;
        // The assertion is base64url and dots: nothing to escape.
        let body = format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={}",
            assertion.expose()
        );
        Secret::new(&body).ok_or_else(|| "empty token request".to_owned())
    }
}

/// Seconds since the epoch.
pub(crate) fn epoch_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The DER bytes of a PEM `PRIVATE KEY` block.
fn pem_pkcs8(pem: &str) -> Result<Vec<u8>, String> {
    const BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
    const END: &str = "-----END PRIVATE KEY-----";
    let start = pem
        .find(BEGIN)
        .ok_or("the key's private_key has no PEM PRIVATE KEY block")?
        + BEGIN.len();
    let end = pem[start..]
        .find(END)
        .ok_or("the key's private_key PEM block is not closed")?
        + start;
    let body: String = pem[start..end]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    STANDARD
        .decode(body)
        .map_err(|_| "the key's private_key PEM block is not base64".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_keys_are_refused_without_echoing_them() {
        let err =
            ServiceAccount::from_json(r#"{"client_email": "a@b", "private_key": "SECRETPEM"}"#)
                .expect_err("no PEM block");
        assert!(err.contains("no PEM PRIVATE KEY block"), "{err}");
        assert!(!err.contains("SECRETPEM"), "{err}");
        let err = ServiceAccount::from_json(
            "{\"client_email\": \"a@b\", \"private_key\": \"-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----\\n\"}",
        )
        .expect_err("not RSA");
        assert!(err.contains("not an RSA PKCS#8 key"), "{err}");
        let err = ServiceAccount::from_json("{\"private_key\": \"SECRET\" ").expect_err("bad JSON");
        assert!(!err.contains("SECRET"), "{err}");
    }
}
