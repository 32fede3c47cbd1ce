//! Ingestion: JUnit XML (every dialect), `go test -json` and mozlog (raw and errorsummary) into
//! one test-result model, and out again as results JSON lines or watchflakes failure records.
//!
//! | module | what |
//! |---|---|
//! | [`model`] | [`Run`] → suite path → [`Test`] → [`Attempt`]s, [`RunMeta`], [`Counts`] |
//! | [`junit`] | streaming quick-xml JUnit reader, every retry encoding → attempts |
//! | [`gotest`] | `go test -json` reader (Go 1.19 → current) |
//! | [`mozlog`] | mozlog raw and errorsummary readers |
//! | [`mod@detect`] | format detection by content |
//! | [`jsonl`] | the results JSON-lines schema (`docs/ingest.md`) |
//! | [`failures`] | from test results to watchflakes failure records |
//! | [`records`] | failure records keyed by [`flakewatch_dsl::Field`] names: reading and writing their JSON lines |
//!
//! Readers stream their input through a small byte layer that repairs invalid UTF-8, refuses
//! UTF-16, tracks lines and columns and bounds what one token or line can make us buffer
//! ([`Limits`]). Errors are [`IngestError`]s naming the file and position; problems recovered
//! from are [`Warning`]s kept in the [`Run`].

pub mod detect;
mod error;
pub mod failures;
pub mod gotest;
mod index;
mod input;
pub mod jsonl;
pub mod junit;
pub mod model;
pub mod mozlog;
pub mod records;

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

pub use detect::{Undetected, detect};
pub use error::{IngestError, Warning, WarningKind};
pub use failures::{FailureOptions, failure_records, write_failures};
pub use input::Limits;
pub use jsonl::{SCHEMA_VERSION, write_results};
pub use model::*;
pub use records::{FailureRecord, RecordLine, read_records};

/// Reads one input: detects its format from the content unless `format` says it, then runs
/// the matching reader. `source` names the input in errors and in the run.
pub fn read<R: Read>(
    mut input: R,
    source: &str,
    format: Option<Format>,
    meta: RunMeta,
    limits: &Limits,
) -> Result<Run, IngestError> {
    if let Some(format) = format {
        return read_as(input, source, format, meta, limits);
    }
    let mut head = Vec::with_capacity(4096);
    (&mut input)
        .take(detect::HEAD_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(|e| IngestError::Io {
            file: source.to_owned(),
            source: e,
        })?;
    let format = match detect(&head) {
        Ok(f) => f,
        Err(Undetected::Empty) => {
            return Err(IngestError::Empty {
                file: source.to_owned(),
            });
        }
        Err(Undetected::Utf16(encoding)) => {
            return Err(IngestError::UnsupportedEncoding {
                file: source.to_owned(),
                encoding,
            });
        }
        Err(Undetected::Unknown) => {
            return Err(IngestError::UnknownFormat {
                file: source.to_owned(),
                reason: "not XML, and no test2json or mozlog JSON line near the start",
            });
        }
    };
    read_as(
        io::Cursor::new(head).chain(input),
        source,
        format,
        meta,
        limits,
    )
}

fn read_as<R: Read>(
    input: R,
    source: &str,
    format: Format,
    meta: RunMeta,
    limits: &Limits,
) -> Result<Run, IngestError> {
    match format {
        Format::Junit => junit::read(input, source, meta, limits),
        Format::GoTest => gotest::read(input, source, meta, limits),
        Format::MozlogRaw | Format::MozlogErrorSummary => {
            mozlog::read(input, source, meta, limits, format)
        }
    }
}

/// Reads one input held in memory (see [`read`]): the same result, but JUnit XML is parsed
/// without copying ([`junit::read_slice`]).
pub fn read_bytes(
    bytes: &[u8],
    source: &str,
    format: Option<Format>,
    meta: RunMeta,
    limits: &Limits,
) -> Result<Run, IngestError> {
    let format = match format {
        Some(format) => format,
        // Detection and its errors exactly as the streaming path has them.
        None => match detect(&bytes[..bytes.len().min(detect::HEAD_BYTES)]) {
            Ok(format) => format,
            Err(_) => return read(bytes, source, None, meta, limits),
        },
    };
    match format {
        Format::Junit => junit::read_slice(bytes, source, meta, limits),
        _ => read_as(bytes, source, format, meta, limits),
    }
}

/// Regular files up to this size are read into memory and parsed from there
/// ([`read_bytes`]); larger ones, pipes and devices stream.
const IN_MEMORY_MAX: u64 = 256 << 20;

/// Opens and reads the file at `path` (see [`read`]); the path as given names it.
pub fn read_path(
    path: &Path,
    format: Option<Format>,
    meta: RunMeta,
    limits: &Limits,
) -> Result<Run, IngestError> {
    let source = path.display().to_string();
    let io_error = |e| IngestError::Io {
        file: source.clone(),
        source: e,
    };
    let mut file = File::open(path).map_err(io_error)?;
    // Pipes and devices stream, whatever size they claim.
    let size = file
        .metadata()
        .ok()
        .filter(std::fs::Metadata::is_file)
        .map_or(u64::MAX, |m| m.len());
    if size <= IN_MEMORY_MAX {
        let mut bytes = Vec::with_capacity(size as usize + 1);
        file.read_to_end(&mut bytes).map_err(io_error)?;
        return read_bytes(&bytes, &source, format, meta, limits);
    }
    read(file, &source, format, meta, limits)
}
