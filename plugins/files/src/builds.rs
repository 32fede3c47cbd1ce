//! `list_builds` of the files backend: `builds.jsonl` read a page of builds at a time, with
//! the failed tests of `failures.jsonl` attached, so that neither the plugin nor the host ever
//! holds every build of a large window.
//!
//! The first call of a listing reads `builders.jsonl` and indexes `failures.jsonl` by build
//! URL (memory proportional to the failures); each page then reads the next
//! [`PAGE_BUILDS`] lines of `builds.jsonl` from the byte offset its cursor names. Builds known
//! only through their failures come last, in the order of their first failure line, as they
//! always did. Lines are decoded field by field into borrowed text: only the fields a build
//! needs are copied, and a field that is absent, `null` or not a string reads as empty, as
//! before.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Mutex;

use flakewatch_plugin_sdk::PluginError;
use flakewatch_plugin_sdk::model::{Build, BuildPage, Builder, TestFailure};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::store::MAX_LINE;
use crate::{BUILDERS_FILE, BUILDS_FILE, FAILURES_FILE, join_test_id};

/// Builds per page: about 2.5 MB of JSON for builds without logs.
pub const PAGE_BUILDS: usize = 8192;

/// The listings of one backend instance: the one in progress (a newer listing replaces it).
#[derive(Debug, Default)]
pub struct Listings {
    state: Mutex<ListingState>,
}

#[derive(Debug, Default)]
struct ListingState {
    /// The number of listings started; the current one's cursors carry it.
    generation: u64,
    current: Option<Listing>,
}

/// One listing in progress.
#[derive(Debug)]
struct Listing {
    /// The failed tests by build URL, and the builds known only through them.
    failures: FailureIndex,
    /// Builders already sent on an earlier page.
    sent_builders: HashSet<String>,
    /// Builders not yet sent (builders.jsonl's, then those first named by a build).
    builders: Vec<Builder>,
    /// Every build of builds.jsonl so far: LUCI build IDs, and any other URL whole.
    ids: HashSet<(bool, i64)>,
    other_urls: HashSet<String>,
}

/// Where a page starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Position {
    /// In builds.jsonl: the byte offset and the number of lines before it.
    Builds { offset: u64, line: usize },
    /// Among the builds known only through failures: the index of the next one.
    FailureOnly { next: usize },
}

impl Position {
    fn cursor(self, generation: u64) -> String {
        match self {
            Position::Builds { offset, line } => format!("{generation}:b:{offset}:{line}"),
            Position::FailureOnly { next } => format!("{generation}:f:{next}"),
        }
    }

    fn parse(cursor: &str) -> Option<(u64, Position)> {
        let mut parts = cursor.split(':');
        let generation = parts.next()?.parse().ok()?;
        let position = match parts.next()? {
            "b" => Position::Builds {
                offset: parts.next()?.parse().ok()?,
                line: parts.next()?.parse().ok()?,
            },
            "f" => Position::FailureOnly {
                next: parts.next()?.parse().ok()?,
            },
            _ => return None,
        };
        parts.next().is_none().then_some((generation, position))
    }
}

impl Listings {
    /// One page of the listing of `dir`: the first page when `cursor` is `None`.
    pub fn page(&self, dir: &Path, cursor: Option<&str>) -> Result<BuildPage, PluginError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| PluginError::failed("build listing state poisoned"))?;
        let position = match cursor {
            None => {
                state.generation += 1;
                state.current = None;
                let listing = Listing::start(dir)?;
                state.current = Some(listing);
                Position::Builds { offset: 0, line: 0 }
            }
            Some(cursor) => match Position::parse(cursor) {
                Some((generation, position))
                    if generation == state.generation && state.current.is_some() =>
                {
                    position
                }
                _ => {
                    return Err(PluginError::bad_request(format!(
                        "list_builds: cursor {cursor:?} is not one of the listing in progress \
                         (a newer listing started on this instance, or the last page was read)"
                    )));
                }
            },
        };
        let generation = state.generation;
        let listing = state
            .current
            .as_mut()
            .ok_or_else(|| PluginError::failed("no build listing in progress"))?;
        let (builds, next) = match position {
            Position::Builds { offset, line } => listing.builds_page(dir, offset, line)?,
            Position::FailureOnly { next } => listing.failure_only_page(dir, next)?,
        };
        let page = BuildPage {
            builders: std::mem::take(&mut listing.builders),
            builds,
            next_cursor: next.map(|p| p.cursor(generation)),
        };
        if page.next_cursor.is_none() {
            state.current = None;
        }
        Ok(page)
    }
}

impl Listing {
    fn start(dir: &Path) -> Result<Listing, PluginError> {
        let mut listing = Listing {
            failures: FailureIndex::read(&dir.join(FAILURES_FILE))?,
            sent_builders: HashSet::new(),
            builders: Vec::new(),
            ids: HashSet::new(),
            other_urls: HashSet::new(),
        };
        each_line(&dir.join(BUILDERS_FILE), 0, 0, usize::MAX, |_, text| {
            let object = match serde_json::from_str::<serde_json::Value>(text) {
                Ok(object @ serde_json::Value::Object(_)) => object,
                Ok(_) => return Err("expected a JSON object".into()),
                Err(e) => return Err(e.to_string().into()),
            };
            let builder: Builder =
                serde_json::from_value(object).map_err(|e| Problem::from(e.to_string()))?;
            listing.add_builder(builder);
            Ok(())
        })
        .map_err(PluginError::failed)?;
        Ok(listing)
    }

    /// Queues a builder for the next page unless one of that name was seen already.
    fn add_builder(&mut self, builder: Builder) {
        if self.sent_builders.insert(builder.name.clone()) {
            self.builders.push(builder);
        }
    }

    /// Registers the builder a line names, with the line's configuration.
    fn builder_of(&mut self, fields: &Fields<'_>) -> Result<String, String> {
        let name = fields.text(K_BUILDER);
        if name.is_empty() {
            return Err("missing \"builder\"".to_owned());
        }
        if !self.sent_builders.contains(name) {
            self.add_builder(Builder {
                name: name.to_owned(),
                repo: fields.text(K_REPO).to_owned(),
                go_branch: match fields.text(K_GO_BRANCH) {
                    "" => "master".to_owned(),
                    branch => branch.to_owned(),
                },
                goos: fields.text(K_GOOS).to_owned(),
                goarch: fields.text(K_GOARCH).to_owned(),
            });
        }
        Ok(name.to_owned())
    }

    /// Up to [`PAGE_BUILDS`] builds of builds.jsonl from `offset`.
    fn builds_page(
        &mut self,
        dir: &Path,
        offset: u64,
        line: usize,
    ) -> Result<(Vec<Build>, Option<Position>), PluginError> {
        let path = dir.join(BUILDS_FILE);
        let mut builds = Vec::new();
        let end = each_line(&path, offset, line, PAGE_BUILDS, |_, text| {
            let fields = Fields::parse(text).map_err(Problem::from)?;
            builds.push(self.build(dir, &fields)?);
            Ok(())
        })
        .map_err(PluginError::failed)?;
        let next = match end {
            Some((offset, line)) => Position::Builds { offset, line },
            None => Position::FailureOnly { next: 0 },
        };
        if builds.is_empty() && end.is_none() {
            // Nothing more in builds.jsonl: go on with the builds known only by failures.
            return self.failure_only_page(dir, 0);
        }
        Ok((builds, Some(next)))
    }

    /// A build of builds.jsonl, with its failures.
    fn build(&mut self, dir: &Path, fields: &Fields<'_>) -> Result<Build, Problem> {
        let url = fields.text(K_URL);
        if url.is_empty() {
            return Err("missing \"url\"".into());
        }
        let fresh = match luci_id(url) {
            Some(id) => self.ids.insert(id),
            None => self.other_urls.insert(url.to_owned()),
        };
        if !fresh {
            return Err(format!("build {url} listed twice").into());
        }
        let builder = self.builder_of(fields)?;
        let mut build = Build {
            url: url.to_owned(),
            builder,
            commit: fields.required(K_COMMIT)?.to_owned(),
            go_commit: fields.text(K_GO_COMMIT).to_owned(),
            commit_time: fields.required(K_DATE)?.to_owned(),
            build_time: fields.get(K_BUILD_TIME).map(str::to_owned),
            status: fields.required(K_STATUS)?.to_owned(),
            log: fields.text(K_LOG).to_owned(),
            step_log: fields.text(K_STEP_LOG).to_owned(),
            failures: Vec::new(),
        };
        if let Some(entry) = self.failures.claim(url) {
            if build.status != "FAILURE" {
                return Err(Problem::Whole(format!(
                    "{}:{}: a failure of build {url}, whose status is {}",
                    dir.join(FAILURES_FILE).display(),
                    entry.line,
                    build.status
                )));
            }
            entry.attach(&mut build);
        }
        Ok(build)
    }

    /// Up to [`PAGE_BUILDS`] builds known only through their failures, from the `next`-th.
    fn failure_only_page(
        &mut self,
        dir: &Path,
        next: usize,
    ) -> Result<(Vec<Build>, Option<Position>), PluginError> {
        let path = dir.join(FAILURES_FILE);
        let mut builds = Vec::new();
        let mut index = next;
        while builds.len() < PAGE_BUILDS {
            let Some(entry) = self.failures.entries.get_mut(index) else {
                break;
            };
            index += 1;
            if entry.claimed {
                continue;
            }
            let mut entry = std::mem::take(entry);
            let at =
                |e: String| PluginError::failed(format!("{}:{}: {e}", path.display(), entry.line));
            let first = entry.first.take().unwrap_or_default();
            let fields = first.fields();
            let builder = self.builder_of(&fields).map_err(at)?;
            let mut build = Build {
                url: entry.url.clone(),
                builder,
                commit: fields
                    .required(K_COMMIT)
                    .map_err(|e| format!("{e} (the build {} is not in builds.jsonl)", entry.url))
                    .map_err(at)?
                    .to_owned(),
                go_commit: fields.text(K_GO_COMMIT).to_owned(),
                commit_time: fields.required(K_DATE).map_err(at)?.to_owned(),
                build_time: None,
                status: "FAILURE".to_owned(),
                log: String::new(),
                step_log: String::new(),
                failures: Vec::new(),
            };
            entry.attach(&mut build);
            builds.push(build);
        }
        let more = self.failures.entries[index.min(self.failures.entries.len())..]
            .iter()
            .any(|e| !e.claimed);
        Ok((
            builds,
            more.then_some(Position::FailureOnly { next: index }),
        ))
    }
}

/// `failures.jsonl` by build URL.
#[derive(Debug, Default)]
struct FailureIndex {
    entries: Vec<FailureEntry>,
    by_url: HashMap<String, usize>,
}

/// The failure lines of one build.
#[derive(Debug, Default)]
struct FailureEntry {
    url: String,
    /// The first line's number.
    line: usize,
    /// The first line's build fields, for a build known only through its failures.
    first: Option<FirstLine>,
    /// The first non-empty `log`.
    log: String,
    /// The first non-empty `output` of a build failure without test failures.
    step_log: String,
    failures: Vec<TestFailure>,
    /// Whether builds.jsonl has the build.
    claimed: bool,
}

/// The build fields of a failure line, kept for a build known only through its failures.
#[derive(Debug, Default)]
struct FirstLine {
    values: Vec<(usize, String)>,
}

impl FirstLine {
    const KEYS: [usize; 8] = [
        K_BUILDER,
        K_REPO,
        K_GO_BRANCH,
        K_GOOS,
        K_GOARCH,
        K_COMMIT,
        K_GO_COMMIT,
        K_DATE,
    ];

    fn fields(&self) -> Fields<'_> {
        let mut fields = Fields::default();
        for (key, value) in &self.values {
            fields.values[*key] = Some(Cow::Borrowed(value.as_str()));
        }
        fields
    }
}

impl FailureEntry {
    /// Gives the build its failures, and its logs where it has none.
    fn attach(&mut self, build: &mut Build) {
        if build.log.is_empty() {
            build.log = std::mem::take(&mut self.log);
        }
        if build.step_log.is_empty() {
            build.step_log = std::mem::take(&mut self.step_log);
        }
        build.failures = std::mem::take(&mut self.failures);
    }
}

impl FailureIndex {
    fn read(path: &Path) -> Result<FailureIndex, PluginError> {
        let mut index = FailureIndex::default();
        each_line(path, 0, 0, usize::MAX, |line, text| {
            let fields = Fields::parse(text).map_err(Problem::from)?;
            index.add(line, &fields).map_err(Problem::from)
        })
        .map_err(PluginError::failed)?;
        Ok(index)
    }

    fn add(&mut self, line: usize, fields: &Fields<'_>) -> Result<(), String> {
        let url = fields.text(K_URL);
        if url.is_empty() {
            return Err("missing \"url\"".to_owned());
        }
        let k = match self.by_url.get(url) {
            Some(&k) => k,
            None => {
                self.by_url.insert(url.to_owned(), self.entries.len());
                self.entries.push(FailureEntry {
                    url: url.to_owned(),
                    line,
                    first: Some(FirstLine {
                        values: FirstLine::KEYS
                            .iter()
                            .filter_map(|&k| fields.get(k).map(|v| (k, v.to_owned())))
                            .collect(),
                    }),
                    ..FailureEntry::default()
                });
                self.entries.len() - 1
            }
        };
        let entry = &mut self.entries[k];
        let log = fields.text(K_LOG);
        if entry.log.is_empty() && !log.is_empty() {
            log.clone_into(&mut entry.log);
        }
        let test_id = match fields.get(K_TEST_ID) {
            Some(id) => id.to_owned(),
            None => join_test_id(fields.text(K_PKG), fields.text(K_TEST)),
        };
        let output = fields.text(K_OUTPUT);
        if test_id.is_empty() || fields.text(K_MODE) == "build" {
            // A build failure without test failures: the output is the step log.
            if entry.step_log.is_empty() {
                output.clone_into(&mut entry.step_log);
            }
            return Ok(());
        }
        entry.failures.push(TestFailure {
            test_id,
            status: match fields.text(K_STATUS) {
                "" => "FAIL".to_owned(),
                status => status.to_owned(),
            },
            output: output.to_owned(),
        });
        Ok(())
    }

    /// The failures of a build of builds.jsonl, marked as claimed by it.
    fn claim(&mut self, url: &str) -> Option<&mut FailureEntry> {
        let k = *self.by_url.get(url)?;
        let entry = &mut self.entries[k];
        entry.claimed = true;
        Some(entry)
    }
}

/// The build ID of a LUCI build URL in its canonical form (no leading zeros), with whether
/// it is the older `/ui/b/` form: a compact key for the duplicate check.
fn luci_id(url: &str) -> Option<(bool, i64)> {
    let (ui, id) = match url.strip_prefix("https://ci.chromium.org/b/") {
        Some(id) => (false, id),
        None => (true, url.strip_prefix("https://ci.chromium.org/ui/b/")?),
    };
    let value: i64 = id.parse().ok()?;
    (id.bytes().all(|b| b.is_ascii_digit()) && value.to_string() == id).then_some((ui, value))
}

// ---- Lines and their fields ----

const K_URL: usize = 0;
const K_BUILDER: usize = 1;
const K_REPO: usize = 2;
const K_GO_BRANCH: usize = 3;
const K_GOOS: usize = 4;
const K_GOARCH: usize = 5;
const K_COMMIT: usize = 6;
const K_GO_COMMIT: usize = 7;
const K_DATE: usize = 8;
const K_BUILD_TIME: usize = 9;
const K_STATUS: usize = 10;
const K_LOG: usize = 11;
const K_STEP_LOG: usize = 12;
const K_TEST_ID: usize = 13;
const K_PKG: usize = 14;
const K_TEST: usize = 15;
const K_OUTPUT: usize = 16;
const K_MODE: usize = 17;

/// The keys read from build and failure lines, by their `K_` index.
const KEYS: [&str; 18] = [
    "url",
    "builder",
    "repo",
    "go_branch",
    "goos",
    "goarch",
    "commit",
    "go_commit",
    "date",
    "build_time",
    "status",
    "log",
    "step_log",
    "test_id",
    "pkg",
    "test",
    "output",
    "mode",
];

/// The string fields of one line: `None` when absent, `null` or not a string (a repeated key
/// counts by its last value).
#[derive(Debug, Default)]
struct Fields<'a> {
    values: [Option<Cow<'a, str>>; KEYS.len()],
}

impl<'a> Fields<'a> {
    /// Decodes a line that holds one JSON object.
    fn parse(text: &'a str) -> Result<Fields<'a>, String> {
        if !text.trim_start().starts_with('{') {
            // Not an object: say what it is, as serde_json does for any value.
            return match serde_json::from_str::<serde_json::Value>(text) {
                Ok(_) => Err("expected a JSON object".to_owned()),
                Err(e) => Err(e.to_string()),
            };
        }
        let mut de = serde_json::Deserializer::from_str(text);
        let fields = FieldsSeed.deserialize(&mut de).map_err(|e| e.to_string())?;
        de.end().map_err(|e| e.to_string())?;
        Ok(fields)
    }

    fn get(&self, key: usize) -> Option<&str> {
        self.values[key].as_deref()
    }

    /// A string field, `""` when absent or null.
    fn text(&self, key: usize) -> &str {
        self.get(key).unwrap_or("")
    }

    /// A required, non-empty string field.
    fn required(&self, key: usize) -> Result<&str, String> {
        match self.text(key) {
            "" => Err(format!("missing {:?}", KEYS[key])),
            value => Ok(value),
        }
    }
}

struct FieldsSeed;

impl<'de> DeserializeSeed<'de> for FieldsSeed {
    type Value = Fields<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Fields<'de>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FieldsSeed {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
        let mut fields = Fields::default();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match key {
                Some(k) => fields.values[k] = map.next_value_seed(LenientStr)?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(fields)
    }
}

/// A key: its index in [`KEYS`], `None` for any other.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<usize>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Option<usize>, E> {
        Ok(KEYS.iter().position(|k| *k == key))
    }
}

/// A value read as text: a string (borrowed when it has no escapes), else `None`.
struct LenientStr;

impl<'de> DeserializeSeed<'de> for LenientStr {
    type Value = Option<Cow<'de, str>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for LenientStr {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v)))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

/// Calls `f` with up to `max` non-blank lines of `path` from byte `offset` (after `line`
/// lines), with their 1-based numbers; a missing file has none. Returns where the next line
/// starts, or `None` at the end of the file. Errors name the file and line; a line longer
/// than [`MAX_LINE`] is one, found before it is held whole.
fn each_line(
    path: &Path,
    offset: u64,
    line: usize,
    max: usize,
    mut f: impl FnMut(usize, &str) -> Result<(), Problem>,
) -> Result<Option<(u64, usize)>, String> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && offset == 0 => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let context = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut reader = BufReader::with_capacity(1 << 20, file);
    reader.seek(SeekFrom::Start(offset)).map_err(context)?;
    let (mut offset, mut number) = (offset, line);
    let mut bytes = Vec::new();
    let mut taken = 0;
    while taken < max {
        bytes.clear();
        let got = (&mut reader)
            .take(MAX_LINE + 1)
            .read_until(b'\n', &mut bytes)
            .map_err(context)?;
        if got == 0 {
            return Ok(None);
        }
        number += 1;
        offset += got as u64;
        let at = |e: Problem| match e {
            Problem::Line(e) => format!("{}:{number}: {e}", path.display()),
            Problem::Whole(e) => e,
        };
        if bytes.len() as u64 > MAX_LINE {
            return Err(at(format!("line longer than {MAX_LINE} bytes").into()));
        }
        let text = std::str::from_utf8(&bytes).map_err(|_| at("not UTF-8".into()))?;
        if text.trim().is_empty() {
            continue;
        }
        f(number, text).map_err(at)?;
        taken += 1;
    }
    // A page ends at a line boundary; say so only if there is more to read.
    if reader.fill_buf().map_err(context)?.is_empty() {
        return Ok(None);
    }
    Ok(Some((offset, number)))
}

/// What is wrong with a line.
#[derive(Debug)]
enum Problem {
    /// Said of the line being read: the reader prefixes its file and line.
    Line(String),
    /// A whole message that names its own file and line (a failure line found wrong only
    /// when its build's line is read).
    Whole(String),
}

impl From<String> for Problem {
    fn from(message: String) -> Problem {
        Problem::Line(message)
    }
}

impl From<&str> for Problem {
    fn from(message: &str) -> Problem {
        Problem::Line(message.to_owned())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::fmt::Write as _;
    use std::fs;

    use flakewatch_plugin_sdk::model::ListBuildsRequest;
    use flakewatch_plugin_sdk::{Plugin, PluginError};
    use serde_json::{Map, Value};

    use super::*;
    use crate::{FilesBackend, ISSUES_FILE};

    /// Every page of a listing, merged into one.
    pub(crate) fn all_pages(files: &FilesBackend) -> Result<BuildPage, PluginError> {
        let mut all = BuildPage::default();
        let mut cursor = None;
        loop {
            let page = files.list_builds(&ListBuildsRequest {
                since: String::new(),
                cursor,
            })?;
            all.builders.extend(page.builders);
            all.builds.extend(page.builds);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(all),
            }
        }
    }

    fn text<'a>(o: &'a Map<String, Value>, key: &str) -> &'a str {
        o.get(key).and_then(Value::as_str).unwrap_or("")
    }

    /// The plain reading the paged one replaces: whole files through `serde_json::Value`,
    /// builds in file order, failures attached in theirs, builders first seen first.
    fn plain(dir: &Path) -> BuildPage {
        let read = |name: &str| -> Vec<Map<String, Value>> {
            fs::read_to_string(dir.join(name))
                .unwrap_or_default()
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| match serde_json::from_str(l).unwrap() {
                    Value::Object(o) => o,
                    _ => panic!("not an object"),
                })
                .collect()
        };
        let mut builders: Vec<Builder> = read(BUILDERS_FILE)
            .into_iter()
            .map(|o| serde_json::from_value(Value::Object(o)).unwrap())
            .collect();
        let add = |builders: &mut Vec<Builder>, o: &Map<String, Value>| {
            let name = text(o, "builder");
            if !builders.iter().any(|b| b.name == name) {
                builders.push(Builder {
                    name: name.to_owned(),
                    repo: text(o, "repo").to_owned(),
                    go_branch: match text(o, "go_branch") {
                        "" => "master".to_owned(),
                        b => b.to_owned(),
                    },
                    goos: text(o, "goos").to_owned(),
                    goarch: text(o, "goarch").to_owned(),
                });
            }
            name.to_owned()
        };
        let mut builds: Vec<Build> = Vec::new();
        for o in read(BUILDS_FILE) {
            let builder = add(&mut builders, &o);
            builds.push(Build {
                url: text(&o, "url").to_owned(),
                builder,
                commit: text(&o, "commit").to_owned(),
                go_commit: text(&o, "go_commit").to_owned(),
                commit_time: text(&o, "date").to_owned(),
                build_time: o
                    .get("build_time")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                status: text(&o, "status").to_owned(),
                log: text(&o, "log").to_owned(),
                step_log: text(&o, "step_log").to_owned(),
                failures: Vec::new(),
            });
        }
        for o in read(FAILURES_FILE) {
            let url = text(&o, "url");
            let k = match builds.iter().position(|b| b.url == url) {
                Some(k) => k,
                None => {
                    let builder = add(&mut builders, &o);
                    builds.push(Build {
                        url: url.to_owned(),
                        builder,
                        commit: text(&o, "commit").to_owned(),
                        go_commit: text(&o, "go_commit").to_owned(),
                        commit_time: text(&o, "date").to_owned(),
                        status: "FAILURE".to_owned(),
                        ..Build::default()
                    });
                    builds.len() - 1
                }
            };
            let b = &mut builds[k];
            if b.log.is_empty() {
                text(&o, "log").clone_into(&mut b.log);
            }
            let test_id = match o.get("test_id").and_then(Value::as_str) {
                Some(id) => id.to_owned(),
                None => join_test_id(text(&o, "pkg"), text(&o, "test")),
            };
            if test_id.is_empty() || text(&o, "mode") == "build" {
                if b.step_log.is_empty() {
                    text(&o, "output").clone_into(&mut b.step_log);
                }
                continue;
            }
            b.failures.push(TestFailure {
                test_id,
                status: match text(&o, "status") {
                    "" => "FAIL".to_owned(),
                    s => s.to_owned(),
                },
                output: text(&o, "output").to_owned(),
            });
        }
        BuildPage {
            builders,
            builds,
            next_cursor: None,
        }
    }

    /// More builds than two pages hold, with every kind of line: builds known only through
    /// their failures, logs from failure lines, build failures without tests, escapes,
    /// `null`s, numbers, nested values and unknown keys, blank lines.
    #[test]
    fn pages_give_what_the_plain_reading_gives() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(ISSUES_FILE), "").unwrap();
        fs::write(
            dir.path().join(BUILDERS_FILE),
            "{\"name\":\"b0\",\"repo\":\"go\",\"goos\":\"linux\",\"goarch\":\"amd64\"}\n",
        )
        .unwrap();
        let (mut builds, mut failures) = (String::new(), String::new());
        let n = 2 * PAGE_BUILDS + 123;
        for i in 0..n {
            let status = if i % 7 == 0 { "FAILURE" } else { "SUCCESS" };
            let log = match i % 5 {
                0 => "\"log\":\"a \\\"quoted\\\" log\\n\\u00e9\"".to_owned(),
                1 => "\"log\":null".to_owned(),
                2 => "\"log\":42".to_owned(),
                _ => "\"extra\":{\"nested\":[1,{\"x\":\"y\"}]}".to_owned(),
            };
            writeln!(
                builds,
                "{{\"url\":\"https://ci.chromium.org/b/{}\",\"builder\":\"b{}\",\"repo\":\"go\",\
                 \"commit\":\"c{}\",\"date\":\"2025-09-01T00:00:00Z\",\"status\":\"{status}\",{log}}}",
                1000 + i,
                i % 9,
                i / 9
            )
            .unwrap();
            if i % 1000 == 0 {
                builds.push_str("\n  \n");
            }
            if status == "FAILURE" {
                writeln!(
                    failures,
                    "{{\"url\":\"https://ci.chromium.org/b/{}\",\"pkg\":\"p{i}\",\"test\":\"T\",\
                     \"output\":\"o\\t{i}\",\"log\":\"from failure\"}}",
                    1000 + i
                )
                .unwrap();
                if i % 3 == 0 {
                    writeln!(
                        failures,
                        "{{\"url\":\"https://ci.chromium.org/b/{}\",\"mode\":\"build\",\"output\":\"step\"}}",
                        1000 + i
                    )
                    .unwrap();
                }
            }
        }
        for j in 0..5 {
            writeln!(
                failures,
                "{{\"url\":\"https://ci.chromium.org/b/{}\",\"builder\":\"only{j}\",\"repo\":\"tools\",\
                 \"commit\":\"x{j}\",\"date\":\"2025-09-02T00:00:00Z\",\"test_id\":\"t{j}\",\"status\":\"CRASH\"}}",
                9_000_000 + j
            )
            .unwrap();
        }
        fs::write(dir.path().join(BUILDS_FILE), builds).unwrap();
        fs::write(dir.path().join(FAILURES_FILE), failures).unwrap();
        let files = FilesBackend::open(dir.path()).unwrap();
        let paged = all_pages(&files).unwrap();
        let expected = plain(dir.path());
        assert_eq!(paged.builds.len(), n + 5);
        assert_eq!(paged.builders, expected.builders);
        assert_eq!(paged.builds, expected.builds);
        assert!(paged.builds.iter().any(|b| b.log.contains("\"quoted\"")));

        // Pages are bounded, and a cursor of an abandoned listing is refused.
        let first = files.list_builds(&ListBuildsRequest::default()).unwrap();
        assert_eq!(first.builds.len(), PAGE_BUILDS);
        let stale = first.next_cursor.unwrap();
        let _ = files.list_builds(&ListBuildsRequest::default()).unwrap();
        let _ = all_pages(&files).unwrap();
        let err = files
            .list_builds(&ListBuildsRequest {
                since: String::new(),
                cursor: Some(stale),
            })
            .unwrap_err();
        assert!(
            err.message.contains("not one of the listing"),
            "{}",
            err.message
        );
    }

    #[test]
    fn bad_lines_are_named_by_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let files = FilesBackend::open_any(dir.path(), 10);
        fs::write(dir.path().join(ISSUES_FILE), "").unwrap();
        let case = |builds: &str, failures: &str| {
            fs::write(dir.path().join(BUILDS_FILE), builds).unwrap();
            fs::write(dir.path().join(FAILURES_FILE), failures).unwrap();
            all_pages(&files).unwrap_err().message
        };
        let good = "{\"url\":\"https://ci.chromium.org/b/1\",\"builder\":\"b\",\"commit\":\"c\",\"date\":\"d\",\"status\":\"SUCCESS\"}\n";
        let msg = case(&format!("{good}{good}"), "");
        assert!(
            msg.ends_with("builds.jsonl:2: build https://ci.chromium.org/b/1 listed twice"),
            "{msg}"
        );
        let msg = case(&format!("{good}[1]\n"), "");
        assert!(
            msg.ends_with("builds.jsonl:2: expected a JSON object"),
            "{msg}"
        );
        let msg = case(&format!("{good}{{\"url\":\"u\",\"builder\":\"b\"}}\n"), "");
        assert!(msg.ends_with("builds.jsonl:2: missing \"commit\""), "{msg}");
        let msg = case(
            good,
            "\n{\"url\":\"https://ci.chromium.org/b/9\",\"builder\":\"b\"}\n",
        );
        assert!(
            msg.ends_with("failures.jsonl:2: missing \"commit\" (the build https://ci.chromium.org/b/9 is not in builds.jsonl)"),
            "{msg}"
        );
        let msg = case(
            good,
            "{\"url\":\"https://ci.chromium.org/b/1\",\"test_id\":\"t\"}\n",
        );
        assert!(msg.ends_with("failures.jsonl:1: a failure of build https://ci.chromium.org/b/1, whose status is SUCCESS"), "{msg}");
        let msg = case(good, "{\"url\":\"x\",\"test_id\":\"t\"\n");
        assert!(msg.contains("failures.jsonl:1: EOF while parsing"), "{msg}");
    }
}
