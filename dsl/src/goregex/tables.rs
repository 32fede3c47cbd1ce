//! Character data as Go 1.25's `regexp/syntax` sees it: Perl and POSIX groups, the Unicode
//! general categories and scripts of Unicode 15.0.0 (Go's `unicode.Version`), and simple case
//! folding orbits.
//!
//! The code point data comes from `regex-syntax` (Unicode 16.0), cut back to Unicode 15.0 with
//! the `Age` property: a code point first assigned after 15.0 is unassigned (`Cn`) for Go, has
//! no script and no case folding. Which names are accepted follows Go's `unicodeTable`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use regex_syntax::hir::{Class, HirKind};

/// The largest code point (Go's `unicode.MaxRune`).
pub(super) const MAX_RUNE: u32 = 0x10FFFF;
/// The smallest code point that case folding relates to another (Go's `minFold`).
pub(super) const MIN_FOLD: u32 = 0x0041;
/// The largest code point that case folding relates to another (Go's `maxFold`).
pub(super) const MAX_FOLD: u32 = 0x1E943;

/// A sorted list of disjoint, non-adjacent inclusive ranges of code points.
pub(super) type Ranges = Vec<(u32, u32)>;

/// `\d`, `\s`, `\w` (ASCII only, `\s` without `\v`).
const PERL_DIGIT: &[(u32, u32)] = &[(0x30, 0x39)];
const PERL_SPACE: &[(u32, u32)] = &[(0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)];
const PERL_WORD: &[(u32, u32)] = &[(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)];

/// The POSIX classes Go knows, by name inside `[:` `:]`.
const POSIX: &[(&str, &[(u32, u32)])] = &[
    ("alnum", &[(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)]),
    ("alpha", &[(0x41, 0x5A), (0x61, 0x7A)]),
    ("ascii", &[(0x00, 0x7F)]),
    ("blank", &[(0x09, 0x09), (0x20, 0x20)]),
    ("cntrl", &[(0x00, 0x1F), (0x7F, 0x7F)]),
    ("digit", &[(0x30, 0x39)]),
    ("graph", &[(0x21, 0x7E)]),
    ("lower", &[(0x61, 0x7A)]),
    ("print", &[(0x20, 0x7E)]),
    (
        "punct",
        &[(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)],
    ),
    ("space", &[(0x09, 0x0D), (0x20, 0x20)]),
    ("upper", &[(0x41, 0x5A)]),
    (
        "word",
        &[(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
    ),
    ("xdigit", &[(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)]),
];

/// A character group: its code points and whether the group is their complement.
#[derive(Debug, Clone, Copy)]
pub(super) struct Group {
    /// True for the negated forms (`\D`, `[:^alpha:]`).
    pub negated: bool,
    /// The code points of the positive form.
    pub class: &'static [(u32, u32)],
}

/// The Perl class named by the letter after a backslash (`d`, `D`, `s`, `S`, `w`, `W`).
pub(super) fn perl_group(letter: u8) -> Option<Group> {
    let (negated, class) = match letter {
        b'd' => (false, PERL_DIGIT),
        b'D' => (true, PERL_DIGIT),
        b's' => (false, PERL_SPACE),
        b'S' => (true, PERL_SPACE),
        b'w' => (false, PERL_WORD),
        b'W' => (true, PERL_WORD),
        _ => return None,
    };
    Some(Group { negated, class })
}

/// The POSIX class spelled `text`, which includes the brackets and colons (`[:alpha:]`,
/// `[:^alpha:]`).
pub(super) fn posix_group(text: &str) -> Option<Group> {
    let inner = text.strip_prefix("[:")?.strip_suffix(":]")?;
    let (negated, name) = match inner.strip_prefix('^') {
        Some(name) => (true, name),
        None => (false, inner),
    };
    POSIX
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, class)| Group { negated, class })
}

/// A Unicode class found by name, as Go's `unicodeTable` returns it.
#[derive(Debug)]
pub(super) struct UnicodeTable {
    /// The code points of the table.
    pub ranges: Ranges,
    /// With `(?i)`: the table together with its fold-equivalent code points, when Go has a fold
    /// table for this name. `None` means Go does not fold this table.
    pub folded: Option<Ranges>,
    /// True when the table must be inverted (Go's `Assigned` is "not `Cn`").
    pub negated: bool,
}

/// Go's general category keys (`unicode.Categories` in Go 1.25), `LC` excepted: it is the one
/// key that is not in canonical form and Go looks it up separately.
const CATEGORIES: &[&str] = &[
    "C", "Cc", "Cf", "Cn", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn",
    "N", "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm",
    "So", "Z", "Zl", "Zp", "Zs",
];

/// Go's script keys (`unicode.Scripts`, Unicode 15.0.0). Go 1.25 looks a script up by the
/// canonical form of the name written in the pattern, so keys that are not themselves canonical
/// (`Old_Italic`, `SignWriting`) can never be found.
const SCRIPTS: &[&str] = &[
    "Adlam",
    "Ahom",
    "Anatolian_Hieroglyphs",
    "Arabic",
    "Armenian",
    "Avestan",
    "Balinese",
    "Bamum",
    "Bassa_Vah",
    "Batak",
    "Bengali",
    "Bhaiksuki",
    "Bopomofo",
    "Brahmi",
    "Braille",
    "Buginese",
    "Buhid",
    "Canadian_Aboriginal",
    "Carian",
    "Caucasian_Albanian",
    "Chakma",
    "Cham",
    "Cherokee",
    "Chorasmian",
    "Common",
    "Coptic",
    "Cuneiform",
    "Cypriot",
    "Cypro_Minoan",
    "Cyrillic",
    "Deseret",
    "Devanagari",
    "Dives_Akuru",
    "Dogra",
    "Duployan",
    "Egyptian_Hieroglyphs",
    "Elbasan",
    "Elymaic",
    "Ethiopic",
    "Georgian",
    "Glagolitic",
    "Gothic",
    "Grantha",
    "Greek",
    "Gujarati",
    "Gunjala_Gondi",
    "Gurmukhi",
    "Han",
    "Hangul",
    "Hanifi_Rohingya",
    "Hanunoo",
    "Hatran",
    "Hebrew",
    "Hiragana",
    "Imperial_Aramaic",
    "Inherited",
    "Inscriptional_Pahlavi",
    "Inscriptional_Parthian",
    "Javanese",
    "Kaithi",
    "Kannada",
    "Katakana",
    "Kawi",
    "Kayah_Li",
    "Kharoshthi",
    "Khitan_Small_Script",
    "Khmer",
    "Khojki",
    "Khudawadi",
    "Lao",
    "Latin",
    "Lepcha",
    "Limbu",
    "Linear_A",
    "Linear_B",
    "Lisu",
    "Lycian",
    "Lydian",
    "Mahajani",
    "Makasar",
    "Malayalam",
    "Mandaic",
    "Manichaean",
    "Marchen",
    "Masaram_Gondi",
    "Medefaidrin",
    "Meetei_Mayek",
    "Mende_Kikakui",
    "Meroitic_Cursive",
    "Meroitic_Hieroglyphs",
    "Miao",
    "Modi",
    "Mongolian",
    "Mro",
    "Multani",
    "Myanmar",
    "Nabataean",
    "Nag_Mundari",
    "Nandinagari",
    "New_Tai_Lue",
    "Newa",
    "Nko",
    "Nushu",
    "Nyiakeng_Puachue_Hmong",
    "Ogham",
    "Ol_Chiki",
    "Old_Hungarian",
    "Old_Italic",
    "Old_North_Arabian",
    "Old_Permic",
    "Old_Persian",
    "Old_Sogdian",
    "Old_South_Arabian",
    "Old_Turkic",
    "Old_Uyghur",
    "Oriya",
    "Osage",
    "Osmanya",
    "Pahawh_Hmong",
    "Palmyrene",
    "Pau_Cin_Hau",
    "Phags_Pa",
    "Phoenician",
    "Psalter_Pahlavi",
    "Rejang",
    "Runic",
    "Samaritan",
    "Saurashtra",
    "Sharada",
    "Shavian",
    "Siddham",
    "SignWriting",
    "Sinhala",
    "Sogdian",
    "Sora_Sompeng",
    "Soyombo",
    "Sundanese",
    "Syloti_Nagri",
    "Syriac",
    "Tagalog",
    "Tagbanwa",
    "Tai_Le",
    "Tai_Tham",
    "Tai_Viet",
    "Takri",
    "Tamil",
    "Tangsa",
    "Tangut",
    "Telugu",
    "Thaana",
    "Thai",
    "Tibetan",
    "Tifinagh",
    "Tirhuta",
    "Toto",
    "Ugaritic",
    "Vai",
    "Vithkuqi",
    "Wancho",
    "Warang_Citi",
    "Yezidi",
    "Yi",
    "Zanabazar_Square",
];

/// Go's `unicode.CategoryAliases` (from `PropertyValueAliases.txt`): alias → category.
const CATEGORY_ALIASES: &[(&str, &str)] = &[
    ("Other", "C"),
    ("Control", "Cc"),
    ("cntrl", "Cc"),
    ("Format", "Cf"),
    ("Unassigned", "Cn"),
    ("Private_Use", "Co"),
    ("Surrogate", "Cs"),
    ("Letter", "L"),
    ("Cased_Letter", "LC"),
    ("Lowercase_Letter", "Ll"),
    ("Modifier_Letter", "Lm"),
    ("Other_Letter", "Lo"),
    ("Titlecase_Letter", "Lt"),
    ("Uppercase_Letter", "Lu"),
    ("Mark", "M"),
    ("Combining_Mark", "M"),
    ("Spacing_Mark", "Mc"),
    ("Enclosing_Mark", "Me"),
    ("Nonspacing_Mark", "Mn"),
    ("Number", "N"),
    ("Decimal_Number", "Nd"),
    ("digit", "Nd"),
    ("Letter_Number", "Nl"),
    ("Other_Number", "No"),
    ("Punctuation", "P"),
    ("punct", "P"),
    ("Connector_Punctuation", "Pc"),
    ("Dash_Punctuation", "Pd"),
    ("Close_Punctuation", "Pe"),
    ("Final_Punctuation", "Pf"),
    ("Initial_Punctuation", "Pi"),
    ("Other_Punctuation", "Po"),
    ("Open_Punctuation", "Ps"),
    ("Symbol", "S"),
    ("Currency_Symbol", "Sc"),
    ("Modifier_Symbol", "Sk"),
    ("Math_Symbol", "Sm"),
    ("Other_Symbol", "So"),
    ("Separator", "Z"),
    ("Line_Separator", "Zl"),
    ("Paragraph_Separator", "Zp"),
    ("Space_Separator", "Zs"),
];

/// The categories and scripts for which Go has a fold table (`unicode.FoldCategory`,
/// `unicode.FoldScript`). For any other name, `(?i)` adds nothing to the table.
const FOLDED_CATEGORIES: &[&str] = &["L", "Ll", "Lt", "Lu", "M", "Mn"];
const FOLDED_SCRIPTS: &[&str] = &["Common", "Greek", "Inherited"];

const SURROGATES: (u32, u32) = (0xD800, 0xDFFF);

/// Go's `canonicalName`: drops `_`, `-` and spaces, upper-cases the first letter and
/// lower-cases the other ASCII letters.
pub(super) fn canonical_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut first = true;
    for c in name.chars() {
        match c {
            '_' | '-' | ' ' => {}
            _ if first => {
                first = false;
                out.push(c.to_ascii_uppercase());
            }
            _ => out.push(c.to_ascii_lowercase()),
        }
    }
    out
}

/// Looks up `\p{name}` the way Go 1.25's `unicodeTable` does.
pub(super) fn unicode_table(name: &str) -> Option<Arc<UnicodeTable>> {
    let canon = canonical_name(name);
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<UnicodeTable>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(found) = cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get(&canon)
    {
        return Some(Arc::clone(found));
    }
    let table = Arc::new(build_table(&canon)?);
    cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(canon, Arc::clone(&table));
    Some(table)
}

fn build_table(canon: &str) -> Option<UnicodeTable> {
    match canon {
        "Any" => {
            let all = vec![(0, MAX_RUNE)];
            return Some(UnicodeTable {
                ranges: all.clone(),
                folded: Some(all),
                negated: false,
            });
        }
        "Assigned" => {
            let cn = category("Cn");
            return Some(UnicodeTable {
                ranges: cn.clone(),
                folded: Some(cn),
                negated: true,
            });
        }
        "Ascii" => {
            return Some(UnicodeTable {
                ranges: vec![(0, 0x7F)],
                folded: Some(vec![(0, 0x7F), (0x17F, 0x17F), (0x212A, 0x212A)]),
                negated: false,
            });
        }
        "Lc" => return Some(category_table("LC")),
        _ => {}
    }
    if CATEGORIES.contains(&canon) {
        return Some(category_table(canon));
    }
    if let Some(&script) = SCRIPTS.iter().find(|&&s| s == canon) {
        let ranges = intersect(&rs_class(&format!(r"\p{{sc={script}}}")), assigned15());
        let folded = FOLDED_SCRIPTS
            .contains(&script)
            .then(|| fold_closure(&ranges));
        return Some(UnicodeTable {
            ranges,
            folded,
            negated: false,
        });
    }
    let &(_, target) = CATEGORY_ALIASES
        .iter()
        .find(|(alias, _)| canonical_name(alias) == canon)?;
    Some(category_table(target))
}

fn category_table(name: &str) -> UnicodeTable {
    let ranges = category(name);
    let folded = FOLDED_CATEGORIES
        .contains(&name)
        .then(|| fold_closure(&ranges));
    UnicodeTable {
        ranges,
        folded,
        negated: false,
    }
}

/// The code points of a Go category (Unicode 15.0), surrogates included where Go has them.
fn category(name: &str) -> Ranges {
    match name {
        "Cn" => unassigned15().clone(),
        "Cs" => vec![SURROGATES],
        "C" => {
            let mut all = Vec::new();
            for part in ["Cc", "Cf", "Co"] {
                all.extend(intersect(
                    &rs_class(&format!(r"\p{{gc={part}}}")),
                    assigned15(),
                ));
            }
            all.extend(unassigned15().iter().copied());
            all.push(SURROGATES);
            normalize(all)
        }
        _ => intersect(&rs_class(&format!(r"\p{{gc={name}}}")), assigned15()),
    }
}

/// The class `regex-syntax` gives for a `\p{…}` pattern, as code point ranges.
fn rs_class(pattern: &str) -> Ranges {
    let parsed = regex_syntax::ParserBuilder::new().build().parse(pattern);
    match parsed.as_ref().map(|hir| hir.kind()) {
        Ok(HirKind::Class(Class::Unicode(class))) => class
            .ranges()
            .iter()
            .map(|r| (u32::from(r.start()), u32::from(r.end())))
            .collect(),
        _ => Vec::new(),
    }
}

/// Code points assigned in Unicode 15.0 or earlier (noncharacters and private use included).
pub(super) fn assigned15() -> &'static Ranges {
    static SET: OnceLock<Ranges> = OnceLock::new();
    SET.get_or_init(|| rs_class(r"\p{age=15.0}"))
}

/// Go's `Cn` for Unicode 15.0: what `regex-syntax` calls unassigned, plus whatever was assigned
/// after 15.0.
fn unassigned15() -> &'static Ranges {
    static SET: OnceLock<Ranges> = OnceLock::new();
    SET.get_or_init(|| {
        let mut all = rs_class(r"\p{gc=Cn}");
        let newer = subtract(&rs_class(r"\p{age=16.0}"), assigned15());
        all.extend(newer);
        normalize(all)
    })
}

/// Simple case foldings that Unicode 15.1 added between code points assigned earlier. Go 1.25
/// (Unicode 15.0) does not have them; those added in 16.0 involve new code points only.
pub(super) const POST_15_0_FOLDS: &[(u32, u32)] =
    &[(0x0390, 0x1FD3), (0x03B0, 0x1FE3), (0xFB05, 0xFB06)];

/// For each code point that simple case folding relates to others (in Unicode 15.0), the next
/// larger member of its orbit, or the smallest after the largest. Sorted by code point.
fn orbits() -> &'static [(u32, u32)] {
    static TABLE: OnceLock<Vec<(u32, u32)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let assigned = assigned15();
        let mut next = Vec::new();
        let mut done = std::collections::HashSet::new();
        // Other letters (`Lo`) are uncased: skipping them saves most of the work. A test
        // checks the table against every code point.
        let candidates = subtract(
            &intersect(assigned, &[(MIN_FOLD, MAX_FOLD)]),
            &rs_class(r"\p{gc=Lo}"),
        );
        for c in candidates.iter().flat_map(|&(lo, hi)| lo..=hi) {
            let Some(ch) = char::from_u32(c) else {
                continue;
            };
            if !contains(assigned, c) || done.contains(&c) {
                continue;
            }
            let mut class =
                regex_syntax::hir::ClassUnicode::new([regex_syntax::hir::ClassUnicodeRange::new(
                    ch, ch,
                )]);
            class.case_fold_simple();
            let mut members: Vec<u32> = class
                .iter()
                .flat_map(|r| u32::from(r.start())..=u32::from(r.end()))
                .filter(|&m| contains(assigned, m))
                .collect();
            members.sort_unstable();
            members.dedup();
            let newer = POST_15_0_FOLDS.iter().any(|&(a, b)| members == [a, b]);
            if members.len() < 2 || newer {
                continue;
            }
            for (i, &m) in members.iter().enumerate() {
                next.push((m, members[(i + 1) % members.len()]));
                done.insert(m);
            }
        }
        next.sort_unstable();
        next
    })
}

/// Go's `unicode.SimpleFold`: the next code point in `r`'s case folding orbit, or `r` itself.
pub(super) fn simple_fold(r: u32) -> u32 {
    let table = orbits();
    match table.binary_search_by_key(&r, |&(c, _)| c) {
        Ok(i) => table[i].1,
        Err(_) => r,
    }
}

/// The orbit entries `(c, next)` with `lo <= c <= hi`.
pub(super) fn orbit_entries(lo: u32, hi: u32) -> &'static [(u32, u32)] {
    let table = orbits();
    let start = table.partition_point(|&(c, _)| c < lo);
    let end = table.partition_point(|&(c, _)| c <= hi);
    &table[start..end.max(start)]
}

/// `ranges` together with every code point case folding relates to one of them.
pub(super) fn fold_closure(ranges: &[(u32, u32)]) -> Ranges {
    let mut out: Vec<(u32, u32)> = ranges.to_vec();
    for &(c, _) in orbits() {
        if contains(ranges, c) {
            let mut f = simple_fold(c);
            while f != c {
                out.push((f, f));
                f = simple_fold(f);
            }
        }
    }
    normalize(out)
}

/// Whether the sorted range list `ranges` holds `c`.
pub(super) fn contains(ranges: &[(u32, u32)], c: u32) -> bool {
    let i = ranges.partition_point(|&(_, hi)| hi < c);
    ranges.get(i).is_some_and(|&(lo, _)| lo <= c)
}

/// Sorts and merges ranges into canonical form.
fn normalize(mut ranges: Vec<(u32, u32)>) -> Ranges {
    ranges.sort_unstable();
    let mut out: Ranges = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

fn intersect(a: &[(u32, u32)], b: &[(u32, u32)]) -> Ranges {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        let lo = a[i].0.max(b[j].0);
        let hi = a[i].1.min(b[j].1);
        if lo <= hi {
            out.push((lo, hi));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    normalize(out)
}

fn subtract(a: &[(u32, u32)], b: &[(u32, u32)]) -> Ranges {
    let mut complement = Vec::new();
    let mut next = 0u32;
    for &(lo, hi) in b {
        if lo > next {
            complement.push((next, lo - 1));
        }
        next = hi.saturating_add(1);
    }
    if next <= MAX_RUNE {
        complement.push((next, MAX_RUNE));
    }
    intersect(a, &complement)
}
