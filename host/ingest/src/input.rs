//! The byte layer under every reader: a buffered input that repairs invalid UTF-8, refuses
//! UTF-16, tracks line and column, bounds how much one token or line may make us buffer, and a
//! bounded text accumulator.

use std::io::{self, BufRead, Read};

/// Resource limits one input is held to. A hostile input can make a reader allocate about
/// `max_token` (XML) or `max_line` (JSON lines) bytes at once, plus `max_text` per stored field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes kept of one text field (output, message, trace); longer texts keep their start
    /// and end around a `[... N bytes cut ...]` marker.
    pub max_text: usize,
    /// Bytes of one XML token (a text run, tag, CDATA section or comment).
    pub max_token: u64,
    /// Bytes of one line of a JSON-lines input.
    pub max_line: usize,
    /// XML element nesting depth.
    pub max_depth: usize,
    /// Warnings kept per input (the rest are only counted).
    pub max_warnings: usize,
    /// Threads one input held in memory may be read on. With 2 or more, a JUnit document of
    /// at least 1 MiB whose root is `<testsuites>` is read in two halves at once, cut between
    /// two of its suites (the result is the same as on one thread). 1 by default; `flakewatch
    /// ingest` gives a single file all the machine's CPUs.
    pub threads: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_text: 1 << 20,
            max_token: 64 << 20,
            max_line: 8 << 20,
            max_depth: 256,
            max_warnings: 1000,
            threads: 1,
        }
    }
}

const CHUNK: usize = 64 * 1024;
const REPLACEMENT: &str = "\u{FFFD}";

/// Why the input layer stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The input starts like UTF-16 (named).
    Utf16(&'static str),
    /// More than `max_token` bytes went by without the reader marking a token boundary.
    TokenTooLarge,
}

/// A line/column position (1-based; the column counts bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Pos {
    pub line: u64,
    pub column: u64,
}

/// A position [`Input::pos_of`] resolved in the current chunk: the offset, its line and
/// where that line starts.
#[derive(Clone, Copy, Debug)]
struct Resolved {
    offset: u64,
    line: u64,
    line_start: u64,
}

/// Buffered UTF-8 input over any [`Read`], see the module doc.
pub(crate) struct Input<R> {
    inner: R,
    buf: Box<[u8]>,
    /// Repaired data when the last chunk had invalid UTF-8 (then `buf` is not used).
    alt: Vec<u8>,
    use_alt: bool,
    pos: usize,
    filled: usize,
    carry: [u8; 4],
    carry_len: usize,
    eof: bool,
    started: bool,
    /// Bytes consumed so far.
    offset: u64,
    /// Index in the current data where the chunk starts, and that byte's offset.
    chunk_begin: usize,
    chunk_offset: u64,
    /// Line of the chunk's first byte, and the offset where that line starts. Lines are
    /// counted a chunk at a time (when the next one is read), not per consumed token.
    chunk_line: u64,
    chunk_line_start: u64,
    /// Offset at the last [`Input::mark`], and its position once its chunk was left.
    mark_offset: u64,
    mark_resolved: Option<Pos>,
    max_token: u64,
    fault: Option<Fault>,
    /// The last position resolved in the current chunk: later ones count lines from it, so
    /// resolving every element's position costs one pass over a chunk, not one per element.
    resolved: std::cell::Cell<Option<Resolved>>,
    /// Offsets (after repair) of replaced invalid UTF-8 sequences not yet reported.
    invalid: Vec<Pos>,
    invalid_total: u64,
}

impl<R: Read> Input<R> {
    /// Wraps `inner`; `max_token` bounds the bytes between two [`Input::mark`] calls.
    pub(crate) fn new(inner: R, max_token: u64) -> Input<R> {
        Input {
            inner,
            buf: vec![0; CHUNK + 4].into_boxed_slice(),
            alt: Vec::new(),
            use_alt: false,
            pos: 0,
            filled: 0,
            carry: [0; 4],
            carry_len: 0,
            eof: false,
            started: false,
            offset: 0,
            chunk_begin: 0,
            chunk_offset: 0,
            chunk_line: 1,
            chunk_line_start: 0,
            mark_offset: 0,
            mark_resolved: None,
            max_token,
            fault: None,
            resolved: std::cell::Cell::new(None),
            invalid: Vec::new(),
            invalid_total: 0,
        }
    }

    /// What stopped the input, if anything did.
    pub(crate) fn fault(&self) -> Option<Fault> {
        self.fault
    }

    /// Records a token boundary: the token-size guard restarts and positions before the next
    /// token resolve against this point.
    pub(crate) fn mark(&mut self) {
        self.mark_offset = self.offset;
        self.mark_resolved = None;
    }

    /// Bytes consumed so far.
    #[cfg(test)]
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// Line and column of the byte at `offset`. Exact within the current chunk and at the last
    /// mark; for other offsets before the current chunk, the mark's line (or the chunk's first
    /// line) with column 0.
    pub(crate) fn pos_of(&self, offset: u64) -> Pos {
        if offset >= self.chunk_offset {
            let data = self.all_data();
            let end = (self.chunk_begin as u64 + (offset - self.chunk_offset))
                .min(data.len() as u64) as usize;
            // Count from the last resolved position when it is not past this one, else from
            // the chunk's start.
            let from = match self.resolved.get() {
                Some(known) if known.offset <= offset => known,
                _ => Resolved {
                    offset: self.chunk_offset,
                    line: self.chunk_line,
                    line_start: self.chunk_line_start,
                },
            };
            let begin = self.chunk_begin + (from.offset - self.chunk_offset) as usize;
            let seen = &data[begin.min(end)..end];
            let newlines = memchr::memchr_iter(b'\n', seen).count() as u64;
            let line_start = match memchr::memrchr(b'\n', seen) {
                Some(i) => self.chunk_offset + (begin.min(end) - self.chunk_begin + i) as u64 + 1,
                None => from.line_start,
            };
            let line = from.line + newlines;
            self.resolved.set(Some(Resolved {
                offset: self.chunk_offset + (end.max(self.chunk_begin) - self.chunk_begin) as u64,
                line,
                line_start,
            }));
            return Pos {
                line,
                column: offset.saturating_sub(line_start) + 1,
            };
        }
        match self.mark_resolved {
            Some(pos) if offset >= self.mark_offset => Pos {
                line: pos.line,
                column: pos.column + (offset - self.mark_offset),
            },
            Some(pos) => Pos {
                line: pos.line,
                column: 0,
            },
            None => Pos {
                line: self.chunk_line,
                column: 0,
            },
        }
    }

    /// Position of the last mark.
    pub(crate) fn mark_pos(&self) -> Pos {
        match self.mark_resolved {
            Some(pos) if self.mark_offset < self.chunk_offset => pos,
            _ => self.pos_of(self.mark_offset),
        }
    }

    /// Line (1-based) of the next unconsumed byte.
    #[cfg(test)]
    pub(crate) fn line(&self) -> u64 {
        self.pos_of(self.offset).line
    }

    /// Positions of invalid UTF-8 replaced since the last call (at most 64 are remembered
    /// between calls) and the total ever replaced.
    pub(crate) fn take_invalid(&mut self) -> (Vec<Pos>, u64) {
        (std::mem::take(&mut self.invalid), self.invalid_total)
    }

    fn data(&self) -> &[u8] {
        &self.all_data()[self.pos..]
    }

    /// The current chunk's data, consumed or not.
    fn all_data(&self) -> &[u8] {
        if self.use_alt {
            &self.alt[..self.filled]
        } else {
            &self.buf[..self.filled]
        }
    }

    /// Leaves the current (fully consumed) chunk: resolves the mark if it lies in it, counts
    /// its lines, and moves the chunk origin to the next byte.
    fn leave_chunk(&mut self) {
        if self.mark_resolved.is_none() && self.mark_offset >= self.chunk_offset {
            self.mark_resolved = Some(self.pos_of(self.mark_offset));
        }
        let data = &self.all_data()[self.chunk_begin.min(self.filled)..];
        let newlines = data.iter().filter(|&&b| b == b'\n').count() as u64;
        let last = data.iter().rposition(|&b| b == b'\n');
        let len = data.len() as u64;
        if let Some(last) = last {
            self.chunk_line += newlines;
            self.chunk_line_start = self.chunk_offset + last as u64 + 1;
        }
        self.chunk_offset += len;
    }

    fn refill(&mut self) -> io::Result<()> {
        self.leave_chunk();
        self.resolved.set(None);
        self.pos = 0;
        self.filled = 0;
        self.use_alt = false;
        loop {
            let carry = self.carry_len;
            self.buf[..carry].copy_from_slice(&self.carry[..carry]);
            self.carry_len = 0;
            let n = if self.eof {
                0
            } else {
                loop {
                    match self.inner.read(&mut self.buf[carry..CHUNK]) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    }
                }
            };
            if n == 0 {
                self.eof = true;
            }
            let total = carry + n;
            if total == 0 {
                self.chunk_begin = 0;
                return Ok(());
            }
            let mut start = 0;
            if !self.started {
                if total < 4 && !self.eof {
                    // Too little to sniff the encoding: read more first.
                    self.carry[..total].copy_from_slice(&self.buf[..total]);
                    self.carry_len = total;
                    continue;
                }
                self.started = true;
                let head = &self.buf[..total];
                if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[b'<', 0]) {
                    self.fault = Some(Fault::Utf16("UTF-16LE"));
                    return Err(io::Error::other("UTF-16 input"));
                }
                if head.starts_with(&[0xFE, 0xFF]) || head.starts_with(&[0, b'<']) {
                    self.fault = Some(Fault::Utf16("UTF-16BE"));
                    return Err(io::Error::other("UTF-16 input"));
                }
                if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
                    start = 3;
                }
            }
            match std::str::from_utf8(&self.buf[start..total]) {
                Ok(_) => {
                    self.pos = start;
                    self.filled = total;
                }
                Err(e) if e.error_len().is_none() && !self.eof => {
                    // An incomplete sequence at the end: carry it to the next read.
                    let cut = start + e.valid_up_to();
                    let tail = total - cut;
                    if tail > 3 {
                        self.repair(start, total);
                    } else {
                        self.carry[..tail].copy_from_slice(&self.buf[cut..total]);
                        self.carry_len = tail;
                        self.pos = start;
                        self.filled = cut;
                    }
                }
                Err(_) => self.repair(start, total),
            }
            if self.filled > self.pos {
                self.chunk_begin = self.pos;
                return Ok(());
            }
            if self.eof && self.carry_len == 0 {
                self.chunk_begin = self.pos;
                return Ok(());
            }
        }
    }

    /// Slow path: copies `buf[start..end]` to `alt`, replacing invalid UTF-8 with U+FFFD and
    /// carrying an incomplete final sequence (unless at end of input).
    fn repair(&mut self, start: usize, end: usize) {
        let mut out = std::mem::take(&mut self.alt);
        out.clear();
        let mut rest = &self.buf[start..end];
        let mut invalid = Vec::new();
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.extend_from_slice(s.as_bytes());
                    break;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    out.extend_from_slice(valid);
                    match e.error_len() {
                        Some(len) => {
                            invalid.push(out.len());
                            out.extend_from_slice(REPLACEMENT.as_bytes());
                            rest = &after[len..];
                        }
                        None if self.eof => {
                            invalid.push(out.len());
                            out.extend_from_slice(REPLACEMENT.as_bytes());
                            break;
                        }
                        None => {
                            self.carry[..after.len()].copy_from_slice(after);
                            self.carry_len = after.len();
                            break;
                        }
                    }
                }
            }
        }
        // Record positions (relative to the consumed offset, resolved lazily in `consume`).
        self.invalid_total += invalid.len() as u64;
        for at in invalid {
            if self.invalid.len() < 64 {
                // Line/column resolved now: the chunk's bytes before `at` are not yet
                // consumed, so count them.
                let before = &out[..at];
                let nl = before.iter().filter(|&&b| b == b'\n').count() as u64;
                let (line, column) = if nl == 0 {
                    (
                        self.chunk_line,
                        self.chunk_offset + at as u64 - self.chunk_line_start + 1,
                    )
                } else {
                    let last = before.iter().rposition(|&b| b == b'\n').unwrap_or(0);
                    (self.chunk_line + nl, (at - last) as u64)
                };
                self.invalid.push(Pos { line, column });
            }
        }
        self.alt = out;
        self.use_alt = true;
        self.pos = 0;
        self.filled = self.alt.len();
    }

    /// Reads one line (without its `\n`) into `out`. Returns `Ok(None)` at end of input,
    /// `Ok(Some(true))` for a line ended by `\n`, `Ok(Some(false))` for a final line without
    /// one, and `TooLong` as soon as the line exceeds `max` bytes (the rest of it is not
    /// read: the readers stop there).
    pub(crate) fn read_line(&mut self, out: &mut Vec<u8>, max: usize) -> io::Result<LineRead> {
        out.clear();
        loop {
            let available = self.fill_buf()?;
            if available.is_empty() {
                return Ok(if out.is_empty() {
                    LineRead::Eof
                } else {
                    LineRead::Partial
                });
            }
            let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (i, true),
                None => (available.len(), false),
            };
            if out.len() + chunk > max {
                // Over the limit: stop here, without looking for the line's end (an endless
                // line, `/dev/zero`, must not keep the reader busy). The readers give up.
                self.consume(chunk);
                self.mark();
                out.clear();
                return Ok(LineRead::TooLong);
            }
            out.extend_from_slice(&available[..chunk]);
            self.consume(if done { chunk + 1 } else { chunk });
            self.mark();
            if done {
                if out.last() == Some(&b'\r') {
                    out.pop();
                }
                return Ok(LineRead::Line);
            }
        }
    }
}

/// What [`Input::read_line`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LineRead {
    /// A whole line.
    Line,
    /// The last line, without a final newline.
    Partial,
    /// A line longer than the limit (its bytes were skipped).
    TooLong,
    /// End of input.
    Eof,
}

impl<R: Read> Read for Input<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for Input<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.filled {
            if let Some(fault) = self.fault {
                return Err(io::Error::other(format!("{fault:?}")));
            }
            if self.offset - self.mark_offset > self.max_token {
                self.fault = Some(Fault::TokenTooLarge);
                return Err(io::Error::other("token too large"));
            }
            self.refill()?;
        }
        Ok(self.data())
    }

    fn consume(&mut self, amt: usize) {
        let amt = amt.min(self.filled - self.pos);
        if amt == 0 {
            return;
        }
        self.offset += amt as u64;
        self.pos += amt;
    }
}

/// A bounded text accumulator: keeps the first and last `limit / 2` bytes of what is pushed.
#[derive(Debug, Default)]
pub(crate) struct TextBuf {
    s: String,
    /// End of the kept head once something was cut (0 = nothing cut yet).
    head: usize,
    dropped: usize,
    /// Bytes pushed in all.
    total: usize,
}

impl TextBuf {
    /// Appends `text`, cutting the middle when more than `2 * limit` bytes are held.
    pub(crate) fn push(&mut self, text: &str, limit: usize) {
        self.total += text.len();
        self.s.push_str(text);
        if self.s.len() > limit.saturating_mul(2) {
            self.compact(limit);
        }
    }

    /// Whether nothing was pushed.
    pub(crate) fn is_empty(&self) -> bool {
        self.s.is_empty()
    }

    fn compact(&mut self, limit: usize) {
        let half = limit / 2;
        if self.dropped == 0 {
            self.head = self.s.floor_char_boundary(half);
        }
        let tail_start = self
            .s
            .ceil_char_boundary(self.s.len().saturating_sub(half))
            .max(self.head);
        self.dropped += tail_start - self.head;
        self.s.replace_range(self.head..tail_start, "");
    }

    /// Bytes pushed in all, before any cut.
    pub(crate) fn total(&self) -> usize {
        self.total
    }

    /// The text, cut to `limit` bytes (plus the cut marker), and the number of bytes cut.
    pub(crate) fn finish(mut self, limit: usize) -> (String, usize) {
        if self.s.len() > limit {
            self.compact(limit);
        }
        if self.dropped > 0 {
            let marker = format!("\n[... {} bytes cut ...]\n", self.dropped);
            self.s.insert_str(self.head, &marker);
        }
        (self.s, self.dropped)
    }
}

/// Cuts `text` to `limit` bytes like [`TextBuf`] does; returns the number of bytes cut.
pub(crate) fn bound_text(text: String, limit: usize) -> (String, usize) {
    if text.len() <= limit {
        return (text, 0);
    }
    let buf = TextBuf {
        total: text.len(),
        s: text,
        head: 0,
        dropped: 0,
    };
    buf.finish(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8]) -> (String, u64) {
        let mut input = Input::new(bytes, u64::MAX);
        let mut out = Vec::new();
        input.read_to_end(&mut out).unwrap();
        (String::from_utf8(out).unwrap(), input.take_invalid().1)
    }

    #[test]
    fn valid_utf8_passes_through_and_bom_is_dropped() {
        assert_eq!(read_all("h\u{e9}llo".as_bytes()).0, "h\u{e9}llo");
        assert_eq!(read_all(b"\xEF\xBB\xBF<a/>").0, "<a/>");
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let (text, n) = read_all(b"ab\xFFcd\xC3");
        assert_eq!(text, "ab\u{FFFD}cd\u{FFFD}");
        assert_eq!(n, 2);
    }

    #[test]
    fn sequences_split_across_reads_survive() {
        // A reader that returns one byte at a time splits every multi-byte character.
        struct OneByte<'a>(&'a [u8]);
        impl Read for OneByte<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() || out.is_empty() {
                    return Ok(0);
                }
                out[0] = self.0[0];
                self.0 = &self.0[1..];
                Ok(1)
            }
        }
        let text = "x\u{1F600}y\u{e9}\u{4e2d}";
        let mut input = Input::new(OneByte(text.as_bytes()), u64::MAX);
        let mut out = String::new();
        input.read_to_string(&mut out).unwrap();
        assert_eq!(out, text);
        assert_eq!(input.take_invalid().1, 0);
    }

    #[test]
    fn utf16_is_refused() {
        let mut input = Input::new(&b"\xFF\xFE<\0a\0"[..], u64::MAX);
        assert!(input.fill_buf().is_err());
        assert_eq!(input.fault(), Some(Fault::Utf16("UTF-16LE")));
    }

    #[test]
    fn lines_and_columns_are_tracked() {
        let mut input = Input::new(&b"ab\ncd\nef"[..], u64::MAX);
        let mut line = Vec::new();
        assert_eq!(input.read_line(&mut line, 10).unwrap(), LineRead::Line);
        assert_eq!(input.read_line(&mut line, 10).unwrap(), LineRead::Line);
        assert_eq!(line, b"cd");
        assert_eq!(input.line(), 3);
        assert_eq!(input.pos_of(input.offset()), Pos { line: 3, column: 1 });
        assert_eq!(input.read_line(&mut line, 10).unwrap(), LineRead::Partial);
        assert_eq!(input.read_line(&mut line, 10).unwrap(), LineRead::Eof);
    }

    #[test]
    fn a_long_line_is_reported_at_the_limit() {
        let mut data = vec![b'x'; 100];
        data.extend_from_slice(b"\nok\n");
        let mut input = Input::new(&data[..], u64::MAX);
        let mut line = Vec::new();
        assert_eq!(input.read_line(&mut line, 10).unwrap(), LineRead::TooLong);
        assert!(line.is_empty());
        // An endless line is reported without being read to its end.
        let mut endless = Input::new(std::io::repeat(b'x'), u64::MAX);
        assert_eq!(
            endless.read_line(&mut line, 1 << 20).unwrap(),
            LineRead::TooLong
        );
    }

    #[test]
    fn token_guard_trips_without_marks() {
        let data = vec![b'x'; 3 * CHUNK];
        let mut input = Input::new(&data[..], 1000);
        let mut out = Vec::new();
        assert!(input.read_to_end(&mut out).is_err());
        assert_eq!(input.fault(), Some(Fault::TokenTooLarge));
    }

    #[test]
    fn text_buf_keeps_head_and_tail() {
        let mut buf = TextBuf::default();
        for i in 0..1000 {
            buf.push(&format!("{i:04}\n"), 100);
        }
        let (text, dropped) = buf.finish(100);
        assert!(text.starts_with("0000\n"));
        assert!(text.ends_with("0999\n"));
        assert!(text.contains("bytes cut"));
        assert_eq!(dropped, 5000 - 100);
        let (short, cut) = bound_text("short".to_owned(), 100);
        assert_eq!((short.as_str(), cut), ("short", 0));
    }
}
