//! Push, pull, fetch and append: exchanging entries with a remote without listing its objects.
//!
//! This ledger keeps where each remote ref was at the last exchange (a tracking ref). Every
//! ref's history is linear, so an entry is on the remote exactly when it comes no later, in
//! recording order, than the tracking ref of its history: push walks back from the local refs
//! and stops there. Objects go up before any ref moves, so a ref never names a missing object.
//! Only a pull into an empty ledger (a clone) lists the remote's objects: it needs them all.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::StreamExt;
use ledger::admission;
use ledger::refs::RefName;
use ledger::store::{ReceiveError, Writer, history_ref};
use ledger::{Entry, EntryId, Source, Store, StoreError, StoredEntry};

use crate::{RefDoc, RefState, Remote, RemoteError, Written, get_ref, put_ref};

/// Requests in flight at once.
const PARALLEL_REQUESTS: usize = 16;
/// Compare-and-swap attempts on one ref before giving up.
const REF_ATTEMPTS: usize = 5;
/// Attempts to append a release or release set while others keep appending first.
const APPEND_ATTEMPTS: usize = 20;

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
    #[error("{name}: {why}")]
    Refused { name: String, why: String },
}

/// Told how far a long exchange has got.
pub trait Progress {
    /// A new step of `total` items begins (`"uploading"`, `"downloading"`, ...).
    fn start(&self, step: &'static str, total: usize);
    fn advance(&self, items: usize);
    fn finish(&self);
}

/// No progress shown.
impl Progress for () {
    fn start(&self, _: &'static str, _: usize) {}
    fn advance(&self, _: usize) {}
    fn finish(&self) {}
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

/// How a local ref compares with the remote's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Comparison {
    Same,
    /// The remote has this many entries more; `pull` takes them in.
    Behind(usize),
    /// This ledger has entries the remote lacks; `push` sends them.
    Ahead,
    /// Both have entries the other lacks.
    Diverged,
}

/// Uploads what the remote lacks, then moves each of its refs that this ledger is ahead of
/// (only ref `only`, when given). A ref the remote moved meanwhile (not an ancestor of ours) is
/// refused, not merged.
pub async fn push<R: Remote>(
    store: &Store,
    remote: &R,
    remote_name: &str,
    only: Option<&RefName>,
    progress: &dyn Progress,
) -> Result<PushReport, ExchangeError> {
    let (candidates, uploads) = {
        let reader = store.read()?;
        let mut candidates = Vec::new();
        for (name, target) in reader.all_refs()? {
            let Some(name) = RefName::parse(&name) else { continue };
            let local = !name.is_tracking() && only.is_none_or(|only| *only == name);
            if local && reader.ref_target(&RefName::tracking(remote_name, &name))? != Some(target) {
                candidates.push((name, target));
            }
        }
        let uploads = not_on_remote(&reader, remote_name, candidates.iter().map(|(_, id)| *id))?;
        (candidates, uploads)
    };
    upload(remote, &uploads, progress).await?;
    let mut report = PushReport { objects: uploads.len(), ..PushReport::default() };
    for (name, target) in candidates {
        match move_remote_ref(store, remote, &name, target).await? {
            Ok(()) => {
                store.write(|w| w.set_tracking_ref(remote_name, &name, target))?;
                report.moved.push((name.to_string(), target));
            }
            Err(why) => report.refused.push(Refused { name: name.to_string(), why }),
        }
    }
    Ok(report)
}

async fn upload<R: Remote>(
    remote: &R,
    uploads: &[(EntryId, Vec<u8>)],
    progress: &dyn Progress,
) -> Result<(), ExchangeError> {
    progress.start("uploading", uploads.len());
    let mut results = futures_util::stream::iter(uploads)
        .map(|(id, bytes)| remote.put_object(*id, bytes))
        .buffer_unordered(PARALLEL_REQUESTS);
    while let Some(result) = results.next().await {
        result?;
        progress.advance(1);
    }
    progress.finish();
    Ok(())
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
            reader.ref_target(&RefName::tracking(remote_name, &history_ref(reader, &stored.entry)?))?;
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
    name: &RefName,
    target: EntryId,
) -> Result<Result<(), String>, ExchangeError> {
    for _ in 0..REF_ATTEMPTS {
        let current = get_ref(remote, name).await?;
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
                        if name.env_name().is_some() { ", then plan the deployment again" } else { "" }
                    )));
                }
                (state.doc.version + 1, Some(state.etag.as_str()))
            }
            None => (1, None),
        };
        if let Written::Done(_) = put_ref(remote, name, RefDoc { target, version }, expected).await? {
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
    progress: &dyn Progress,
) -> Result<PullReport, ExchangeError> {
    let heads = remote_heads(remote).await?;
    let mut fetched = if store.read()?.newest(1)?.is_empty() {
        fetch_listed(store, remote, &heads, progress).await?
    } else {
        fetch_missing(store, remote, &heads, progress).await?
    };
    let mut report = PullReport::default();
    // Releases and sets before the deployments that name them.
    let mut ordered: Vec<&(RefName, EntryId)> =
        heads.iter().filter(|(n, _)| n.env_name().is_none()).collect();
    ordered.extend(heads.iter().filter(|(n, _)| n.env_name().is_some()));
    for (name, target) in ordered {
        let batch = in_dependency_order(take_reachable(&mut fetched, *target));
        let received = store.write(|w| {
            let before = w.ref_target(name)?;
            receive_all(w, remote_name, &batch)?;
            admission::check_head(w, name, *target)?;
            w.set_tracking_ref(remote_name, name, *target)?;
            Ok::<_, StoreError>(before != w.ref_target(name)?)
        });
        match received {
            Ok(moved) => {
                report.entries += batch.len();
                if moved {
                    report.moved.push((name.to_string(), *target));
                }
            }
            Err(error) => {
                report.refused.push(refusal(remote, name, error)?);
                // What the refused ref reaches is left to the refs after it: an environment
                // may deploy a release that came before a refused one.
                for (id, bytes) in batch {
                    fetched.insert(id, checked(remote, id, bytes)?);
                }
            }
        }
    }
    Ok(report)
}

/// Compares every ref of the remote with this ledger's, downloading (and checking) what a
/// pull would take in; nothing is stored.
pub async fn fetch<R: Remote>(
    store: &Store,
    remote: &R,
    progress: &dyn Progress,
) -> Result<Vec<(String, Comparison)>, ExchangeError> {
    let heads = remote_heads(remote).await?;
    let fetched = fetch_missing(store, remote, &heads, progress).await?;
    let reader = store.read()?;
    let mut comparisons = Vec::new();
    for (name, target) in &heads {
        let local = reader.ref_target(name)?;
        let comparison = match (local, reader.seq_of(target)?) {
            (Some(local), _) if local == *target => Comparison::Same,
            (Some(local), Some(theirs)) => {
                if reader.seq_of(&local)?.is_some_and(|ours| theirs < ours) {
                    Comparison::Ahead
                } else {
                    Comparison::Diverged
                }
            }
            (local, _) => {
                let incoming = reachable(&fetched, *target);
                let follows_ours = |local: EntryId| incoming.iter().any(|id| fetched[id].1.contains(&local));
                if local.is_none_or(follows_ours) {
                    Comparison::Behind(incoming.len())
                } else {
                    Comparison::Diverged
                }
            }
        };
        comparisons.push((name.to_string(), comparison));
    }
    Ok(comparisons)
}

/// Records a new release or release set (sealed by `seal` against this ledger's head of ref
/// `name`) on the remote first, then here. When someone else appended to `name` meanwhile,
/// their entries are taken in and the new one is sealed again on top of them: releases and
/// sets are independent appends, never a conflict.
pub async fn append<R: Remote>(
    store: &Store,
    remote: &R,
    remote_name: &str,
    name: &RefName,
    seal: impl Fn(&Writer<'_>) -> Result<(StoredEntry, Vec<u8>), StoreError>,
) -> Result<StoredEntry, ExchangeError> {
    for _ in 0..APPEND_ATTEMPTS {
        let current = get_ref(remote, name).await?;
        let local = store.read()?.ref_target(name)?;
        let remote_head = current.as_ref().map(|state| state.doc.target);
        if remote_head != local {
            catch_up(store, remote, remote_name, name, current.as_ref()).await?;
            continue;
        }
        let (stored, bytes) = store.write(|w| seal(w))?;
        let missing = {
            let reader = store.read()?;
            not_on_remote(&reader, remote_name, stored.entry.references().into_iter())?
        };
        upload(remote, &missing, &()).await?;
        remote.put_object(stored.id, &bytes).await?;
        let doc = RefDoc { target: stored.id, version: current.as_ref().map_or(0, |s| s.doc.version) + 1 };
        let expected = current.as_ref().map(|state| state.etag.as_str());
        if let Written::Done(_) = put_ref(remote, name, doc, expected).await? {
            store.write(|w| {
                w.receive(stored.id, &bytes)?;
                w.set_tracking_ref(remote_name, name, stored.id)
            })?;
            return Ok(stored);
        }
    }
    Err(ExchangeError::Refused {
        name: name.to_string(),
        why: format!("others kept appending to the remote's {name}; nothing was recorded, try again"),
    })
}

/// Brings ref `name` here and on the remote together: takes in what the remote has, or sends
/// what this ledger has (recorded while the remote was out of reach).
async fn catch_up<R: Remote>(
    store: &Store,
    remote: &R,
    remote_name: &str,
    name: &RefName,
    current: Option<&RefState>,
) -> Result<(), ExchangeError> {
    let target = current.map(|state| state.doc.target);
    let known = match target {
        Some(target) => store.read()?.seq_of(&target)?.is_some(),
        None => true,
    };
    if let (Some(target), false) = (target, known) {
        let heads = [(name.clone(), target)];
        let fetched = fetch_missing(store, remote, &heads, &()).await?;
        let batch = in_dependency_order(fetched);
        let received = store.write(|w| {
            receive_all(w, remote_name, &batch)?;
            admission::check_head(w, name, target)?;
            w.set_tracking_ref(remote_name, name, target)
        });
        return received.or_else(|error| {
            let refused = refusal(remote, name, error)?;
            Err(ExchangeError::Refused { name: refused.name, why: refused.why })
        });
    }
    let local = store.read()?.ref_target(name)?.ok_or_else(|| ExchangeError::Refused {
        name: name.to_string(),
        why: "the remote has entries this ledger does not follow".into(),
    })?;
    let missing = not_on_remote(&store.read()?, remote_name, std::iter::once(local))?;
    upload(remote, &missing, &()).await?;
    match move_remote_ref(store, remote, name, local).await? {
        Ok(()) => Ok(store.write(|w| w.set_tracking_ref(remote_name, name, local))?),
        Err(why) => Err(ExchangeError::Refused { name: name.to_string(), why }),
    }
}

/// Stores entries downloaded from the remote, in dependency order. The remote has each of
/// them, so the tracking ref of each one's history moves up to it: a later push does not
/// take what came from the remote for something recorded here.
fn receive_all(
    w: &mut Writer<'_>,
    remote_name: &str,
    batch: &[(EntryId, Vec<u8>)],
) -> Result<(), StoreError> {
    for (id, bytes) in batch {
        let stored = w.receive(*id, bytes)?;
        let history = history_ref(w, &stored.entry)?;
        let tracked_seq = match w.ref_target(&RefName::tracking(remote_name, &history))? {
            Some(tracked) => w.seq_of(&tracked)?,
            None => None,
        };
        if tracked_seq < w.seq_of(id)? {
            w.set_tracking_ref(remote_name, &history, *id)?;
        }
    }
    Ok(())
}

/// Every ref of the remote and its target, read 16 at a time.
async fn remote_heads<R: Remote>(remote: &R) -> Result<Vec<(RefName, EntryId)>, ExchangeError> {
    let names = remote.list_refs().await?;
    let states: Vec<(RefName, Result<Option<RefState>, RemoteError>)> = futures_util::stream::iter(names)
        .map(|name| async move {
            let state = get_ref(remote, &name).await;
            (name, state)
        })
        .buffered(PARALLEL_REQUESTS)
        .collect()
        .await;
    let mut heads = Vec::new();
    for (name, state) in states {
        if let Some(state) = state? {
            heads.push((name, state.doc.target));
        }
    }
    Ok(heads)
}

/// A store error while taking in `name` as a refusal of that ref, when the histories diverged
/// or it builds on a ref that was refused; any other error stays one.
fn refusal<R: Remote>(remote: &R, name: &RefName, error: StoreError) -> Result<Refused, ExchangeError> {
    match error {
        StoreError::Received(ReceiveError::Diverged { name: diverged, .. }) => Ok(Refused {
            why: format!(
                "{diverged} has entries here that the remote does not have (recorded, not pushed), and the remote has others"
            ),
            name: name.to_string(),
        }),
        StoreError::Received(ReceiveError::MissingReference { missing, .. }) => Ok(Refused {
            why: format!("it builds on {}, which could not be taken in", missing.short()),
            name: name.to_string(),
        }),
        // An entry that breaks the rules every entry is held to: nothing of the ref is taken in.
        StoreError::Refused(refusal) => Ok(Refused { why: refusal.to_string(), name: name.to_string() }),
        StoreError::Received(error) => {
            let id = error_id(&error);
            Err(ExchangeError::BadObject { url: remote.url().into(), id, source: Box::new(error) })
        }
        error => Err(error.into()),
    }
}

/// Downloaded objects: id → (bytes, the ids it names).
type Fetched = BTreeMap<EntryId, (Vec<u8>, Vec<EntryId>)>;

/// The objects reachable from `heads` that this ledger lacks, each checked against its id,
/// found by walking back level by level from the heads.
async fn fetch_missing<R: Remote>(
    store: &Store,
    remote: &R,
    heads: &[(RefName, EntryId)],
    progress: &dyn Progress,
) -> Result<Fetched, ExchangeError> {
    let reader = store.read()?;
    let mut fetched = Fetched::new();
    // (id, the ref it was reached from, for messages)
    let mut frontier: Vec<(EntryId, &str)> = heads.iter().map(|(name, id)| (*id, name.as_str())).collect();
    progress.start("downloading", 0);
    while !frontier.is_empty() {
        let mut wanted = BTreeMap::new();
        for (id, name) in frontier.drain(..) {
            if !fetched.contains_key(&id) && reader.seq_of(&id)?.is_none() {
                wanted.insert(id, name);
            }
        }
        let mut answers = futures_util::stream::iter(wanted)
            .map(|(id, name)| async move { (id, name, remote.get_object(id).await) })
            .buffer_unordered(PARALLEL_REQUESTS);
        while let Some((id, name, answer)) = answers.next().await {
            let missing = || ExchangeError::MissingObject { url: remote.url().into(), name: name.into(), id };
            let (bytes, references) = checked(remote, id, answer?.ok_or_else(missing)?)?;
            frontier.extend(references.iter().map(|r| (*r, name)));
            fetched.insert(id, (bytes, references));
            progress.advance(1);
        }
    }
    progress.finish();
    Ok(fetched)
}

/// Every object the remote has, of which those reachable from `heads` are kept, each checked
/// against its id. (Objects no ref reaches are left behind by
/// pushes that did not finish, and are never taken in.)
async fn fetch_listed<R: Remote>(
    store: &Store,
    remote: &R,
    heads: &[(RefName, EntryId)],
    progress: &dyn Progress,
) -> Result<Fetched, ExchangeError> {
    let mut downloaded: BTreeMap<EntryId, Vec<u8>> = download_all(remote, progress)
        .await?
        .into_iter()
        .filter_map(|(id, bytes)| Some((id, bytes?)))
        .collect();
    let reader = store.read()?;
    let mut fetched = Fetched::new();
    let mut stack: Vec<(EntryId, &str)> = heads.iter().map(|(name, id)| (*id, name.as_str())).collect();
    while let Some((id, name)) = stack.pop() {
        if fetched.contains_key(&id) || reader.seq_of(&id)?.is_some() {
            continue;
        }
        let missing = || ExchangeError::MissingObject { url: remote.url().into(), name: name.into(), id };
        let (bytes, references) = checked(remote, id, downloaded.remove(&id).ok_or_else(missing)?)?;
        stack.extend(references.iter().map(|r| (*r, name)));
        fetched.insert(id, (bytes, references));
    }
    Ok(fetched)
}

/// `bytes` as object `id`, once they hash to it and decode; with the ids the entry names.
fn checked<R: Remote>(
    remote: &R,
    id: EntryId,
    bytes: Vec<u8>,
) -> Result<(Vec<u8>, Vec<EntryId>), ExchangeError> {
    match examine(id, &bytes) {
        Ok(references) => Ok((bytes, references)),
        Err(source) => {
            Err(ExchangeError::BadObject { url: remote.url().into(), id, source: Box::new(source) })
        }
    }
}

/// The ids entry `id` names, once `bytes` hash to `id` and decode.
pub(super) fn examine(id: EntryId, bytes: &[u8]) -> Result<Vec<EntryId>, ReceiveError> {
    let actual = EntryId::of_stored_bytes(bytes);
    if actual != id {
        return Err(ReceiveError::HashMismatch { expected: id, actual });
    }
    let entry = Entry::decode(bytes).map_err(|source| ReceiveError::Undecodable { id, source })?;
    Ok(entry.references())
}

/// Every object the remote lists, downloaded 64 at a time: each id with its bytes (`None`:
/// it was gone by the time it was read).
pub(super) async fn download_all<R: Remote>(
    remote: &R,
    progress: &dyn Progress,
) -> Result<Vec<(EntryId, Option<Vec<u8>>)>, RemoteError> {
    const PARALLEL_DOWNLOADS: usize = 64;
    let ids = remote.list_objects().await?;
    progress.start("downloading", ids.len());
    let mut downloaded = Vec::with_capacity(ids.len());
    let mut answers = futures_util::stream::iter(ids)
        .map(|id| async move { (id, remote.get_object(id).await) })
        .buffer_unordered(PARALLEL_DOWNLOADS);
    while let Some((id, answer)) = answers.next().await {
        downloaded.push((id, answer?));
        progress.advance(1);
    }
    progress.finish();
    Ok(downloaded)
}

/// Removes from `fetched` and returns the entries reachable from `target` through it.
fn take_reachable(fetched: &mut Fetched, target: EntryId) -> Fetched {
    let mut taken = Fetched::new();
    let mut stack = vec![target];
    while let Some(id) = stack.pop() {
        if let Some((bytes, references)) = fetched.remove(&id) {
            stack.extend(references.iter().copied());
            taken.insert(id, (bytes, references));
        }
    }
    taken
}

/// The entries of `fetched` reachable from `target` through it.
fn reachable(fetched: &Fetched, target: EntryId) -> BTreeSet<EntryId> {
    let mut found = BTreeSet::new();
    let mut stack = vec![target];
    while let Some(id) = stack.pop() {
        if let Some((_, references)) = fetched.get(&id)
            && found.insert(id)
        {
            stack.extend(references.iter().copied());
        }
    }
    found
}

/// `entries` ordered so that each comes after those of them it names.
fn in_dependency_order(mut entries: Fetched) -> Vec<(EntryId, Vec<u8>)> {
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
