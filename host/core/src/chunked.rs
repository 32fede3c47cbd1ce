//! Reading a line-based input on several threads, in order: workers take line-aligned chunks
//! of the input in turn, split and read them themselves, and their results are handed back in
//! input order with the number of each chunk's first line.
//!
//! The only serial work is the read of a chunk's bytes (under a lock) and finding the last line
//! ending in it; splitting the chunk into lines, checking them and everything the caller does
//! per line runs on the workers. Lines are classified exactly as [`every_line`] does (blank
//! lines kept in place, a line that is not UTF-8 reported in place, an over-long line reported
//! and ending the input), so a reader built on [`for_each_line`] answers every input line once,
//! as a serial reader would.
//!
//! Memory is bounded by the options, not the input: each worker holds one chunk (at most the
//! chunk size plus one line of at most `max_line` bytes), and workers never run more than a
//! few chunks ahead of the oldest result not yet handed back.
//!
//! [`every_line`]: crate::jsonl::every_line

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::{Condvar, Mutex, PoisonError, mpsc};

/// How [`for_each_line`] splits its input.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Bytes a chunk holds at least (but for the last), up to the end of the line that crosses
    /// this size.
    pub chunk_size: usize,
    /// The longest line read, in bytes without its `\n`; a longer line is [`Line::TooLong`]
    /// and ends the input (it is never read whole).
    pub max_line: usize,
}

impl Options {
    /// The chunk size `flakewatch` uses: large enough that taking a chunk costs nothing next to
    /// reading it, small enough that a chunk read by a worker is still in its core's cache when
    /// it reads the lines.
    pub const DEFAULT_CHUNK: usize = 256 << 10;

    /// The chunk size for input in memory ([`for_each_line_in`]): nothing is copied, so a
    /// chunk only sets how often workers take the lock and the writer wakes up. On the
    /// 13 GB moonshot set with two workers, 4 MiB chunks took 16.7-19.6 s against
    /// 19.4-22.2 s for 256 KiB ones (three runs each, alternating).
    pub const MAPPED_CHUNK: usize = 4 << 20;
}

/// Chunks a worker may take beyond the oldest one whose result has not been handed back, per
/// worker (bounds the results waiting to be handed back in order).
const AHEAD_PER_WORKER: u64 = 4;

/// One line of a chunk, classified as [`every_line`](crate::jsonl::every_line) does.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A line of text, without its line ending (`\n` or `\r\n`); never blank.
    Text(&'a str),
    /// An empty line, or one of ASCII whitespace only.
    Blank,
    /// A line that is not UTF-8.
    NotUtf8,
    /// A line longer than [`Options::max_line`]; it is the last line handed over.
    TooLong,
}

/// Why [`for_each_line`] stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    /// Reading the input failed.
    #[error("reading: {0}")]
    Read(#[source] io::Error),
    /// Handing a result back failed (the caller's `emit`).
    #[error("writing: {0}")]
    Emit(#[source] io::Error),
}

/// Reads `input` on `states.len()` threads (one state each; with one state, on the calling
/// thread), calling `line(state, result, index, line)` for every line, where `index` is the
/// line's 0-based position in its chunk and `result` the chunk's own result, created with
/// `Default`. `emit(first_line, result)` then receives the chunks' results in input order on
/// the calling thread, `first_line` being the 1-based number of the chunk's first line.
///
/// After a [`Line::TooLong`] nothing further is read or handed back. An error of `emit` or of
/// the input stops the run.
pub fn for_each_line<R, S, T, F, E>(
    input: R,
    options: Options,
    states: &mut [S],
    line: F,
    emit: E,
) -> Result<(), ChunkError>
where
    R: Read + Send,
    S: Send,
    T: Default + Send,
    F: Fn(&mut S, &mut T, usize, Line<'_>) + Sync,
    E: FnMut(usize, T) -> io::Result<()>,
{
    let ahead = states.len().max(1) as u64 * AHEAD_PER_WORKER;
    let source = Source::new(Input::Read(input), options, ahead);
    drive(source, options, states, line, emit, |_| {})
}

/// [`for_each_line`] over input already in memory (a memory-mapped file): chunks are slices
/// of `bytes`, so nothing is copied, and taking the next chunk only looks for the line end
/// after the chunk size (at most [`Options::max_line`] bytes further). Lines, line numbers
/// and results are exactly [`for_each_line`]'s for the same bytes.
///
/// `consumed(end)` is called on the calling thread, after the results up to byte `end` were
/// handed back: no worker reads below `end` again (a mapping can drop those pages).
pub fn for_each_line_in<S, T, F, E, C>(
    bytes: &[u8],
    options: Options,
    states: &mut [S],
    line: F,
    emit: E,
    consumed: C,
) -> Result<(), ChunkError>
where
    S: Send,
    T: Default + Send,
    F: Fn(&mut S, &mut T, usize, Line<'_>) + Sync,
    E: FnMut(usize, T) -> io::Result<()>,
    C: FnMut(usize),
{
    let ahead = states.len().max(1) as u64 * AHEAD_PER_WORKER;
    let input: Input<'_, io::Empty> = Input::Mapped { bytes, at: 0 };
    let source = Source::new(input, options, ahead);
    drive(source, options, states, line, emit, consumed)
}

/// Runs the workers over `source` and hands their results back in order, calling
/// `consumed` with the end of each mapped chunk handed back.
fn drive<R, S, T, F, E, C>(
    source: Source<'_, R>,
    options: Options,
    states: &mut [S],
    line: F,
    mut emit: E,
    mut consumed: C,
) -> Result<(), ChunkError>
where
    R: Read + Send,
    S: Send,
    T: Default + Send,
    F: Fn(&mut S, &mut T, usize, Line<'_>) + Sync,
    E: FnMut(usize, T) -> io::Result<()>,
    C: FnMut(usize),
{
    let mut first_line = 1usize;
    if states.len() <= 1 {
        let Some(state) = states.first_mut() else {
            return Ok(());
        };
        let mut chunk = Chunk::default();
        while let Some(seq) = source.fill(&mut chunk).map_err(ChunkError::Read)? {
            let mut result = T::default();
            let (lines, stop) = chunk.each_line(options.max_line, |index, l| {
                line(state, &mut result, index, l);
            });
            emit(first_line, result).map_err(ChunkError::Emit)?;
            consumed(chunk.end);
            first_line += lines;
            source.handed_back(seq + 1);
            if stop {
                break;
            }
        }
        return Ok(());
    }
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel::<io::Result<Done<T>>>(states.len());
        for state in states.iter_mut() {
            let (tx, source, line) = (tx.clone(), &source, &line);
            std::thread::Builder::new()
                .name("fw-lines".to_owned())
                .spawn_scoped(scope, move || {
                    work(source, options.max_line, state, line, &tx)
                })
                .expect("spawning a reading thread");
        }
        drop(tx);
        let mut waiting: BTreeMap<u64, Done<T>> = BTreeMap::new();
        let mut next = 0u64;
        let mut outcome = Ok(());
        let mut stopped = false;
        // Ends when every worker has ended (they end once the source is done or stopped).
        for done in rx {
            let done = match done {
                Ok(done) => done,
                Err(err) => {
                    if !stopped {
                        outcome = Err(ChunkError::Read(err));
                        stopped = true;
                        source.stop();
                    }
                    continue;
                }
            };
            if stopped {
                continue;
            }
            waiting.insert(done.seq, done);
            while let Some(done) = waiting.remove(&next) {
                if let Err(err) = emit(first_line, done.result) {
                    outcome = Err(ChunkError::Emit(err));
                    stopped = true;
                }
                consumed(done.end);
                first_line += done.lines;
                next += 1;
                source.handed_back(next);
                if done.stop || stopped {
                    stopped = true;
                    source.stop();
                    waiting.clear();
                    break;
                }
            }
        }
        outcome
    })
}

/// A worker's result for one chunk.
struct Done<T> {
    seq: u64,
    /// Where the chunk ends in mapped input (0 for read input).
    end: usize,
    lines: usize,
    stop: bool,
    result: T,
}

/// A worker: takes chunks until the source is done, sends each chunk's result.
fn work<R: Read, S, T: Default, F>(
    source: &Source<'_, R>,
    max_line: usize,
    state: &mut S,
    line: &F,
    tx: &mpsc::SyncSender<io::Result<Done<T>>>,
) where
    F: Fn(&mut S, &mut T, usize, Line<'_>),
{
    let mut chunk = Chunk::default();
    loop {
        let seq = match source.fill(&mut chunk) {
            Ok(Some(seq)) => seq,
            Ok(None) => return,
            Err(err) => {
                source.stop();
                let _ = tx.send(Err(err));
                return;
            }
        };
        let mut result = T::default();
        let (lines, stop) =
            chunk.each_line(max_line, |index, l| line(state, &mut result, index, l));
        if stop {
            source.stop();
        }
        let done = Done {
            seq,
            end: chunk.end,
            lines,
            stop,
            result,
        };
        if tx.send(Ok(done)).is_err() {
            return;
        }
    }
}

/// The shared input: whoever takes the lock reads the next chunk.
struct Source<'a, R> {
    state: Mutex<SourceState<'a, R>>,
    /// Signalled when results are handed back or the source stops.
    moved: Condvar,
    options: Options,
    ahead: u64,
}

/// Where chunks come from.
enum Input<'a, R> {
    /// Read (copied) into each worker's buffer.
    Read(R),
    /// Already in memory: chunks are slices, from `at` on.
    Mapped { bytes: &'a [u8], at: usize },
}

struct SourceState<'a, R> {
    input: Input<'a, R>,
    /// The start of the line the last chunk ended in the middle of.
    carry: Vec<u8>,
    /// The next chunk's sequence number.
    next: u64,
    /// Chunks below this one have been handed back.
    handed_back: u64,
    /// At the end of the input, or stopped.
    done: bool,
}

impl<'a, R: Read> Source<'a, R> {
    fn new(input: Input<'a, R>, options: Options, ahead: u64) -> Source<'a, R> {
        Source {
            state: Mutex::new(SourceState {
                input,
                carry: Vec::new(),
                next: 0,
                handed_back: 0,
                done: false,
            }),
            moved: Condvar::new(),
            options: Options {
                chunk_size: options.chunk_size.max(1),
                ..options
            },
            ahead: ahead.max(1),
        }
    }

    /// Reads the next chunk into `chunk`; its sequence number, or `None` at the end.
    fn fill(&self, chunk: &mut Chunk<'a>) -> io::Result<Option<u64>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        while !state.done && state.next >= state.handed_back + self.ahead {
            state = self
                .moved
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if state.done {
            return Ok(None);
        }
        let state = &mut *state;
        let Options {
            chunk_size,
            max_line,
        } = self.options;
        chunk.mapped = None;
        if let Input::Mapped { bytes, at } = &mut state.input {
            let start = *at;
            if start >= bytes.len() {
                state.done = true;
                return Ok(None);
            }
            let cut = start.saturating_add(chunk_size);
            let end = if cut >= bytes.len() {
                bytes.len()
            } else {
                // The line going on at the cut ends within `max_line` bytes, or it is too
                // long: the chunk then holds more than `max_line` bytes of it, which
                // `each_line` reports, and nothing after it is read.
                let limit = cut
                    .saturating_add(max_line)
                    .saturating_add(1)
                    .min(bytes.len());
                match memchr::memchr(b'\n', &bytes[cut..limit]) {
                    Some(found) => cut + found + 1,
                    None => {
                        if limit < bytes.len() {
                            state.done = true;
                        }
                        limit
                    }
                }
            };
            *at = end;
            chunk.mapped = Some(&bytes[start..end]);
            chunk.end = end;
            chunk.too_long = false;
            let seq = state.next;
            state.next += 1;
            return Ok(Some(seq));
        }
        chunk.len = 0;
        chunk.too_long = false;
        chunk.put(&state.carry);
        state.carry.clear();
        // Bytes of the chunk known to hold no line ending.
        let mut scanned = 0;
        loop {
            if chunk.len >= chunk_size {
                if let Some(at) = memchr::memrchr(b'\n', &chunk.bytes[scanned..chunk.len]) {
                    let end = scanned + at + 1;
                    state.carry.extend_from_slice(&chunk.bytes[end..chunk.len]);
                    chunk.len = end;
                    break;
                }
                scanned = chunk.len;
                // The chunk is one unfinished line: past the limit it is not read further.
                if chunk.len > max_line {
                    chunk.len = 0;
                    chunk.too_long = true;
                    state.done = true;
                    break;
                }
            }
            // Up to the chunk size, then a chunk's worth at a time while its last line goes on.
            let want = if chunk.len < chunk_size {
                chunk_size - chunk.len
            } else {
                chunk_size
            };
            let Input::Read(input) = &mut state.input else {
                unreachable!("mapped input returned above");
            };
            let read = match chunk.read_from(input, want) {
                Ok(read) => read,
                Err(err) => {
                    state.done = true;
                    return Err(err);
                }
            };
            if read == 0 {
                state.done = true;
                break;
            }
        }
        let seq = state.next;
        state.next += 1;
        Ok(Some(seq))
    }

    /// Chunks below `next` have been handed back: workers may take chunks up to `next + ahead`.
    fn handed_back(&self, next: u64) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.handed_back = next;
        drop(state);
        self.moved.notify_all();
    }

    /// Nothing more is read.
    fn stop(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.done = true;
        drop(state);
        self.moved.notify_all();
    }
}

/// A worker's buffer: whole lines (the last line of the input may lack its `\n`).
#[derive(Default)]
struct Chunk<'a> {
    /// Initialized bytes; `..len` are the chunk's (read input).
    bytes: Vec<u8>,
    len: usize,
    /// The chunk's lines, in place (mapped input).
    mapped: Option<&'a [u8]>,
    /// Where the chunk ends in mapped input (0 for read input).
    end: usize,
    /// After its lines, the input has a line longer than the limit.
    too_long: bool,
}

impl Chunk<'_> {
    /// Appends `data`.
    fn put(&mut self, data: &[u8]) {
        let end = self.len + data.len();
        if self.bytes.len() < end {
            self.bytes.resize(end, 0);
        }
        self.bytes[self.len..end].copy_from_slice(data);
        self.len = end;
    }

    /// Appends at most `want` bytes from `input` (one read); how many.
    fn read_from(&mut self, input: &mut impl Read, want: usize) -> io::Result<usize> {
        let end = self.len + want;
        if self.bytes.len() < end {
            // Zeroed once: the buffer is reused for every chunk.
            self.bytes.resize(end, 0);
        }
        loop {
            match input.read(&mut self.bytes[self.len..end]) {
                Ok(read) => {
                    self.len += read;
                    return Ok(read);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
    }

    /// Calls `f(index, line)` for every line; returns how many lines there were and whether
    /// the last was [`Line::TooLong`].
    fn each_line(&self, max_line: usize, mut f: impl FnMut(usize, Line<'_>)) -> (usize, bool) {
        let bytes = self.mapped.unwrap_or(&self.bytes[..self.len]);
        let mut start = 0;
        let mut index = 0;
        while start < bytes.len() {
            let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |at| start + at);
            let line = &bytes[start..end];
            if line.len() > max_line {
                f(index, Line::TooLong);
                return (index + 1, true);
            }
            f(index, classify(line));
            index += 1;
            start = end + 1;
        }
        if self.too_long {
            f(index, Line::TooLong);
            return (index + 1, true);
        }
        (index, false)
    }
}

/// A line without its `\n`, as [`every_line`](crate::jsonl::every_line) reads it.
fn classify(line: &[u8]) -> Line<'_> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Line::Blank;
    }
    // SIMD validation: every byte of the input passes here (std's took 2 % of `match`).
    match simdutf8::basic::from_utf8(line) {
        Ok(text) => Line::Text(text),
        Err(_) => Line::NotUtf8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonl::every_line;

    /// What `every_line` makes of `input`: (line number, text or error) per line.
    fn serial(input: &[u8], max_line: usize) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        for line in every_line(input, "in", max_line) {
            match line {
                Ok((n, text)) if text.is_empty() => out.push((n, "<blank>".to_owned())),
                Ok((n, text)) => out.push((n, text)),
                Err(crate::LineError::Invalid { line, .. }) => out.push((line, "<utf8>".into())),
                Err(crate::LineError::TooLong { line, .. }) => {
                    out.push((line, "<too long>".into()));
                }
                Err(err) => panic!("{err}"),
            }
        }
        out
    }

    /// What `for_each_line` (or, `mapped`, `for_each_line_in`) makes of `input` on `threads`
    /// threads.
    fn parallel(
        input: &[u8],
        threads: usize,
        chunk_size: usize,
        max_line: usize,
        mapped: bool,
    ) -> Vec<(usize, String)> {
        let mut states = vec![(); threads];
        let mut out = Vec::new();
        let options = Options {
            chunk_size,
            max_line,
        };
        let line = |_: &mut (), result: &mut Vec<(usize, String)>, index, line: Line<'_>| {
            let text = match line {
                Line::Text(text) => text.to_owned(),
                Line::Blank => "<blank>".to_owned(),
                Line::NotUtf8 => "<utf8>".to_owned(),
                Line::TooLong => "<too long>".to_owned(),
            };
            result.push((index, text));
        };
        let emit = |first, result: Vec<(usize, String)>| {
            out.extend(result.into_iter().map(|(i, t)| (first + i, t)));
            Ok(())
        };
        if mapped {
            let mut last = 0;
            let consumed = |end: usize| {
                assert!(end > last && end <= input.len(), "{end} after {last}");
                last = end;
            };
            for_each_line_in(input, options, &mut states, line, emit, consumed)
        } else {
            for_each_line(input, options, &mut states, line, emit)
        }
        .expect("no error");
        out
    }

    fn agree(input: &[u8], max_line: usize) {
        let expected = serial(input, max_line);
        for threads in [1, 2, 3] {
            for chunk_size in [1, 2, 3, 7, 16, 1000] {
                for mapped in [false, true] {
                    assert_eq!(
                        parallel(input, threads, chunk_size, max_line, mapped),
                        expected,
                        "{threads} threads, chunks of {chunk_size}, mapped {mapped}: {:?}",
                        String::from_utf8_lossy(input)
                    );
                }
            }
        }
    }

    #[test]
    fn lines_are_read_as_the_serial_reader_reads_them() {
        agree(b"", 100);
        agree(b"a", 100);
        agree(b"a\n", 100);
        agree(b"\n", 100);
        agree(b"a\nb", 100);
        agree(b"a\r\nb\r\n\r\n \t\nc\rd\n\n\nlast", 100);
        agree(b"ok\n\xff\xfe\nend\n", 100);
        agree(b"short\nthis line is longer than a chunk\nx\n", 100);
        // Over-long lines end the input, whole lines or one still unfinished.
        agree(b"ab\ncdefghijklmnop\nnever\n", 10);
        agree(b"ab\ncdefghijklmnopqrstuvwxyz", 10);
        agree(b"0123456789\n0123456789\r\nx", 10);
        agree(b"a\n0123456789abc\nb\n", 10);
        agree(b"0123456789abcdefghij0123456789\nb\n", 10);
    }

    /// An over-long line in memory ends the input as a read one does, wherever the chunks cut.
    #[test]
    fn a_long_line_in_memory_ends_the_chunks() {
        let mut input = b"first\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 1 << 20));
        input.extend_from_slice(b"\nnever\n");
        let got = parallel(&input, 2, 16, 1000, true);
        assert_eq!(
            got,
            vec![(1, "first".to_owned()), (2, "<too long>".to_owned())]
        );
    }

    #[test]
    fn many_lines_come_back_in_order() {
        let mut input = Vec::new();
        for i in 0..5000 {
            input.extend_from_slice(format!("line {i} {}\n", "x".repeat(i % 37)).as_bytes());
        }
        let expected = serial(&input, 1000);
        for threads in [1, 2, 4] {
            for chunk_size in [64, 4096] {
                for mapped in [false, true] {
                    assert_eq!(
                        parallel(&input, threads, chunk_size, 1000, mapped),
                        expected
                    );
                }
            }
        }
    }

    #[test]
    fn an_endless_line_is_not_read_past_the_limit() {
        let endless = io::repeat(b'x');
        let mut states = vec![(); 2];
        let mut seen = Vec::new();
        for_each_line(
            endless,
            Options {
                chunk_size: 4096,
                max_line: 100_000,
            },
            &mut states,
            |_, result: &mut Vec<(usize, bool)>, index, line| {
                result.push((index, line == Line::TooLong));
            },
            |first, result| {
                seen.extend(result.into_iter().map(|(i, t)| (first + i, t)));
                Ok(())
            },
        )
        .expect("no error");
        assert_eq!(seen, vec![(1, true)]);
    }

    #[test]
    fn errors_stop_the_run() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("disk on fire"));
                }
                self.0 -= 1;
                let line = b"line\n";
                let n = line.len().min(buf.len());
                buf[..n].copy_from_slice(&line[..n]);
                Ok(n)
            }
        }
        for threads in [1, 2] {
            let mut states = vec![(); threads];
            let err = for_each_line(
                Failing(3),
                Options {
                    chunk_size: 4,
                    max_line: 100,
                },
                &mut states,
                |_, _: &mut (), _, _| {},
                |_, ()| Ok(()),
            )
            .expect_err("the read fails");
            assert!(matches!(err, ChunkError::Read(_)), "{err}");
            assert_eq!(err.to_string(), "reading: disk on fire");
            let err = for_each_line(
                &b"a\nb\nc\n"[..],
                Options {
                    chunk_size: 2,
                    max_line: 100,
                },
                &mut states,
                |_, _: &mut (), _, _| {},
                |_, ()| Err(io::Error::other("full")),
            )
            .expect_err("emit fails");
            assert!(matches!(err, ChunkError::Emit(_)), "{err}");
        }
    }
}
