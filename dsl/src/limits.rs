//! Limits on what an untrusted script can make flakewatch build. Upstream has none beyond Go's
//! regexp limits; these are generous for real scripts (the largest real rule has 23 operators).

/// Resource limits applied while parsing and compiling scripts.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest script accepted, in bytes (GitHub caps issue bodies at 65 536 characters).
    pub max_script_bytes: usize,
    /// Most `&&`, `||` and `!` operators in one rule; bounds the depth of its tree.
    pub max_rule_operators: usize,
    /// Largest compiled regexp (regex-automata's NFA size limit), in bytes.
    pub max_regex_bytes: usize,
    /// Memory for one regexp's lazy DFA cache, in bytes.
    pub max_dfa_cache_bytes: usize,
}

impl Limits {
    /// The defaults.
    pub const DEFAULT: Limits = Limits {
        max_script_bytes: 1 << 20,
        max_rule_operators: 1000,
        max_regex_bytes: 4 << 20,
        max_dfa_cache_bytes: 2 << 20,
    };
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::DEFAULT
    }
}
