//! Push and pull: exchanging entries with a remote without listing its objects.
//!
//! This ledger keeps where each remote ref was at the last exchange (a tracking ref). Every
//! ref's history is linear, so an entry is on the remote exactly when it comes no later, in
//! recording order, than the tracking ref of its history: push walks back from the local refs
//! and stops there. Objects go up before any ref moves, so a ref never names a missing object.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::StreamExt;
use ledger::store::{ReceiveError, history_ref, refs};
use ledger::{Entry, EntryId, Source, Store, StoreError};

use super::{RefDoc, Remote, RemoteError, Written};

/// Requests in flight at once.
const PARALLEL_REQUESTS: usize = 16;
/// Compare-and-swap attempts on one ref before giving up.
const REF_ATTEMPTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("{0}")]
    Remote(#[from] RemoteError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("remote {url}: ref {name} names {id}, which the remote does not have")]
    MissingObject { url: String, name: String, id: EntryId },
    #[error("remote {url}: object {id} is corrupted or forged ({source}); nothing of it was stored")]
    BadObject { url: String, id: EntryId, source: Box<ReceiveError> },
    #[error("this ledger names {0} but does not have it; run `ledger verify`")]
    LocalMissing(EntryId),
}

/// A ref that was not moved, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    pub name: String,
    pub why: String,
}

#[derive(Debug, Default)]
pub struct PushReport {
    /// Objects uploaded (or found already there).
    pub objects: usize,
    /// Refs moved on the remote, to their new targets.
    pub moved: Vec<(String, EntryId)>,
    pub refused: Vec<Refused>,
}

#[derive(Debug, Default)]
pub struct PullReport {
    /// Entries received.
    pub entries: usize,
    /// Local refs moved forward.
    pub moved: Vec<(String, EntryId)>,
    pub refused: Vec<Refused>,
}

/// Uploads what the remote lacks, then moves each of its refs that this ledger is ahead of.
/// A ref the remote moved meanwhile (not an ancestor of ours) is refused, not merged.
pub async fn push<R: Remote>(
    store: &Store,
    remote: &R,
    remote_name: &str,
) -> Result<PushReport, ExchangeError> {
    let (candidates, uploads) = {
        let reader = store.read()?;
        let mut candidates = Vec::new();
        for (name, target) in reader.all_refs()? {
            let local = !name.starts_with("remote/");
            if local && reader.ref_target(&refs::tracking(remote_name, &name))? != Some(target) {
                candidates.push((name, target));
            }
        }
        let uploads = not_on_remote(&reader, remote_name, candidates.iter().map(|(_, id)| *id))?;
        (candidates, uploads)
    };
    let mut report = PushReport { objects: uploads.len(), ..PushReport::default() };
    let results: Vec<Result<Written, RemoteError>> = futures_util::stream::iter(&uploads)
        .map(|(id, bytes)| remote.put_object(*id, bytes))
        .buffered(PARALLEL_REQUESTS)
        .collect()
        .await;
    for result in results {
        result?;
    }
    for (name, target) in candidates {
        match move_remote_ref(store, remote, &name, target).await? {
            Ok(()) => {
                store.write(|w| w.set_tracking_ref(remote_name, &name, target))?;
                report.moved.push((name, target));
            }
            Err(why) => report.refused.push(Refused { name, why }),
        }
    }
    Ok(report)
}

/// The entries reachable from `heads` that the remote does not have, oldest first.
fn not_on_remote(
    reader: &impl Source,
    remote_name: &str,
    heads: impl Iterator<Item = EntryId>,
) -> Result<Vec<(EntryId, Vec<u8>)>, ExchangeError> {
    let mut found = BTreeMap::new();
    let mut seen = BTreeSet::new();
    let mut stack: Vec<EntryId> = heads.collect();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        let seq = reader.seq_of(&id)?.ok_or(ExchangeError::LocalMissing(id))?;
        let stored = reader.entry_at(seq)?.ok_or(ExchangeError::LocalMissing(id))?;
        let tracked =
            reader.ref_target(&refs::tracking(remote_name, &history_ref(reader, &stored.entry)?))?;
        let tracked_seq = match tracked {
            Some(tracked) => reader.seq_of(&tracked)?,
            None => None,
        };
        if tracked_seq.is_some_and(|tracked| seq <= tracked) {
            continue;
        }
        stack.extend(stored.entry.references());
        found.insert(seq, (id, reader.raw_at(seq)?.ok_or(ExchangeError::LocalMissing(id))?));
    }
    Ok(found.into_values().collect())
}

/// Moves the remote's ref `name` to `target` if that is a fast-forward; `Err(why)` if not.
async fn move_remote_ref<R: Remote>(
    store: &Store,
    remote: &R,
    name: &str,
    target: EntryId,
) -> Result<Result<(), String>, ExchangeError> {
    for _ in 0..REF_ATTEMPTS {
        let current = remote.get_ref(name).await?;
        let (version, expected) = match &current {
            Some(state) if state.doc.target == target => return Ok(Ok(())),
            Some(state) => {
                let reader = store.read()?;
                let theirs = reader.seq_of(&state.doc.target)?;
                let ours = reader.seq_of(&target)?;
                if !matches!((theirs, ours), (Some(theirs), Some(ours)) if theirs < ours) {
                    return Ok(Err(format!(
                        "the remote's {name} moved to {} meanwhile; `ledger pull` first{}",
                        state.doc.target.short(),
                        if name.starts_with("env/") { ", then plan the deployment again" } else { "" }
                    )));
                }
                (state.doc.version + 1, Some(state.etag.as_str()))
            }
            None => (1, None),
        };
        if let Written::Done(_) = remote.put_ref(name, RefDoc { target, version }, expected).await? {
            return Ok(Ok(()));
        }
    }
    Ok(Err(format!("the remote's {name} kept moving; try again")))
}

/// Downloads what this ledger lacks of every remote ref, checks every object, and moves the
/// local refs forward. A ref whose local history has entries the remote lacks is refused.
pub async fn pull<R: Remote>(
    store: &Store,
    remote: &R,
    remote_name: &str,
) -> Result<PullReport, ExchangeError> {
    let mut report = PullReport::default();
    for name in remote.list_refs().await? {
        let Some(state) = remote.get_ref(&name).await? else { continue };
        let target = state.doc.target;
        let fetched = fetch_missing(store, remote, &name, target).await?;
        let received = store.write(|w| {
            let before = w.ref_target(&name)?;
            for (id, bytes) in &fetched {
                w.receive(*id, bytes)?;
            }
            w.set_tracking_ref(remote_name, &name, target)?;
            Ok::<_, StoreError>(before != w.ref_target(&name)?)
        });
        match received {
            Ok(moved) => {
                report.entries += fetched.len();
                if moved {
                    report.moved.push((name, target));
                }
            }
            Err(StoreError::Received(ReceiveError::Diverged { name: diverged, .. })) => {
                report.refused.push(Refused {
                    why: format!(
                        "{diverged} has entries here that the remote does not have (recorded, not pushed), and the remote has others"
                    ),
                    name,
                })
            }
            Err(StoreError::Received(error)) => {
                let id = error_id(&error);
                return Err(ExchangeError::BadObject { url: remote.url().into(), id, source: Box::new(error) });
            }
            Err(error) => return Err(error.into()),
        }
    }
    Ok(report)
}

/// What the remote answered for one object.
type ObjectAnswer = Result<Option<Vec<u8>>, RemoteError>;

/// The objects reachable from `target` that this ledger lacks, each checked against its id,
/// in an order where every entry comes after the entries it names.
async fn fetch_missing<R: Remote>(
    store: &Store,
    remote: &R,
    name: &str,
    target: EntryId,
) -> Result<Vec<(EntryId, Vec<u8>)>, ExchangeError> {
    let reader = store.read()?;
    let mut fetched: BTreeMap<EntryId, (Vec<u8>, Vec<EntryId>)> = BTreeMap::new();
    let mut frontier = vec![target];
    while !frontier.is_empty() {
        let wanted: Vec<EntryId> = frontier
            .drain(..)
            .filter(|id| !fetched.contains_key(id))
            .filter(|id| !matches!(reader.seq_of(id), Ok(Some(_))))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let answers: Vec<(EntryId, ObjectAnswer)> = futures_util::stream::iter(wanted)
            .map(|id| async move { (id, remote.get_object(id).await) })
            .buffer_unordered(PARALLEL_REQUESTS)
            .collect()
            .await;
        for (id, answer) in answers {
            let missing = || ExchangeError::MissingObject { url: remote.url().into(), name: name.into(), id };
            let bytes = answer?.ok_or_else(missing)?;
            let bad =
                |source| ExchangeError::BadObject { url: remote.url().into(), id, source: Box::new(source) };
            let actual = EntryId::of_stored_bytes(&bytes);
            if actual != id {
                return Err(bad(ReceiveError::HashMismatch { expected: id, actual }));
            }
            let entry =
                Entry::decode(&bytes).map_err(|source| bad(ReceiveError::Undecodable { id, source }))?;
            let references = entry.references();
            frontier.extend(references.iter().copied());
            fetched.insert(id, (bytes, references));
        }
    }
    Ok(in_dependency_order(fetched))
}

/// `entries` ordered so that each comes after those of them it names.
fn in_dependency_order(mut entries: BTreeMap<EntryId, (Vec<u8>, Vec<EntryId>)>) -> Vec<(EntryId, Vec<u8>)> {
    let mut ordered = Vec::with_capacity(entries.len());
    let ids: Vec<EntryId> = entries.keys().copied().collect();
    for root in ids {
        // Depth first; an entry is emitted once everything it names has been.
        let mut stack = vec![(root, false)];
        while let Some((id, expanded)) = stack.pop() {
            if expanded {
                if let Some((bytes, _)) = entries.remove(&id) {
                    ordered.push((id, bytes));
                }
                continue;
            }
            let Some((_, references)) = entries.get(&id) else { continue };
            stack.push((id, true));
            stack.extend(references.iter().filter(|r| entries.contains_key(r)).map(|r| (*r, false)));
        }
    }
    ordered
}

fn error_id(error: &ReceiveError) -> EntryId {
    match error {
        ReceiveError::HashMismatch { expected, .. } => *expected,
        ReceiveError::Undecodable { id, .. }
        | ReceiveError::MissingReference { id, .. }
        | ReceiveError::Diverged { id, .. } => *id,
    }
}
