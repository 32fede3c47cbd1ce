//! JSON-lines files on disk: reading them, replacing them atomically (write a temporary file,
//! flush it to disk, rename it over the old one), appending one line to them, and serialising
//! writers with a lock file.
//!
//! A crash during a replacement leaves either the old file or the new one, never a mix. A
//! crash during an append leaves at most one torn last line, without its newline: readers of
//! an appended file skip it ([`Tail::Torn`]) and the next append cuts it off first. The
//! fault-injection hook [`crash_point`] lets tests stop the process between those steps.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value};

/// The environment variable that makes the plugin abort the process at the N-th crash point
/// (1-based, counted over the process; two per write: before and after the rename, or in the
/// middle of an appended line and after it; two per run stored in `results.sqlite`: with half
/// of its test rows written and nothing committed, and after the commit). For crash-safety
/// tests only.
pub const CRASH_AT_ENV: &str = "FLAKEWATCH_FILES_CRASH_AT";

/// Crash points passed so far in this process.
static CRASH_POINTS: AtomicU64 = AtomicU64::new(0);

/// Counts one crash point and aborts the process when it is the one [`CRASH_AT_ENV`] names.
pub fn crash_point(crash_at: Option<u64>) {
    let n = CRASH_POINTS.fetch_add(1, Ordering::SeqCst) + 1;
    if crash_at == Some(n) {
        // A simulated power cut: no destructors, no flushing, nothing after this.
        std::process::abort();
    }
}

/// One JSON object per line, with the line number it came from.
pub type Lines = Vec<(usize, Map<String, Value>)>;

/// The longest line read from a data file (build logs live in lines); a longer one is an
/// error found before it is held whole in memory.
pub const MAX_LINE: u64 = 64 << 20;

/// How a reader takes a last line that has no newline and is not JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tail {
    /// An error, as any other bad line: the file is written whole, so it cannot be torn.
    Strict,
    /// Skipped: the file grows by [`append_object`], and such a line is what an append cut
    /// short by a crash leaves (the append never returned, so nothing relied on it).
    Torn,
}

/// Reads a JSON-lines file of objects; a missing file reads as empty. Blank lines are skipped.
pub fn read_objects(path: &Path, tail: Tail) -> Result<Lines, String> {
    let mut out = Vec::new();
    each_object(path, tail, |line, object| {
        out.push((line, object));
        Ok(())
    })?;
    Ok(out)
}

/// Calls `f` with each object of a JSON-lines file and its line number, one line in memory at
/// a time; a missing file has none. Blank lines are skipped; `f`'s error stops the read.
pub fn each_object(
    path: &Path,
    tail: Tail,
    mut f: impl FnMut(usize, Map<String, Value>) -> Result<(), String>,
) -> Result<(), String> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let mut reader = BufReader::new(file);
    let mut bytes = Vec::new();
    for i in 0.. {
        bytes.clear();
        let got = (&mut reader)
            .take(MAX_LINE + 1)
            .read_until(b'\n', &mut bytes)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if got == 0 {
            break;
        }
        if bytes.len() as u64 > MAX_LINE {
            return Err(format!(
                "{}:{}: line longer than {MAX_LINE} bytes",
                path.display(),
                i + 1
            ));
        }
        let unterminated = bytes.last() != Some(&b'\n');
        let parsed = std::str::from_utf8(&bytes)
            .map_err(|_| "not UTF-8".to_owned())
            .and_then(|line| {
                if line.trim().is_empty() {
                    return Ok(None);
                }
                match serde_json::from_str::<Value>(line) {
                    Ok(Value::Object(object)) => Ok(Some(object)),
                    Ok(_) => Err("expected a JSON object".to_owned()),
                    Err(e) => Err(e.to_string()),
                }
            });
        match parsed {
            Ok(Some(object)) => f(i + 1, object)?,
            Ok(None) => {}
            Err(_) if unterminated && tail == Tail::Torn => break,
            Err(e) => return Err(format!("{}:{}: {e}", path.display(), i + 1)),
        }
    }
    Ok(())
}

/// Appends `object` to `path` as one line, and flushes it to disk. Call it with the
/// [`DirLock`] held. A torn last line left by an earlier crash is cut off first (a complete
/// object that only lacks its newline gets one), so the file never holds two objects on one
/// line; only the bytes of the new line are written.
pub fn append_object(
    path: &Path,
    object: &Map<String, Value>,
    crash_at: Option<u64>,
) -> Result<(), String> {
    let mut line = serde_json::to_vec(object).map_err(|e| e.to_string())?;
    line.push(b'\n');
    let context = |e: std::io::Error| format!("appending to {}: {e}", path.display());
    let created = !path.exists();
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(context)?;
    repair_tail(&mut file).map_err(context)?;
    file.seek(SeekFrom::End(0)).map_err(context)?;
    // Two writes, with a crash point between: a crash there leaves the torn line a real
    // crash mid-write can leave.
    let half = line.len() / 2;
    file.write_all(&line[..half]).map_err(context)?;
    crash_point(crash_at);
    file.write_all(&line[half..]).map_err(context)?;
    file.sync_data().map_err(context)?;
    if created {
        sync_dir(path);
    }
    crash_point(crash_at);
    Ok(())
}

/// The longest torn tail [`repair_tail`] reads back to judge it: an appended line is at most
/// a comment, far below this; a longer unterminated tail is cut without being parsed.
const TAIL_PARSE_MAX: u64 = MAX_LINE;

/// Ends `file` after its last newline: drops an unterminated last line that is not a JSON
/// object, and terminates one that is.
fn repair_tail(file: &mut File) -> std::io::Result<()> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(());
    }
    // Find the start of the last line, reading backwards in blocks.
    let mut start = len;
    let mut block = vec![0u8; 64 << 10];
    'search: while start > 0 {
        let from = start.saturating_sub(block.len() as u64);
        let n = (start - from) as usize;
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut block[..n])?;
        if let Some(k) = block[..n].iter().rposition(|&b| b == b'\n') {
            start = from + k as u64 + 1;
            break 'search;
        }
        start = from;
    }
    let complete = len - start <= TAIL_PARSE_MAX && {
        let mut tail = vec![0u8; (len - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut tail)?;
        matches!(serde_json::from_slice::<Value>(&tail), Ok(Value::Object(_)))
    };
    if complete {
        file.seek(SeekFrom::End(0))?;
        file.write_all(b"\n")?;
    } else {
        file.set_len(start)?;
    }
    Ok(())
}

/// Replaces `path` with `objects`, one per line, atomically.
pub fn write_objects<'a>(
    path: &Path,
    objects: impl IntoIterator<Item = &'a Map<String, Value>>,
    crash_at: Option<u64>,
) -> Result<(), String> {
    let mut text = Vec::new();
    for object in objects {
        serde_json::to_writer(&mut text, object).map_err(|e| e.to_string())?;
        text.push(b'\n');
    }
    let tmp = temp_path(path);
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(&text)?;
        file.sync_all()?;
        drop(file);
        crash_point(crash_at);
        fs::rename(&tmp, path)?;
        sync_dir(path);
        Ok::<_, std::io::Error>(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(format!("writing {}: {e}", path.display()));
    }
    crash_point(crash_at);
    Ok(())
}

/// Removes the temporary files that crashed writes left behind. Call it with the
/// [`DirLock`] held: then no write is in progress, and every temporary file is stale.
pub fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.contains(".jsonl.tmp-") {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The temporary file a write goes through: hidden, beside the target, unique per process.
fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("data");
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Flushes the directory entry of a rename to disk (best effort; not every platform can).
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(dir) = File::open(dir)
    {
        let _ = dir.sync_all();
    }
}

/// An exclusive lock on the data directory, held while a write reads, changes and replaces a
/// file, so that two processes never lose each other's updates. Released on drop.
#[derive(Debug)]
pub struct DirLock {
    file: File,
}

impl DirLock {
    /// Takes the lock (blocking).
    pub fn acquire(dir: &Path) -> Result<DirLock, String> {
        let path = dir.join(".flakewatch.lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        file.lock()
            .map_err(|e| format!("locking {}: {e}", path.display()))?;
        remove_stale_temps(dir);
        Ok(DirLock { file })
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// The data directory's cycle lock: held by one triage run from before it reads the issues
/// until it has written everything, so that two runs never plan from the same state. A
/// separate file from [`DirLock`]'s, which each write takes briefly inside the cycle.
#[derive(Debug)]
pub struct CycleLock {
    file: File,
}

/// The cycle lock's file name in the data directory.
pub const CYCLE_LOCK_FILE: &str = ".flakewatch.cycle.lock";

impl CycleLock {
    /// Tries to take the lock for up to `wait` (once when zero). `Ok(Err(holder))` when
    /// another process holds it: `holder` is what that process wrote into the file.
    pub fn try_acquire(
        dir: &Path,
        wait: std::time::Duration,
    ) -> Result<Result<CycleLock, String>, String> {
        let path = dir.join(CYCLE_LOCK_FILE);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let deadline = std::time::Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    let holder = fs::read_to_string(&path).unwrap_or_default();
                    return Ok(Err(holder.trim().to_owned()));
                }
                Err(fs::TryLockError::Error(e)) => {
                    return Err(format!("locking {}: {e}", path.display()));
                }
            }
        }
        // Say who holds it, for a run that finds it taken.
        let _ = file.set_len(0);
        let _ = write!(file, "pid {}", std::process::id());
        let _ = file.flush();
        Ok(Ok(CycleLock { file }))
    }
}

impl Drop for CycleLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cycle_lock_is_held_until_dropped_and_names_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let zero = std::time::Duration::ZERO;
        let held = CycleLock::try_acquire(dir.path(), zero)
            .unwrap()
            .expect("free");
        let other = CycleLock::try_acquire(dir.path(), std::time::Duration::from_millis(120))
            .unwrap()
            .expect_err("held");
        assert_eq!(other, format!("pid {}", std::process::id()));
        drop(held);
        assert!(CycleLock::try_acquire(dir.path(), zero).unwrap().is_ok());
    }

    #[test]
    fn write_then_read_round_trips_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jsonl");
        assert!(read_objects(&path, Tail::Strict).unwrap().is_empty());
        let mut a = Map::new();
        a.insert("number".into(), Value::from(1));
        let mut b = Map::new();
        b.insert("title".into(), Value::from("t\nu"));
        write_objects(&path, [&a, &b], None).unwrap();
        let back = read_objects(&path, Tail::Strict).unwrap();
        assert_eq!(back, vec![(1, a), (2, b)]);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["x.jsonl"]);
    }

    #[test]
    fn bad_lines_are_reported_with_their_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jsonl");
        fs::write(&path, "{}\n\n[1]\n").unwrap();
        let err = read_objects(&path, Tail::Strict).unwrap_err();
        assert!(err.ends_with("x.jsonl:3: expected a JSON object"), "{err}");
    }

    #[test]
    fn the_lock_can_be_taken_again_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join(".issues.jsonl.tmp-99999");
        fs::write(&stale, "half").unwrap();
        drop(DirLock::acquire(dir.path()).unwrap());
        assert!(
            !stale.exists(),
            "taking the lock removes stale temporary files"
        );
        let again = DirLock::acquire(dir.path());
        assert!(again.is_ok());
    }

    #[test]
    fn appends_add_one_line_and_cut_off_a_torn_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        let object = |n: u64| Map::from_iter([("id".to_owned(), Value::from(n))]);
        append_object(&path, &object(1), None).unwrap();
        // What a crash in the middle of the second append leaves.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"id\":").unwrap();
        drop(file);
        assert_eq!(
            read_objects(&path, Tail::Torn).unwrap(),
            vec![(1, object(1))]
        );
        let err = read_objects(&path, Tail::Strict).unwrap_err();
        assert!(err.contains("c.jsonl:2:"), "{err}");
        append_object(&path, &object(2), None).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "{\"id\":1}\n{\"id\":2}\n"
        );
        // A complete object that only lacks its newline (written by hand) is kept.
        fs::write(&path, "{\"id\":1}").unwrap();
        append_object(&path, &object(2), None).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "{\"id\":1}\n{\"id\":2}\n"
        );
    }

    #[test]
    fn a_torn_line_without_any_newline_before_it_empties_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        fs::write(&path, "{\"is").unwrap();
        append_object(&path, &Map::new(), None).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "{}\n");
    }
}
