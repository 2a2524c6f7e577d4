//! Checking a remote: every object re-hashed and decoded, every ref and every entry a ref
//! reaches present, and every ref still reaching where a ledger saw it. Objects no ref reaches
//! (left by pushes that did not finish) are harmless and only counted.

use std::collections::{BTreeMap, BTreeSet};

use ledger::EntryId;
use ledger::refs::RefName;

use crate::exchange::{Progress, download_all, examine};
use crate::{Remote, RemoteError, get_ref};

#[derive(Debug, Default)]
pub struct RemoteReport {
    pub objects: usize,
    pub refs: usize,
    /// Objects no ref reaches.
    pub unreachable: usize,
    /// What is wrong, one line each.
    pub damage: Vec<String>,
}

impl RemoteReport {
    pub fn is_sound(&self) -> bool {
        self.damage.is_empty()
    }
}

/// Checks `remote`; `seen` is where a ledger saw its refs (its tracking refs): a ref that no
/// longer reaches that entry went back, or its history was rewritten.
pub async fn check<R: Remote>(
    remote: &R,
    seen: &BTreeMap<RefName, EntryId>,
    progress: &dyn Progress,
) -> Result<RemoteReport, RemoteError> {
    let downloaded = download_all(remote, progress).await?;
    let mut report = RemoteReport { objects: downloaded.len(), ..RemoteReport::default() };
    // id → the ids it names, for every sound object.
    let mut sound: BTreeMap<EntryId, Vec<EntryId>> = BTreeMap::new();
    for (id, bytes) in downloaded {
        let Some(bytes) = bytes else {
            report.damage.push(format!("object {id} is listed but cannot be read"));
            continue;
        };
        match examine(id, &bytes) {
            Ok(entry) => {
                sound.insert(id, entry.references());
            }
            Err(error) => report.damage.push(error.to_string()),
        }
    }

    let listed = remote.list_refs().await?;
    report.refs = listed.len();
    let mut reached = BTreeSet::new();
    // Every ref is read: a check believes nothing remembered.
    for name in listed.into_iter().map(|listed| listed.name) {
        let Some(state) = get_ref(remote, &name).await? else { continue };
        if let Some(seen) = seen.get(&name)
            && !reaches(&sound, state.doc.target, *seen)
        {
            report.damage.push(format!(
                "ref {name} went back: it names {}, which does not reach {seen}, where this ledger saw it",
                state.doc.target
            ));
        }
        let mut stack = vec![state.doc.target];
        while let Some(id) = stack.pop() {
            if !reached.insert(id) {
                continue;
            }
            match sound.get(&id) {
                Some(references) => stack.extend(references.iter().copied()),
                None => report
                    .damage
                    .push(format!("ref {name} reaches {id}, which the remote does not have intact")),
            }
        }
    }
    report.unreachable = sound.keys().filter(|id| !reached.contains(id)).count();
    Ok(report)
}

/// Whether `from` is `to` or reaches it through sound objects.
fn reaches(sound: &BTreeMap<EntryId, Vec<EntryId>>, from: EntryId, to: EntryId) -> bool {
    let mut visited = BTreeSet::new();
    let mut stack = vec![from];
    while let Some(id) = stack.pop() {
        if id == to {
            return true;
        }
        if visited.insert(id)
            && let Some(references) = sound.get(&id)
        {
            stack.extend(references.iter().copied());
        }
    }
    false
}
