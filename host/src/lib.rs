//! flakewatch's host: ingestion, triage pipeline, analyses and the `flakewatch` command line.
//!
//! The rule language itself lives in `flakewatch-dsl`; this crate wires it to data.

pub mod aggregate;
pub mod backend;
pub mod cli;
pub mod conformance;
pub mod engine;
pub mod ingest;
pub mod patterns;
pub mod plugin;
pub mod records;
pub mod script_file;
pub mod triage;
