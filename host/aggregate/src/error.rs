//! Typed errors of the aggregator and `analyze-historical-data`, and reading a JSON file
//! with errors that name it.

use std::path::Path;

/// Why an aggregation or analysis could not be carried out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AggregateError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file could not be parsed.
    #[error("{path}: invalid JSON: {source}")]
    Json {
        /// The file.
        path: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The configuration is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// A TOML configuration file could not be parsed.
    #[error("{path}: {message}")]
    Toml {
        /// The file.
        path: String,
        /// The parser's message.
        message: String,
    },
    /// More unfinished runs than allowed (upstream's message).
    #[error("{job} for {tag}: found {count} unfinished related jobRuns: {ids}")]
    TooManyUnfinished {
        /// The job.
        job: String,
        /// The payload tag or aggregation ID.
        tag: String,
        /// How many.
        count: usize,
        /// Their IDs, `, `-separated.
        ids: String,
    },
    /// No run matched.
    #[error("{job} for {tag}: found no related jobRuns")]
    NoRuns {
        /// The job.
        job: String,
        /// The payload tag or aggregation ID.
        tag: String,
    },
    /// No run ran an expected suite (upstream's message).
    #[error(
        "None of the jobs aggregated ran an expected test suite.  This usually means they failed very early."
    )]
    NoExpectedSuite,
    /// Disruption data could not be read for enough runs.
    #[error("reading disruption data: {0}")]
    Disruption(String),
    /// The job is not in the variant registry (upstream's message).
    #[error("{0} not found in variant registry")]
    UnknownVariant(String),
    /// Historical data is empty (`analyze-historical-data`).
    #[error("{0}")]
    EmptyData(String),
}

/// Reads and decodes the JSON file at `path`; either error names the file.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, AggregateError> {
    let text = flakewatch_core::bounded::read_to_string(path, flakewatch_core::bounded::DATA_LIMIT)
        .map_err(|source| AggregateError::Io {
            path: path.display().to_string(),
            source,
        })?;
    serde_json::from_str(&text).map_err(|source| AggregateError::Json {
        path: path.display().to_string(),
        source,
    })
}
