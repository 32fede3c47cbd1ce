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
