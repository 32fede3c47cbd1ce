//! The test index every reader shares: a test is the same test when its suite path, class
//! name and name are the same. Suite paths are interned to small ids; a key is hashed once,
//! and the map keeps only the hash and the newest test with it (tests with equal hashes are
//! chained and told apart by comparing their keys), so no key is stored twice.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::model::Test;

/// The test index's hasher: keys are hashed once by [`key_hash`], the map only passes them on.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = mix(self.0, bytes);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

const MIX: u64 = 0x9E37_79B9_7F4A_7C15;

/// Folds `bytes` into `h` eight at a time (a multiply-rotate hash; collisions only cost a
/// comparison, see `Parser::finish_case`).
fn mix(mut h: u64, bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let w = u64::from_le_bytes(w.try_into().expect("eight bytes"));
        h = (h.rotate_left(23) ^ w).wrapping_mul(MIX);
    }
    let mut tail = [0u8; 8];
    let rest = words.remainder();
    tail[..rest.len()].copy_from_slice(rest);
    let w = u64::from_le_bytes(tail) ^ ((bytes.len() as u64) << 56);
    (h.rotate_left(23) ^ w).wrapping_mul(MIX)
}

pub(crate) fn key_hash(path_id: u32, classname: &str, name: &str) -> u64 {
    let h = mix(u64::from(path_id).wrapping_mul(MIX), classname.as_bytes());
    let h = mix(h, name.as_bytes());
    // The map takes its bucket from the low bits: fold the well-mixed high bits down.
    h ^ (h >> 31)
}

/// A test's key as the index looks it up: see [`TestIndex::key`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Key {
    path_id: u32,
    hash: u64,
}

/// Tests by suite path, class name and name.
#[derive(Debug)]
pub(crate) struct TestIndex {
    /// Interned suite paths; the empty path (the root) is id 0.
    paths: HashMap<Arc<[String]>, u32>,
    /// Key hash → the newest test with that hash.
    heads: HashMap<u64, usize, BuildHasherDefault<IdHasher>>,
    /// Per test: the previous test with the same key hash.
    next: Vec<Option<usize>>,
    /// Per test: its suite path's id.
    test_path: Vec<u32>,
    /// Per test: whether later tests may join it.
    findable: Vec<bool>,
    /// Per [noted](TestIndex::note) test: the hash of its class name and name.
    hashes: Vec<u64>,
}

impl TestIndex {
    /// An empty index (the root path interned as id 0).
    pub(crate) fn new() -> TestIndex {
        let mut paths = HashMap::new();
        paths.insert(Arc::from(Vec::new()), 0);
        TestIndex {
            paths,
            heads: HashMap::default(),
            next: Vec::new(),
            test_path: Vec::new(),
            findable: Vec::new(),
            hashes: Vec::new(),
        }
    }

    /// The root path (no suite).
    pub(crate) fn root(&self) -> Arc<[String]> {
        self.paths
            .get_key_value(&[][..])
            .map(|(path, _)| path.clone())
            .unwrap_or_else(|| Arc::from(Vec::new()))
    }

    /// The shared copy of `path` and its id.
    pub(crate) fn intern(&mut self, path: &[String]) -> (Arc<[String]>, u32) {
        if let Some((arc, id)) = self.paths.get_key_value(path) {
            return (arc.clone(), *id);
        }
        let id = self.paths.len() as u32;
        let arc: Arc<[String]> = Arc::from(path);
        self.paths.insert(arc.clone(), id);
        (arc, id)
    }

    /// Room for `additional` more tests without rehashing.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.heads.reserve(additional);
        self.next.reserve(additional);
        self.test_path.reserve(additional);
        self.findable.reserve(additional);
        self.hashes.reserve(additional);
    }

    /// [`intern`](TestIndex::intern) of a shared path: a path not interned yet keeps this
    /// copy.
    pub(crate) fn intern_shared(&mut self, path: &Arc<[String]>) -> (Arc<[String]>, u32) {
        if let Some((arc, id)) = self.paths.get_key_value(&path[..]) {
            return (arc.clone(), *id);
        }
        let id = self.paths.len() as u32;
        self.paths.insert(path.clone(), id);
        (path.clone(), id)
    }

    /// The suite path id and findability of the `i`-th test added.
    pub(crate) fn entry(&self, i: usize) -> (u32, bool) {
        (self.test_path[i], self.findable[i])
    }

    /// The key of a test: its suite path's id and the hash of the whole key, computed once for
    /// a [lookup](TestIndex::find_key) and the [registration](TestIndex::add_key) after it.
    pub(crate) fn key(path_id: u32, classname: Option<&str>, name: &str) -> Key {
        Key {
            path_id,
            hash: key_hash(path_id, classname.unwrap_or(""), name),
        }
    }

    /// The test of `tests` with this key, if one was [added](TestIndex::add) findable.
    pub(crate) fn find(
        &self,
        tests: &[Test],
        path_id: u32,
        classname: Option<&str>,
        name: &str,
    ) -> Option<usize> {
        self.find_key(
            tests,
            TestIndex::key(path_id, classname, name),
            classname,
            name,
        )
    }

    /// [`find`](TestIndex::find) with the key already computed from `classname` and `name`.
    pub(crate) fn find_key(
        &self,
        tests: &[Test],
        key: Key,
        classname: Option<&str>,
        name: &str,
    ) -> Option<usize> {
        let mut cursor = self.heads.get(&key.hash).copied();
        while let Some(i) = cursor {
            let t = &tests[i];
            if self.test_path[i] == key.path_id
                && t.name == name
                && t.classname.as_deref() == classname
            {
                return Some(i);
            }
            cursor = self.next[i];
        }
        None
    }

    /// Registers the test just pushed to the run's tests (they are indexed in order). A test
    /// that is not `findable` (a nameless JUnit case) is its own test: no later one joins it.
    pub(crate) fn add(
        &mut self,
        path_id: u32,
        classname: Option<&str>,
        name: &str,
        findable: bool,
    ) {
        self.add_key(TestIndex::key(path_id, classname, name), findable);
    }

    /// [`add`](TestIndex::add) with the key already computed.
    pub(crate) fn add_key(&mut self, key: Key, findable: bool) {
        let i = self.next.len();
        self.test_path.push(key.path_id);
        self.findable.push(findable);
        let previous = if findable {
            self.heads.insert(key.hash, i)
        } else {
            None
        };
        self.next.push(previous);
    }

    /// Notes the test just pushed to the run's tests without looking it up, for a reader that
    /// files every record as a new test and joins the repeated ones once the input ended
    /// ([`TestIndex::repeats`]): one hash per test, no lookup while the input is read. Not to
    /// be mixed with [`add`](TestIndex::add) in one index.
    pub(crate) fn note(
        &mut self,
        path_id: u32,
        classname: Option<&str>,
        name: &str,
        findable: bool,
    ) {
        self.test_path.push(path_id);
        self.findable.push(findable);
        self.hashes.push(if findable {
            mix(
                mix(MIX, classname.unwrap_or("").as_bytes()),
                name.as_bytes(),
            )
        } else {
            0
        });
    }

    /// Notes the tests `other` noted, in order, after this index's; `path_id` maps `other`'s
    /// suite path ids to this index's.
    pub(crate) fn extend_noted(&mut self, other: &TestIndex, path_id: impl Fn(u32) -> u32) {
        self.test_path
            .extend(other.test_path.iter().map(|&id| path_id(id)));
        self.findable.extend_from_slice(&other.findable);
        self.hashes.extend_from_slice(&other.hashes);
    }

    /// The [noted](TestIndex::note) tests that repeat an earlier findable test with the same
    /// suite path, class name and name: `(later, first)` pairs, `later` ascending, `first` the
    /// earliest test with that key. One sort of the hashes, no lookups.
    pub(crate) fn repeats(&self, tests: &[Test]) -> Vec<(usize, usize)> {
        // Each findable test as one word: the high bits of its hash, then its index, so one
        // sort of plain integers groups equal hashes in test order.
        let bits = usize::BITS - self.hashes.len().leading_zeros();
        let low = (1u64 << bits) - 1;
        let mut order: Vec<u64> = self
            .hashes
            .iter()
            .zip(&self.findable)
            .enumerate()
            .filter(|(_, (_, findable))| **findable)
            .map(|(i, (&hash, _))| (hash & !low) | i as u64)
            .collect();
        order.sort_unstable();
        let same = |a: usize, b: usize| {
            self.test_path[a] == self.test_path[b]
                && tests[a].name == tests[b].name
                && tests[a].classname == tests[b].classname
        };
        let index = |word: u64| (word & low) as usize;
        let mut pairs = Vec::new();
        for run in order
            .chunk_by(|a, b| a & !low == b & !low)
            .filter(|run| run.len() > 1)
        {
            // In test order within the run: the first earlier one with the key is its first.
            for (k, &word) in run.iter().enumerate().skip(1) {
                let later = index(word);
                if let Some(&first) = run[..k].iter().find(|&&w| same(index(w), later)) {
                    pairs.push((later, index(first)));
                }
            }
        }
        pairs.sort_unstable();
        pairs
    }

    /// The index of the test `name` of `suite` (no class name), added as a new test with no
    /// attempts when there is none: the readers of line-oriented formats file attempts so.
    pub(crate) fn test_of(
        &mut self,
        tests: &mut Vec<Test>,
        suite: &Arc<[String]>,
        name: &str,
    ) -> usize {
        let (suite, path_id) = self.intern(suite);
        if let Some(i) = self.find(tests, path_id, None, name) {
            return i;
        }
        tests.push(Test {
            suite,
            classname: None,
            name: name.to_owned(),
            file: None,
            line: None,
            properties: Vec::new(),
            flaky_marked: false,
            reported: None,
            attempts: Vec::new(),
        });
        self.add(path_id, None, name, true);
        tests.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tests_are_found_by_path_class_and_name() {
        let mut index = TestIndex::new();
        let mut tests = Vec::new();
        let a: Arc<[String]> = Arc::from(vec!["a".to_owned()]);
        let b: Arc<[String]> = Arc::from(vec!["b".to_owned()]);
        let t1 = index.test_of(&mut tests, &a, "T");
        let t2 = index.test_of(&mut tests, &b, "T");
        assert_ne!(t1, t2);
        assert_eq!(index.test_of(&mut tests, &a, "T"), t1);
        assert_eq!(tests.len(), 2);
        let (_, a_id) = index.intern(&a);
        assert_eq!(index.find(&tests, a_id, None, "T"), Some(t1));
        assert_eq!(index.find(&tests, a_id, Some("C"), "T"), None);
        // A test added unfindable is never joined.
        tests.push(tests[0].clone());
        index.add(a_id, None, "T", false);
        assert_eq!(index.find(&tests, a_id, None, "T"), Some(t1));
        assert!(Arc::ptr_eq(&index.intern(&a).0, &tests[0].suite));
        assert!(index.root().is_empty());
    }
}
