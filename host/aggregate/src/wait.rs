//! Waiting for the runs of an aggregation to finish, as upstream's `analyze-job-runs` and
//! `analyze-test-case` poll: sleep until the runs had time to appear, then re-read them every
//! poll interval until none is unfinished or the stop time passes. The clock and the re-read
//! are parameters, so tests drive the wait without sleeping.

use serde::Serialize;

use crate::error::AggregateError;
use flakewatch_core::time::Timestamp;

/// Seconds in a minute.
const MINUTE: i64 = 60;

/// Upstream gives up locating runs after this many failed attempts in a row.
pub const MAX_ERRORS_IN_A_ROW: u32 = 21;

/// The time source of a wait.
pub trait Clock {
    /// The current time.
    fn now(&mut self) -> Timestamp;
    /// Returns once `until` has passed (at once when it already has).
    fn sleep_until(&mut self, until: Timestamp);
}

/// The system clock: real time, real sleeps.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&mut self) -> Timestamp {
        // A clock before 1970 is not a clock: treat it as the epoch (every wait is then over).
        Timestamp::now().unwrap_or_else(|| Timestamp::from_unix(0, 0).unwrap_or_default())
    }

    fn sleep_until(&mut self, until: Timestamp) {
        let now = self.now();
        let secs = until.unix_seconds() - now.unix_seconds();
        if secs > 0 {
            std::thread::sleep(std::time::Duration::from_secs(secs.unsigned_abs()));
        }
    }
}

/// When to start looking, how often to look again, and when to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitPolicy {
    /// When the runs started (`--job-start-time`).
    #[serde(serialize_with = "rfc3339")]
    pub job_start: Timestamp,
    /// The whole command's time limit (`--timeout`), seconds.
    pub timeout_secs: i64,
    /// The runs are not all there before `job_start` plus this many seconds.
    pub ready_after_secs: i64,
    /// Seconds between two reads of the runs.
    pub poll_every_secs: i64,
    /// The wait stops this many seconds before `job_start + timeout`, leaving time to judge.
    pub stop_margin_secs: i64,
    /// The wait never goes on longer than this after `job_start`, seconds.
    pub max_wait_secs: Option<i64>,
}

fn rfc3339<S: serde::Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.format_rfc3339())
}

impl WaitPolicy {
    /// `analyze-job-runs`: ready 10 minutes after the start, a read every 10 minutes, stop at
    /// `start + min(timeout − 20 min, 7h15m)`.
    pub fn analyze_job_runs(job_start: Timestamp, timeout_secs: i64) -> WaitPolicy {
        WaitPolicy {
            job_start,
            timeout_secs,
            ready_after_secs: 10 * MINUTE,
            poll_every_secs: 10 * MINUTE,
            stop_margin_secs: 20 * MINUTE,
            max_wait_secs: Some((7 * 60 + 15) * MINUTE),
        }
    }

    /// `analyze-test-case`: ready two hours after the start, a read every 10 minutes, stop at
    /// `start + timeout − 20 min` (its timeout is at most 4h35m).
    pub fn analyze_test_case(job_start: Timestamp, timeout_secs: i64) -> WaitPolicy {
        WaitPolicy {
            job_start,
            timeout_secs,
            ready_after_secs: 2 * 60 * MINUTE,
            poll_every_secs: 10 * MINUTE,
            stop_margin_secs: 20 * MINUTE,
            max_wait_secs: None,
        }
    }

    /// When the first read happens.
    pub fn ready_at(&self) -> Timestamp {
        add(self.job_start, self.ready_after_secs)
    }

    /// When waiting stops, ready or not.
    pub fn stop_at(&self) -> Timestamp {
        let mut wait = self.timeout_secs - self.stop_margin_secs;
        if let Some(max) = self.max_wait_secs {
            wait = wait.min(max);
        }
        add(self.job_start, wait)
    }

    /// Checks the values.
    pub fn validate(&self) -> Result<(), AggregateError> {
        if self.timeout_secs <= 0 {
            return Err(AggregateError::Config("--timeout must be positive".into()));
        }
        if self.poll_every_secs <= 0 {
            return Err(AggregateError::Config(
                "the poll interval must be positive".into(),
            ));
        }
        Ok(())
    }
}

fn add(t: Timestamp, secs: i64) -> Timestamp {
    Timestamp::from_unix(t.unix_seconds().saturating_add(secs), 0).unwrap_or(t)
}

/// How a wait went, for the summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitReport {
    /// The policy.
    #[serde(flatten)]
    pub policy: WaitPolicy,
    /// The first read.
    #[serde(serialize_with = "rfc3339")]
    pub ready_at: Timestamp,
    /// When waiting stops, ready or not (never after the command's own deadline).
    #[serde(serialize_with = "rfc3339")]
    pub stop_at: Timestamp,
    /// How many times the runs were read.
    pub polls: u32,
    /// The stop time passed with runs unfinished (or none found).
    pub timed_out: bool,
    /// Runs still unfinished after the last read.
    pub unfinished: Vec<String>,
}

/// The runs after the wait, and how it went.
#[derive(Clone, Debug)]
pub struct Waited<T> {
    /// The last read's runs.
    pub runs: Vec<T>,
    /// The report.
    pub report: WaitReport,
}

/// Waits for runs as upstream does: sleep until [`WaitPolicy::ready_at`], then read the runs
/// with `read`; while none was found or some is unfinished (`finished`), sleep one poll
/// interval and read again, until the stop time (the earlier of [`WaitPolicy::stop_at`] and
/// the command's deadline, now + timeout). A failed read is retried a minute later, up to
/// [`MAX_ERRORS_IN_A_ROW`] in a row. `event` receives upstream's progress lines.
pub fn wait_for_runs<T>(
    clock: &mut dyn Clock,
    policy: &WaitPolicy,
    mut read: impl FnMut() -> Result<Vec<T>, AggregateError>,
    finished: impl Fn(&T) -> bool,
    id: impl Fn(&T) -> String,
    event: &mut dyn FnMut(&str),
) -> Result<Waited<T>, AggregateError> {
    policy.validate()?;
    let started = clock.now();
    let deadline = add(started, policy.timeout_secs);
    let stop = policy.stop_at().min(deadline);
    let ready = policy.ready_at().min(stop);
    event(&format!(
        "now={}, ReadyAt={}, timeToStopWaiting={}.",
        started.format_rfc3339(),
        ready.format_rfc3339(),
        stop.format_rfc3339()
    ));
    if clock.now() < ready {
        event(&format!(
            "Waiting now={}, ReadyAt={}.",
            started.format_rfc3339(),
            ready.format_rfc3339()
        ));
        clock.sleep_until(ready);
    }
    let mut polls = 0;
    let mut errors_in_a_row = 0;
    loop {
        polls += 1;
        let runs = match read() {
            Ok(runs) => {
                errors_in_a_row = 0;
                runs
            }
            Err(err) => {
                errors_in_a_row += 1;
                let now = clock.now();
                if errors_in_a_row >= MAX_ERRORS_IN_A_ROW || now >= stop {
                    event(&format!("give up finding job runs after retries: {err}"));
                    return Err(err);
                }
                event(&format!(
                    "error finding job runs: {err}; will attempt to find related jobs in a minute"
                ));
                clock.sleep_until(add(now, MINUTE).min(stop));
                continue;
            }
        };
        let unfinished: Vec<String> = runs.iter().filter(|r| !finished(r)).map(&id).collect();
        let now = clock.now();
        let waiting = runs.is_empty() || !unfinished.is_empty();
        if now >= stop {
            if waiting {
                event(&format!(
                    "waited long enough. Ready or not, here I come. (readyOrNot={} now={})",
                    stop.format_rfc3339(),
                    now.format_rfc3339()
                ));
            }
            return Ok(Waited {
                runs,
                report: WaitReport {
                    policy: *policy,
                    ready_at: ready,
                    stop_at: stop,
                    polls,
                    timed_out: waiting,
                    unfinished,
                },
            });
        }
        if !waiting {
            event(&format!(
                "found {} related jobRuns, all finished",
                runs.len()
            ));
            return Ok(Waited {
                runs,
                report: WaitReport {
                    policy: *policy,
                    ready_at: ready,
                    stop_at: stop,
                    polls,
                    timed_out: false,
                    unfinished,
                },
            });
        }
        if runs.is_empty() {
            event("found no related jobRuns yet");
        } else {
            event(&format!(
                "found {} unfinished related jobRuns: {}",
                unfinished.len(),
                unfinished.join(", ")
            ));
        }
        clock.sleep_until(add(now, policy.poll_every_secs).min(stop));
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::*;

    /// A clock that jumps instead of sleeping and records every sleep; its time is shared
    /// with the readers of a test, which play the CI.
    struct FakeClock {
        now: Rc<Cell<i64>>,
        sleeps: Vec<i64>,
    }

    impl FakeClock {
        fn at(secs: i64) -> FakeClock {
            FakeClock {
                now: Rc::new(Cell::new(secs)),
                sleeps: Vec::new(),
            }
        }
    }

    impl Clock for FakeClock {
        fn now(&mut self) -> Timestamp {
            Timestamp::from_unix(self.now.get(), 0).unwrap()
        }
        fn sleep_until(&mut self, until: Timestamp) {
            self.sleeps.push(until.unix_seconds());
            self.now.set(self.now.get().max(until.unix_seconds()));
        }
    }

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_unix(secs, 0).unwrap()
    }

    const START: i64 = 1_700_000_000;
    const HOUR: i64 = 3600;

    type FakeRun = (&'static str, bool);

    fn wait(
        clock: &mut FakeClock,
        policy: &WaitPolicy,
        read: impl FnMut() -> Result<Vec<FakeRun>, AggregateError>,
        events: &mut Vec<String>,
    ) -> Result<Waited<FakeRun>, AggregateError> {
        wait_for_runs(
            clock,
            policy,
            read,
            |r: &FakeRun| r.1,
            |r: &FakeRun| r.0.to_owned(),
            &mut |e: &str| events.push(e.to_owned()),
        )
    }

    #[test]
    fn the_stop_time_is_upstreams() {
        // Production passes 7h: 7h - 20m = 6h40m, under the 7h15m cap.
        let p = WaitPolicy::analyze_job_runs(t(START), 7 * HOUR);
        assert_eq!(p.ready_at(), t(START + 600));
        assert_eq!(p.stop_at(), t(START + 6 * HOUR + 40 * 60));
        // 9h would give 8h40m: the cap wins.
        let p = WaitPolicy::analyze_job_runs(t(START), 9 * HOUR);
        assert_eq!(p.stop_at(), t(START + 7 * HOUR + 15 * 60));
        // analyze-test-case: ready after two hours, no cap.
        let p = WaitPolicy::analyze_test_case(t(START), 4 * HOUR + 35 * 60);
        assert_eq!(p.ready_at(), t(START + 2 * HOUR));
        assert_eq!(p.stop_at(), t(START + 4 * HOUR + 15 * 60));
    }

    /// Run 1 is finished from the start; run 2 finishes after 45 minutes; run 3 appears
    /// after 25 minutes and finishes after 50. Reads at 10, 20, 30, 40 and 50 minutes: the
    /// third is the first to see run 3, the fifth finds all three finished.
    #[test]
    fn runs_that_appear_and_finish_between_reads_are_waited_for() {
        let mut clock = FakeClock::at(START);
        let time = Rc::clone(&clock.now);
        let policy = WaitPolicy::analyze_job_runs(t(START), 5 * HOUR + 30 * 60);
        let mut reads = Vec::new();
        let mut events = Vec::new();
        let waited = wait(
            &mut clock,
            &policy,
            || {
                let minutes = (time.get() - START) / 60;
                reads.push(minutes);
                let mut runs = vec![("1", true), ("2", minutes >= 45)];
                if minutes >= 25 {
                    runs.push(("3", minutes >= 50));
                }
                Ok(runs)
            },
            &mut events,
        )
        .unwrap();
        assert_eq!(reads, [10, 20, 30, 40, 50]);
        assert_eq!(waited.runs.len(), 3);
        assert!(!waited.report.timed_out);
        assert_eq!(waited.report.polls, 5);
        assert!(waited.report.unfinished.is_empty());
        assert_eq!(
            clock.sleeps,
            [600, 1200, 1800, 2400, 3000].map(|s| START + s)
        );
        assert!(
            events
                .iter()
                .any(|e| e == "found 1 unfinished related jobRuns: 2"),
            "{events:?}"
        );
        assert!(
            events
                .iter()
                .any(|e| e == "found 2 unfinished related jobRuns: 2, 3"),
            "{events:?}"
        );
    }

    /// No run at all until 30 minutes: an empty read keeps the wait going.
    #[test]
    fn an_empty_read_keeps_waiting() {
        let mut clock = FakeClock::at(START);
        let time = Rc::clone(&clock.now);
        let policy = WaitPolicy::analyze_job_runs(t(START), 7 * HOUR);
        let mut events = Vec::new();
        let waited = wait(
            &mut clock,
            &policy,
            || {
                Ok(if time.get() - START >= 30 * 60 {
                    vec![("7", true)]
                } else {
                    Vec::new()
                })
            },
            &mut events,
        )
        .unwrap();
        assert_eq!(waited.report.polls, 3);
        assert_eq!(waited.runs, [("7", true)]);
        assert_eq!(
            events
                .iter()
                .filter(|e| *e == "found no related jobRuns yet")
                .count(),
            2
        );
    }

    /// The stop time passes with a run unfinished: the last read happens at the stop time
    /// and the run is reported unfinished.
    #[test]
    fn the_stop_time_ends_the_wait_with_runs_unfinished() {
        let mut clock = FakeClock::at(START);
        // Timeout 1h: stop at start + 40 min.
        let policy = WaitPolicy::analyze_job_runs(t(START), HOUR);
        let mut reads = 0;
        let mut events = Vec::new();
        let waited = wait(
            &mut clock,
            &policy,
            || {
                reads += 1;
                Ok(vec![("a", true), ("b", false)])
            },
            &mut events,
        )
        .unwrap();
        // Reads at 10, 20, 30 and 40 minutes.
        assert_eq!(reads, 4);
        assert!(waited.report.timed_out);
        assert_eq!(waited.report.unfinished, ["b"]);
        assert_eq!(clock.now.get(), START + 40 * 60);
        assert!(
            events
                .last()
                .unwrap()
                .starts_with("waited long enough. Ready or not, here I come."),
            "{events:?}"
        );
    }

    /// A start time long past: no sleep at all, one read.
    #[test]
    fn a_past_start_reads_once() {
        let mut clock = FakeClock::at(START + 10 * HOUR);
        let policy = WaitPolicy::analyze_job_runs(t(START), 7 * HOUR);
        let waited = wait(
            &mut clock,
            &policy,
            || Ok(vec![("a", false)]),
            &mut Vec::new(),
        )
        .unwrap();
        assert!(clock.sleeps.is_empty());
        assert_eq!(waited.report.polls, 1);
        assert!(waited.report.timed_out);
    }

    /// The command's own deadline (now + timeout) bounds the wait even when the start time
    /// given is later than now.
    #[test]
    fn the_deadline_bounds_a_start_in_the_future() {
        let mut clock = FakeClock::at(START);
        // Starts in 3 hours; timeout 1h: the deadline is START + 1h.
        let policy = WaitPolicy::analyze_job_runs(t(START + 3 * HOUR), HOUR);
        let waited = wait(
            &mut clock,
            &policy,
            || Ok(vec![("a", false)]),
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(waited.report.stop_at, t(START + HOUR));
        assert_eq!(clock.now.get(), START + HOUR);
        assert_eq!(waited.report.polls, 1);
    }

    /// Reads that fail are retried a minute apart, and the 21st failure in a row is final.
    #[test]
    fn failed_reads_are_retried_then_given_up() {
        let mut clock = FakeClock::at(START);
        let policy = WaitPolicy::analyze_job_runs(t(START), 7 * HOUR);
        let mut reads = 0;
        let err = wait(
            &mut clock,
            &policy,
            || {
                reads += 1;
                Err(AggregateError::Config(format!("read {reads}")))
            },
            &mut Vec::new(),
        )
        .unwrap_err();
        assert_eq!(reads, MAX_ERRORS_IN_A_ROW);
        assert_eq!(err.to_string(), "configuration: read 21");
        // Ready at 10 minutes, then 20 retries a minute apart.
        assert_eq!(clock.now.get(), START + 600 + 20 * 60);
    }
}
