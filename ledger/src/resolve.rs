//! Turning what a user typed (a full id, a unique hex prefix, a ref name) into an entry id.

use crate::id::{EntryId, HexPrefix, MIN_PREFIX_LEN};
use crate::refs::RefName;
use crate::store::{Source, StoreError};

/// How many candidates an ambiguous prefix lists.
const MAX_CANDIDATES: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("no entry or ref matches {0:?}")]
    NotFound(String),
    #[error("id prefix {0:?} is too short: give at least {MIN_PREFIX_LEN} hex digits")]
    TooShort(String),
    #[error("id prefix {prefix:?} is ambiguous; it matches:\n{}", format_candidates(.candidates))]
    Ambiguous { prefix: String, candidates: Vec<EntryId> },
    #[error("{0}")]
    Store(#[from] StoreError),
}

fn format_candidates(candidates: &[EntryId]) -> String {
    let mut lines: Vec<String> = candidates.iter().map(|id| format!("  {id}")).collect();
    if candidates.len() >= MAX_CANDIDATES {
        lines.push("  …".into());
    }
    lines.join("\n")
}

/// Resolves a full id, a unique prefix of at least [`MIN_PREFIX_LEN`] hex digits, or a ref name
/// such as `env/prod` or `quarantine`.
pub fn resolve(source: &impl Source, text: &str) -> Result<EntryId, ResolveError> {
    if let Some(name) = RefName::parse(text).filter(|name| !name.is_tracking()) {
        return source.ref_target(&name)?.ok_or_else(|| ResolveError::NotFound(text.to_string()));
    }
    let prefix = HexPrefix::parse(text).ok_or_else(|| ResolveError::NotFound(text.to_string()))?;
    if prefix.len < MIN_PREFIX_LEN {
        return Err(ResolveError::TooShort(text.to_string()));
    }
    let mut candidates = source.ids_in(&prefix, MAX_CANDIDATES)?;
    match candidates.len() {
        0 => Err(ResolveError::NotFound(text.to_string())),
        1 => Ok(candidates.remove(0)),
        _ => Err(ResolveError::Ambiguous { prefix: text.to_string(), candidates }),
    }
}

/// Whether `text` could be an id prefix rather than a name.
pub fn looks_like_id(text: &str) -> bool {
    text.len() >= MIN_PREFIX_LEN && HexPrefix::parse(text).is_some()
}
