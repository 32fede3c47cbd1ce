//! Diagnostics logging: the `tracing` events the libraries emit, written to stderr as text or
//! JSON lines (`-v`, `-vv`, `-vvv`, `--log-format json`). Standard output stays the command's
//! own output. Events never carry credentials: the libraries log plugin option *names*, never
//! their values.

use tracing::level_filters::LevelFilter;

/// How log events are written.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per event (`timestamp`, `level`, `fields`, `target`, `span`).
    Json,
}

/// The level shown for a `-v` count: warnings by default, then info, debug, trace.
pub(crate) fn level(verbose: u8) -> LevelFilter {
    match verbose {
        0 => LevelFilter::WARN,
        1 => LevelFilter::INFO,
        2 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    }
}

/// Installs the stderr subscriber for the process; `color` says whether stderr is colored.
pub(crate) fn init(verbose: u8, format: LogFormat, color: bool) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level(verbose))
        .with_target(verbose >= 2);
    // A second initialisation (tests calling `main` twice) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.with_ansi(color).without_time().try_init(),
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_v_shows_one_level_more() {
        assert_eq!(level(0), LevelFilter::WARN);
        assert_eq!(level(1), LevelFilter::INFO);
        assert_eq!(level(2), LevelFilter::DEBUG);
        assert_eq!(level(3), LevelFilter::TRACE);
        assert_eq!(level(9), LevelFilter::TRACE);
    }
}
