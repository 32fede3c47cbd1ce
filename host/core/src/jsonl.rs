//! Reading JSON-lines inputs: one error type for every reader of them (failure records,
//! issues, conformance vectors), and a line splitter that never holds more than a bounded
//! line in memory.

use std::io::BufRead;

/// A line of a JSON-lines input that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// The stream failed.
    #[error("{file}: {source}")]
    Io {
        /// The input's name.
        file: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A line is not what the reader expects.
    #[error("{file}:{line}: {message}")]
    Invalid {
        /// The input's name.
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A line is longer than the reader's limit; the input is not read further (an endless
    /// line must not keep the reader busy).
    #[error("{file}:{line}: line longer than {limit} bytes; the rest of the input is not read")]
    TooLong {
        /// The input's name.
        file: String,
        /// 1-based line number.
        line: usize,
        /// The limit in bytes.
        limit: usize,
    },
}

impl LineError {
    /// Whether reading can go on after this error (a bad line, not a broken stream or an
    /// over-long line).
    pub fn is_recoverable(&self) -> bool {
        matches!(self, LineError::Invalid { .. })
    }

    /// An [`Invalid`](LineError::Invalid) error for line `line` of `file`.
    pub fn invalid(file: &str, line: usize, message: impl Into<String>) -> LineError {
        LineError::Invalid {
            file: file.to_owned(),
            line,
            message: message.into(),
        }
    }
}

/// The non-blank lines of `input` with their 1-based numbers, each at most `max_line` bytes
/// (without its line ending). A line that is not UTF-8 is [`LineError::Invalid`], and the
/// next line follows. A longer line is [`LineError::TooLong`], reported as soon as the limit
/// is passed (never held in memory, never read to its end), and, like a read error, ends the
/// iteration.
pub fn lines<R: BufRead>(input: R, file: &str, max_line: usize) -> Lines<R> {
    Lines {
        input,
        file: file.to_owned(),
        max_line,
        line: 0,
        buf: Vec::new(),
        done: false,
        skip_blank: true,
    }
}

/// As [`lines`], but blank lines are returned too (as empty strings), so that a reader can
/// answer every input line with one output line.
pub fn every_line<R: BufRead>(input: R, file: &str, max_line: usize) -> Lines<R> {
    Lines {
        skip_blank: false,
        ..lines(input, file, max_line)
    }
}

/// The iterator of [`lines`].
#[derive(Debug)]
pub struct Lines<R> {
    input: R,
    file: String,
    max_line: usize,
    line: usize,
    buf: Vec<u8>,
    done: bool,
    skip_blank: bool,
}

impl<R: BufRead> Lines<R> {
    /// Reads one line into `buf` up to the limit; returns (bytes seen, too long, at end).
    fn fill(&mut self) -> std::io::Result<(usize, bool)> {
        self.buf.clear();
        let mut seen = 0usize;
        let mut too_long = false;
        loop {
            let chunk = self.input.fill_buf()?;
            if chunk.is_empty() {
                return Ok((seen, too_long));
            }
            let (take, ends) = match memchr_newline(chunk) {
                Some(at) => (at, true),
                None => (chunk.len(), false),
            };
            seen += take + usize::from(ends);
            if self.buf.len() + take > self.max_line {
                too_long = true;
                self.buf.clear();
                self.input.consume(take);
                return Ok((seen, too_long));
            }
            self.buf.extend_from_slice(&chunk[..take]);
            self.input.consume(take + usize::from(ends));
            if ends {
                return Ok((seen, too_long));
            }
        }
    }
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', bytes)
}

impl<R: BufRead> Iterator for Lines<R> {
    type Item = Result<(usize, String), LineError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let (seen, too_long) = match self.fill() {
                Ok(read) => read,
                Err(source) => {
                    self.done = true;
                    return Some(Err(LineError::Io {
                        file: self.file.clone(),
                        source,
                    }));
                }
            };
            if seen == 0 {
                self.done = true;
                return None;
            }
            self.line += 1;
            if too_long {
                self.done = true;
                return Some(Err(LineError::TooLong {
                    file: self.file.clone(),
                    line: self.line,
                    limit: self.max_line,
                }));
            }
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                if self.skip_blank {
                    continue;
                }
                return Some(Ok((self.line, String::new())));
            }
            return Some(match String::from_utf8(std::mem::take(&mut self.buf)) {
                Ok(text) => Ok((self.line, text)),
                Err(_) => Err(LineError::invalid(
                    &self.file,
                    self.line,
                    "line is not valid UTF-8",
                )),
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    fn collect(input: &[u8], max: usize) -> Vec<Result<(usize, String), String>> {
        lines(input, "in.jsonl", max)
            .map(|r| r.map_err(|e| e.to_string()))
            .collect()
    }

    #[test]
    fn numbers_lines_and_skips_blank_ones() {
        assert_eq!(
            collect(b"a\n\n  \r\nb\r\nc", 10),
            vec![
                Ok((1, "a".into())),
                Ok((4, "b".into())),
                Ok((5, "c".into()))
            ]
        );
    }

    #[test]
    fn every_line_keeps_blank_lines_in_place() {
        let got: Vec<_> = every_line(&b"a\n\n \nb"[..], "f", 10)
            .map(|r| r.map_err(|e| e.to_string()))
            .collect();
        assert_eq!(
            got,
            vec![
                Ok((1, "a".into())),
                Ok((2, String::new())),
                Ok((3, String::new())),
                Ok((4, "b".into()))
            ]
        );
    }

    #[test]
    fn non_utf8_lines_are_skipped_and_a_long_line_ends_the_input() {
        let got = collect(b"ok\n\xff\xfe\nend\n0123456789ab\nnever\n", 10);
        assert_eq!(
            got,
            vec![
                Ok((1, "ok".into())),
                Err("in.jsonl:2: line is not valid UTF-8".into()),
                Ok((3, "end".into())),
                Err(
                    "in.jsonl:4: line longer than 10 bytes; the rest of the input is not read"
                        .into()
                ),
            ]
        );
    }

    #[test]
    fn an_endless_line_is_read_in_bounded_memory() {
        // A line with no end (`/dev/zero`): reported at the limit, never allocated whole,
        // never read to its end.
        let endless = std::io::BufReader::new(std::io::repeat(b'x'));
        let mut it = lines(endless, "zero", 1024);
        let first = it.next().expect("an error").expect_err("too long");
        assert!(matches!(first, LineError::TooLong { line: 1, .. }));
        assert!(it.next().is_none());
        assert!(it.buf.capacity() <= 1024 + 8192);
    }
}
