//! The trust policy's list of keys: an `allowed_signers` file in OpenSSH's format (ssh-keygen(1),
//! "ALLOWED SIGNERS"), read as `ssh-keygen -Y verify` reads it, so that ledger and OpenSSH never
//! disagree on whose signature a line allows.
//!
//! Each line is `principals [options] keytype base64-key [comment]`. Principals and namespaces
//! are OpenSSH pattern lists (`*`, `?`, `!` negation); the options are `namespaces="…"`,
//! `valid-after="…"` and `valid-before="…"`. Where OpenSSH would skip a line it cannot read, this
//! parser refuses the file with the line and the reason; and it refuses what would make two
//! machines disagree: a time without `Z` (OpenSSH reads it in the machine's local zone) and
//! certificates (`cert-authority`), which ledger does not check.

use std::path::{Path, PathBuf};

use ssh_key::public::KeyData;
use ssh_key::{Algorithm, PublicKey};

use crate::Timestamp;

/// The lines of an `allowed_signers` file, in the file's order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedSigners {
    lines: Vec<AllowedSigner>,
}

/// One line of an `allowed_signers` file: which principals a key signs for, and when and in
/// which namespaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedSigner {
    /// The line's number in its file, from 1.
    pub line: usize,
    /// The principals pattern list as written (without the quotes of a quoted list).
    pub principals: String,
    pub key: PublicKey,
    /// `valid-after`: the key signs from this second on.
    pub valid_after: Option<Timestamp>,
    /// `valid-before`: the key signs until the end of this second.
    pub valid_before: Option<Timestamp>,
    /// `namespaces`: the pattern list of namespaces the key signs in; any when absent.
    pub namespaces: Option<String>,
}

/// An `allowed_signers` file that cannot be read or believed.
#[derive(Debug, thiserror::Error)]
pub enum AllowedSignersError {
    #[error("cannot read the allowed signers file {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}line {line}: {problem}", in_file(path.as_deref()))]
    Line { path: Option<PathBuf>, line: usize, problem: LineProblem },
}

fn in_file(path: Option<&Path>) -> String {
    path.map(|path| format!("{}: ", path.display())).unwrap_or_default()
}

/// What is wrong with one line of an `allowed_signers` file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LineProblem {
    #[error("the line holds a NUL byte")]
    NulByte,
    #[error("a quote in the {0} is not closed")]
    UnclosedQuote(&'static str),
    #[error("a quote inside the principals: quote the whole list or nothing")]
    QuoteInsidePrincipals,
    #[error("the principals list is empty")]
    NoPrincipals,
    #[error("a pattern in the {0} is longer than the 1022 bytes OpenSSH reads")]
    PatternTooLong(&'static str),
    #[error("no key: expected `principals [options] keytype base64-key [comment]`")]
    MissingKey,
    #[error("unknown key type {0:?}")]
    UnknownKeyType(String),
    #[error("the {key_type} key cannot be read: {reason}")]
    BadKey { key_type: String, reason: String },
    #[error("cert-authority: SSH certificates are not supported; name each signer's own key instead")]
    CertificateAuthority,
    #[error(
        "unknown option {0:?}: the options are namespaces=\"…\", valid-after=\"…\" and valid-before=\"…\""
    )]
    UnknownOption(String),
    #[error("the option {0} is given twice")]
    RepeatedOption(&'static str),
    #[error("the value of {0} must be in double quotes, e.g. {0}=\"20270101Z\"")]
    UnquotedValue(&'static str),
    #[error("the options end with a comma")]
    TrailingComma,
    #[error(
        "{option}=\"{text}\" is not a time: expected YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS in UTC \
         (with Z), after 1970-01-01"
    )]
    BadTime { option: &'static str, text: String },
    #[error(
        "{option}=\"{text}\" has no time zone, and OpenSSH would read it in each machine's local \
         zone: add Z for UTC, e.g. {option}=\"{text}Z\""
    )]
    LocalTime { option: &'static str, text: String },
    #[error("valid-before is not after valid-after: the key would never be valid")]
    EmptyValidity,
}

impl AllowedSigners {
    /// Parses an `allowed_signers` file's text; the first line that cannot be read is an
    /// error naming it (from 1) and what is wrong.
    pub fn parse(text: &str) -> Result<AllowedSigners, AllowedSignersError> {
        let mut lines = Vec::new();
        for (index, text) in text.lines().enumerate() {
            let line = index + 1;
            match parse_line(line, text) {
                Ok(Some(signer)) => lines.push(signer),
                Ok(None) => {}
                Err(problem) => return Err(AllowedSignersError::Line { path: None, line, problem }),
            }
        }
        Ok(AllowedSigners { lines })
    }

    /// Reads and parses the file at `path`; errors name it.
    pub fn load(path: &Path) -> Result<AllowedSigners, AllowedSignersError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| AllowedSignersError::Read { path: path.to_path_buf(), source })?;
        AllowedSigners::parse(&text).map_err(|error| match error {
            AllowedSignersError::Line { line, problem, .. } => {
                AllowedSignersError::Line { path: Some(path.to_path_buf()), line, problem }
            }
            read => read,
        })
    }

    /// Every line with a key, in the file's order.
    pub fn lines(&self) -> &[AllowedSigner] {
        &self.lines
    }

    /// The lines naming this key (compare key data, not comments).
    pub fn lines_for<'a>(&'a self, key: &'a KeyData) -> impl Iterator<Item = &'a AllowedSigner> + 'a {
        self.lines.iter().filter(move |signer| signer.key.key_data() == key)
    }
}

impl AllowedSigner {
    /// Whether the line's principals name `principal`, as OpenSSH's `match_pattern_list`
    /// decides: one positive pattern matches and no negated (`!`) one does; case-sensitive.
    pub fn names_principal(&self, principal: &str) -> bool {
        matches_pattern_list(principal, &self.principals)
    }

    /// Whether the key may sign at `at`, as `ssh-keygen -Y verify` checks a verify time:
    /// `valid-after <= at <= valid-before`, both ends included, in whole seconds (a time
    /// within the `valid-before` second is still valid).
    pub fn valid_at(&self, at: Timestamp) -> bool {
        let second = at.unix_seconds();
        self.valid_after.is_none_or(|after| second >= after.unix_seconds())
            && self.valid_before.is_none_or(|before| second <= before.unix_seconds())
    }

    /// Whether the key may sign in `namespace`: always, without a `namespaces` option.
    pub fn allows_namespace(&self, namespace: &str) -> bool {
        self.namespaces.as_deref().is_none_or(|patterns| matches_pattern_list(namespace, patterns))
    }
}

/// The longest pattern OpenSSH's `match_pattern_list` reads; a longer one matches nothing there.
const MAX_PATTERN_BYTES: usize = 1022;

fn is_blank(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r')
}

/// Splits `text` at its first blank, and skips the blanks after it.
fn next_field(text: &str) -> (&str, &str) {
    let end = text.bytes().position(is_blank).unwrap_or(text.len());
    (&text[..end], text[end..].trim_start_matches([' ', '\t', '\r']))
}

/// One line: `None` for a blank line or a comment.
fn parse_line(line: usize, text: &str) -> Result<Option<AllowedSigner>, LineProblem> {
    if text.contains('\0') {
        return Err(LineProblem::NulByte);
    }
    let text = text.trim_start_matches([' ', '\t']);
    if text.is_empty() || text.starts_with('#') || text.bytes().all(is_blank) {
        return Ok(None);
    }
    let (principals, rest) = principals_field(text)?;
    if principals.is_empty() {
        return Err(LineProblem::NoPrincipals);
    }
    check_pattern_lengths(principals, "principals")?;

    let (first, _) = next_field(rest);
    let (options, key_text) = if is_options_field(first) {
        let (options, rest) = options_field(rest)?;
        (parse_options(options)?, rest)
    } else {
        (Options::default(), rest)
    };
    let key = parse_key(key_text)?;
    Ok(Some(AllowedSigner {
        line,
        principals: principals.to_string(),
        key,
        valid_after: options.valid_after,
        valid_before: options.valid_before,
        namespaces: options.namespaces,
    }))
}

/// The principals (the first field, quoted or not) and the text after it.
fn principals_field(text: &str) -> Result<(&str, &str), LineProblem> {
    if let Some(quoted) = text.strip_prefix('"') {
        let end = quoted.find('"').ok_or(LineProblem::UnclosedQuote("principals"))?;
        let rest = &quoted[end + 1..];
        if !rest.is_empty() && !rest.bytes().next().is_some_and(is_blank) {
            return Err(LineProblem::QuoteInsidePrincipals);
        }
        return Ok((&quoted[..end], rest.trim_start_matches([' ', '\t', '\r'])));
    }
    let (principals, rest) = next_field(text);
    if principals.contains('"') {
        return Err(LineProblem::QuoteInsidePrincipals);
    }
    Ok((principals, rest))
}

/// Whether the field after the principals holds options rather than a key type (no key type
/// holds `=` or `,`).
fn is_options_field(field: &str) -> bool {
    field.contains(['=', ',', '"']) || field.eq_ignore_ascii_case("cert-authority")
}

/// The options field (blanks allowed only inside double quotes, `\"` a quote inside them) and
/// the text after it.
fn options_field(text: &str) -> Result<(&str, &str), LineProblem> {
    let bytes = text.as_bytes();
    let mut quoted = false;
    let mut at = 0;
    while at < bytes.len() && (quoted || !matches!(bytes[at], b' ' | b'\t')) {
        if bytes[at] == b'\\' && bytes.get(at + 1) == Some(&b'"') {
            at += 1;
        } else if bytes[at] == b'"' {
            quoted = !quoted;
        }
        at += 1;
    }
    if quoted {
        return Err(LineProblem::UnclosedQuote("options"));
    }
    Ok((&text[..at], text[at..].trim_start_matches([' ', '\t', '\r'])))
}

#[derive(Default)]
struct Options {
    namespaces: Option<String>,
    valid_after: Option<Timestamp>,
    valid_before: Option<Timestamp>,
}

/// `option[,option…]`, as OpenSSH's `sshsigopt_parse` reads them (names case-insensitive,
/// values in double quotes).
fn parse_options(mut text: &str) -> Result<Options, LineProblem> {
    let mut options = Options::default();
    loop {
        if let Some(after) = strip_prefix_ignore_case(text, "cert-authority")
            && (after.is_empty() || after.starts_with(','))
        {
            return Err(LineProblem::CertificateAuthority);
        }
        let (name, after_name) = if let Some(after) = strip_prefix_ignore_case(text, "namespaces=") {
            ("namespaces", after)
        } else if let Some(after) = strip_prefix_ignore_case(text, "valid-after=") {
            ("valid-after", after)
        } else if let Some(after) = strip_prefix_ignore_case(text, "valid-before=") {
            ("valid-before", after)
        } else {
            let end = text.find(',').unwrap_or(text.len());
            return Err(LineProblem::UnknownOption(text[..end].to_string()));
        };
        let (value, after_value) = dequote(name, after_name)?;
        match name {
            "namespaces" => {
                if options.namespaces.is_some() {
                    return Err(LineProblem::RepeatedOption(name));
                }
                check_pattern_lengths(&value, "namespaces")?;
                options.namespaces = Some(value);
            }
            "valid-after" => {
                if options.valid_after.is_some() {
                    return Err(LineProblem::RepeatedOption(name));
                }
                options.valid_after = Some(parse_time(name, &value)?);
            }
            _ => {
                if options.valid_before.is_some() {
                    return Err(LineProblem::RepeatedOption(name));
                }
                options.valid_before = Some(parse_time(name, &value)?);
            }
        }
        if after_value.is_empty() {
            break;
        }
        text = match after_value.strip_prefix(',') {
            Some("") => return Err(LineProblem::TrailingComma),
            Some(next) => next,
            None => {
                let end = after_value.find(',').unwrap_or(after_value.len());
                return Err(LineProblem::UnknownOption(after_value[..end].to_string()));
            }
        };
    }
    if let (Some(after), Some(before)) = (options.valid_after, options.valid_before)
        && before <= after
    {
        return Err(LineProblem::EmptyValidity);
    }
    Ok(options)
}

fn strip_suffix_ignore_case<'a>(text: &'a str, suffix: &str) -> Option<&'a str> {
    let at = text.len().checked_sub(suffix.len())?;
    let tail = text.get(at..)?;
    tail.eq_ignore_ascii_case(suffix).then(|| &text[..at])
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

/// A double-quoted value (`\"` a quote inside it) and the text after its closing quote.
fn dequote<'a>(option: &'static str, text: &'a str) -> Result<(String, &'a str), LineProblem> {
    let inner = text.strip_prefix('"').ok_or(LineProblem::UnquotedValue(option))?;
    let mut value = String::new();
    let mut chars = inner.char_indices();
    while let Some((at, char)) = chars.next() {
        match char {
            '"' => return Ok((value, &inner[at + 1..])),
            '\\' if inner[at + 1..].starts_with('"') => {
                chars.next();
                value.push('"');
            }
            other => value.push(other),
        }
    }
    Err(LineProblem::UnclosedQuote("options"))
}

/// `YYYYMMDD[HHMM[SS]]` with `Z` (or `UTC`, as OpenSSH also reads), after 1970-01-01.
fn parse_time(option: &'static str, text: &str) -> Result<Timestamp, LineProblem> {
    let bad = || LineProblem::BadTime { option, text: text.to_string() };
    let (digits, utc) = match text.strip_suffix(['Z', 'z']).or_else(|| strip_suffix_ignore_case(text, "UTC"))
    {
        Some(digits) if !digits.is_empty() => (digits, true),
        _ => (text, false),
    };
    if !matches!(digits.len(), 8 | 12 | 14) || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(bad());
    }
    if !utc {
        return Err(LineProblem::LocalTime { option, text: text.to_string() });
    }
    // Two digits at `at` (absent: 0); the four of the year are two such pairs.
    let pair = |at: usize| {
        digits.as_bytes().get(at..at + 2).map_or(0, |pair| (pair[0] - b'0') * 10 + (pair[1] - b'0'))
    };
    let year = i32::from(pair(0)) * 100 + i32::from(pair(2));
    let month = time::Month::try_from(pair(4)).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(year, month, pair(6)).map_err(|_| bad())?;
    let clock = time::Time::from_hms(pair(8), pair(10), pair(12)).map_err(|_| bad())?;
    let seconds = time::PrimitiveDateTime::new(date, clock).assume_utc().unix_timestamp();
    // OpenSSH refuses the epoch itself and anything before it.
    if seconds <= 0 {
        return Err(bad());
    }
    Ok(Timestamp::from_unix_seconds(seconds))
}

/// `keytype base64-key [comment]`.
fn parse_key(text: &str) -> Result<PublicKey, LineProblem> {
    let (key_type, rest) = next_field(text);
    let (base64, _comment) = next_field(rest);
    if key_type.is_empty() || base64.is_empty() {
        return Err(LineProblem::MissingKey);
    }
    match key_type.parse::<Algorithm>() {
        Ok(Algorithm::Other(_)) | Err(_) => return Err(LineProblem::UnknownKeyType(key_type.to_string())),
        Ok(_) => {}
    }
    PublicKey::from_openssh(&format!("{key_type} {base64}"))
        .map_err(|err| LineProblem::BadKey { key_type: key_type.to_string(), reason: err.to_string() })
}

/// Refuses a pattern OpenSSH would not read whole.
fn check_pattern_lengths(list: &str, field: &'static str) -> Result<(), LineProblem> {
    let longest = list.split(',').map(|pattern| pattern.trim_start_matches('!').len()).max();
    if longest.unwrap_or(0) > MAX_PATTERN_BYTES {
        return Err(LineProblem::PatternTooLong(field));
    }
    Ok(())
}

/// OpenSSH's `match_pattern_list`: `text` matches when a pattern of the comma-separated list
/// matches it and no negated (`!pattern`) one does.
fn matches_pattern_list(text: &str, list: &str) -> bool {
    let mut positive = false;
    for pattern in list.split(',') {
        match pattern.strip_prefix('!') {
            Some(negated) if matches_pattern(text.as_bytes(), negated.as_bytes()) => return false,
            Some(_) => {}
            None => positive |= matches_pattern(text.as_bytes(), pattern.as_bytes()),
        }
    }
    positive
}

/// OpenSSH's `match_pattern` on bytes: `*` any run of bytes, `?` any one byte, anything else
/// itself. Iterative, so that no pattern costs more than its length times the text's.
fn matches_pattern(text: &[u8], pattern: &[u8]) -> bool {
    let (mut t, mut p) = (0, 0);
    // Where the last `*` was, and the text position it is tried against.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            t += 1;
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            star = Some((star_p, star_t + 1));
            p = star_p + 1;
            t = star_t + 1;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&byte| byte == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_openssh_matches_them() {
        for (text, pattern, expected) in [
            ("alice@example.com", "alice@example.com", true),
            ("alice@example.com", "*@example.com", true),
            ("alice@example.com", "a?ice@*", true),
            ("alice@example.com", "a?ice", false),
            ("", "*", true),
            ("", "", true),
            ("a", "", false),
            ("ab", "a**b", true),
            ("a*b", "a?b", true),
            ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "*a*a*a*a*a*a*a*a*a*a*c", false),
            ("Alice", "alice", false),
        ] {
            assert_eq!(matches_pattern(text.as_bytes(), pattern.as_bytes()), expected, "{text} ~ {pattern}");
        }
        assert!(matches_pattern_list("bob@x", "alice@x,bob@x"));
        assert!(!matches_pattern_list("bob@x", "*@x,!bob@x"));
        assert!(!matches_pattern_list("bob@x", "!bob@x,*@x"));
        assert!(!matches_pattern_list("carol@x", "!bob@x"));
        assert!(matches_pattern_list("carol@x", "!bob@x,*"));
    }

    #[test]
    fn times_are_read_in_utc_only() {
        assert_eq!(
            parse_time("valid-after", "20270104Z"),
            Ok(Timestamp::parse_rfc3339("2027-01-04T00:00:00Z").unwrap())
        );
        assert_eq!(
            parse_time("valid-after", "202701041230z"),
            Ok(Timestamp::parse_rfc3339("2027-01-04T12:30:00Z").unwrap())
        );
        assert_eq!(
            parse_time("valid-after", "20270104123059UTC"),
            Ok(Timestamp::parse_rfc3339("2027-01-04T12:30:59Z").unwrap())
        );
        assert!(matches!(parse_time("valid-after", "20270104"), Err(LineProblem::LocalTime { .. })));
        for bad in [
            "2027010Z",
            "20270231Z",
            "20271301Z",
            "20270104246000Z",
            "20270104125960Z",
            "19700101Z",
            "19691231Z",
            "2027-01-04Z",
            "Z",
            "UTC",
            "+2027010Z",
            "２０２７0104Z",
        ] {
            assert!(matches!(parse_time("valid-after", bad), Err(LineProblem::BadTime { .. })), "{bad}");
        }
    }
}
