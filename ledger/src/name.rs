//! Names of projects, services, environments and service sets: validated before they reach a
//! file path, a ref, an S3 key or an SSM path.

use std::fmt;

/// Longest accepted name. Keeps SSM paths and S3 keys well inside their limits.
pub const MAX_NAME_LEN: usize = 63;

/// What a name names, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameKind {
    Project,
    Service,
    Environment,
    ServiceSet,
    Remote,
    Team,
    Sink,
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameKind::Project => "project",
            NameKind::Service => "service",
            NameKind::Environment => "environment",
            NameKind::ServiceSet => "service set",
            NameKind::Remote => "remote",
            NameKind::Team => "team",
            NameKind::Sink => "notify sink",
        })
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "invalid {kind} id {name:?}: use 1 to {MAX_NAME_LEN} characters of a-z, 0-9 and '-', starting with a letter or digit"
)]
pub struct InvalidName {
    pub kind: NameKind,
    pub name: String,
}

/// Checks `name` against `[a-z0-9][a-z0-9-]*`, at most [`MAX_NAME_LEN`] long.
pub fn validate(kind: NameKind, name: &str) -> Result<(), InvalidName> {
    let bytes = name.as_bytes();
    let valid = !bytes.is_empty()
        && bytes.len() <= MAX_NAME_LEN
        && bytes[0] != b'-'
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
    if valid { Ok(()) } else { Err(InvalidName { kind, name: name.to_string() }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names_and_rejects_escapes() {
        for good in ["api", "a", "search-2", "0day"] {
            assert!(validate(NameKind::Service, good).is_ok(), "{good}");
        }
        for bad in
            ["", "-api", "Api", "a/b", "..", "../etc", "a b", "a_b", "a.b", "é", "a\0", &"x".repeat(64)]
        {
            assert!(validate(NameKind::Service, bad).is_err(), "{bad:?}");
        }
    }
}
