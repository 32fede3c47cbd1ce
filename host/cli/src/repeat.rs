//! `triage --repeat DURATION`: a cycle every DURATION until SIGINT or SIGTERM, and the
//! parsers of `--repeat` and `--build`. A signal never interrupts a cycle: it is noted by a
//! signal-hook thread, and the loop stops once the cycle in flight has written everything and
//! released the tracker's cycle lock. The caller loads the plugins once; each cycle takes the
//! lock (with `--apply`), so two runs on one tracker never overlap.

use std::process::ExitCode;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::Context;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// `--repeat`: a duration such as `90s`, `30m`, `1h` (humantime), at least one second.
pub(crate) fn parse_interval(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if d < Duration::from_secs(1) {
        return Err("the interval must be at least 1s".to_owned());
    }
    Ok(d)
}

/// `--build`: a build ID, or a URL whose last path segment is one
/// (`https://ci.chromium.org/b/8790000000000007919`).
pub(crate) fn parse_build(text: &str) -> Result<i64, String> {
    let last = text
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(text);
    last.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| format!("{text:?} is neither a build ID nor a URL ending in one"))
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// Runs cycles until a signal; the exit status is the last cycle's (a signal is a normal
/// end). A cycle that fails is reported and the next one runs.
pub(crate) fn run(
    interval: Duration,
    cycle: &mut dyn FnMut() -> anyhow::Result<ExitCode>,
) -> anyhow::Result<ExitCode> {
    let mut signals = Signals::new([SIGINT, SIGTERM]).context("installing signal handlers")?;
    let handle = signals.handle();
    let (tx, rx) = mpsc::channel();
    let listener = std::thread::spawn(move || {
        for signal in signals.forever() {
            if tx.send(signal).is_err() {
                break;
            }
        }
    });
    let result = cycles(interval, cycle, &rx);
    handle.close();
    let _ = listener.join();
    result
}

fn cycles(
    interval: Duration,
    cycle: &mut dyn FnMut() -> anyhow::Result<ExitCode>,
    signals: &mpsc::Receiver<i32>,
) -> anyhow::Result<ExitCode> {
    let mut status = ExitCode::SUCCESS;
    for n in 1.. {
        let started = Instant::now();
        eprintln!("flakewatch triage: cycle {n} started");
        status = match cycle() {
            Ok(code) => {
                eprintln!(
                    "flakewatch triage: cycle {n} done in {:.1} s",
                    started.elapsed().as_secs_f64()
                );
                code
            }
            Err(err) if err.downcast_ref::<crate::UsageError>().is_some() => return Err(err),
            Err(err) => {
                eprintln!("flakewatch triage: cycle {n} failed: {err:#}");
                ExitCode::from(crate::EXIT_FAILURE)
            }
        };
        let wait = interval.saturating_sub(started.elapsed());
        let signal = match signals.try_recv() {
            Ok(signal) => Some(signal),
            Err(_) => match signals.recv_timeout(wait) {
                Ok(signal) => Some(signal),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => Some(0),
            },
        };
        if let Some(signal) = signal {
            eprintln!(
                "flakewatch triage: {} received; stopped after {n} cycles",
                signal_name(signal)
            );
            break;
        }
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_ids_and_urls() {
        assert_eq!(
            parse_build("8790000000000007919"),
            Ok(8_790_000_000_000_007_919)
        );
        assert_eq!(
            parse_build("https://ci.chromium.org/b/8790000000000007919"),
            Ok(8_790_000_000_000_007_919)
        );
        assert_eq!(parse_build("https://ci.chromium.org/ui/b/12/"), Ok(12));
        assert!(parse_build("https://ci.chromium.org/b/").is_err());
        assert!(parse_build("x12").is_err());
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_interval("1h 30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_interval("10ms").is_err());
        assert!(parse_interval("soon").is_err());
    }
}
