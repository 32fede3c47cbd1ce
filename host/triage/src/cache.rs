//! The compiled-set cache (`--cache DIR`): what compiling an issue set produces before code
//! generation, kept on disk under a hash of everything that decides it, so that a pattern set
//! that has not changed since the last batch is not extracted, parsed or lowered again.
//!
//! An entry holds the lowered [`PatternSet`] (issues, nodes, predicates, regexp patterns,
//! actions and their kinds) and what became of every issue ([`IssueStatus`]): whether its
//! script is usable, missing, empty, has errors, or exceeds a limit (with the error). Its file
//! name is the hex of its [key](entry_key): SHA-256 of [`FORMAT_VERSION`], the crate version,
//! the engine, the [`Limits`] and the number and body of every issue, in number order.
//!
//! Invariants:
//! * A hit gives the engine a cold compile gives. The set is decoded as lowering left it; its
//!   regexps (distinct in the set) are re-parsed from their patterns and checked against the
//!   limits as lowering checks them; the scripts with errors are extracted and parsed again
//!   for their diagnostics (an entry stores no diagnostics); the plan and, for the JIT, the
//!   code are generated as on a cold compile.
//! * An entry is written whole or not at all: a temporary file in DIR, fsync, rename. Two runs
//!   at once write the same bytes, and a reader never sees half a file.
//! * Reading is bounded and never panics: a file over [`MAX_ENTRY_BYTES`] is refused before it
//!   is read, and every count is checked against the bytes left before anything is allocated
//!   for it. A missing entry is a miss; one that is truncated, corrupt (its SHA-256 checksum),
//!   of another format version, or inconsistent with the issue set is a miss with a warning
//!   naming the file, and is rewritten.
//! * Nothing is evicted: a changed issue set is a new file. Deleting the directory, or any
//!   entry, at any time is safe.
//!
//! Layout: an 84-byte header (magic `FWCACHE\n`, format version as u32 LE, the 32-byte key,
//! the payload's length as u64 LE, the payload's SHA-256), then the payload in LEB128
//! varints and length-prefixed byte strings (see `encode`).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use flakewatch_dsl::ast::Span;
use flakewatch_dsl::ir::{
    ActionKind, CmpKind, IssueIr, LowerError, Node, PatternSet, Pred, RegexEntry, RuleIr,
    check_regex,
};
use flakewatch_dsl::{Field, Limits, goregex, parallel};
use flakewatch_jit::JitError;
use sha2::{Digest, Sha256};

use crate::engine::{Engine, EngineKind};
use crate::patterns::{CompiledIssues, IssueStatus, ScriptStatus, sorted};

/// The version of the entry format and of what it means; part of every key. Bump it whenever
/// the encoding, lowering or the IR changes in a way that makes an old entry wrong.
pub const FORMAT_VERSION: u32 = 1;

/// The largest entry read or written (a 10,000-issue set takes about 300 KB).
pub const MAX_ENTRY_BYTES: u64 = 256 << 20;

const MAGIC: [u8; 8] = *b"FWCACHE\n";
const HEADER_BYTES: usize = 8 + 4 + 32 + 8 + 32;

/// Fewest distinct regexps worth re-parsing on several threads.
const MIN_PARALLEL_REGEXES: usize = 64;

/// A directory of compiled-set cache entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetCache {
    dir: PathBuf,
}

/// What one compile through a [`SetCache`] did.
#[derive(Debug)]
pub struct CacheOutcome {
    /// The entry's file.
    pub path: PathBuf,
    /// Whether the set was read from it (nothing extracted, parsed or lowered).
    pub hit: bool,
    /// Why an existing entry was not used (a warning was logged); `None` on a hit and when
    /// there was no entry.
    pub refused: Option<EntryError>,
    /// Whether the entry was written by this compile (false on a hit, and when writing failed:
    /// a warning was logged).
    pub stored: bool,
}

/// Why a cache entry was not used.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    /// It could not be read.
    #[error("cannot be read: {0}")]
    Io(#[from] io::Error),
    /// It is larger than [`MAX_ENTRY_BYTES`].
    #[error("is {size} bytes, more than the {MAX_ENTRY_BYTES}-byte limit")]
    TooLarge {
        /// Its size.
        size: u64,
    },
    /// It ends before its header or payload does.
    #[error("is truncated")]
    Truncated,
    /// It does not start with the magic bytes.
    #[error("is not a flakewatch compiled-set cache entry")]
    NotAnEntry,
    /// It has another format version.
    #[error("has format version {found}, this flakewatch reads version {FORMAT_VERSION}")]
    Version {
        /// The version it has.
        found: u32,
    },
    /// Its header holds another key than its name.
    #[error("holds another issue set's entry")]
    OtherKey,
    /// Its payload does not match the checksum in its header.
    #[error("is corrupt (checksum mismatch)")]
    Checksum,
    /// Its payload does not decode.
    #[error("is malformed: {0}")]
    Malformed(&'static str),
    /// It decodes but does not fit the issue set or the limits.
    #[error("does not fit the issue set: {0}")]
    Mismatch(String),
}

impl SetCache {
    /// A cache kept in `dir` (created when the first entry is written).
    pub fn new(dir: impl Into<PathBuf>) -> SetCache {
        SetCache { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of the entry for `issues` (ascending number) compiled with `kind` and `limits`.
    pub fn entry_path(&self, issues: &[(u64, &str)], kind: EngineKind, limits: Limits) -> PathBuf {
        self.dir.join(hex(&entry_key(issues, kind, limits)))
    }

    /// [`CompiledIssues::compile`] through the cache: an issue set compiled before with the
    /// same engine, limits and flakewatch version is read back lowered (nothing is extracted,
    /// parsed or lowered but the regexps, re-parsed from their patterns, and the scripts with
    /// errors, parsed again for their diagnostics); the plan and code are generated as usual.
    /// Otherwise the set is compiled and its entry written. The result is the same either way;
    /// an entry that cannot be read or written is logged as a warning and otherwise ignored.
    pub fn compile<'a>(
        &self,
        issues: impl IntoIterator<Item = (u64, &'a str)>,
        kind: EngineKind,
        limits: Limits,
    ) -> Result<(CompiledIssues, CacheOutcome), JitError> {
        self.compile_sorted(&sorted(issues), kind, limits)
    }

    /// [`SetCache::compile`] of issues in ascending number order.
    fn compile_sorted(
        &self,
        issues: &[(u64, &str)],
        kind: EngineKind,
        limits: Limits,
    ) -> Result<(CompiledIssues, CacheOutcome), JitError> {
        let key = entry_key(issues, kind, limits);
        let path = self.dir.join(hex(&key));
        let refused = match load(&path, &key, issues, limits) {
            Ok(Some((set, statuses))) => {
                tracing::debug!("compiled-set cache: read {}", path.display());
                let compiled = CompiledIssues {
                    numbers: issues.iter().map(|&(number, _)| number).collect(),
                    statuses,
                    engine: Engine::from_set(kind, set)?,
                };
                let outcome = CacheOutcome {
                    path,
                    hit: true,
                    refused: None,
                    stored: false,
                };
                return Ok((compiled, outcome));
            }
            Ok(None) => None,
            Err(error) => {
                tracing::warn!(
                    "compiled-set cache entry {} {error}; compiling the issues and rewriting it",
                    path.display()
                );
                Some(error)
            }
        };
        let compiled = CompiledIssues::compile_sorted(issues, kind, limits)?;
        let stored = match self.store(&path, &key, &compiled) {
            Ok(()) => {
                tracing::debug!("compiled-set cache: wrote {}", path.display());
                true
            }
            Err(error) => {
                tracing::warn!(
                    "compiled-set cache entry {} cannot be written: {error}",
                    path.display()
                );
                false
            }
        };
        let outcome = CacheOutcome {
            path,
            hit: false,
            refused,
            stored,
        };
        Ok((compiled, outcome))
    }

    /// Writes the entry of `compiled` at `path`, atomically.
    fn store(&self, path: &Path, key: &[u8; 32], compiled: &CompiledIssues) -> io::Result<()> {
        let bytes = entry_bytes(key, compiled);
        if bytes.len() as u64 > MAX_ENTRY_BYTES {
            return Err(io::Error::other(format!(
                "the entry would be {} bytes, more than the {MAX_ENTRY_BYTES}-byte limit",
                bytes.len()
            )));
        }
        fs::create_dir_all(&self.dir)?;
        static TEMPORARIES: AtomicU64 = AtomicU64::new(0);
        let temporary = self.dir.join(format!(
            ".{}.{}.{}.tmp",
            hex(key),
            std::process::id(),
            TEMPORARIES.fetch_add(1, Ordering::Relaxed)
        ));
        let written = (|| {
            let mut file = File::options()
                .write(true)
                .create_new(true)
                .open(&temporary)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            drop(file);
            fs::rename(&temporary, path)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&temporary);
        }
        written?;
        // The rename itself survives a crash once the directory is synced (best effort: not
        // every file system lets a directory be opened and synced).
        if let Ok(dir) = File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

/// The key of the entry for `issues` (ascending number) compiled with `kind` and `limits`:
/// SHA-256 of the format version, the crate version, the engine, the limits and every issue's
/// number and body, each length-prefixed.
pub fn entry_key(issues: &[(u64, &str)], kind: EngineKind, limits: Limits) -> [u8; 32] {
    // Destructured so that a new limit cannot be left out of the key.
    let Limits {
        max_script_bytes,
        max_rule_operators,
        max_regex_bytes,
        max_dfa_cache_bytes,
    } = limits;
    let mut hash = Sha256::new();
    let mut bytes = |data: &[u8]| {
        hash.update((data.len() as u64).to_le_bytes());
        hash.update(data);
    };
    bytes(b"flakewatch compiled-set cache");
    bytes(&FORMAT_VERSION.to_le_bytes());
    bytes(env!("CARGO_PKG_VERSION").as_bytes());
    bytes(kind.name().as_bytes());
    for limit in [
        max_script_bytes,
        max_rule_operators,
        max_regex_bytes,
        max_dfa_cache_bytes,
    ] {
        bytes(&(limit as u64).to_le_bytes());
    }
    bytes(&(issues.len() as u64).to_le_bytes());
    for &(number, body) in issues {
        bytes(&number.to_le_bytes());
        bytes(body.as_bytes());
    }
    hash.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 15)]));
    }
    out
}

/// The whole file of an entry: header and payload.
fn entry_bytes(key: &[u8; 32], compiled: &CompiledIssues) -> Vec<u8> {
    let payload = encode(compiled.engine.set(), &compiled.statuses);
    let mut bytes = Vec::with_capacity(HEADER_BYTES + payload.len());
    bytes.extend_from_slice(&MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(key);
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&Sha256::digest(&payload));
    bytes.extend_from_slice(&payload);
    bytes
}

/// Reads the entry at `path`: `None` when there is none.
fn load(
    path: &Path,
    key: &[u8; 32],
    issues: &[(u64, &str)],
    limits: Limits,
) -> Result<Option<(PatternSet, Vec<IssueStatus>)>, EntryError> {
    let file = match File::open(path) {
        Ok(file) => file,
        // No entry, or no directory for it (the write says why).
        Err(error)
            if matches!(
                error.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(None);
        }
        Err(error) => return Err(error.into()),
    };
    let size = file.metadata()?.len();
    if size > MAX_ENTRY_BYTES {
        return Err(EntryError::TooLarge { size });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(MAX_ENTRY_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_ENTRY_BYTES {
        return Err(EntryError::TooLarge {
            size: bytes.len() as u64,
        });
    }
    let payload = check_header(&bytes, key)?;
    let decoded = decode(payload)?;
    rebuild(decoded, issues, limits).map(Some)
}

/// The payload of an entry file whose header is right for `key`.
fn check_header<'a>(bytes: &'a [u8], key: &[u8; 32]) -> Result<&'a [u8], EntryError> {
    if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
        // A prefix of the magic is a file cut short, anything else is not an entry.
        return Err(if MAGIC.starts_with(bytes) {
            EntryError::Truncated
        } else {
            EntryError::NotAnEntry
        });
    }
    if bytes.len() < HEADER_BYTES {
        return Err(EntryError::Truncated);
    }
    let (header, payload) = bytes.split_at(HEADER_BYTES);
    let found = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
    if found != FORMAT_VERSION {
        return Err(EntryError::Version { found });
    }
    if header[12..44] != key[..] {
        return Err(EntryError::OtherKey);
    }
    let length = u64::from_le_bytes(header[44..52].try_into().expect("8 bytes"));
    if length > payload.len() as u64 {
        return Err(EntryError::Truncated);
    }
    if length < payload.len() as u64 {
        return Err(EntryError::Malformed("bytes after the payload"));
    }
    if Sha256::digest(payload)[..] != header[52..84] {
        return Err(EntryError::Checksum);
    }
    Ok(payload)
}

// The payload, in order:
//
//   issues:  count, then per issue: number, status, [too large: variant, span start, span end,
//            message], rule count, per rule: action id, node id
//   nodes:   count, then per node: tag (and, or, not, pred), [and/or: count, ids | id]
//   preds:   count, then per pred: tag (cmp, regex), field name, [cmp: op, literal | regex id]
//   regexes: count, then per regexp: its pattern
//   actions: count, then per action: its name, its kind
//
// Integers are LEB128 varints, tags single bytes, strings a varint length and the bytes.

const STATUS_USABLE: u8 = 0;
const STATUS_NO_SCRIPT: u8 = 1;
const STATUS_EMPTY_BODY: u8 = 2;
const STATUS_ERRORS: u8 = 3;
const STATUS_TOO_LARGE: u8 = 4;
const LOWER_REGEX_TOO_LARGE: u8 = 0;

const NODE_AND: u8 = 0;
const NODE_OR: u8 = 1;
const NODE_NOT: u8 = 2;
const NODE_PRED: u8 = 3;

const PRED_CMP: u8 = 0;
const PRED_REGEX: u8 = 1;

const fn cmp_tag(op: CmpKind) -> u8 {
    match op {
        CmpKind::Eq => 0,
        CmpKind::Lt => 1,
        CmpKind::Le => 2,
    }
}

const fn action_tag(kind: ActionKind) -> u8 {
    match kind {
        ActionKind::Post => 0,
        ActionKind::Default => 1,
        ActionKind::Skip => 2,
        ActionKind::Other => 3,
    }
}

/// The payload of a set and its issues' statuses.
fn encode(set: &PatternSet, statuses: &[IssueStatus]) -> Vec<u8> {
    let mut out = Encoder(Vec::with_capacity(1 << 16));
    out.count(set.issues.len());
    for (issue, status) in set.issues.iter().zip(statuses) {
        out.int(issue.number);
        match status {
            IssueStatus::Usable => out.byte(STATUS_USABLE),
            IssueStatus::NoScript => out.byte(STATUS_NO_SCRIPT),
            IssueStatus::EmptyBody => out.byte(STATUS_EMPTY_BODY),
            IssueStatus::Errors { .. } => out.byte(STATUS_ERRORS),
            IssueStatus::TooLarge(LowerError::RegexTooLarge { span, message }) => {
                out.byte(STATUS_TOO_LARGE);
                out.byte(LOWER_REGEX_TOO_LARGE);
                out.count(span.start);
                out.count(span.end);
                out.bytes(message.as_bytes());
            }
        }
        out.count(issue.rules.len());
        for rule in &issue.rules {
            out.int(rule.action.into());
            out.int(rule.expr.into());
        }
    }
    out.count(set.nodes.len());
    for node in &set.nodes {
        match node {
            Node::And(ids) | Node::Or(ids) => {
                out.byte(if matches!(node, Node::And(_)) {
                    NODE_AND
                } else {
                    NODE_OR
                });
                out.count(ids.len());
                for &id in ids {
                    out.int(id.into());
                }
            }
            Node::Not(id) => {
                out.byte(NODE_NOT);
                out.int((*id).into());
            }
            Node::Pred(id) => {
                out.byte(NODE_PRED);
                out.int((*id).into());
            }
        }
    }
    out.count(set.preds.len());
    for pred in &set.preds {
        match pred {
            Pred::Cmp { field, op, literal } => {
                out.byte(PRED_CMP);
                out.bytes(field.name().as_bytes());
                out.byte(cmp_tag(*op));
                out.bytes(literal);
            }
            Pred::Regex { field, regex } => {
                out.byte(PRED_REGEX);
                out.bytes(field.name().as_bytes());
                out.int((*regex).into());
            }
        }
    }
    out.count(set.regexes.len());
    for regex in &set.regexes {
        out.bytes(regex.pattern.as_bytes());
    }
    out.count(set.actions.len());
    for (name, &kind) in set.actions.iter().zip(&set.action_kinds) {
        out.bytes(name.as_bytes());
        out.byte(action_tag(kind));
    }
    out.0
}

struct Encoder(Vec<u8>);

impl Encoder {
    fn byte(&mut self, byte: u8) {
        self.0.push(byte);
    }

    fn int(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.0.push(value as u8 | 0x80);
            value >>= 7;
        }
        self.0.push(value as u8);
    }

    fn count(&mut self, value: usize) {
        self.int(value as u64);
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.count(bytes.len());
        self.0.extend_from_slice(bytes);
    }
}

/// An issue's status as an entry holds it.
enum StoredStatus {
    Usable,
    NoScript,
    EmptyBody,
    Errors,
    TooLarge(LowerError),
}

/// A decoded payload: the set without its regexps' syntax trees.
struct Decoded {
    issues: Vec<(IssueIr, StoredStatus)>,
    nodes: Vec<Node>,
    preds: Vec<Pred>,
    patterns: Vec<String>,
    actions: Vec<String>,
    action_kinds: Vec<ActionKind>,
}

/// Decodes a payload, checking every count against the bytes left and every id against what
/// it refers to (a node's operands come before it, so the graph has no cycle).
fn decode(payload: &[u8]) -> Result<Decoded, EntryError> {
    let mut input = Decoder {
        bytes: payload,
        at: 0,
    };
    // Smallest encodings: an issue 3 bytes, a rule 2, a node 2, a pred 4, a string 1, an
    // action 2.
    let issue_count = input.count(3)?;
    let mut issues = Vec::with_capacity(issue_count);
    for _ in 0..issue_count {
        let number = input.int()?;
        let status = match input.byte()? {
            STATUS_USABLE => StoredStatus::Usable,
            STATUS_NO_SCRIPT => StoredStatus::NoScript,
            STATUS_EMPTY_BODY => StoredStatus::EmptyBody,
            STATUS_ERRORS => StoredStatus::Errors,
            STATUS_TOO_LARGE => match input.byte()? {
                LOWER_REGEX_TOO_LARGE => {
                    let span = Span::new(input.usize()?, input.usize()?);
                    let message = input.string()?;
                    StoredStatus::TooLarge(LowerError::RegexTooLarge { span, message })
                }
                _ => return Err(EntryError::Malformed("unknown lowering error")),
            },
            _ => return Err(EntryError::Malformed("unknown issue status")),
        };
        let rule_count = input.count(2)?;
        let mut rules = Vec::with_capacity(rule_count);
        for _ in 0..rule_count {
            let action = input.id()?;
            let expr = input.id()?;
            rules.push(RuleIr { action, expr });
        }
        if !rules.is_empty() && !matches!(status, StoredStatus::Usable) {
            return Err(EntryError::Malformed("rules in an unusable issue"));
        }
        issues.push((IssueIr { number, rules }, status));
    }
    let node_count = input.count(2)?;
    let mut nodes = Vec::with_capacity(node_count);
    for index in 0..node_count {
        let earlier = |id: u32| {
            if (id as usize) < index {
                Ok(id)
            } else {
                Err(EntryError::Malformed(
                    "a node refers to itself or a later node",
                ))
            }
        };
        let node = match input.byte()? {
            tag @ (NODE_AND | NODE_OR) => {
                let count = input.count(1)?;
                if count == 0 {
                    return Err(EntryError::Malformed("an empty and/or node"));
                }
                let mut ids = Vec::with_capacity(count);
                for _ in 0..count {
                    ids.push(earlier(input.id()?)?);
                }
                if tag == NODE_AND {
                    Node::And(ids.into())
                } else {
                    Node::Or(ids.into())
                }
            }
            NODE_NOT => Node::Not(earlier(input.id()?)?),
            NODE_PRED => Node::Pred(input.id()?),
            _ => return Err(EntryError::Malformed("unknown node kind")),
        };
        nodes.push(node);
    }
    let pred_count = input.count(4)?;
    let mut preds = Vec::with_capacity(pred_count);
    for _ in 0..pred_count {
        let tag = input.byte()?;
        let field =
            Field::from_name(input.str()?).ok_or(EntryError::Malformed("unknown field name"))?;
        let pred = match tag {
            PRED_CMP => {
                let op = match input.byte()? {
                    0 => CmpKind::Eq,
                    1 => CmpKind::Lt,
                    2 => CmpKind::Le,
                    _ => return Err(EntryError::Malformed("unknown comparison")),
                };
                let literal = input.bytes()?.into();
                Pred::Cmp { field, op, literal }
            }
            PRED_REGEX => Pred::Regex {
                field,
                regex: input.id()?,
            },
            _ => return Err(EntryError::Malformed("unknown predicate kind")),
        };
        preds.push(pred);
    }
    let pattern_count = input.count(1)?;
    let mut patterns = Vec::with_capacity(pattern_count);
    for _ in 0..pattern_count {
        patterns.push(input.string()?);
    }
    let action_count = input.count(2)?;
    let mut actions = Vec::with_capacity(action_count);
    let mut action_kinds = Vec::with_capacity(action_count);
    for _ in 0..action_count {
        let name = input.string()?;
        let kind = input.byte()?;
        if kind != action_tag(ActionKind::of(&name)) {
            return Err(EntryError::Malformed("an action of the wrong kind"));
        }
        action_kinds.push(ActionKind::of(&name));
        actions.push(name);
    }
    if input.at != payload.len() {
        return Err(EntryError::Malformed("bytes after the action names"));
    }
    // Every id in range.
    let in_range = |id: u32, len: usize| (id as usize) < len;
    for (issue, _) in &issues {
        for rule in &issue.rules {
            if !in_range(rule.action, actions.len()) || !in_range(rule.expr, nodes.len()) {
                return Err(EntryError::Malformed(
                    "a rule refers to a missing node or action",
                ));
            }
        }
    }
    for node in &nodes {
        if let Node::Pred(id) = node
            && !in_range(*id, preds.len())
        {
            return Err(EntryError::Malformed(
                "a node refers to a missing predicate",
            ));
        }
    }
    for pred in &preds {
        if let Pred::Regex { regex, .. } = pred
            && !in_range(*regex, patterns.len())
        {
            return Err(EntryError::Malformed(
                "a predicate refers to a missing regexp",
            ));
        }
    }
    Ok(Decoded {
        issues,
        nodes,
        preds,
        patterns,
        actions,
        action_kinds,
    })
}

struct Decoder<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Decoder<'a> {
    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn byte(&mut self) -> Result<u8, EntryError> {
        let byte = *self
            .bytes
            .get(self.at)
            .ok_or(EntryError::Malformed("the payload ends early"))?;
        self.at += 1;
        Ok(byte)
    }

    fn int(&mut self) -> Result<u64, EntryError> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(EntryError::Malformed("an integer over 64 bits"));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(EntryError::Malformed("an integer over 64 bits"))
    }

    fn usize(&mut self) -> Result<usize, EntryError> {
        usize::try_from(self.int()?).map_err(|_| EntryError::Malformed("a size over usize"))
    }

    fn id(&mut self) -> Result<u32, EntryError> {
        u32::try_from(self.int()?).map_err(|_| EntryError::Malformed("an id over 32 bits"))
    }

    /// A count of items that take at least `min_bytes` each: never more than the bytes left
    /// can hold, so that what is allocated for them is bounded by the file's size.
    fn count(&mut self, min_bytes: usize) -> Result<usize, EntryError> {
        let count = self.usize()?;
        if count > self.left() / min_bytes.max(1) {
            return Err(EntryError::Malformed("a count larger than the payload"));
        }
        Ok(count)
    }

    fn bytes(&mut self) -> Result<&'a [u8], EntryError> {
        let len = self.count(1)?;
        let bytes = &self.bytes[self.at..self.at + len];
        self.at += len;
        Ok(bytes)
    }

    fn str(&mut self) -> Result<&'a str, EntryError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| EntryError::Malformed("a string not UTF-8"))
    }

    fn string(&mut self) -> Result<String, EntryError> {
        self.str().map(str::to_owned)
    }
}

/// The pattern set and statuses of a decoded entry for `issues`: regexps re-parsed and
/// checked against `limits` as lowering does, scripts with errors parsed again for their
/// diagnostics.
fn rebuild(
    decoded: Decoded,
    issues: &[(u64, &str)],
    limits: Limits,
) -> Result<(PatternSet, Vec<IssueStatus>), EntryError> {
    let Decoded {
        issues: stored,
        nodes,
        preds,
        patterns,
        actions,
        action_kinds,
    } = decoded;
    if stored.len() != issues.len()
        || stored
            .iter()
            .zip(issues)
            .any(|((issue, _), &(number, _))| issue.number != number)
    {
        return Err(EntryError::Mismatch("other issue numbers".to_owned()));
    }
    let threads = parallel::threads_for(patterns.len(), MIN_PARALLEL_REGEXES, usize::MAX);
    let regexes = parallel::map_parts(&patterns, threads, |part| {
        part.iter()
            .map(|pattern| {
                let hir = goregex::parse(&format!("(?m){pattern}"))
                    .map_err(|e| format!("regexp `{pattern}`: {e}"))?;
                let cell =
                    check_regex(&hir, &limits).map_err(|e| format!("regexp `{pattern}`: {e}"))?;
                Ok(RegexEntry::new(pattern.clone(), hir, limits, cell))
            })
            .collect::<Vec<Result<RegexEntry, String>>>()
    })
    .into_iter()
    .collect::<Result<Vec<_>, String>>()
    .map_err(EntryError::Mismatch)?;
    let mut set_issues = Vec::with_capacity(stored.len());
    let mut statuses = Vec::with_capacity(stored.len());
    for ((issue, status), &(number, body)) in stored.into_iter().zip(issues) {
        statuses.push(match status {
            StoredStatus::Usable => IssueStatus::Usable,
            StoredStatus::NoScript => IssueStatus::NoScript,
            StoredStatus::EmptyBody => IssueStatus::EmptyBody,
            StoredStatus::TooLarge(error) => IssueStatus::TooLarge(error),
            StoredStatus::Errors => match ScriptStatus::of_body(body, &limits) {
                errors @ ScriptStatus::Errors { .. } => errors.into(),
                _ => {
                    return Err(EntryError::Mismatch(format!(
                        "issue {number}'s script has no errors"
                    )));
                }
            },
        });
        set_issues.push(issue);
    }
    let set = PatternSet {
        issues: set_issues,
        nodes,
        preds,
        regexes,
        actions,
        action_kinds,
    };
    Ok((set, statuses))
}

#[cfg(test)]
mod tests {
    use flakewatch_dsl::{Assignment, Record};

    use super::*;

    /// [`SetCache::compile`] with the arguments in [`CompiledIssues::compile`]'s order.
    fn cached<'a>(
        issues: impl IntoIterator<Item = (u64, &'a str)>,
        kind: EngineKind,
        limits: Limits,
        cache: &SetCache,
    ) -> Result<(CompiledIssues, CacheOutcome), JitError> {
        cache.compile(issues, kind, limits)
    }

    fn body(script: &str) -> String {
        format!("```\n#!watchflakes\n{script}\n```\n\nSeen on the builders.\n")
    }

    /// Issues with every kind of status, shared and negated predicates, every comparison and
    /// action kind, and regexps that exceed the tiny limit of [`limits`].
    fn issues() -> Vec<(u64, String)> {
        vec![
            (
                109,
                body(
                    "post <- pkg == \"net/http\" && test == \"TestFoo\"\npost <- `panic: test timed out`\ndefault <- repo !~ `^x/`",
                ),
            ),
            (
                101,
                body("post <- pkg == \"net/http\" && test == \"TestFoo\""),
            ),
            (
                102,
                body("default <- `panic: test timed out` || log ~ `i/o timeout`"),
            ),
            (103, body("skip <- goos == \"plan9\" && !(builder < \"m\")")),
            (104, body("post <- log ~ `a{200}`")),
            (
                105,
                body(
                    "take <- section != \"x\" && date >= \"2024-01-01\" && date > \"2023\" && date <= \"2030\" && `lit0|lit1|lit2`",
                ),
            ),
            (106, "Just a description, no script.".to_owned()),
            (107, "  \n\t".to_owned()),
            (108, body("post <- pkg = \"x\"")),
            (110, body("post <- `(`")),
            (
                111,
                body("default <- output ~ `\\pL{20}` || snippet ~ `(?i)straße`"),
            ),
            (
                112,
                body("POST <- mode == \"race\"\nskip <- status == \"infra_failure\""),
            ),
        ]
    }

    fn as_refs(issues: &[(u64, String)]) -> Vec<(u64, &str)> {
        let mut refs: Vec<(u64, &str)> = issues.iter().map(|(n, b)| (*n, b.as_str())).collect();
        refs.sort_by_key(|&(n, _)| n);
        refs
    }

    /// The default limits, and a tiny regexp limit that refuses some of the regexps.
    fn limits() -> [Limits; 2] {
        [
            Limits::DEFAULT,
            Limits {
                max_regex_bytes: 2000,
                ..Limits::DEFAULT
            },
        ]
    }

    fn records() -> Vec<Record> {
        let pairs: [&[(&str, &str)]; 7] = [
            &[("pkg", "net/http"), ("test", "TestFoo"), ("repo", "go")],
            &[("output", "panic: test timed out\n"), ("repo", "x/net")],
            &[("goos", "plan9"), ("builder", "z-builder"), ("repo", "x/y")],
            &[("log", &"a".repeat(200)), ("repo", "x/y")],
            &[
                ("section", "y"),
                ("date", "2025-01-01"),
                ("output", "lit1"),
                ("repo", "x/"),
            ],
            &[
                ("snippet", "STRASSE"),
                ("output", "ÄÖÜäöüßÄÖÜäöüßÄÖÜäöüß"),
                ("repo", "x/z"),
            ],
            &[
                ("mode", "race"),
                ("status", "infra_failure"),
                ("repo", "x/a"),
            ],
        ];
        pairs
            .iter()
            .map(|p| Record::from_pairs(p.iter().copied()))
            .collect()
    }

    fn assignments(compiled: &CompiledIssues) -> Vec<Assignment> {
        let mut scratch = compiled.engine.scratch();
        records()
            .iter()
            .map(|r| compiled.engine.assign(r, &mut scratch))
            .collect()
    }

    /// A compile without the cache.
    fn cold(issues: &[(u64, &str)], kind: EngineKind, limits: Limits) -> CompiledIssues {
        CompiledIssues::compile(issues.iter().copied(), kind, limits).unwrap()
    }

    /// Two compiles of one issue set built the same engine: numbers, statuses, every part of
    /// the pattern set (regexps' syntax trees and matcher cells included) and assignments.
    /// Both must be unused: assigning compiles matchers.
    fn assert_same(cold: &CompiledIssues, other: &CompiledIssues) {
        assert_eq!(cold.numbers, other.numbers);
        assert_eq!(cold.statuses, other.statuses);
        assert_eq!(cold.engine.kind(), other.engine.kind());
        let (a, b) = (cold.engine.set(), other.engine.set());
        assert_eq!(a.issues, b.issues);
        assert_eq!(a.nodes, b.nodes);
        assert_eq!(a.preds, b.preds);
        assert_eq!(a.actions, b.actions);
        assert_eq!(a.action_kinds, b.action_kinds);
        assert_eq!(a.regexes.len(), b.regexes.len());
        for (x, y) in a.regexes.iter().zip(&b.regexes) {
            assert_eq!(x.pattern, y.pattern);
            assert_eq!(x.hir, y.hir);
            assert_eq!(x.is_compiled(), y.is_compiled(), "{}", x.pattern);
        }
        assert_eq!(a.dump(), b.dump());
        assert_eq!(assignments(cold), assignments(other));
    }

    #[test]
    fn a_hit_builds_the_engine_a_cold_compile_builds() {
        let dir = tempfile::tempdir().unwrap();
        let cache = SetCache::new(dir.path().join("made/on/first/write"));
        let issues = issues();
        for limits in limits() {
            for kind in EngineKind::ALL {
                let refs = as_refs(&issues);
                let (first, miss) = cached(refs.clone(), kind, limits, &cache).unwrap();
                assert!(!miss.hit && miss.stored && miss.refused.is_none());
                assert_same(&cold(&refs, kind, limits), &first);
                let (second, hit) = cached(refs.clone(), kind, limits, &cache).unwrap();
                assert!(hit.hit && !hit.stored && hit.refused.is_none());
                assert_eq!(hit.path, miss.path);
                assert_same(&cold(&refs, kind, limits), &second);
            }
        }
        // One entry per engine and limits; every status kind occurs in the set.
        assert_eq!(std::fs::read_dir(cache.dir()).unwrap().count(), 6);
        let tiny = CompiledIssues::compile(as_refs(&issues), EngineKind::Jit, limits()[1]).unwrap();
        let kinds: Vec<&str> = tiny
            .statuses
            .iter()
            .map(|s| match s {
                IssueStatus::Usable => "usable",
                IssueStatus::NoScript => "no script",
                IssueStatus::EmptyBody => "empty",
                IssueStatus::Errors { .. } => "errors",
                IssueStatus::TooLarge(_) => "too large",
            })
            .collect();
        for kind in ["usable", "no script", "empty", "errors", "too large"] {
            assert!(kinds.contains(&kind), "{kind}: {kinds:?}");
        }
    }

    #[test]
    fn the_key_covers_bodies_numbers_engine_and_limits() {
        let issues = issues();
        let refs = as_refs(&issues);
        let key = entry_key(&refs, EngineKind::Jit, Limits::DEFAULT);
        assert_eq!(key, entry_key(&refs, EngineKind::Jit, Limits::DEFAULT));
        assert_ne!(key, entry_key(&refs, EngineKind::Plan, Limits::DEFAULT));
        assert_ne!(key, entry_key(&refs, EngineKind::Jit, limits()[1]));
        let mut renumbered = refs.clone();
        renumbered[0].0 = 100;
        assert_ne!(
            key,
            entry_key(&renumbered, EngineKind::Jit, Limits::DEFAULT)
        );
        // Moving a byte from one body to the next is another set (bodies are length-prefixed).
        let (a, b) = (format!("{}x", refs[0].1), format!("x{}", refs[1].1));
        let (c, d) = (format!("{}xx", refs[0].1), refs[1].1.to_owned());
        let mut one = refs.clone();
        (one[0].1, one[1].1) = (&a, &b);
        let mut other = refs.clone();
        (other[0].1, other[1].1) = (&c, &d);
        assert_ne!(
            entry_key(&one, EngineKind::Jit, Limits::DEFAULT),
            entry_key(&other, EngineKind::Jit, Limits::DEFAULT)
        );
        assert_eq!(hex(&[0x00, 0x7f, 0xff]), "007fff");
    }

    #[test]
    fn a_changed_body_misses() {
        let dir = tempfile::tempdir().unwrap();
        let cache = SetCache::new(dir.path());
        let mut issues = issues();
        let kind = EngineKind::Jit;
        let (_, first) = cached(as_refs(&issues), kind, Limits::DEFAULT, &cache).unwrap();
        assert!(first.stored);
        issues[1].1 = body("post <- pkg == \"net/http\" && test == \"TestBar\"");
        let (changed, outcome) = cached(as_refs(&issues), kind, Limits::DEFAULT, &cache).unwrap();
        assert!(!outcome.hit && outcome.stored && outcome.refused.is_none());
        assert_ne!(outcome.path, first.path);
        assert_same(&cold(&as_refs(&issues), kind, Limits::DEFAULT), &changed);
        // The old set's entry is still there, and still a hit.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
        issues[1].1 = body("post <- pkg == \"net/http\" && test == \"TestFoo\"");
        let (_, again) = cached(as_refs(&issues), kind, Limits::DEFAULT, &cache).unwrap();
        assert!(again.hit);
    }

    /// Every kind of damage is a miss that says why, compiles the same engine and rewrites
    /// the entry, which the next compile reads.
    #[test]
    fn a_damaged_entry_is_a_miss_and_is_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let cache = SetCache::new(dir.path());
        let issues = issues();
        let refs = as_refs(&issues);
        let kind = EngineKind::Jit;
        let (_, first) = cached(refs.clone(), kind, Limits::DEFAULT, &cache).unwrap();
        let path = first.path;
        let good = std::fs::read(&path).unwrap();
        // Another set's entry, to copy under this one's name.
        let other_issues = [(1, body("post <- pkg == \"os\""))];
        let (_, other) = cached(as_refs(&other_issues), kind, Limits::DEFAULT, &cache).unwrap();
        let other_entry = std::fs::read(&other.path).unwrap();
        let with = |at: usize, bytes: &[u8]| {
            let mut damaged = good.clone();
            damaged[at..at + bytes.len()].copy_from_slice(bytes);
            damaged
        };
        let flipped = |at: usize| {
            let mut damaged = good.clone();
            damaged[at] ^= 0x20;
            damaged
        };
        type Case = (&'static str, Vec<u8>, fn(&EntryError) -> bool);
        let cases: Vec<Case> = vec![
            ("empty", Vec::new(), |e| matches!(e, EntryError::Truncated)),
            ("cut in the magic", good[..5].to_vec(), |e| {
                matches!(e, EntryError::Truncated)
            }),
            (
                "cut in the header",
                good[..HEADER_BYTES - 1].to_vec(),
                |e| matches!(e, EntryError::Truncated),
            ),
            ("cut in the payload", good[..good.len() / 2].to_vec(), |e| {
                matches!(e, EntryError::Truncated)
            }),
            ("one byte more", [&good[..], b"\n"].concat(), |e| {
                matches!(e, EntryError::Malformed(_))
            }),
            ("garbage", b"{\"not\": \"an entry\"}\n".repeat(40), |e| {
                matches!(e, EntryError::NotAnEntry)
            }),
            ("a flipped payload byte", flipped(good.len() - 3), |e| {
                matches!(e, EntryError::Checksum)
            }),
            ("a flipped checksum byte", flipped(HEADER_BYTES - 1), |e| {
                matches!(e, EntryError::Checksum)
            }),
            (
                "a newer version",
                with(8, &(FORMAT_VERSION + 1).to_le_bytes()),
                |e| matches!(e, EntryError::Version { found } if *found == FORMAT_VERSION + 1),
            ),
            ("version 0", with(8, &0u32.to_le_bytes()), |e| {
                matches!(e, EntryError::Version { found: 0 })
            }),
            ("another set's entry", other_entry, |e| {
                matches!(e, EntryError::OtherKey)
            }),
        ];
        for (name, damaged, expected) in cases {
            std::fs::write(&path, &damaged).unwrap();
            let (compiled, outcome) = cached(refs.clone(), kind, Limits::DEFAULT, &cache).unwrap();
            let refused = outcome.refused.as_ref().expect(name);
            assert!(expected(refused), "{name}: {refused:?}");
            assert!(!outcome.hit && outcome.stored, "{name}");
            assert_same(&cold(&refs, kind, Limits::DEFAULT), &compiled);
            assert_eq!(std::fs::read(&path).unwrap(), good, "{name}: rewritten");
            let (_, next) = cached(refs.clone(), kind, Limits::DEFAULT, &cache).unwrap();
            assert!(next.hit, "{name}");
        }
        // A file over the limit is refused by its size, before it is read.
        std::fs::File::create(&path)
            .unwrap()
            .set_len(MAX_ENTRY_BYTES + 1)
            .unwrap();
        let (_, outcome) = cached(refs.clone(), kind, Limits::DEFAULT, &cache).unwrap();
        assert!(matches!(
            outcome.refused,
            Some(EntryError::TooLarge { size }) if size == MAX_ENTRY_BYTES + 1
        ));
        assert_eq!(std::fs::read(&path).unwrap(), good);
        // No temporary file is left behind.
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.iter().all(|n| n.len() == 64 && !n.starts_with('.')));
    }

    /// An entry whose checksum matches but whose payload is forged (each byte changed in
    /// turn, or cut short) is refused or decodes into a set the engines build and run: it
    /// never panics, and allocates only what its length allows.
    #[test]
    fn forged_payloads_never_panic() {
        let issues = issues();
        let refs = as_refs(&issues);
        let limits = limits()[1];
        let compiled = CompiledIssues::compile(refs.clone(), EngineKind::Jit, limits).unwrap();
        let payload = encode(compiled.engine.set(), &compiled.statuses);
        let mut forged = Vec::new();
        for at in 0..payload.len() {
            for mask in [0x01, 0x80, 0xff] {
                let mut bytes = payload.clone();
                bytes[at] ^= mask;
                forged.push(bytes);
            }
            forged.push(payload[..at].to_vec());
        }
        let record = &records()[0];
        let mut decoded = 0;
        for bytes in &forged {
            let Ok((set, statuses)) = decode(bytes).and_then(|d| rebuild(d, &refs, limits)) else {
                continue;
            };
            decoded += 1;
            assert_eq!(statuses.len(), refs.len());
            for kind in EngineKind::ALL {
                let engine = Engine::from_set(kind, set.clone()).unwrap();
                let mut scratch = engine.scratch();
                engine.assign(record, &mut scratch);
            }
        }
        // Some forgeries (a changed literal, a changed number) still decode.
        assert!(decoded > 0);
        // A count far larger than the payload is refused before anything is allocated.
        let mut huge = Encoder(Vec::new());
        huge.int(u64::MAX >> 1);
        assert!(matches!(decode(&huge.0), Err(EntryError::Malformed(_))));
        let mut overlong = Encoder(Vec::new());
        overlong.0.extend_from_slice(&[0xff; 10]);
        overlong.0.push(0x01);
        assert!(matches!(decode(&overlong.0), Err(EntryError::Malformed(_))));
    }

    #[test]
    fn varints_round_trip() {
        for value in [
            0,
            1,
            127,
            128,
            300,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut out = Encoder(Vec::new());
            out.int(value);
            let mut input = Decoder {
                bytes: &out.0,
                at: 0,
            };
            assert_eq!(input.int().unwrap(), value);
            assert_eq!(input.left(), 0);
        }
    }

    /// An entry that cannot be written leaves the compile as it would be without a cache.
    #[test]
    fn an_unwritable_directory_only_warns() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("a-file");
        std::fs::write(&blocker, "not a directory").unwrap();
        let cache = SetCache::new(blocker.join("cache"));
        let issues = issues();
        let refs = as_refs(&issues);
        let (compiled, outcome) =
            cached(refs.clone(), EngineKind::Plan, Limits::DEFAULT, &cache).unwrap();
        assert!(!outcome.hit && !outcome.stored && outcome.refused.is_none());
        assert_same(&cold(&refs, EngineKind::Plan, Limits::DEFAULT), &compiled);
    }
}
