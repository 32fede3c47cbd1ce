//! Test support: a `bqemulator` process on 127.0.0.1 for one test, started through
//! `scripts/bqemulator_launch.py` with the Python that `FLAKEWATCH_BQEMULATOR_PYTHON` names
//! (`scripts/test` installs it), and killed when dropped.
//!
//! Without that variable a test is skipped with a message saying why, except under CI
//! (`CI` set), where it fails: there the emulator must have been installed.

#![allow(
    dead_code,
    reason = "each test binary uses a part of the support module"
)]

use std::io::Read as _;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flakewatch_plugin_sdk::model::Config;

/// The variable naming the Python of the emulator's virtual environment.
pub(crate) const PYTHON_ENV: &str = "FLAKEWATCH_BQEMULATOR_PYTHON";

/// How long the emulator may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running emulator.
pub(crate) struct Emulator {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
    /// Its REST base URL.
    pub(crate) url: String,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts an emulator, or returns `None` (the test is skipped) when none is installed and
/// this is not CI.
#[expect(clippy::print_stderr, reason = "a skipped test says why")]
pub(crate) fn emulator(test: &str) -> Option<Emulator> {
    let Some(python) = std::env::var_os(PYTHON_ENV).filter(|p| !p.is_empty()) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: the BigQuery emulator was not installed: {PYTHON_ENV} is not set \
             (scripts/test installs bqemulator into a virtual environment and sets it)"
        );
        eprintln!(
            "{test}: skipped: {PYTHON_ENV} is not set, so the BigQuery emulator cannot be \
             started (run scripts/test, or install bqemulator==1.4.0 and numpy into a venv and \
             point {PYTHON_ENV} at its python)"
        );
        return None;
    };
    let launcher =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/bqemulator_launch.py");
    let dir = tempfile::tempdir().expect("temporary directory");
    let log = dir.path().join("emulator.log");
    let mut last_log = String::new();
    for _ in 0..3 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let out = std::fs::File::create(&log).expect("log file");
        let mut child = Command::new(&python)
            .arg(&launcher)
            .args(["start", "--rest-host", "127.0.0.1", "--rest-port"])
            .arg(port.to_string())
            .args([
                "--grpc-host",
                "127.0.0.1",
                "--grpc-port",
                "0",
                "--ephemeral",
                "--log-level",
                "warning",
            ])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("{test}: starting {} failed: {e}", launcher.display()));
        let start = Instant::now();
        let mut exited = false;
        while start.elapsed() < START_TIMEOUT {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(Emulator {
                    child,
                    log,
                    _dir: dir,
                    url: format!("http://127.0.0.1:{port}"),
                });
            }
            if child.try_wait().ok().flatten().is_some() {
                exited = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        last_log.clear();
        let _ = std::fs::File::open(&log).and_then(|mut f| f.read_to_string(&mut last_log));
        if !exited {
            break;
        }
    }
    panic!("{test}: the BigQuery emulator did not start:\n{last_log}");
}

impl Emulator {
    /// A plugin configuration for a fresh dataset of project `flakewatch-test`.
    pub(crate) fn config(&self, dataset: &str, extra: &[(&str, &str)]) -> Config {
        let mut options: std::collections::BTreeMap<String, String> = [
            ("api", self.url.as_str()),
            ("project", "flakewatch-test"),
            ("dataset", dataset),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        for (k, v) in extra {
            options.insert((*k).to_owned(), (*v).to_owned());
        }
        Config { options }
    }

    /// What the emulator wrote so far (for failure messages).
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// What the proxy does with one request.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Forward it and pass the answer back.
    None,
    /// Answer 503 without forwarding it.
    FailBefore,
    /// Forward it, then answer 503 (the answer is lost on the way back).
    FailAfter,
}

/// The request the proxy decides about: method, path, query string, and how many requests
/// with this method and path came before it.
pub(crate) struct Seen<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) query: &'a str,
    pub(crate) nth: usize,
}

type Rule = dyn Fn(&Seen<'_>) -> Fault + Send + Sync;

/// A fault-injecting HTTP proxy on 127.0.0.1 in front of the emulator, stopped when dropped.
pub(crate) struct Proxy {
    server: std::sync::Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Its base URL.
    pub(crate) url: String,
    /// Faults injected so far.
    pub(crate) injected: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Proxy {
    /// A proxy to `upstream` that asks `rule` about every request.
    pub(crate) fn start(
        upstream: &str,
        rule: impl Fn(&Seen<'_>) -> Fault + Send + Sync + 'static,
    ) -> Proxy {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind loopback"));
        let url = format!(
            "http://{}",
            server.server_addr().to_ip().expect("an IP address")
        );
        let injected = Arc::new(AtomicUsize::new(0));
        let rule: Arc<Rule> = Arc::new(rule);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .build()
            .into();
        let upstream = upstream.to_owned();
        let thread = {
            let (server, injected) = (Arc::clone(&server), Arc::clone(&injected));
            std::thread::spawn(move || {
                let mut counts: std::collections::HashMap<(String, String), usize> =
                    std::collections::HashMap::new();
                for mut request in server.incoming_requests() {
                    let method = request.method().to_string();
                    let full = request.url().to_owned();
                    let (path, query) = full.split_once('?').unwrap_or((&full, ""));
                    let nth = {
                        let n = counts.entry((method.clone(), path.to_owned())).or_insert(0);
                        *n += 1;
                        *n - 1
                    };
                    let fault = rule(&Seen {
                        method: &method,
                        path,
                        query,
                        nth,
                    });
                    let unavailable = || {
                        tiny_http::Response::from_string(
                            r#"{"error": {"code": 503, "message": "injected by the test proxy"}}"#,
                        )
                        .with_status_code(503)
                    };
                    if fault == Fault::FailBefore {
                        injected.fetch_add(1, Ordering::SeqCst);
                        let _ = request.respond(unavailable());
                        continue;
                    }
                    let mut body = Vec::new();
                    let _ = request.as_reader().read_to_end(&mut body);
                    let target = format!("{upstream}{full}");
                    let answer = if method == "GET" {
                        agent.get(&target).call()
                    } else {
                        agent
                            .post(&target)
                            .header("Content-Type", "application/json")
                            .send(&body[..])
                    };
                    let (status, text) = match answer {
                        Ok(mut response) => (
                            response.status().as_u16(),
                            response.body_mut().read_to_string().unwrap_or_default(),
                        ),
                        Err(e) => (502, format!(r#"{{"error": {{"message": "{e}"}}}}"#)),
                    };
                    if fault == Fault::FailAfter {
                        injected.fetch_add(1, Ordering::SeqCst);
                        let _ = request.respond(unavailable());
                        continue;
                    }
                    let response = tiny_http::Response::from_string(text)
                        .with_status_code(status)
                        .with_header(
                            tiny_http::Header::from_bytes("Content-Type", "application/json")
                                .expect("header"),
                        );
                    let _ = request.respond(response);
                }
            })
        };
        Proxy {
            server,
            thread: Some(thread),
            url,
            injected,
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
