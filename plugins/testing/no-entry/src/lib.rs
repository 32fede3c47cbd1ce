//! Test fixture: a dynamic library that is not a flakewatch plugin (no entry symbol).

/// Something the library does have, so it is not empty.
pub fn answer() -> u32 {
    42
}
