//! Requests to GitHub with `ureq`: authentication, rate limits, retries with capped
//! exponential backoff and jitter inside a bounded total wait, and conditional requests
//! (`ETag` / `If-None-Match`) answered from an in-memory cache, and from a directory when
//! one is given (so that a new process, too, reads an unchanged listing for no quota).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::token::{Token, scrub};

/// The largest response body read (a page of 100 issues with long bodies stays far below).
const MAX_BODY: u64 = 64 << 20;

/// How long a secondary rate limit without `retry-after` or a reset is waited out: GitHub
/// asks for at least one minute.
const SECONDARY_WAIT: Duration = Duration::from_secs(60);

/// The HTTP methods used.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Method {
    /// Reads.
    Get,
    /// Creates (not idempotent), and GraphQL (idempotent for the queries and the mutation used).
    Post,
    /// Updates (idempotent).
    Patch,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
        }
    }
}

/// Retry and timing settings.
#[derive(Clone, Debug)]
pub struct Policy {
    /// The longest a request may take in all, waits included.
    pub max_wait: Duration,
    /// The first backoff; it doubles per attempt.
    pub retry_base: Duration,
    /// The largest backoff.
    pub retry_cap: Duration,
    /// The timeout of one attempt.
    pub timeout: Duration,
}

/// A successful answer: its JSON and its `Link` header.
#[derive(Clone, Debug)]
pub struct Reply {
    /// The document.
    pub json: Value,
    /// The `Link` header.
    pub link: Option<String>,
    /// Whether it came from the cache after a `304 Not Modified`.
    pub not_modified: bool,
}

#[derive(Clone, Debug)]
struct Cached {
    etag: String,
    json: Value,
    link: Option<String>,
}

/// The client of one plugin instance.
#[derive(Debug)]
pub struct Client {
    agent: ureq::Agent,
    token: Option<Token>,
    policy: Policy,
    cache: Mutex<HashMap<String, Cached>>,
    /// Where answers with an `ETag` are also kept, one file per URL.
    cache_dir: Option<PathBuf>,
    /// Set when a response said the primary limit is used up: no request before then.
    blocked_until: Mutex<Option<u64>>,
}

/// What one attempt came to.
enum Attempt {
    Done(Reply),
    /// Retry after this long (at least), because of this.
    Retry(Option<Duration>, String),
    /// Give up with this message.
    Fail(String),
}

fn epoch_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Client {
    /// A client; `loopback` skips any proxy from the environment.
    pub fn new(token: Option<Token>, policy: Policy, loopback: bool) -> Client {
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(policy.timeout))
            .max_redirects(0)
            .user_agent(concat!(
                "flakewatch-plugin-github/",
                env!("CARGO_PKG_VERSION")
            ));
        if loopback {
            config = config.proxy(None);
        }
        Client {
            agent: config.build().into(),
            token,
            policy,
            cache: Mutex::new(HashMap::new()),
            cache_dir: None,
            blocked_until: Mutex::new(None),
        }
    }

    /// Keeps answers with an `ETag` in `dir` too (one JSON file per URL, written by rename;
    /// an unreadable or foreign file is a miss).
    pub fn with_cache_dir(mut self, dir: PathBuf) -> Client {
        self.cache_dir = Some(dir);
        self
    }

    fn cache_file(&self, url: &str) -> Option<PathBuf> {
        // FNV-1a of the URL: a stable file name; the file repeats the URL to rule out clashes.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for b in url.bytes() {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        Some(
            self.cache_dir
                .as_ref()?
                .join(format!("etag-{hash:016x}.json")),
        )
    }

    /// The cached answer for `url`: memory, else the cache directory.
    fn cached(&self, url: &str) -> Option<Cached> {
        if let Some(c) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(url)
        {
            return Some(c.clone());
        }
        let bytes = std::fs::read(self.cache_file(url)?).ok()?;
        let value: Value = serde_json::from_slice(&bytes).ok()?;
        if value["url"].as_str() != Some(url) {
            return None;
        }
        Some(Cached {
            etag: value["etag"].as_str()?.to_owned(),
            json: value.get("json")?.clone(),
            link: value["link"].as_str().map(str::to_owned),
        })
    }

    /// Remembers an answer (a cache directory that cannot be written is only a miss later).
    fn remember(&self, url: &str, cached: Cached) {
        if let Some(file) = self.cache_file(url) {
            let document = serde_json::json!({
                "url": url, "etag": cached.etag, "link": cached.link, "json": cached.json,
            });
            let tmp = file.with_extension(format!("tmp{}", std::process::id()));
            if std::fs::write(&tmp, document.to_string()).is_ok() {
                let _ = std::fs::rename(&tmp, &file);
            }
        }
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(url.to_owned(), cached);
    }

    /// A message without the token.
    pub fn scrub(&self, text: &str) -> String {
        scrub(self.token.as_ref(), text)
    }

    /// Sends a request, retrying what may be retried within the total wait, and returns its
    /// JSON. `idempotent` says whether a request that may have reached the server can be
    /// sent again (a `POST` that creates something cannot: a retry could create it twice).
    pub fn request(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        idempotent: bool,
    ) -> Result<Reply, String> {
        let start = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if let Some(wait) = self.primary_wait() {
                self.sleep_within(start, wait, attempt, "the primary rate limit is used up")?;
            }
            let (after, cause) = match self.attempt(method, url, body, idempotent) {
                Attempt::Done(reply) => return Ok(reply),
                Attempt::Fail(message) => return Err(self.scrub(&message)),
                Attempt::Retry(after, cause) => (after, cause),
            };
            // A rate limit says how long; everything else backs off.
            let wait = after.unwrap_or_else(|| self.backoff(attempt));
            self.sleep_within(start, wait, attempt, &cause)?;
        }
    }

    /// Sleeps `wait` unless that would pass the total wait; then fails with `cause`.
    fn sleep_within(
        &self,
        start: Instant,
        wait: Duration,
        attempts: u32,
        cause: &str,
    ) -> Result<(), String> {
        let elapsed = start.elapsed();
        if elapsed + wait > self.policy.max_wait {
            return Err(self.scrub(&format!(
                "{cause}; gave up after {attempts} attempt{} in {:.1} s (waiting {:.1} s more would pass max-wait={} s)",
                if attempts == 1 { "" } else { "s" },
                elapsed.as_secs_f64(),
                wait.as_secs_f64(),
                self.policy.max_wait.as_secs_f64(),
            )));
        }
        std::thread::sleep(wait);
        Ok(())
    }

    /// Capped exponential backoff with jitter: a random time in [d/2, d], d = base × 2^(n−1).
    fn backoff(&self, attempt: u32) -> Duration {
        let doubled = self
            .policy
            .retry_base
            .saturating_mul(1u32 << (attempt - 1).min(20));
        let d = doubled.min(self.policy.retry_cap);
        let half = d / 2;
        half + half.mul_f64(fastrand::f64())
    }

    fn primary_wait(&self) -> Option<Duration> {
        let mut blocked = self.blocked_until.lock().unwrap_or_else(|e| e.into_inner());
        match *blocked {
            Some(reset) if reset > epoch_now() => Some(Duration::from_secs(reset - epoch_now())),
            Some(_) => {
                *blocked = None;
                None
            }
            None => None,
        }
    }

    fn attempt(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        idempotent: bool,
    ) -> Attempt {
        let what = format!("{} {}", method.name(), path_of(url));
        let cached = match method {
            Method::Get => self.cached(url),
            _ => None,
        };
        let result = match method {
            Method::Get => {
                let mut request = self.decorate_get(self.agent.get(url));
                if let Some(c) = &cached {
                    request = request.header("If-None-Match", &c.etag);
                }
                request.call()
            }
            Method::Post | Method::Patch => {
                let request = match method {
                    Method::Post => self.agent.post(url),
                    _ => self.agent.patch(url),
                };
                let bytes = body.map(|b| b.to_string()).unwrap_or_default();
                self.decorate_send(request)
                    .header("Content-Type", "application/json")
                    .send(bytes.as_bytes())
            }
        };
        let mut response = match result {
            Ok(response) => response,
            Err(e) => {
                let not_sent = matches!(
                    e,
                    ureq::Error::ConnectionFailed | ureq::Error::HostNotFound
                ) || matches!(&e, ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused);
                let cause = format!("{what}: {e}");
                return if not_sent || idempotent {
                    Attempt::Retry(None, cause)
                } else {
                    Attempt::Fail(format!(
                        "{cause} (the request may have reached GitHub: not sent again)"
                    ))
                };
            }
        };
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let remaining = header("x-ratelimit-remaining").and_then(|v| v.trim().parse::<u64>().ok());
        let reset = header("x-ratelimit-reset").and_then(|v| v.trim().parse::<u64>().ok());
        let retry_after = header("retry-after").and_then(|v| v.trim().parse::<u64>().ok());
        let link = header("link");
        let etag = header("etag");
        if let (Some(0), Some(reset)) = (remaining, reset) {
            *self.blocked_until.lock().unwrap_or_else(|e| e.into_inner()) = Some(reset);
        }
        if status == 304 {
            return match cached {
                Some(c) => Attempt::Done(Reply {
                    json: c.json,
                    link: c.link,
                    not_modified: true,
                }),
                None => Attempt::Fail(format!(
                    "{what}: 304 Not Modified for a request that was not conditional"
                )),
            };
        }
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec();
        let bytes = match bytes {
            Ok(bytes) => bytes,
            Err(e) => {
                let cause = format!("{what}: HTTP {status}, reading the body: {e}");
                return if idempotent {
                    Attempt::Retry(None, cause)
                } else {
                    Attempt::Fail(format!(
                        "{cause} (the request reached GitHub: not sent again)"
                    ))
                };
            }
        };
        let message = github_message(&bytes);
        if (200..300).contains(&status) {
            return match serde_json::from_slice::<Value>(&bytes) {
                Ok(json) => {
                    if let (Method::Get, Some(etag)) = (method, etag) {
                        self.remember(
                            url,
                            Cached {
                                etag,
                                json: json.clone(),
                                link: link.clone(),
                            },
                        );
                    }
                    Attempt::Done(Reply {
                        json,
                        link,
                        not_modified: false,
                    })
                }
                Err(e) if idempotent => Attempt::Retry(
                    None,
                    format!("{what}: HTTP {status} with a body that is not JSON ({e}; truncated?)"),
                ),
                Err(e) => Attempt::Fail(format!(
                    "{what}: HTTP {status} with a body that is not JSON ({e}); the request was performed"
                )),
            };
        }
        let describe = format!(
            "{what}: HTTP {status}{}",
            message.map(|m| format!(": {m}")).unwrap_or_default()
        );
        let rate_limited = (status == 403 || status == 429)
            && (retry_after.is_some()
                || remaining == Some(0)
                || status == 429
                || describe.to_ascii_lowercase().contains("rate limit"));
        if rate_limited {
            // Not performed: GitHub refused it, so even a POST may be sent again.
            let wait = match (retry_after, remaining, reset) {
                (Some(seconds), _, _) => Duration::from_secs(seconds),
                (None, Some(0), Some(reset)) => {
                    Duration::from_secs(reset.saturating_sub(epoch_now()) + 1)
                }
                _ => SECONDARY_WAIT,
            };
            return Attempt::Retry(Some(wait), format!("{describe} (rate limited)"));
        }
        if status >= 500 {
            return if idempotent {
                Attempt::Retry(None, describe)
            } else {
                Attempt::Fail(format!(
                    "{describe} (the request may have been performed: not sent again)"
                ))
            };
        }
        Attempt::Fail(describe)
    }

    fn auth(&self) -> Option<String> {
        self.token.as_ref().map(Token::header)
    }

    fn decorate_get(
        &self,
        request: ureq::RequestBuilder<ureq::typestate::WithoutBody>,
    ) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
        let request = request
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28");
        match self.auth() {
            Some(auth) => request.header("Authorization", auth),
            None => request,
        }
    }

    fn decorate_send(
        &self,
        request: ureq::RequestBuilder<ureq::typestate::WithBody>,
    ) -> ureq::RequestBuilder<ureq::typestate::WithBody> {
        let request = request
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28");
        match self.auth() {
            Some(auth) => request.header("Authorization", auth),
            None => request,
        }
    }
}

/// The path and query of a URL (messages name the request without the host).
fn path_of(url: &str) -> &str {
    url.split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or(url)
}

/// GitHub's error document's `message`, cut to a line.
fn github_message(bytes: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(bytes).ok()?;
    let message = value.get("message")?.as_str()?;
    let mut line: String = message
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(300)
        .collect();
    if let Some(errors) = value.get("errors").and_then(Value::as_array) {
        let details: Vec<String> = errors
            .iter()
            .filter_map(|e| {
                let field = e.get("field").and_then(Value::as_str)?;
                let code = e.get("code").and_then(Value::as_str).unwrap_or("invalid");
                Some(format!("{field} {code}"))
            })
            .collect();
        if !details.is_empty() {
            line.push_str(&format!(" ({})", details.join(", ")));
        }
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_message() {
        assert_eq!(
            path_of("http://127.0.0.1:1/repos/a/b/issues?page=2"),
            "/repos/a/b/issues?page=2"
        );
        assert_eq!(
            github_message(br#"{"message":"Validation Failed","errors":[{"field":"title","code":"missing_field"}]}"#).as_deref(),
            Some("Validation Failed (title missing_field)")
        );
        assert_eq!(github_message(b"[1"), None);
    }

    #[test]
    fn backoff_is_capped_and_jittered() {
        let client = Client::new(
            None,
            Policy {
                max_wait: Duration::from_secs(1),
                retry_base: Duration::from_millis(100),
                retry_cap: Duration::from_millis(400),
                timeout: Duration::from_secs(1),
            },
            true,
        );
        for attempt in 1..30 {
            let d = client.backoff(attempt);
            let full = Duration::from_millis(100 * (1u64 << (attempt - 1).min(20)))
                .min(Duration::from_millis(400));
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
    }
}
