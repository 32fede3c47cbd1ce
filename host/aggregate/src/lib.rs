//! Statistical aggregation of parallel CI job runs, after OpenShift's `job-run-aggregator`
//! (see docs/aggregate.md): combine the JUnit of ~10 runs of one job per test, judge
//! each test's pass count against its history with a one-sided Fisher exact test, check
//! backend disruption against history, write upstream's output files; and
//! `analyze-historical-data`, which compares refreshed percentile tables.
//!
//! | module | what |
//! |---|---|
//! | [`stats`] | the required-passes rule (statrs Fisher exact test), upstream's table, the pity factor |
//! | [`combine`] | runs' JUnit (read by [`flakewatch_ingest`]) → one tree of suites and tests with per-run entries |
//! | [`verdict`] | upstream's `CheckFailed`: exemptions, hard gates, history, messages |
//! | [`history`] | historical pass rates: JSON rows or computed from stored runs (the view chain) |
//! | [`runs`] | the files backend: run directories, matching, finished state, side-car files |
//! | [`disruption`] | P70/P85 with grace seconds, mean + 5σ with the mulligan |
//! | [`output`] | `junit-aggregated.xml`, the YAML details, `aggregation-config.yaml`, Markdown |
//! | [`yaml`] | yaml.v2's scalar styles and folding, byte for byte |
//! | [`pipeline`] | one aggregation end to end and its outcome |
//! | [`wait`] | waiting for runs to finish: the injected clock, the re-read, the stop time |
//! | [`test_case`](mod@test_case) | `analyze-test-case`: one test's passes across the runs of many jobs |
//! | [`config`] | the compat/improved profiles and the TOML file |
//! | [`analyze_historical`] | `analyze-historical-data` (disruptions and alerts) |
//! | [`test_summary`] | `analyze-historical-data --data-type tests`: test pass-rate rows |
//! | [`godur`] | Go duration text |

pub mod analyze_historical;
pub mod combine;
pub mod config;
pub mod disruption;
mod disruption_suite;
mod error;
pub mod godur;
pub mod history;
pub mod output;
pub mod pipeline;
pub mod registry;
pub mod request;
pub mod runs;
pub mod stats;
pub mod summary;
pub mod test_case;
pub mod test_summary;
pub mod verdict;
pub mod wait;
pub mod yaml;

pub use config::{ConfigFile, Mode, Settings};
pub use error::AggregateError;
pub use pipeline::{
    Aggregation, HistoryInput, Outcome, Report, Request, aggregate, aggregate_waiting,
};
