//! What the ledger records for policies to read: an environment's approvals and manual freeze
//! (ref `gates/<env>`), and the releases marked bad (ref `quarantine`). Read by walking those
//! refs' histories back from their heads.

use std::collections::BTreeMap;

use crate::entry::{Body, StoredEntry};
use crate::id::EntryId;
use crate::refs::RefName;
use crate::store::{Damaged, Source, StoreError};
use crate::timestamp::Timestamp;

/// Who recorded a governance entry, when and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub id: EntryId,
    pub actor: String,
    pub at: Timestamp,
    pub message: String,
}

impl Recorded {
    fn of(stored: &StoredEntry) -> Recorded {
        let entry = &stored.entry;
        Recorded { id: stored.id, actor: entry.actor.clone(), at: entry.at, message: entry.message.clone() }
    }
}

/// The approvals of `release_set` for `env`, oldest first. An approval is never older than its
/// release set, so the walk stops at the first entry older than `since` (the set's time).
pub fn approvals(
    source: &impl Source,
    env: &str,
    release_set: EntryId,
    since: Timestamp,
) -> Result<Vec<Recorded>, StoreError> {
    let mut found = Vec::new();
    walk(source, &RefName::gates(env), |stored| {
        if stored.entry.at < since {
            return false;
        }
        if stored.entry.as_approval().is_some_and(|approval| approval.release_set == release_set) {
            found.push(Recorded::of(stored));
        }
        true
    })?;
    found.reverse();
    Ok(found)
}

/// Every approval recorded for `env`, newest first, at most `limit`.
pub fn newest_approvals(
    source: &impl Source,
    env: &str,
    limit: usize,
) -> Result<Vec<(EntryId, Recorded)>, StoreError> {
    let mut found = Vec::new();
    walk(source, &RefName::gates(env), |stored| {
        if let Some(approval) = stored.entry.as_approval() {
            found.push((approval.release_set, Recorded::of(stored)));
        }
        found.len() < limit
    })?;
    Ok(found)
}

/// The manual freeze of `env` in force: the newest `freeze` not lifted by a later `unfreeze`.
pub fn manual_freeze(source: &impl Source, env: &str) -> Result<Option<Recorded>, StoreError> {
    let mut freeze = None;
    walk(source, &RefName::gates(env), |stored| match stored.entry.body {
        Body::Freeze(_) => {
            freeze = Some(Recorded::of(stored));
            false
        }
        Body::Unfreeze(_) => false,
        _ => true,
    })?;
    Ok(freeze)
}

/// A release marked bad, and the quarantine that marked it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quarantined {
    /// The quarantined entry: the release itself, or a release set that holds it.
    pub target: EntryId,
    pub by: Recorded,
}

/// Every quarantined release, with its (oldest) quarantine: a quarantined release set
/// quarantines each of its releases.
pub fn quarantined(source: &impl Source) -> Result<BTreeMap<EntryId, Quarantined>, StoreError> {
    let mut quarantines = Vec::new();
    walk(source, &RefName::quarantine(), |stored| {
        if let Body::Quarantine(quarantine) = &stored.entry.body {
            quarantines.push((quarantine.target, Recorded::of(stored)));
        }
        true
    })?;
    let mut releases = BTreeMap::new();
    // Newest first: the oldest quarantine of a release is the one kept.
    for (target, by) in quarantines {
        let named = source.entry(&target)?.ok_or_else(|| missing(&RefName::quarantine(), target))?;
        let members: Vec<EntryId> = match &named.entry.body {
            Body::ReleaseSet(set) => set.releases.values().copied().collect(),
            _ => vec![target],
        };
        for release in members {
            releases.insert(release, Quarantined { target, by: by.clone() });
        }
    }
    Ok(releases)
}

/// Calls `visit` with each entry of ref `name`'s history, newest first, while it returns true.
pub(crate) fn walk(
    source: &impl Source,
    name: &RefName,
    mut visit: impl FnMut(&StoredEntry) -> bool,
) -> Result<(), StoreError> {
    let mut next = source.ref_target(name)?;
    while let Some(id) = next {
        let stored = source.entry(&id)?.ok_or_else(|| missing(name, id))?;
        if !visit(&stored) {
            break;
        }
        next = stored.entry.parents.first().copied();
    }
    Ok(())
}

fn missing(name: &RefName, id: EntryId) -> StoreError {
    Damaged::new(format!("the history of {name}"), format!("entry {id} is missing; run `ledger verify`"))
        .into()
}
