//! Test results as stored runs: the host's side of the `test_results` plugin capability.
//!
//! * [`document`] turns an ingested [`Run`](flakewatch_ingest::Run) into the document a store
//!   writes ([`ResultsRun`](flakewatch_plugin_sdk::model::ResultsRun)), with its identity.
//! * [`store`] is the contract a store fulfils for the host ([`ResultsStore`]); the plugin
//!   host implements it for plugins.
//! * [`revision`] is Mozilla's per-revision view: suites, chunks expected / executed /
//!   repeated / missing, scheduled tests never reported, totals and the tests whose results
//!   differ across the executions of one revision; [`render`] prints it as text or Markdown.
#![forbid(unsafe_code)]

pub mod document;
pub mod render;
pub mod revision;
pub mod store;

pub use document::{DocumentOptions, run_document};
pub use revision::{RevisionReport, Schedule, analyze};
pub use store::{ResultsStore, StoreError};
