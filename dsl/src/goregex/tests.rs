//! Tests for the Go regexp dialect: Go's tree shapes, errors and limits, matching semantics,
//! the conformance vectors, deep nesting and a never-panics property.

use std::collections::HashMap;

use proptest::prelude::*;
use regex_automata::meta::Regex;

use super::parser::{NodeId, Op, Tree, flags, parse_tree};
use super::{Error, ErrorCode, parse, parse_pattern, tables};

/// Go's `dump` of a parse tree, the notation of Go's `parse_test.go`.
fn dump(tree: &Tree) -> String {
    let mut out = String::new();
    dump_node(tree, tree.root, &mut out);
    out
}

fn dump_node(tree: &Tree, id: NodeId, out: &mut String) {
    let node = &tree.nodes[id];
    let name = match node.op {
        Op::NoMatch => "no",
        Op::EmptyMatch => "emp",
        Op::Literal => {
            if node.runes.len() > 1 {
                "str"
            } else {
                "lit"
            }
        }
        Op::CharClass => "cc",
        Op::AnyCharNotNl => "dnl",
        Op::AnyChar => "dot",
        Op::BeginLine => "bol",
        Op::EndLine => "eol",
        Op::BeginText => "bot",
        Op::EndText => "eot",
        Op::WordBoundary => "wb",
        Op::NoWordBoundary => "nwb",
        Op::Capture => "cap",
        Op::Star => "star",
        Op::Plus => "plus",
        Op::Quest => "que",
        Op::Repeat => "rep",
        Op::Concat => "cat",
        Op::Alternate => "alt",
        Op::LeftParen | Op::VerticalBar => "pseudo",
    };
    if matches!(node.op, Op::Star | Op::Plus | Op::Quest | Op::Repeat)
        && node.flags & flags::NON_GREEDY != 0
    {
        out.push('n');
    }
    out.push_str(name);
    if node.op == Op::Literal
        && node.flags & flags::FOLD_CASE != 0
        && node.runes.iter().any(|&r| tables::simple_fold(r) != r)
    {
        out.push_str("fold");
    }
    out.push('{');
    match node.op {
        Op::EndText if node.flags & flags::WAS_DOLLAR == 0 => out.push_str(r"\z"),
        Op::Literal => out.extend(node.runes.iter().filter_map(|&r| char::from_u32(r))),
        Op::Concat | Op::Alternate => {
            for &sub in &node.subs {
                dump_node(tree, sub, out);
            }
        }
        Op::Star | Op::Plus | Op::Quest => dump_node(tree, node.subs[0], out),
        Op::Repeat => {
            out.push_str(&format!("{},{} ", node.min, node.max));
            dump_node(tree, node.subs[0], out);
        }
        Op::Capture => {
            if !node.name.is_empty() {
                out.push_str(&node.name);
                out.push(':');
            }
            dump_node(tree, node.subs[0], out);
        }
        Op::CharClass => {
            let parts: Vec<String> = node
                .runes
                .chunks_exact(2)
                .map(|p| {
                    if p[0] == p[1] {
                        format!("{:#x}", p[0])
                    } else {
                        format!("{:#x}-{:#x}", p[0], p[1])
                    }
                })
                .collect();
            out.push_str(&parts.join(" "));
        }
        _ => {}
    }
    out.push('}');
}

/// The flags of Go's `parse_test.go` (`MatchNL | PerlX | UnicodeGroups`).
const TEST_FLAGS: u16 = flags::CLASS_NL | flags::DOT_NL | flags::PERL_X | flags::UNICODE_GROUPS;

fn dump_with(src: &str, flags: u16) -> String {
    match parse_tree(src, flags) {
        Ok(tree) => dump(&tree),
        Err(e) => format!("error: {e}"),
    }
}

#[test]
fn tree_shapes_match_go() {
    let cases: &[(&str, &str)] = &[
        ("a", "lit{a}"),
        ("a.", "cat{lit{a}dot{}}"),
        ("a.b", "cat{lit{a}dot{}lit{b}}"),
        ("ab", "str{ab}"),
        ("a.b.c", "cat{lit{a}dot{}lit{b}dot{}lit{c}}"),
        ("abc", "str{abc}"),
        ("a|^", "alt{lit{a}bol{}}"),
        ("a|b", "cc{0x61-0x62}"),
        ("(a)", "cap{lit{a}}"),
        ("(a)|b", "alt{cap{lit{a}}lit{b}}"),
        ("a*", "star{lit{a}}"),
        ("a+", "plus{lit{a}}"),
        ("a?", "que{lit{a}}"),
        ("a{2}", "rep{2,2 lit{a}}"),
        ("a{2,3}", "rep{2,3 lit{a}}"),
        ("a{2,}", "rep{2,-1 lit{a}}"),
        ("a*?", "nstar{lit{a}}"),
        ("a+?", "nplus{lit{a}}"),
        ("a??", "nque{lit{a}}"),
        ("a{2}?", "nrep{2,2 lit{a}}"),
        ("a{2,3}?", "nrep{2,3 lit{a}}"),
        ("a{2,}?", "nrep{2,-1 lit{a}}"),
        ("x{1001", "str{x{1001}"),
        ("x{9876543210", "str{x{9876543210}"),
        ("x{9876543210,", "str{x{9876543210,}"),
        ("x{2,1", "str{x{2,1}"),
        ("x{1,9876543210", "str{x{1,9876543210}"),
        ("", "emp{}"),
        ("|", "emp{}"),
        ("|x|", "alt{emp{}lit{x}emp{}}"),
        (".", "dot{}"),
        ("^", "bol{}"),
        ("$", "eol{}"),
        (r"\|", "lit{|}"),
        (r"\(", "lit{(}"),
        (r"\)", "lit{)}"),
        (r"\*", "lit{*}"),
        (r"\+", "lit{+}"),
        (r"\?", "lit{?}"),
        ("{", "lit{{}"),
        ("}", "lit{}}"),
        (r"\.", "lit{.}"),
        (r"\^", "lit{^}"),
        (r"\$", "lit{$}"),
        (r"\\", r"lit{\}"),
        ("[ace]", "cc{0x61 0x63 0x65}"),
        ("[abc]", "cc{0x61-0x63}"),
        ("[a-z]", "cc{0x61-0x7a}"),
        ("[a]", "lit{a}"),
        (r"\-", "lit{-}"),
        ("-", "lit{-}"),
        (r"\_", "lit{_}"),
        ("abc|def", "alt{str{abc}str{def}}"),
        ("abc|def|ghi", "alt{str{abc}str{def}str{ghi}}"),
        ("[[:lower:]]", "cc{0x61-0x7a}"),
        ("[^[:lower:]]", "cc{0x0-0x60 0x7b-0x10ffff}"),
        ("[[:^lower:]]", "cc{0x0-0x60 0x7b-0x10ffff}"),
        ("(?i)[[:lower:]]", "cc{0x41-0x5a 0x61-0x7a 0x17f 0x212a}"),
        ("(?i)[a-z]", "cc{0x41-0x5a 0x61-0x7a 0x17f 0x212a}"),
        (
            "(?i)[^[:lower:]]",
            "cc{0x0-0x40 0x5b-0x60 0x7b-0x17e 0x180-0x2129 0x212b-0x10ffff}",
        ),
        (
            "(?i)[[:^lower:]]",
            "cc{0x0-0x40 0x5b-0x60 0x7b-0x17e 0x180-0x2129 0x212b-0x10ffff}",
        ),
        (r"\d", "cc{0x30-0x39}"),
        (r"\D", "cc{0x0-0x2f 0x3a-0x10ffff}"),
        (r"\s", "cc{0x9-0xa 0xc-0xd 0x20}"),
        (r"\S", "cc{0x0-0x8 0xb 0xe-0x1f 0x21-0x10ffff}"),
        (r"\w", "cc{0x30-0x39 0x41-0x5a 0x5f 0x61-0x7a}"),
        (r"\W", "cc{0x0-0x2f 0x3a-0x40 0x5b-0x5e 0x60 0x7b-0x10ffff}"),
        (
            r"(?i)\w",
            "cc{0x30-0x39 0x41-0x5a 0x5f 0x61-0x7a 0x17f 0x212a}",
        ),
        (
            r"(?i)\W",
            "cc{0x0-0x2f 0x3a-0x40 0x5b-0x5e 0x60 0x7b-0x17e 0x180-0x2129 0x212b-0x10ffff}",
        ),
        (r"[^\\]", "cc{0x0-0x5b 0x5d-0x10ffff}"),
        (r"\p{Braille}", "cc{0x2800-0x28ff}"),
        (r"\P{Braille}", "cc{0x0-0x27ff 0x2900-0x10ffff}"),
        (r"\p{^Braille}", "cc{0x0-0x27ff 0x2900-0x10ffff}"),
        (r"\P{^Braille}", "cc{0x2800-0x28ff}"),
        (
            r"\pZ",
            "cc{0x20 0xa0 0x1680 0x2000-0x200a 0x2028-0x2029 0x202f 0x205f 0x3000}",
        ),
        (r"[\p{Braille}]", "cc{0x2800-0x28ff}"),
        (r"[\P{Braille}]", "cc{0x0-0x27ff 0x2900-0x10ffff}"),
        (r"[\p{^Braille}]", "cc{0x0-0x27ff 0x2900-0x10ffff}"),
        (r"[\P{^Braille}]", "cc{0x2800-0x28ff}"),
        (
            r"[\pZ]",
            "cc{0x20 0xa0 0x1680 0x2000-0x200a 0x2028-0x2029 0x202f 0x205f 0x3000}",
        ),
        (r"\p{Any}", "dot{}"),
        (r"\p{^Any}", "cc{}"),
        (r"(?i)\p{ascii}", "cc{0x0-0x7f 0x17f 0x212a}"),
        (r"[\012-\234]\141", "cat{cc{0xa-0x9c}lit{a}}"),
        (r"[\x{41}-\x7a]\x61", "cat{cc{0x41-0x7a}lit{a}}"),
        ("a{,2}", "str{a{,2}}"),
        (r"\.\^\$\\", r"str{.^$\}"),
        ("[a-zABC]", "cc{0x41-0x43 0x61-0x7a}"),
        ("[^a]", "cc{0x0-0x60 0x62-0x10ffff}"),
        ("[α-ε☺]", "cc{0x3b1-0x3b5 0x263a}"),
        ("a*{", "cat{star{lit{a}}lit{{}}"),
        ("(?:ab)*", "star{str{ab}}"),
        ("(ab)*", "star{cap{str{ab}}}"),
        ("ab|cd", "alt{str{ab}str{cd}}"),
        ("a(b|c)d", "cat{lit{a}cap{cc{0x62-0x63}}lit{d}}"),
        ("(?:a)", "lit{a}"),
        ("(?:ab)(?:cd)", "str{abcd}"),
        (
            "(?:a+b+)(?:c+d+)",
            "cat{plus{lit{a}}plus{lit{b}}plus{lit{c}}plus{lit{d}}}",
        ),
        (
            "(?:a+|b+)|(?:c+|d+)",
            "alt{plus{lit{a}}plus{lit{b}}plus{lit{c}}plus{lit{d}}}",
        ),
        ("(?:a|b)|(?:c|d)", "cc{0x61-0x64}"),
        ("a|.", "dot{}"),
        (".|a", "dot{}"),
        (
            "(?:[abc]|A|Z|hello|world)",
            "alt{cc{0x41 0x5a 0x61-0x63}str{hello}str{world}}",
        ),
        ("(?:[abc]|A|Z)", "cc{0x41 0x5a 0x61-0x63}"),
        (r"\Q+|*?{[\E", "str{+|*?{[}"),
        (r"\Q+\E+", "plus{lit{+}}"),
        (r"\Qab\E+", "cat{lit{a}plus{lit{b}}}"),
        (r"\Q\\E", r"lit{\}"),
        (r"\Q\\\E", r"str{\\}"),
        ("(?m)^", "bol{}"),
        ("(?m)$", "eol{}"),
        ("(?-m)^", "bot{}"),
        ("(?-m)$", "eot{}"),
        (r"(?m)\A", "bot{}"),
        (r"(?m)\z", r"eot{\z}"),
        (r"(?-m)\A", "bot{}"),
        (r"(?-m)\z", r"eot{\z}"),
        ("(?P<name>a)", "cap{name:lit{a}}"),
        ("(?<name>a)", "cap{name:lit{a}}"),
        ("[Aa]", "litfold{A}"),
        (r"[\x{100}\x{101}]", "litfold{Ā}"),
        ("[Δδ]", "litfold{Δ}"),
        ("abcde", "str{abcde}"),
        ("[Aa][Bb]cd", "cat{strfold{AB}str{cd}}"),
        (
            "abc|abd|aef|bcx|bcy",
            "alt{cat{lit{a}alt{cat{lit{b}cc{0x63-0x64}}str{ef}}}cat{str{bc}cc{0x78-0x79}}}",
        ),
        (
            "ax+y|ax+z|ay+w",
            "cat{lit{a}alt{cat{plus{lit{x}}lit{y}}cat{plus{lit{x}}lit{z}}cat{plus{lit{y}}lit{w}}}}",
        ),
        ("(?:.)", "dot{}"),
        ("(?:x|(?:xa))", "cat{lit{x}alt{emp{}lit{a}}}"),
        ("(?:.|(?:.a))", "cat{dot{}alt{emp{}lit{a}}}"),
        ("(?:A(?:A|a))", "cat{lit{A}litfold{A}}"),
        ("(?:A|a)", "litfold{A}"),
        ("A|(?:A|a)", "litfold{A}"),
        ("(?s).", "dot{}"),
        ("(?-s).", "dnl{}"),
        ("(?:(?:^).)", "cat{bol{}dot{}}"),
        ("(?-s)(?:(?:^).)", "cat{bol{}dnl{}}"),
        (r"[\s\S]a", "cat{cc{0x0-0x10ffff}lit{a}}"),
        ("abc|abd", "cat{str{ab}cc{0x63-0x64}}"),
        ("a(?:b)c|abd", "cat{str{ab}cc{0x63-0x64}}"),
        ("abc|x|abd", "alt{str{abc}lit{x}str{abd}}"),
        ("(?i)abc|ABD", "cat{strfold{AB}cc{0x43-0x44 0x63-0x64}}"),
        ("[ab]c|[ab]d", "cat{cc{0x61-0x62}cc{0x63-0x64}}"),
        (".c|.d", "cat{dot{}cc{0x63-0x64}}"),
        (
            "x{2}|x{2}[0-9]",
            "cat{rep{2,2 lit{x}}alt{emp{}cc{0x30-0x39}}}",
        ),
        (
            "x{2}y|x{2}[0-9]y",
            "cat{rep{2,2 lit{x}}alt{lit{y}cat{cc{0x30-0x39}lit{y}}}}",
        ),
        (
            "a.*?c|a.*?b",
            "cat{lit{a}alt{cat{nstar{dot{}}lit{c}}cat{nstar{dot{}}lit{b}}}}",
        ),
    ];
    for &(src, want) in cases {
        assert_eq!(dump_with(src, TEST_FLAGS), want, "pattern {src:?}");
    }
}

#[test]
fn fold_case_and_newline_flags_match_go() {
    let fold: &[(&str, &str)] = &[
        ("AbCdE", "strfold{ABCDE}"),
        ("[Aa]", "litfold{A}"),
        ("a", "litfold{A}"),
        ("A[F-g]", "cat{litfold{A}cc{0x41-0x7a 0x17f 0x212a}}"),
        ("[[:upper:]]", "cc{0x41-0x5a 0x61-0x7a 0x17f 0x212a}"),
        ("[[:lower:]]", "cc{0x41-0x5a 0x61-0x7a 0x17f 0x212a}"),
    ];
    for &(src, want) in fold {
        assert_eq!(dump_with(src, flags::FOLD_CASE), want, "pattern {src:?}");
    }
    let match_nl = flags::CLASS_NL | flags::DOT_NL;
    let with_nl: &[(&str, &str)] = &[
        (".", "dot{}"),
        ("\n", "lit{\n}"),
        ("[^a]", "cc{0x0-0x60 0x62-0x10ffff}"),
        ("[a\\n]", "cc{0xa 0x61}"),
    ];
    for &(src, want) in with_nl {
        assert_eq!(dump_with(src, match_nl), want, "pattern {src:?}");
    }
    let without_nl: &[(&str, &str)] = &[
        (".", "dnl{}"),
        ("\n", "lit{\n}"),
        ("[^a]", "cc{0x0-0x9 0xb-0x60 0x62-0x10ffff}"),
        ("[a\\n]", "cc{0xa 0x61}"),
    ];
    for &(src, want) in without_nl {
        assert_eq!(dump_with(src, 0), want, "pattern {src:?}");
    }
    // POSIX syntax: no Perl extensions, and `-` only first or last in a class.
    assert_eq!(
        dump_with("[a-b-c]", 0),
        "error: error parsing regexp: invalid character class range: `-c`"
    );
    assert_eq!(dump_with("a**", 0), "star{star{lit{a}}}");
    assert_eq!(
        dump_with(r"\Qabc\E", 0),
        "error: error parsing regexp: invalid escape sequence: `\\Q`"
    );
}

/// Go's error text for `src` parsed as `regexp.Compile` does.
fn err(src: &str) -> String {
    match parse(src) {
        Ok(_) => "ok".to_owned(),
        Err(e) => e.to_string(),
    }
}

fn want(code: &str, expr: &str) -> String {
    format!("error parsing regexp: {code}: `{expr}`")
}

#[test]
fn error_codes_have_go_text() {
    let codes = [
        (ErrorCode::InternalError, "regexp/syntax: internal error"),
        (ErrorCode::InvalidCharClass, "invalid character class"),
        (ErrorCode::InvalidCharRange, "invalid character class range"),
        (ErrorCode::InvalidEscape, "invalid escape sequence"),
        (ErrorCode::InvalidNamedCapture, "invalid named capture"),
        (
            ErrorCode::InvalidPerlOp,
            "invalid or unsupported Perl syntax",
        ),
        (
            ErrorCode::InvalidRepeatOp,
            "invalid nested repetition operator",
        ),
        (ErrorCode::InvalidRepeatSize, "invalid repeat count"),
        (ErrorCode::InvalidUtf8, "invalid UTF-8"),
        (ErrorCode::MissingBracket, "missing closing ]"),
        (ErrorCode::MissingParen, "missing closing )"),
        (
            ErrorCode::MissingRepeatArgument,
            "missing argument to repetition operator",
        ),
        (
            ErrorCode::TrailingBackslash,
            "trailing backslash at end of expression",
        ),
        (ErrorCode::UnexpectedParen, "unexpected )"),
        (ErrorCode::NestingDepth, "expression nests too deeply"),
        (ErrorCode::Large, "expression too large"),
    ];
    for (code, text) in codes {
        assert_eq!(code.to_string(), text);
    }
    let e = Error {
        code: ErrorCode::TrailingBackslash,
        expr: String::new(),
    };
    assert_eq!(
        e.to_string(),
        "error parsing regexp: trailing backslash at end of expression: ``"
    );
    let boxed: Box<dyn std::error::Error> = Box::new(e);
    assert!(boxed.to_string().ends_with("``"));
}

#[test]
fn errors_carry_go_fragments() {
    let cases: &[(&str, &str, &str)] = &[
        ("(?m)(", "missing closing )", "(?m)("),
        ("(?m)(a|b", "missing closing )", "(?m)(a|b"),
        ("(?m)(?P<name>a", "missing closing )", "(?m)(?P<name>a"),
        ("(?m)a)", "unexpected )", "(?m)a)"),
        ("(?m))", "unexpected )", "(?m))"),
        ("(?m)(a))", "unexpected )", "(?m)(a))"),
        ("(?m)a|b|)", "unexpected )", "(?m)a|b|)"),
        ("(?m)[a", "missing closing ]", "[a"),
        ("(?m)x[a-z", "missing closing ]", "[a-z"),
        ("(?m)([a-z)", "missing closing ]", "[a-z)"),
        ("(?m)[]", "missing closing ]", "[]"),
        ("(?m)[^]", "missing closing ]", "[^]"),
        ("(?m)[a-", "missing closing ]", "[a-"),
        ("(?m)*a", "missing argument to repetition operator", "*"),
        ("(?m)+", "missing argument to repetition operator", "+"),
        ("(?m)??", "missing argument to repetition operator", "??"),
        ("(?m){1}", "missing argument to repetition operator", "{1}"),
        ("(?m)a|*", "missing argument to repetition operator", "*"),
        ("(?m)(*)", "missing argument to repetition operator", "*"),
        ("(?m)(?i)*", "missing argument to repetition operator", "*"),
        (r"(?m)\Q\E*", "missing argument to repetition operator", "*"),
        ("(?m)a**", "invalid nested repetition operator", "**"),
        ("(?m)a++", "invalid nested repetition operator", "++"),
        ("(?m)a?*", "invalid nested repetition operator", "?*"),
        ("(?m)a*?*", "invalid nested repetition operator", "*?*"),
        ("(?m)a{1}*", "invalid nested repetition operator", "{1}*"),
        (
            "(?m)a{2}{3}",
            "invalid nested repetition operator",
            "{2}{3}",
        ),
        (
            "(?m).{1}{2}.{3}",
            "invalid nested repetition operator",
            "{1}{2}",
        ),
        ("(?m)a{1001}", "invalid repeat count", "{1001}"),
        ("(?m)a{2,1}", "invalid repeat count", "{2,1}"),
        ("(?m)x{9876543210}", "invalid repeat count", "{9876543210}"),
        (
            "(?m)x{1,9876543210}",
            "invalid repeat count",
            "{1,9876543210}",
        ),
        ("(?m)a{100000,}", "invalid repeat count", "{100000,}"),
        ("(?m)a{1001}{2}", "invalid repeat count", "{1001}"),
        ("(?m)(a{100}){100}", "invalid repeat count", "{100}"),
        ("(?m)(?:[a-z]{4}){0,251}", "invalid repeat count", "{0,251}"),
        (
            "(?m)((((((((((x{2}){2}){2}){2}){2}){2}){2}){2}){2}){2})",
            "invalid repeat count",
            "{2}",
        ),
        (r"(?m)\C", "invalid escape sequence", r"\C"),
        (r"(?m)(a)\1", "invalid escape sequence", r"\1"),
        (r"(?m)\18", "invalid escape sequence", r"\1"),
        (r"(?m)\8", "invalid escape sequence", r"\8"),
        (r"(?m)\Z", "invalid escape sequence", r"\Z"),
        (r"(?m)\q", "invalid escape sequence", r"\q"),
        (r"(?m)\é", "invalid escape sequence", r"\é"),
        (r"(?m)[\b]", "invalid escape sequence", r"\b"),
        (r"(?m)\x", "invalid escape sequence", r"\x"),
        (r"(?m)\xZ1", "invalid escape sequence", r"\xZ1"),
        (r"(?m)\xA", "invalid escape sequence", r"\xA"),
        (r"(?m)\x{}", "invalid escape sequence", r"\x{}"),
        (r"(?m)\x{12", "invalid escape sequence", r"\x{12"),
        (r"(?m)\x{12g}", "invalid escape sequence", r"\x{12g"),
        (r"(?m)\x{110000}", "invalid escape sequence", r"\x{110000"),
        ("(?m)[z-a]", "invalid character class range", "z-a"),
        ("(?m)[a-Z]", "invalid character class range", "a-Z"),
        ("(?m)(?i)[a-Z]", "invalid character class range", "a-Z"),
        ("(?m)[[:foo:]]", "invalid character class range", "[:foo:]"),
        ("(?m)[[:a]b:]]", "invalid character class range", "[:a]b:]"),
        (r"(?m)\p{Foo}", "invalid character class range", r"\p{Foo}"),
        (r"(?m)\pX", "invalid character class range", r"\pX"),
        (r"(?m)\p", "invalid character class range", r"\p"),
        (
            r"(?m)\p{Greek",
            "invalid character class range",
            r"\p{Greek",
        ),
        (
            r"(?m)[\p{Foo}]",
            "invalid character class range",
            r"\p{Foo}",
        ),
        (
            r"(?m)\p{gc=L}",
            "invalid character class range",
            r"\p{gc=L}",
        ),
        (
            r"(?m)\p{Alphabetic}",
            "invalid character class range",
            r"\p{Alphabetic}",
        ),
        ("(?m)(?=a)", "invalid or unsupported Perl syntax", "(?="),
        ("(?m)(?!a)", "invalid or unsupported Perl syntax", "(?!"),
        ("(?m)(?i", "invalid or unsupported Perl syntax", "(?i"),
        ("(?m)(?", "invalid or unsupported Perl syntax", "(?"),
        ("(?m)(?z)", "invalid or unsupported Perl syntax", "(?z"),
        ("(?m)(?-)", "invalid or unsupported Perl syntax", "(?-)"),
        ("(?m)(?i-)", "invalid or unsupported Perl syntax", "(?i-)"),
        (
            "(?m)(?i-m-s)",
            "invalid or unsupported Perl syntax",
            "(?i-m-",
        ),
        ("(?m)(?#c)", "invalid or unsupported Perl syntax", "(?#"),
        ("(?m)(?P=n)", "invalid or unsupported Perl syntax", "(?P"),
        ("(?m)(?'n'a)", "invalid or unsupported Perl syntax", "(?'"),
        ("(?m)(?P<>a)", "invalid named capture", "(?P<>"),
        ("(?m)(?<>a)", "invalid named capture", "(?<>"),
        ("(?m)(?P<x y>a)", "invalid named capture", "(?P<x y>"),
        ("(?m)(?P<é>a)", "invalid named capture", "(?P<é>"),
        ("(?m)(?P<name", "invalid named capture", "(?P<name"),
        ("(?m)(?<name", "invalid named capture", "(?<name"),
        ("(?m)(?<=a)b", "invalid named capture", "(?<=a)b"),
        ("(?m)(?<!a)b", "invalid named capture", "(?<!a)b"),
        ("(?m)(?<=a>)", "invalid named capture", "(?<=a>"),
        ("(?m)a\\", "trailing backslash at end of expression", ""),
        ("(?m)[a\\", "trailing backslash at end of expression", ""),
    ];
    for &(src, code, expr) in cases {
        assert_eq!(err(src), want(code, expr), "pattern {src:?}");
    }
}

#[test]
fn limits_match_go() {
    let deep = format!("{}{}", "(".repeat(1000), ")".repeat(1000));
    assert_eq!(err(&deep), want("expression nests too deeply", &deep));
    let ok = format!("{}{}", "(".repeat(999), ")".repeat(999));
    assert_eq!(err(&ok), "ok");
    let stars = format!("{}{}", "(?:".repeat(1000), ")*".repeat(1000));
    assert_eq!(err(&stars), want("expression nests too deeply", &stars));
    let stars_ok = format!("{}{}", "(?:".repeat(999), ")*".repeat(999));
    assert_eq!(err(&stars_ok), "ok");
    let bars = format!("({})", "|".repeat(12345));
    assert_eq!(err(&bars), "ok");
    let long = format!("({}){{1000}}", "(xx?)".repeat(1000));
    assert_eq!(err(&long), want("expression too large", &long));
    let long2 = "(xx?){1000}".repeat(1000);
    assert_eq!(err(&long2), want("expression too large", &long2));
    let runes = r"\pL".repeat(27000);
    assert_eq!(err(&runes), want("expression too large", &runes));
    for valid in [
        "((((((((((x{2}){2}){2}){2}){2}){2}){2}){2}){2}))",
        "((((((((((x{1}){2}){2}){2}){2}){2}){2}){2}){2}){2})",
        "(?:[a-z]{4}){0,250}",
        "a{1000}",
        "a{0,1000}",
        "(a{0}){1000}",
    ] {
        assert_eq!(err(valid), "ok", "pattern {valid:?}");
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let src = format!("(?m){}a{}", "(".repeat(2000), ")".repeat(2000));
    assert_eq!(err(&src), want("expression nests too deeply", &src));
    // Open parentheses are separate entries on Go's parse stack, not nested tree nodes.
    let unclosed = format!("(?m){}", "(".repeat(100_000));
    assert_eq!(err(&unclosed), want("missing closing )", &unclosed));
    let groups = format!("(?m){}a{}", "(?:".repeat(50_000), ")".repeat(50_000));
    assert_eq!(err(&groups), "ok");
    // Factoring these two alternatives nests one level per common piece.
    let piece = ".x".repeat(8_000);
    let factored = format!("(?m)(?:{piece}y|{piece}z)");
    assert_eq!(
        err(&factored),
        want("expression nests too deeply", &factored)
    );
}

#[test]
fn deep_valid_patterns_compile_and_match() {
    let stars = format!("(?m){}a{}", "(?:".repeat(998), ")*".repeat(998));
    assert!(matches(&stars, "aaa"));
    let groups = format!("(?m){}a{}", "(".repeat(998), ")".repeat(998));
    assert!(matches(&groups, "a"));
    let mut alts = String::from("(?m)");
    for k in 0..450 {
        alts.push_str(&format!("x{k}|("));
    }
    alts.push('y');
    alts.push_str(&")".repeat(450));
    assert!(matches(&alts, "y"));
    assert!(matches(&alts, "x449"));
    assert!(!matches(&alts, "x"));
    let plus = format!("(?m){}b{}", "(?:a".repeat(480), ")+".repeat(480));
    assert!(matches(&plus, &format!("{}b", "a".repeat(480))));
}

#[test]
fn unicode_names_follow_go_1_25() {
    for name in [
        "Greek",
        "greek",
        "GREEK",
        "Gre_ek",
        "Han",
        "Latin",
        "Kawi",
        "Nko",
        "Common",
        "Inherited",
        "L",
        "l",
        "Lu",
        "lu",
        "LU",
        "Uppercase_Letter",
        "upper case-let ter",
        "__upper case-let ter",
        "Letter",
        "LC",
        "lc",
        "Cased_Letter",
        "Any",
        "any",
        "ASCII",
        "Assigned",
        "Cn",
        "Unassigned",
        "Cs",
        "Surrogate",
        "Co",
        "C",
        "Other",
        "digit",
        "punct",
        "cntrl",
        "Combining_Mark",
        "Zs",
        "^Greek",
    ] {
        assert_eq!(err(&format!(r"\p{{{name}}}")), "ok", "name {name:?}");
        assert_eq!(err(&format!(r"[\P{{{name}}}]")), "ok", "name {name:?}");
    }
    // Names Go 1.25 does not know: binary properties, `key=value` forms, script codes,
    // scripts added after Unicode 15.0, and script keys that are not in canonical form.
    for name in [
        "Alphabetic",
        "gc=L",
        "Script=Greek",
        "sc=Greek",
        "Grek",
        "Latn",
        "Garay",
        "Todhri",
        "Age=15.0",
        "Emoji",
        "Unknown",
        "Zzzz",
        "Old_Italic",
        "OldItalic",
        "SignWriting",
        "Canadian_Aboriginal",
        "",
        "^",
        "Lx",
        "IsGreek",
    ] {
        let src = format!(r"\p{{{name}}}");
        assert_eq!(err(&src), want("invalid character class range", &src));
    }
}

fn compile(src: &str) -> Regex {
    let hir = parse(src).unwrap_or_else(|e| panic!("{src:?}: {e}"));
    Regex::builder()
        .build_from_hir(&hir)
        .unwrap_or_else(|e| panic!("{src:?}: {e}"))
}

fn matches(src: &str, text: &str) -> bool {
    compile(src).is_match(text)
}

#[test]
fn matching_follows_go() {
    let cases: &[(&str, &str, bool)] = &[
        (r"(?m)^\d items", "٣ items", false),
        (r"(?m)^\d items", "3 items", true),
        (r"(?m)\d", "\u{FF13}", false),
        (r"(?m)vt\shere", "vt\u{0B}here", false),
        (r"(?m)vt\shere", "vt here", true),
        (r"(?m)vt\shere", "vt\u{A0}here", false),
        (r"(?m)\s", "\u{2003}", false),
        (r"(?m)[[:space:]]", "\u{0B}", true),
        (r"(?m)\w", "é", false),
        (r"(?m)\W", "é", true),
        (r"(?m)\bsum", "résum", true),
        (r"(?m)\bsum", "asum", false),
        (r"(?m)\Bsum", "ésum", false),
        (r"(?m)é\b", "é", false),
        ("(?m)(?i)k", "\u{212A}", true),
        ("(?m)(?i)kelvin k", "KELVIN \u{212A}", true),
        ("(?m)(?i)s", "ſ", true),
        ("(?m)(?i)σ", "ς", true),
        ("(?m)(?i)σ", "Σ", true),
        ("(?m)(?i)[k]", "\u{212A}", true),
        (r"(?m)(?i)\w", "\u{212A}", true),
        (r"(?m)(?i)\W", "\u{212A}", false),
        (r"(?m)(?i)\p{Lu}", "a", true),
        (r"(?m)(?i)\p{Greek}", "\u{2126}", true),
        ("(?m)k", "\u{212A}", false),
        ("(?m)^FAIL$", "FAIL\r", false),
        ("(?m)^FAIL$", "x\nFAIL\ny", true),
        ("(?m)^FAIL$", "FAIL", true),
        ("^FAIL$", "FAIL\n", false),
        ("^FAIL$", "x\nFAIL", false),
        ("$", "", true),
        (r"(?m)\Afirst", "a\nfirst", false),
        (r"(?m)\Afirst", "first\na", true),
        (r"(?m)last\z", "last\n", false),
        (r"(?m)last\z", "a\nlast", true),
        ("(?m)x{,3}", "x{,3}", true),
        ("(?m)x{,3}", "xxx", false),
        ("(?m)^x{,3}$", "x", false),
        ("(?m)a{,", "a{,", true),
        (r"(?m)\Qa.b\E", "a.b", true),
        (r"(?m)\Qa.b\E", "axb", false),
        (r"(?m)\Qa.b", "a.b", true),
        ("(?m)a.b", "a\nb", false),
        ("(?m)(?s)a.b", "a\nb", true),
        ("(?m)a[^x]b", "a\nb", true),
        ("(?m)a[^\\n]b", "a\nb", false),
        ("(?m)(?U)a+", "a", true),
        ("(?m)a{2,3}$", "aaaa", true),
        ("(?m)^a{2,3}$", "aaaa", false),
        ("(?m)(?P<x>a)|(?P<x>b)", "b", true),
        ("(?m)(?<word>ab)c", "abc", true),
        (r"(?m)\x41\101\x{10FFFF}", "AA\u{10FFFF}", true),
        (r"(?m)\a\f\t\n\r\v", "\u{7}\u{C}\t\n\r\u{B}", true),
        (r"(?m)\x{D800}", "\u{FFFD}", false),
        (r"(?m)[\x{D800}-\x{DFFF}]", "\u{FFFD}", false),
        (r"(?m)\p{Cs}", "\u{E000}", false),
        (r"(?m)\P{Cs}", "\u{E000}", true),
        (r"(?m)\pL\p{Greek}", "aα", true),
        (r"(?m)\pL\p{Greek}", "ab", false),
        (r"(?m)\p{Han}", "中", true),
        (r"(?m)\p{Cn}", "\u{0378}", true),
        (r"(?m)\p{Assigned}", "\u{0378}", false),
        (r"(?m)\p{Any}", "\n", true),
        (r"(?m)\p{^Any}", "a", false),
        (r"(?m)[[:alpha:]]+", "é", false),
        (r"(?m)[[:^alpha:]]", "é", true),
        ("(?m)", "", true),
        ("(?m)(?:)", "x", true),
        (r"(?m)[^\x00-\x{10FFFF}]", "abc", false),
        (r"(?m)[^\x00-\x{10FFFF}]*", "abc", true),
        ("(?m)a|b|c", "c", true),
        ("(?m)abc|abd|aef|bcx|bcy", "bcy", true),
        ("(?m)abc|abd|aef|bcx|bcy", "abe", false),
        ("(?m)(?i)abc|ABD", "abd", true),
        (r"(?m)\ba\b", "a_", false),
        (r"(?m)^\s*fatal error:", "  fatal error: x", true),
        ("(?m)(gotip|go1\\.\\d\\d)-", "go1.21-linux", true),
        // Go's factoring compares leading literals without their case-folding flag, so the
        // second alternative loses its (?i): Go does not match "a1" here.
        (r"A\d|(?i:a)\d", "A1", true),
        (r"A\d|(?i:a)\d", "a1", false),
    ];
    for &(src, text, want) in cases {
        assert_eq!(matches(src, text), want, "pattern {src:?} on {text:?}");
    }
}

#[test]
fn literals_stay_literals() {
    use regex_syntax::hir::HirKind;
    let hir = parse("(?m)unexpected files left in tmpdir").unwrap_or_else(|e| panic!("{e}"));
    match hir.kind() {
        HirKind::Literal(lit) => assert_eq!(&*lit.0, b"unexpected files left in tmpdir"),
        other => panic!("not a literal: {other:?}"),
    }
    let hir = parse("(?m)^cmd/go$").unwrap_or_else(|e| panic!("{e}"));
    let HirKind::Concat(parts) = hir.kind() else {
        panic!("not a concatenation: {hir:?}");
    };
    assert!(
        parts
            .iter()
            .any(|p| matches!(p.kind(), HirKind::Literal(l) if &*l.0 == b"cmd/go"))
    );
    assert!(hir.properties().is_utf8());
}

#[test]
fn canonical_names_follow_go() {
    assert_eq!(
        tables::canonical_name("upper case-let ter"),
        "Uppercaseletter"
    );
    assert_eq!(tables::canonical_name("__lu"), "Lu");
    assert_eq!(tables::canonical_name("LC"), "Lc");
    assert_eq!(tables::canonical_name("Old_Italic"), "Olditalic");
}

#[test]
fn case_folding_orbits_are_unicode_15() {
    assert_eq!(tables::simple_fold(u32::from('k')), 0x212A);
    assert_eq!(tables::simple_fold(0x212A), u32::from('K'));
    assert_eq!(tables::simple_fold(u32::from('K')), u32::from('k'));
    assert_eq!(tables::simple_fold(u32::from('1')), u32::from('1'));
    // U+A7CB (Unicode 16) is the capital of U+0264; Go 1.25 knows no such pair.
    assert_eq!(tables::simple_fold(0x0264), 0x0264);
}

/// Evaluates a rule pattern from `cases.json` against a record.
fn eval(pattern: &serde_json::Value, fields: &HashMap<String, String>) -> bool {
    let field = |name: &str| {
        let name = if name.is_empty() { "output" } else { name };
        fields.get(name).cloned().unwrap_or_default()
    };
    let get = |key: &str| pattern.get(key);
    if let Some(subs) = get("and").and_then(|v| v.as_array()) {
        return subs.iter().all(|s| eval(s, fields));
    }
    if let Some(subs) = get("or").and_then(|v| v.as_array()) {
        return subs.iter().any(|s| eval(s, fields));
    }
    if let Some(sub) = get("not") {
        return !eval(sub, fields);
    }
    if let Some(re) = get("regexp") {
        let src = re["compiled"].as_str().unwrap_or_default();
        let name = re["field"].as_str().unwrap_or_default();
        let hit = compile(src).is_match(&field(name));
        return hit != re["not"].as_bool().unwrap_or(false);
    }
    let cmp = &pattern["cmp"];
    let value = field(cmp["field"].as_str().unwrap_or_default());
    let literal = cmp["literal"].as_str().unwrap_or_default();
    let order = value.as_bytes().cmp(literal.as_bytes());
    match cmp["op"].as_str().unwrap_or_default() {
        "==" => order.is_eq(),
        "!=" => order.is_ne(),
        "<" => order.is_lt(),
        "<=" => order.is_le(),
        ">" => order.is_gt(),
        ">=" => order.is_ge(),
        op => panic!("unknown comparison {op}"),
    }
}

fn cases() -> Vec<serde_json::Value> {
    let file = flakewatch_conformance::CaseFile::upstream();
    file.of_kind("parse");
    file.cases.iter().map(|c| c.to_value()).collect()
}

#[test]
fn conformance_regexp_errors() {
    let mut seen = 0;
    for case in cases().iter().filter(|c| c["kind"] == "parse") {
        let script = case["script"].as_str().unwrap_or_default();
        for error in case["errors"].as_array().into_iter().flatten() {
            let error = error.as_str().unwrap_or_default();
            let Some((_, message)) = error.split_once("invalid regexp: ") else {
                continue;
            };
            let text = script.split('`').nth(1).unwrap_or_default();
            assert_eq!(err(&format!("(?m){text}")), message, "case {}", case["id"]);
            seen += 1;
        }
    }
    assert!(seen >= 15, "only {seen} regexp error vectors");
}

#[test]
fn conformance_records() {
    let mut seen = 0;
    for case in cases().iter().filter(|c| c["kind"] == "parse") {
        let rules = case["rules"].as_array().cloned().unwrap_or_default();
        for record in case["records"].as_array().into_iter().flatten() {
            let fields: HashMap<String, String> = record["fields"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect();
            let got = rules
                .iter()
                .find(|rule| eval(&rule["pattern"], &fields))
                .and_then(|rule| rule["action"].as_str())
                .unwrap_or("none");
            assert_eq!(
                got, record["want"],
                "case {} record {}",
                case["id"], record["name"]
            );
            seen += 1;
        }
    }
    assert!(seen > 50, "only {seen} records");
}

#[test]
fn every_conformance_regexp_compiles_like_go() {
    fn walk(pattern: &serde_json::Value, out: &mut Vec<String>) {
        for key in ["and", "or"] {
            for sub in pattern[key].as_array().into_iter().flatten() {
                walk(sub, out);
            }
        }
        if pattern.get("not").is_some() {
            walk(&pattern["not"], out);
        }
        if let Some(src) = pattern["regexp"]["compiled"].as_str() {
            out.push(src.to_owned());
        }
    }
    let mut sources = Vec::new();
    for case in cases() {
        for rule in case["rules"].as_array().into_iter().flatten() {
            walk(&rule["pattern"], &mut sources);
        }
    }
    assert!(sources.len() > 30);
    for src in sources {
        assert!(
            Regex::builder().build_from_hir(&compile_hir(&src)).is_ok(),
            "{src:?}"
        );
    }
}

fn compile_hir(src: &str) -> regex_syntax::hir::Hir {
    parse(src).unwrap_or_else(|e| panic!("{src:?}: {e}"))
}

proptest! {
    #[test]
    fn parse_never_panics(src in any::<String>()) {
        let _ = parse(&src);
    }

    #[test]
    fn parse_never_panics_on_regexp_like_text(
        src in r"[a-cxAEQPpzZbBdDsSwW0-9(){}\[\]|*+?^$.\\,:<>=!#'_ -]{0,40}"
    ) {
        if let Ok(hir) = parse(&src) {
            // The HIR must be usable for a UTF-8 haystack.
            prop_assert!(hir.properties().is_utf8());
            if let Ok(re) = Regex::builder().build_from_hir(&hir) {
                let _ = re.is_match("abc\nxyz");
            }
        }
    }
}

#[test]
fn fold_orbits_cover_every_code_point() {
    use regex_syntax::hir::{ClassUnicode, ClassUnicodeRange};
    let assigned = tables::assigned15();
    for c in tables::MIN_FOLD..=tables::MAX_FOLD {
        let Some(ch) = char::from_u32(c) else {
            continue;
        };
        let mut want = c;
        if tables::contains(assigned, c) {
            let mut class = ClassUnicode::new([ClassUnicodeRange::new(ch, ch)]);
            class.case_fold_simple();
            let members: Vec<u32> = class
                .iter()
                .flat_map(|r| u32::from(r.start())..=u32::from(r.end()))
                .filter(|&m| tables::contains(assigned, m))
                .collect();
            let newer = tables::POST_15_0_FOLDS
                .iter()
                .any(|&(a, b)| members == [a, b]);
            if members.len() > 1 && !newer {
                want = members
                    .iter()
                    .copied()
                    .find(|&m| m > c)
                    .unwrap_or(members[0]);
            }
        }
        assert_eq!(tables::simple_fold(c), want, "U+{c:04X}");
    }
    // Unicode 15.1 added these simple foldings; Go 1.25 is on Unicode 15.0.
    for c in [0x0390, 0x1FD3, 0x03B0, 0x1FE3, 0xFB05, 0xFB06] {
        assert_eq!(tables::simple_fold(c), c, "U+{c:04X}");
    }
    assert!(matches("(?i)\u{390}", "\u{390}"));
    assert!(!matches("(?i)\u{390}", "\u{1FD3}"));
}

/// Patterns in the syntax Go and `regex-syntax` share (as Go pattern, reference pattern).
fn shared_syntax() -> impl Strategy<Value = (String, String)> {
    let leaf = prop_oneof![
        Just(("a", "a")),
        Just(("b", "b")),
        Just(("c", "c")),
        Just(("ab", "ab")),
        Just(("ba", "ba")),
        Just(("abc", "abc")),
        Just(("bca", "bca")),
        Just((".", ".")),
        Just(("[ab]", "[ab]")),
        Just(("[^a]", "[^a]")),
        Just(("[a-c]", "[a-c]")),
        Just(("^", "^")),
        Just(("$", "$")),
        Just((r"\b", r"(?-u:\b)")),
        Just((r"\d", r"(?-u:\d)")),
        Just(("", "")),
    ]
    .prop_map(|(g, r)| (g.to_owned(), r.to_owned()));
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|((g1, r1), (g2, r2))| (g1 + &g2, r1 + &r2)),
            (inner.clone(), inner.clone()).prop_map(|((g1, r1), (g2, r2))| (
                format!("(?:{g1}|{g2})"),
                format!("(?:{r1}|{r2})")
            )),
            (inner.clone(), inner.clone(), inner.clone()).prop_map(
                |((g1, r1), (g2, r2), (g3, r3))| (
                    format!("(?:{g1}|{g2}|{g3})"),
                    format!("(?:{r1}|{r2}|{r3})")
                )
            ),
            (
                inner.clone(),
                prop_oneof![
                    Just("*"),
                    Just("+"),
                    Just("?"),
                    Just("{2}"),
                    Just("{0,2}"),
                    Just("{1,}"),
                    Just("*?"),
                ]
            )
                .prop_map(|((g, r), op)| (format!("(?:{g}){op}"), format!("(?:{r}){op}"))),
            inner.prop_map(|(g, r)| (format!("({g})"), format!("({r})"))),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn matches_like_regex_syntax_on_shared_syntax(
        (go, reference) in shared_syntax(),
        fold in any::<bool>(),
        texts in prop::collection::vec(prop_oneof!["[abc]{0,7}", "[abcAB\n -]{0,8}"], 12),
    ) {
        let flags = if fold { "(?m)(?i)" } else { "(?m)" };
        let ours = compile(&format!("{flags}{go}"));
        let theirs = Regex::new(&format!("{flags}{reference}"))
            .unwrap_or_else(|e| panic!("{reference:?}: {e}"));
        for text in &texts {
            prop_assert_eq!(
                ours.is_match(text),
                theirs.is_match(text),
                "pattern {:?} text {:?}", go, text
            );
        }
    }
}

/// Failures `matches_like_regex_syntax_on_shared_syntax` once found (kept in
/// `proptest-regressions/goregex/tests.txt` too): alternations that Go's parser factors by
/// common prefix must still match every branch.
#[test]
fn factored_alternations_match_like_regex_syntax() {
    for (pattern, text) in [
        ("((?:bca|ba))", "b"),
        ("((?:bca|ba))", "ba"),
        ("((?:bca|ba))", "bca"),
        ("(?:(?:ab|[ab])|[^a]|(?:b|b))", "a"),
        ("(?:(?:ab|[ab])|[^a]|(?:b|b))", "c"),
        ("(?:(?:ab|[ab])|[^a]|(?:b|b))", ""),
    ] {
        let ours = compile(&format!("(?m){pattern}"));
        let theirs = Regex::new(&format!("(?m){pattern}")).expect("valid");
        assert_eq!(
            ours.is_match(text),
            theirs.is_match(text),
            "{pattern:?} on {text:?}"
        );
    }
}

#[test]
fn unicode_data_is_unicode_15_0() {
    let cases: &[(&str, &str, bool)] = &[
        // Kawi was added in 15.0.
        (r"\p{Kawi}", "\u{11F00}", true),
        // U+2FFC (15.1) and U+10D50 (Garay, 16.0) are unassigned for Go 1.25.
        (r"\p{Cn}", "\u{2FFC}", true),
        (r"\p{So}", "\u{2FFC}", false),
        (r"\p{Cn}", "\u{10D50}", true),
        (r"\pL", "\u{10D50}", false),
        (r"\p{C}", "\u{10D50}", true),
        (r"\p{Assigned}", "\u{10D50}", false),
        // Noncharacters are unassigned; private use is `Co`.
        (r"\p{Cn}", "\u{FDD0}", true),
        (r"\p{Cn}", "\u{E000}", false),
        (r"\p{Co}", "\u{E000}", true),
        (r"\p{C}", "\u{E000}", true),
        // Cased letters: `(?i)` adds nothing to `LC` (Go has no fold table for it), but
        // `L` gets U+0345 COMBINING GREEK YPOGEGRAMMENI through its fold table.
        (r"(?i)\p{LC}", "\u{345}", false),
        (r"(?i)\p{L}", "\u{345}", true),
        (r"\p{L}", "\u{345}", false),
        (r"(?i)\p{Latin}", "\u{212A}", true),
    ];
    for &(src, text, want) in cases {
        assert_eq!(
            matches(&format!("(?m){src}"), text),
            want,
            "{src:?} on {text:?}"
        );
    }
}

proptest! {
    /// Plain text taken as a literal without parsing is what Go's parser makes of it; text
    /// with metacharacters goes through the parser.
    #[test]
    fn plain_patterns_are_their_parse(pattern in "[a-zA-Z0-9 :/_=,;'\"<>!@#%&~`é€\\-.*+?()|\\[\\]{}^$\\\\]{0,40}") {
        prop_assert_eq!(parse_pattern(&pattern), parse(&format!("(?m){pattern}")));
    }
}

#[test]
fn plain_patterns_are_literals() {
    for pattern in [
        "fatal error: checkdead",
        "a",
        "café €5",
        "  x  ",
        "a]b",
        "a}b",
    ] {
        assert_eq!(
            parse_pattern(pattern),
            parse(&format!("(?m){pattern}")),
            "{pattern:?}"
        );
    }
    assert_eq!(
        parse_pattern("panic: x").unwrap(),
        regex_syntax::hir::Hir::literal("panic: x".as_bytes())
    );
}
