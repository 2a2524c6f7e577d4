//! Checking a remote: every object re-hashed and decoded, every ref and every entry a ref
//! reaches present. Objects no ref reaches (left by pushes that did not finish) are harmless
//! and only counted.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::StreamExt;
use ledger::{Entry, EntryId};

use super::exchange::Progress;
use super::{Remote, RemoteError, get_ref};

/// Downloads at once.
const PARALLEL_DOWNLOADS: usize = 64;

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
    let ids = remote.list_objects().await?;
    let mut report = RemoteReport { objects: ids.len(), ..RemoteReport::default() };
    progress.start("checking", ids.len());
    // id → the ids it names, for every sound object.
    let mut sound: BTreeMap<EntryId, Vec<EntryId>> = BTreeMap::new();
    let mut answers = futures_util::stream::iter(ids)
        .map(|id| async move { (id, remote.get_object(id).await) })
        .buffer_unordered(PARALLEL_DOWNLOADS);
    while let Some((id, answer)) = answers.next().await {
        progress.advance(1);
        let Some(bytes) = answer? else {
            report.damage.push(format!("object {id} is listed but cannot be read"));
            continue;
        };
        let actual = EntryId::of_stored_bytes(&bytes);
        if actual != id {
            report.damage.push(format!("object {id}: its bytes hash to {actual} (corrupted or forged)"));
            continue;
        }
        match Entry::decode(&bytes) {
            Ok(entry) => {
                sound.insert(id, entry.references());
            }
            Err(error) => report.damage.push(format!("object {id}: cannot be decoded: {error}")),
        }
    }
    progress.finish();

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
