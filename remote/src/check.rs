//! Checking a remote: every object re-hashed and decoded, every ref and every entry a ref
//! reaches present. Objects no ref reaches (left by pushes that did not finish) are harmless
//! and only counted.

use std::collections::{BTreeMap, BTreeSet};

use ledger::EntryId;

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

pub async fn check<R: Remote>(remote: &R, progress: &dyn Progress) -> Result<RemoteReport, RemoteError> {
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
            Ok(references) => {
                sound.insert(id, references);
            }
            Err(error) => report.damage.push(error.to_string()),
        }
    }

    let names = remote.list_refs().await?;
    report.refs = names.len();
    let mut reached = BTreeSet::new();
    for name in names {
        let Some(state) = get_ref(remote, &name).await? else { continue };
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
