//! Reading whole files with a bound checked before the bytes are held: a device (`/dev/zero`)
//! or a huge file given as a configuration, history or side-car file is refused with a clear
//! error instead of exhausting memory.

use std::io::{self, Read};
use std::path::Path;

/// Reads `path` whole if it holds at most `limit` bytes; a larger (or endless) input is an
/// [`io::ErrorKind::FileTooLarge`] error saying the limit, found after reading `limit + 1`
/// bytes at most.
pub fn read(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("larger than {limit} bytes, the most flakewatch reads of such a file"),
        ));
    }
    Ok(bytes)
}

/// As [`read`], as UTF-8 text (invalid UTF-8 is an [`io::ErrorKind::InvalidData`] error).
pub fn read_to_string(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read(path, limit)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// The bound for configuration files (TOML, JSON settings): 1 MiB.
pub const CONFIG_LIMIT: u64 = 1 << 20;
/// The bound for data files read whole (history rows, side-car JSON, percentile tables):
/// 256 MiB.
pub const DATA_LIMIT: u64 = 256 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endless_and_large_inputs_are_refused_at_the_bound() {
        let err = read(Path::new("/dev/zero"), 1024).expect_err("endless");
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        assert!(err.to_string().contains("larger than 1024 bytes"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(read(&path, 5).unwrap(), b"12345");
        assert!(read(&path, 4).is_err());
        assert_eq!(read_to_string(&path, 5).unwrap(), "12345");
    }
}
