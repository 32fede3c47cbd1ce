//! Progress on standard error for the long steps of `triage` and `report` (reading,
//! matching, posting): a spinner, then a bar while posting; drawn only on a terminal, never
//! in pipes or with `--json`.

use std::time::Duration;

/// A spinner on standard error for a long step, and a bar once its length is set: drawn only
/// when standard error is a terminal (indicatif draws nothing otherwise), never with `--json`.
pub(crate) fn bar(json: bool) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if json || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// The style of a progress bar with a known length.
pub(crate) fn bar_style() -> indicatif::ProgressStyle {
    indicatif::ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
}
