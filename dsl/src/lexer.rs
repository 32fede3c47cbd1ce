//! The hand-written lexer: Go watchflakes' token rules, including the newline-continuation rule
//! (a newline after `( && || == != ~ !~ ! <-` is skipped) and Go string unquoting.

use std::fmt;

use crate::diag::ErrorKind;
use crate::quote::{quote_rune, unquote};

/// A token of the rule language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Token<'s> {
    /// An ASCII identifier (`[A-Za-z_][A-Za-z0-9_]*`): an action or a field name.
    Ident(&'s str),
    /// A double-quoted string, decoded (Go strings may hold any bytes).
    Str(Vec<u8>),
    /// A backquoted regexp: the raw text between the backquotes.
    Regexp(&'s str),
    /// A newline that ends a rule.
    Newline,
    /// `<-`
    Arrow,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    EqEq,
    /// `!=`
    NotEq,
    /// `~`
    Tilde,
    /// `!~`
    NotTilde,
    /// `!`
    Bang,
    /// `&&`
    AndAnd,
    /// `||`
    OrOr,
    /// `(`
    LParen,
    /// `)`
    RParen,
}

impl Token<'_> {
    /// The notation of upstream's lexer test: `a`, `"`, `` ` ``, a literal newline, or the operator.
    pub fn kind_str(&self) -> &'static str {
        match self {
            Token::Ident(_) => "a",
            Token::Str(_) => "\"",
            Token::Regexp(_) => "`",
            Token::Newline => "\n",
            Token::Arrow => "<-",
            Token::Lt => "<",
            Token::Le => "<=",
            Token::Gt => ">",
            Token::Ge => ">=",
            Token::EqEq => "==",
            Token::NotEq => "!=",
            Token::Tilde => "~",
            Token::NotTilde => "!~",
            Token::Bang => "!",
            Token::AndAnd => "&&",
            Token::OrOr => "||",
            Token::LParen => "(",
            Token::RParen => ")",
        }
    }

    /// Whether a newline right after this token is skipped (the rule continues).
    pub fn continues_line(&self) -> bool {
        matches!(
            self,
            Token::LParen
                | Token::AndAnd
                | Token::OrOr
                | Token::EqEq
                | Token::NotEq
                | Token::Tilde
                | Token::NotTilde
                | Token::Bang
                | Token::Arrow
        )
    }
}

impl fmt::Display for Token<'_> {
    /// How a diagnostic names the token (`identifier x`, `quoted string y`, `&&`, ...).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Ident(name) => write!(f, "identifier {name}"),
            Token::Str(value) => write!(f, "quoted string {}", String::from_utf8_lossy(value)),
            Token::Regexp(text) => write!(f, "backquoted string {text}"),
            Token::Newline => f.write_str("end of line"),
            other => f.write_str(other.kind_str()),
        }
    }
}

/// A token with its byte span in the script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spanned<'s> {
    /// The token.
    pub token: Token<'s>,
    /// Byte offset of its first character.
    pub start: usize,
    /// Byte offset just past it.
    pub end: usize,
}

/// A lexical error: what and where (a byte offset; the scanner does not advance past it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Byte offset of the offending character (the opening quote for strings and regexps).
    pub offset: usize,
}

/// Splits a script into tokens, one at a time, exactly as upstream's scanner does.
#[derive(Clone, Debug)]
pub struct Lexer<'s> {
    src: &'s str,
    pos: usize,
    /// Whether the last token lexed lets the rule continue over a newline.
    continues: bool,
}

impl<'s> Lexer<'s> {
    /// A lexer at the start of `src`.
    pub fn new(src: &'s str) -> Lexer<'s> {
        Lexer {
            src,
            pos: 0,
            continues: false,
        }
    }

    /// The scanner position: the byte offset where the next token will be looked for.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// The script being lexed.
    pub fn source(&self) -> &'s str {
        self.src
    }

    /// Moves the scanner to `offset` (error recovery), keeping the continuation state.
    pub fn seek(&mut self, offset: usize) {
        self.pos = offset.min(self.src.len());
    }

    /// Lexes the next token; `Ok(None)` at the end of the script.
    pub fn next_token(&mut self) -> Result<Option<Spanned<'s>>, LexError> {
        let bytes = self.src.as_bytes();
        loop {
            while self.pos < bytes.len() && (bytes[self.pos] == b' ' || bytes[self.pos] == b'\t') {
                self.pos += 1;
            }
            let Some(&c) = bytes.get(self.pos) else {
                return Ok(None);
            };
            match c {
                b'#' => {
                    self.pos = memchr_newline(bytes, self.pos).unwrap_or(bytes.len());
                }
                b'\n' if self.continues => self.pos += 1,
                _ => break,
            }
        }
        let start = self.pos;
        let c = bytes[start];
        let next = bytes.get(start + 1).copied();
        let (token, len) = match c {
            b'\n' => (Token::Newline, 1),
            b'<' => match next {
                Some(b'-') => (Token::Arrow, 2),
                Some(b'=') => (Token::Le, 2),
                _ => (Token::Lt, 1),
            },
            b'>' => match next {
                Some(b'=') => (Token::Ge, 2),
                _ => (Token::Gt, 1),
            },
            b'!' => match next {
                Some(b'~') => (Token::NotTilde, 2),
                Some(b'=') => (Token::NotEq, 2),
                _ => (Token::Bang, 1),
            },
            b'(' => (Token::LParen, 1),
            b')' => (Token::RParen, 1),
            b'~' => (Token::Tilde, 1),
            b'&' | b'|' | b'=' => {
                if next != Some(c) {
                    return Err(self.error(ErrorKind::InvalidOperator(char::from(c))));
                }
                let token = match c {
                    b'&' => Token::AndAnd,
                    b'|' => Token::OrOr,
                    _ => Token::EqEq,
                };
                (token, 2)
            }
            b'`' => {
                let body = &bytes[start + 1..];
                match body.iter().position(|&b| b == b'`' || b == b'\n') {
                    Some(i) if body[i] == b'`' => {
                        (Token::Regexp(&self.src[start + 1..start + 1 + i]), i + 2)
                    }
                    Some(_) => return Err(self.error(ErrorKind::NewlineInRegexp)),
                    None => return Err(self.error(ErrorKind::UnterminatedRegexp)),
                }
            }
            b'"' => {
                let mut j = start + 1;
                while j < bytes.len() && bytes[j] != b'"' {
                    if bytes[j] == b'\n' {
                        return Err(self.error(ErrorKind::NewlineInString));
                    }
                    if bytes[j] == b'\\' {
                        j += 1;
                    }
                    j += 1;
                }
                if j >= bytes.len() {
                    return Err(self.error(ErrorKind::UnterminatedString));
                }
                let value = unquote(&self.src[start..=j])
                    .ok_or_else(|| self.error(ErrorKind::InvalidQuotedString))?;
                (Token::Str(value), j + 1 - start)
            }
            b'\'' => return Err(self.error(ErrorKind::SingleQuote)),
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let len = bytes[start..]
                    .iter()
                    .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_'))
                    .unwrap_or(bytes.len() - start);
                (Token::Ident(&self.src[start..start + len]), len)
            }
            _ => {
                let ch = self.src[start..]
                    .chars()
                    .next()
                    .unwrap_or(char::REPLACEMENT_CHARACTER);
                return Err(self.error(ErrorKind::InvalidCharacter(quote_rune(ch), ch)));
            }
        };
        self.pos = start + len;
        self.continues = token.continues_line();
        Ok(Some(Spanned {
            token,
            start,
            end: self.pos,
        }))
    }

    fn error(&self, kind: ErrorKind) -> LexError {
        LexError {
            kind,
            offset: self.pos,
        }
    }
}

/// The index of the next `\n` at or after `from`.
pub(crate) fn memchr_newline(bytes: &[u8], from: usize) -> Option<usize> {
    bytes[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| from + i)
}

/// Lexes a whole script in upstream's lexer-test notation: token kinds separated by spaces,
/// ending with `err: :LINE.COL: MSG` on an error (file name empty, as upstream's test prints it).
pub fn debug_tokens(src: &str) -> String {
    let mut lexer = Lexer::new(src);
    let mut out: Vec<String> = Vec::new();
    loop {
        match lexer.next_token() {
            Ok(Some(tok)) => out.push(tok.token.kind_str().to_owned()),
            Ok(None) => break,
            Err(err) => {
                let diag = crate::diag::Diagnostic::new(src, err.offset, err.kind);
                out.push(format!("err: {}", diag.render_line("")));
                break;
            }
        }
    }
    out.join(" ")
}
