//! The flake report (`docs/report.md`): every tracked issue ranked by recent impact
//! (failures in the last 7 and 30 days, the trend against the window before, builders and
//! branches affected, first and last seen, share of all failures), and the failures no
//! issue owns. Failures are attributed by triage's own assignment: [`build_report`] plans a
//! triage cycle over the history window ([`flakewatch_triage::run::plan`], which changes
//! nothing) and counts what it decided, so the report works on every backend.
//!
//! | module | what |
//! |---|---|
//! | [`impact`] | the report as data ([`Report`]), its JSON form, the ranking |
//! | [`html`] | a self-contained HTML page: inline SVG plots, sortable tables |
//! | [`markdown`] | GitHub Markdown |
//! | [`svg`] | sparklines and the builders × days heat map |
//! | [`escape`] | HTML and Markdown escaping |

pub mod escape;
pub mod html;
pub mod impact;
pub mod markdown;
pub mod svg;

use flakewatch_core::Timestamp;
use flakewatch_triage::backend::{FailureSource, IssueTracker};
use flakewatch_triage::run::{TriageError, TriageOptions, plan};

pub use html::render_html;
pub use impact::{Report, report_from_plan};
pub use markdown::render_markdown;

/// Reads the tracker and the failure source and builds the report for `now`. `options` says
/// how triage plans (engine, limits); its window is replaced by the report's history window
/// ([`impact::history_start`]).
pub fn build_report(
    tracker: &dyn IssueTracker,
    source: &dyn FailureSource,
    options: &TriageOptions,
    now: Timestamp,
) -> Result<Report, TriageError> {
    let mut options = options.clone();
    options.since = impact::history_start(now);
    let issues = tracker.list_issues()?;
    let plan = plan(tracker, source, &options)?;
    tracing::info!(
        issues = issues.len(),
        failures = plan.outcomes.len(),
        "report: triage plan read"
    );
    Ok(report_from_plan(&issues, &plan, now))
}
