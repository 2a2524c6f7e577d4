//! Push, pull, fetch and append: exchanging entries with a remote without listing its objects.
//!
//! This ledger keeps where each remote ref was at the last exchange (a tracking ref). Every
//! ref's history is linear, so an entry is on the remote exactly when it comes no later, in
//! recording order, than the tracking ref of its history: push walks back from the local refs
//! and stops there. Objects go up before any ref moves, so a ref never names a missing object.
//! A few entries go up as loose objects, more as packs (see [`crate::pack`]). Only a pull into
//! an empty ledger (a clone) downloads every pack; other pulls read packs only for the ids they
//! do not find as loose objects.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures_util::StreamExt;
use ledger::admission;
use ledger::received::{self, Received};
use ledger::refs::RefName;
use ledger::store::{ConflictError, ReceiveError, Writer, history_ref};
use ledger::{Entry, EntryId, Source, Store, StoreError, StoredEntry};

use crate::pack::{LOOSE_LIMIT, PackBuilder, PackError, PackId, PackReader, write_pack};
use crate::{ListedRef, RefDoc, RefState, Remote, RemoteError, Written, get_ref, put_ref, remembered};

/// Requests in flight at once.
const PARALLEL_REQUESTS: usize = 16;
/// Compare-and-swap attempts on one ref before giving up.
const REF_ATTEMPTS: usize = 5;
/// How long an append keeps trying while others keep appending first: long enough for a CI
/// fleet registering at once.
pub const APPEND_DEADLINE: Duration = Duration::from_secs(60);

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
    #[error("remote {url}: pack {pack} is corrupted or forged ({why}); nothing of it was stored")]
    BadPack { url: String, pack: PackId, why: String },
    #[error("this ledger names {0} but does not have it; run `ledger verify`")]
    LocalMissing(EntryId),
    #[error(
        "entry {id} is damaged in this ledger ({why}); nothing was sent to the remote, run `ledger verify`"
    )]
    LocalDamaged { id: EntryId, why: String },
    #[error("{name}: {why}")]
    Refused { name: String, why: String },
    #[error(
        "the remote did not answer whether it took {id} as the head of {name} ({source}); `ledger pull` takes it in if it did"
    )]
    Unanswered { name: String, id: EntryId, source: Box<RemoteError> },
    #[error("remote {url}: {}", refs.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    WentBack { url: String, refs: Vec<WentBack> },
}

impl From<PackError> for ExchangeError {
    fn from(error: PackError) -> ExchangeError {
        match error {
            PackError::Remote(error) => ExchangeError::Remote(error),
            PackError::Bad { url, pack, why } => ExchangeError::BadPack { url, pack, why },
        }
    }
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
    /// Remote refs found behind where this ledger had seen them (then moved forward, or refused).
    pub went_back: Vec<WentBack>,
}

/// A remote ref that names an older entry than this ledger saw it name: a restored backup or a
/// replayed document. Others would record on the old state and fork the history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WentBack {
    pub name: String,
    /// What the remote's ref names now.
    pub remote: EntryId,
    /// What this ledger saw it name (its tracking ref).
    pub seen: EntryId,
}

impl std::fmt::Display for WentBack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the remote's {} went back: it names {}, but this ledger saw it at {}, which was recorded later",
            self.name, self.remote, self.seen
        )
    }
}

#[derive(Debug, Default)]
pub struct PullReport {
    /// Entries received.
    pub entries: usize,
    /// Local refs moved forward.
    pub moved: Vec<(String, EntryId)>,
    pub refused: Vec<Refused>,
    /// The refused refs on which this ledger and the remote both recorded: their histories
    /// never merge.
    pub diverged: Vec<String>,
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
/// (only ref `only`, when given). Every local ref is compared with the remote's ref as it is
/// now, not only with where this ledger last saw it: a remote ref that went back is moved
/// forward again, and reported. A ref the remote moved meanwhile (not an ancestor of ours) is
/// refused, not merged. Every entry is re-hashed and decoded before anything is uploaded.
pub async fn push<R: Remote>(
    store: &Store,
    remote: &R,
    remote_name: &str,
    only: Option<&RefName>,
    progress: &dyn Progress,
) -> Result<PushReport, ExchangeError> {
    let locals: Vec<(RefName, EntryId)> = {
        let reader = store.read()?;
        let mut locals = Vec::new();
        for (name, target) in reader.all_refs()? {
            let Some(name) = RefName::parse(&name) else { continue };
            if !name.is_tracking() && only.is_none_or(|only| *only == name) {
                locals.push((name, target));
            }
        }
        // Releases and sets before the deployments and approvals that name them, so that a
        // remote's `service/…` and `set/…` refs reach whatever its other refs name.
        locals.sort_by_key(|(name, _)| name.exchange_rank());
        locals
    };
    let states = match only {
        _ if locals.is_empty() => Vec::new(),
        Some(name) => vec![last_seen_or_read(store, remote, remote_name, name).await?],
        None => {
            let mut listed: BTreeMap<RefName, RefState> = list_heads(store, remote, remote_name)
                .await?
                .into_iter()
                .map(|h| (h.name, h.state))
                .collect();
            locals.iter().map(|(name, _)| listed.remove(name)).collect()
        }
    };
    let mut report = PushReport::default();
    // The remote's refs this push leaves at this ledger's targets, remembered at the end.
    let mut seen = BTreeMap::new();
    let mut candidates = Vec::new();
    // Remote refs already at the local target, whose tracking ref is behind.
    let mut settled = Vec::new();
    let uploads = {
        let reader = store.read()?;
        // Histories whose remote ref names an entry this ledger has: the remote has exactly
        // what that entry reaches, whatever this ledger saw before.
        let mut on_remote = BTreeMap::new();
        for ((name, target), state) in locals.into_iter().zip(states) {
            let tracked = reader.ref_target(&RefName::tracking(remote_name, &name))?;
            let remote_target = state.as_ref().map(|state| state.doc.target);
            if let Some(state) = state.as_ref().filter(|state| state.doc.target == target) {
                if tracked != Some(target) {
                    settled.push((name.clone(), target));
                }
                seen.insert(name, state.clone());
                continue;
            }
            if let Some(remote_target) = remote_target
                && reader.seq_of(&remote_target)?.is_some()
            {
                if let Some(seen) = went_back(&reader, remote_name, &name, remote_target)? {
                    report.went_back.push(WentBack { name: name.to_string(), remote: remote_target, seen });
                }
                on_remote.insert(name.clone(), remote_target);
            }
            candidates.push((name, target, state));
        }
        let heads = candidates.iter().map(|(_, target, _)| *target);
        not_on_remote(&reader, remote_name, &on_remote, heads)?
    };
    for (name, target) in settled {
        store_tracking(store, remote_name, &name, target)?;
        report.moved.push((name.to_string(), target));
    }
    send(remote, store, &uploads, progress).await?;
    report.objects = uploads.len();
    for (name, target, state) in candidates {
        let moved = move_remote_ref(store, remote, remote_name, &name, target, state, &mut report.went_back);
        match moved.await? {
            Ok(state) => {
                store_tracking(store, remote_name, &name, target)?;
                report.moved.push((name.to_string(), target));
                seen.insert(name, state);
            }
            Err(why) => report.refused.push(Refused { name: name.to_string(), why }),
        }
    }
    remembered::remember_refs(store, remote_name, remote, &seen)?;
    Ok(report)
}

/// Ref `name` of the remote as this ledger last saw it (when it holds the entry it named), else
/// as read now. A compare-and-swap from a state that is no longer current is refused, and the
/// ref is then read.
async fn last_seen_or_read<R: Remote>(
    store: &Store,
    remote: &R,
    remote_name: &str,
    name: &RefName,
) -> Result<Option<RefState>, ExchangeError> {
    let last_seen = remembered::refs(store, remote_name, remote)?.remove(name);
    match last_seen {
        Some(state) if store.read()?.seq_of(&state.doc.target)?.is_some() => Ok(Some(state)),
        _ => Ok(get_ref(remote, name).await?),
    }
}

fn store_tracking(
    store: &Store,
    remote_name: &str,
    name: &RefName,
    target: EntryId,
) -> Result<(), StoreError> {
    store.write(|w| w.set_tracking_ref(remote_name, name, target))
}

/// The entry this ledger saw the remote's `name` at (its tracking ref), when the remote's ref
/// now names `target`, an entry this ledger has that was recorded before it: the ref went back.
fn went_back(
    reader: &impl Source,
    remote_name: &str,
    name: &RefName,
    target: EntryId,
) -> Result<Option<EntryId>, StoreError> {
    let Some(seen) = reader.ref_target(&RefName::tracking(remote_name, name))? else { return Ok(None) };
    let (Some(theirs), Some(seen_seq)) = (reader.seq_of(&target)?, reader.seq_of(&seen)?) else {
        return Ok(None);
    };
    Ok((theirs < seen_seq).then_some(seen))
}

/// Uploads entries `uploads` of this ledger (sequence number and id, oldest first): as loose
/// objects when they are at most [`LOOSE_LIMIT`], else as packs of about
/// [`crate::pack::PACK_TARGET_BYTES`], each read from the store only when its pack is built.
async fn send<R: Remote>(
    remote: &R,
    store: &Store,
    uploads: &[(u64, EntryId)],
    progress: &dyn Progress,
) -> Result<(), ExchangeError> {
    let reader = store.read()?;
    let stored = |(seq, id): &(u64, EntryId)| -> Result<Vec<u8>, ExchangeError> {
        reader.raw_at(*seq)?.ok_or(ExchangeError::LocalMissing(*id))
    };
    if uploads.len() <= LOOSE_LIMIT {
        let objects = uploads
            .iter()
            .map(|upload| Ok((upload.1, stored(upload)?)))
            .collect::<Result<Vec<_>, ExchangeError>>()?;
        return upload(remote, &objects, progress).await;
    }
    progress.start("uploading", uploads.len());
    let mut builder = PackBuilder::default();
    for (n, upload) in uploads.iter().enumerate() {
        builder.push(upload.1, &stored(upload)?);
        if builder.is_full() || n + 1 == uploads.len() {
            let pack = std::mem::take(&mut builder).finish();
            write_pack(remote, &pack).await?;
            progress.advance(pack.entries);
        }
    }
    progress.finish();
    Ok(())
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

/// The entries reachable from `heads` that the remote does not have, oldest first (sequence
/// number and id), each re-hashed against its id and decoded (a damaged entry stops here,
/// before any upload). The
/// remote has an entry when it comes no later than the remote's ref of its history: as read
/// now (`on_remote`), else as last seen (the tracking ref).
fn not_on_remote(
    reader: &impl Source,
    remote_name: &str,
    on_remote: &BTreeMap<RefName, EntryId>,
    heads: impl Iterator<Item = EntryId>,
) -> Result<Vec<(u64, EntryId)>, ExchangeError> {
    let mut found = BTreeMap::new();
    let mut seen = BTreeSet::new();
    let mut stack: Vec<EntryId> = heads.collect();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        let seq = reader.seq_of(&id)?.ok_or(ExchangeError::LocalMissing(id))?;
        let bytes = reader.raw_at(seq)?.ok_or(ExchangeError::LocalMissing(id))?;
        let entry = checked_local(id, &bytes)?;
        let history = history_ref(reader, &entry)?;
        let there = match on_remote.get(&history) {
            Some(there) => Some(*there),
            None => reader.ref_target(&RefName::tracking(remote_name, &history))?,
        };
        let there_seq = match there {
            Some(there) => reader.seq_of(&there)?,
            None => None,
        };
        if there_seq.is_some_and(|there| seq <= there) {
            continue;
        }
        stack.extend(entry.references());
        found.insert(seq, id);
    }
    Ok(found.into_iter().collect())
}

/// Entry `id` as stored here, once its bytes hash to `id` and decode.
fn checked_local(id: EntryId, bytes: &[u8]) -> Result<Entry, ExchangeError> {
    received::entry_of(id, bytes)
        .map(|stored| stored.entry)
        .map_err(|error| ExchangeError::LocalDamaged { id, why: error.to_string() })
}

/// Moves the remote's ref `name` (read, or last seen, as `current`) to `target` if that is a
/// fast-forward: its state then; `Err(why)` if not. A ref read again (the compare-and-swap was
/// refused) and found behind where this ledger saw it is added to `went_back`.
async fn move_remote_ref<R: Remote>(
    store: &Store,
    remote: &R,
    remote_name: &str,
    name: &RefName,
    target: EntryId,
    mut current: Option<RefState>,
    went_back_refs: &mut Vec<WentBack>,
) -> Result<Result<RefState, String>, ExchangeError> {
    for attempt in 0..REF_ATTEMPTS {
        if attempt > 0 {
            current = get_ref(remote, name).await?;
            if let Some(state) = &current
                && let Some(seen) = went_back(&store.read()?, remote_name, name, state.doc.target)?
                && !went_back_refs.iter().any(|known| known.name == name.as_str())
            {
                went_back_refs.push(WentBack { name: name.to_string(), remote: state.doc.target, seen });
            }
        }
        let (version, expected) = match &current {
            Some(state) if state.doc.target == target => return Ok(Ok(state.clone())),
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
                (next_version(remote, name, state)?, Some(state.etag.as_str()))
            }
            None => (1, None),
        };
        let doc = RefDoc { target, version };
        if let Written::Done(etag) = put_ref(remote, name, doc, expected).await? {
            return Ok(Ok(RefState { doc, etag }));
        }
    }
    Ok(Err(format!("the remote's {name} kept moving; try again")))
}

/// The version of the next document of ref `name`, read at `state`: one more, never a wrap.
fn next_version<R: Remote>(remote: &R, name: &RefName, state: &RefState) -> Result<u64, ExchangeError> {
    state.doc.version.checked_add(1).ok_or_else(|| {
        ExchangeError::Remote(RemoteError::BadDocument {
            url: remote.url().into(),
            key: format!("refs/{name}"),
            message: format!("its version {} cannot grow any further", state.doc.version),
        })
    })
}

/// Downloads what this ledger lacks of every remote ref, checks every object, and moves the
/// local refs forward. A ref whose local history has entries the remote lacks is refused.
pub async fn pull<R: Remote>(
    store: &Store,
    remote: &R,
    remote_name: &str,
    progress: &dyn Progress,
) -> Result<PullReport, ExchangeError> {
    // Only the refs that changed since the last exchange: the others name what this ledger
    // took in then.
    let changed: BTreeMap<RefName, RefState> = list_heads(store, remote, remote_name)
        .await?
        .into_iter()
        .filter(|head| head.changed)
        .map(|head| (head.name, head.state))
        .collect();
    let mut report = PullReport::default();
    if changed.is_empty() {
        return Ok(report);
    }
    let heads: Vec<(RefName, EntryId)> =
        changed.iter().map(|(name, state)| (name.clone(), state.doc.target)).collect();
    let mut packs = PackReader::default();
    if store.read()?.newest(1)?.is_empty() {
        packs.download_all(remote, progress).await?;
    }
    let mut fetched = fetch_missing(store, remote, &heads, progress, &mut packs).await?;
    let mut taken = BTreeMap::new();
    // Releases and sets before the deployments and approvals that name them.
    let mut ordered: Vec<&(RefName, EntryId)> = heads.iter().collect();
    ordered.sort_by_key(|(name, _)| name.exchange_rank());
    for (name, target) in ordered {
        let batch = in_dependency_order(take_reachable(&mut fetched, *target));
        let why = if let Some(seen) = went_back(&store.read()?, remote_name, name, *target)? {
            went_back_why(&WentBack { name: name.to_string(), remote: *target, seen })
        } else {
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
                    taken.insert(name.clone(), changed[name].clone());
                    continue;
                }
                Err(error) => {
                    if is_divergence(&error) {
                        report.diverged.push(name.to_string());
                    }
                    match rewritten(&store.read()?, remote_name, &error)? {
                        Some(why) => why,
                        None => refusal(remote, name, error)?.why,
                    }
                }
            }
        };
        report.refused.push(Refused { name: name.to_string(), why });
        // What a refused ref reaches is left to the refs after it: an environment may deploy
        // a release that came before a refused one.
        for received in batch {
            fetched.insert(received.id(), received);
        }
    }
    // After the refs' transactions: a ref remembered is one whose entries are here.
    remembered::remember_refs(store, remote_name, remote, &taken)?;
    Ok(report)
}

/// When taking in a ref diverged from a history on which this ledger recorded nothing the
/// remote lacked (its local ref is where it saw the remote's): the remote's history was
/// rewritten from an older state. Why, naming what this ledger saw.
fn rewritten(
    reader: &impl Source,
    remote_name: &str,
    error: &StoreError,
) -> Result<Option<String>, StoreError> {
    let StoreError::Received(ReceiveError::Diverged { name, .. }) = error else { return Ok(None) };
    let Some(history) = RefName::parse(name) else { return Ok(None) };
    let seen = reader.ref_target(&RefName::tracking(remote_name, &history))?;
    Ok(match seen {
        Some(seen) if reader.ref_target(&history)? == Some(seen) => Some(format!(
            "the remote's history of {history} no longer contains {seen}, where this ledger saw it: it went back, and others recorded on the older state; nothing of it was taken in"
        )),
        _ => None,
    })
}

/// Why a pull refuses a ref that went back, and what repairs it.
fn went_back_why(went_back: &WentBack) -> String {
    format!(
        "{went_back} (a restored backup or a replayed document); nothing of it was taken in. `ledger push` from this ledger moves it forward again to what this ledger has"
    )
}

/// Compares every ref of the remote (`remote_name` in this ledger) with this ledger's,
/// downloading (and checking) what a pull would take in; nothing is stored. A remote ref that
/// went back is an error, naming every such ref.
pub async fn fetch<R: Remote>(
    store: &Store,
    remote: &R,
    remote_name: &str,
    progress: &dyn Progress,
) -> Result<Vec<(String, Comparison)>, ExchangeError> {
    let listed = list_heads(store, remote, remote_name).await?;
    let reader = store.read()?;
    let mut went_back_refs = Vec::new();
    // An unchanged ref is where this ledger took it in: only a changed one can have gone back.
    for head in listed.iter().filter(|head| head.changed) {
        let target = head.state.doc.target;
        if let Some(seen) = went_back(&reader, remote_name, &head.name, target)? {
            went_back_refs.push(WentBack { name: head.name.to_string(), remote: target, seen });
        }
    }
    let heads: Vec<(RefName, EntryId)> =
        listed.into_iter().map(|head| (head.name, head.state.doc.target)).collect();
    if !went_back_refs.is_empty() {
        return Err(ExchangeError::WentBack { url: remote.url().into(), refs: went_back_refs });
    }
    let fetched = fetch_missing(store, remote, &heads, progress, &mut PackReader::default()).await?;
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
                let follows_ours =
                    |local: EntryId| incoming.iter().any(|id| fetched[id].references().contains(&local));
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
/// sets are independent appends, never a conflict. A refused attempt is tried again after a
/// wait that doubles (with jitter) until [`APPEND_DEADLINE`] has passed.
///
/// A write whose answer was lost is recognised when the remote's ref is read again: if it
/// names the entry (or leads to it, others having appended on top), that entry is recorded
/// here and returned, never sealed a second time.
///
/// `listed`: this process listed the remote's refs just before (a pull), so the first attempt
/// starts from the ref as this ledger remembers it, without reading it; a ref that moved
/// meanwhile refuses that attempt, and the next ones read it.
pub async fn append<R: Remote>(
    store: &Store,
    remote: &R,
    remote_name: &str,
    name: &RefName,
    listed: bool,
    seal: impl Fn(&Writer<'_>) -> Result<(StoredEntry, Vec<u8>), StoreError>,
) -> Result<StoredEntry, ExchangeError> {
    let started = tokio::time::Instant::now();
    let mut pause = Backoff::new();
    // The last entry this call tried to make the remote's head, when the answer was not `Done`.
    let mut attempted: Option<(StoredEntry, Vec<u8>)> = None;
    let mut first = listed;
    loop {
        let current = match std::mem::take(&mut first) {
            true => {
                let last_seen = remembered::refs(store, remote_name, remote)?.remove(name);
                match last_seen {
                    Some(state) if store.read()?.seq_of(&state.doc.target)?.is_none() => {
                        get_ref(remote, name).await?
                    }
                    // Not remembered after a listing: the remote has no such ref.
                    last_seen => last_seen,
                }
            }
            false => get_ref(remote, name).await?,
        };
        let remote_head = current.as_ref().map(|state| state.doc.target);
        if let Some((stored, bytes)) = &attempted
            && remote_head == Some(stored.id)
        {
            return record_appended(store, remote, remote_name, name, stored, bytes, current.as_ref());
        }
        let local = store.read()?.ref_target(name)?;
        if remote_head != local {
            catch_up(store, remote, remote_name, name, current.as_ref()).await?;
            if let Some((stored, _)) = &attempted
                && let Some(recorded) = store.read()?.entry(&stored.id)?
            {
                return Ok(recorded);
            }
            continue;
        }
        if started.elapsed() >= APPEND_DEADLINE {
            return Err(ExchangeError::Refused {
                name: name.to_string(),
                why: format!(
                    "others kept appending to the remote's {name} for {} s; nothing was recorded, try again",
                    APPEND_DEADLINE.as_secs()
                ),
            });
        }
        let (stored, bytes) = store.write(|w| seal(w))?;
        let missing = {
            let reader = store.read()?;
            let on_remote = current.iter().map(|state| (name.clone(), state.doc.target)).collect();
            not_on_remote(&reader, remote_name, &on_remote, stored.entry.references().into_iter())?
        };
        send(remote, store, &missing, &()).await?;
        remote.put_object(stored.id, &bytes).await?;
        let version = match &current {
            Some(state) => next_version(remote, name, state)?,
            None => 1,
        };
        let expected = current.as_ref().map(|state| state.etag.as_str());
        let doc = RefDoc { target: stored.id, version };
        match put_ref(remote, name, doc, expected).await {
            Ok(Written::Done(etag)) => {
                let state = RefState { doc, etag };
                return record_appended(store, remote, remote_name, name, &stored, &bytes, Some(&state));
            }
            Ok(Written::Refused) => {
                attempted = Some((stored, bytes));
                pause.wait().await;
            }
            Err(error) => {
                // The write may have landed and only its answer been lost: look again.
                let id = stored.id;
                attempted = Some((stored, bytes));
                match get_ref(remote, name).await {
                    Ok(state) if state.as_ref().map(|state| state.doc.target) != remote_head => {}
                    _ => {
                        return Err(ExchangeError::Unanswered {
                            name: name.to_string(),
                            id,
                            source: Box::new(error),
                        });
                    }
                }
            }
        }
    }
}

/// Stores `stored`, which the remote's ref `name` (at `state`, when known) now names, here.
fn record_appended<R: Remote>(
    store: &Store,
    remote: &R,
    remote_name: &str,
    name: &RefName,
    stored: &StoredEntry,
    bytes: &[u8],
    state: Option<&RefState>,
) -> Result<StoredEntry, ExchangeError> {
    store.write(|w| {
        w.receive_own(stored.id, bytes)?;
        w.set_tracking_ref(remote_name, name, stored.id)
    })?;
    remembered::remember_refs(store, remote_name, remote, state.map(|state| (name, state)))?;
    Ok(stored.clone())
}

/// Waits between append attempts: doubling from 50 ms up to 2 s, each wait a random part
/// (between half and all) of that, so that writers that collided do not collide again.
struct Backoff {
    next: Duration,
    random: std::collections::hash_map::RandomState,
    waits: u64,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(50);
    const LONGEST: Duration = Duration::from_secs(2);

    fn new() -> Backoff {
        Backoff { next: Backoff::FIRST, random: Default::default(), waits: 0 }
    }

    async fn wait(&mut self) {
        use std::hash::BuildHasher;
        self.waits += 1;
        let fraction = (self.random.hash_one(self.waits) % 1000) as f64 / 1000.0;
        tokio::time::sleep(self.next.mul_f64(0.5 + fraction / 2.0)).await;
        self.next = (self.next * 2).min(Backoff::LONGEST);
    }
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
        let fetched = fetch_missing(store, remote, &heads, &(), &mut PackReader::default()).await?;
        let batch = in_dependency_order(fetched);
        let received = store.write(|w| {
            receive_all(w, remote_name, &batch)?;
            admission::check_head(w, name, target)?;
            w.set_tracking_ref(remote_name, name, target)
        });
        return match received {
            Ok(()) => {
                Ok(remembered::remember_refs(store, remote_name, remote, current.map(|state| (name, state)))?)
            }
            Err(error) => {
                let refused = refusal(remote, name, error)?;
                Err(ExchangeError::Refused { name: refused.name, why: refused.why })
            }
        };
    }
    let local = store.read()?.ref_target(name)?.ok_or_else(|| ExchangeError::Refused {
        name: name.to_string(),
        why: "the remote has entries this ledger does not follow".into(),
    })?;
    let on_remote = current.iter().map(|state| (name.clone(), state.doc.target)).collect();
    let missing = not_on_remote(&store.read()?, remote_name, &on_remote, std::iter::once(local))?;
    send(remote, store, &missing, &()).await?;
    let mut went_back_refs = Vec::new();
    match move_remote_ref(store, remote, remote_name, name, local, current.cloned(), &mut went_back_refs)
        .await?
    {
        Ok(state) => {
            store_tracking(store, remote_name, name, local)?;
            Ok(remembered::remember_refs(store, remote_name, remote, [(name, &state)])?)
        }
        Err(why) => Err(ExchangeError::Refused { name: name.to_string(), why }),
    }
}

/// Stores entries downloaded from the remote, in dependency order. The remote has each of
/// them, so the tracking ref of each one's history moves up to it: a later push does not
/// take what came from the remote for something recorded here.
fn receive_all(w: &mut Writer<'_>, remote_name: &str, batch: &[Received]) -> Result<(), StoreError> {
    for received in batch {
        let id = &received.id();
        let stored = w.receive_checked(received)?;
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

/// A ref of the remote as an exchange knows it: listed and, unless unchanged, read.
struct Head {
    name: RefName,
    state: RefState,
    /// Read now: its tag is not the one this ledger remembers (or this ledger lacks the entry
    /// remembered). An unchanged ref names what this ledger took in at the last exchange.
    changed: bool,
}

/// Every ref of the remote, by one listing of `refs/`; of those, only the refs whose tag is not
/// the one this ledger remembers (see [`remembered`]) are read, 16 at a time. A ref gone between
/// the listing and its read is left out, as if not listed.
async fn list_heads<R: Remote>(
    store: &Store,
    remote: &R,
    remote_name: &str,
) -> Result<Vec<Head>, ExchangeError> {
    let listed = remote.list_refs().await?;
    let mut last_seen = remembered::refs(store, remote_name, remote)?;
    let mut heads = Vec::with_capacity(listed.len());
    let mut unread = Vec::new();
    {
        let reader = store.read()?;
        for ListedRef { name, etag } in listed {
            match last_seen.remove(&name) {
                Some(state) if state.etag == etag && reader.seq_of(&state.doc.target)?.is_some() => {
                    heads.push(Head { name, state, changed: false });
                }
                _ => unread.push(name),
            }
        }
    }
    let states = read_refs(remote, unread.iter().cloned()).await?;
    for (name, state) in unread.into_iter().zip(states) {
        if let Some(state) = state {
            heads.push(Head { name, state, changed: true });
        }
    }
    heads.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(heads)
}

/// Refs `names` as the remote has them now, read 16 at a time, in the order given.
async fn read_refs<R: Remote>(
    remote: &R,
    names: impl Iterator<Item = RefName>,
) -> Result<Vec<Option<RefState>>, ExchangeError> {
    let states: Vec<Result<Option<RefState>, RemoteError>> = futures_util::stream::iter(names)
        .map(|name| async move { get_ref(remote, &name).await })
        .buffered(PARALLEL_REQUESTS)
        .collect()
        .await;
    Ok(states.into_iter().collect::<Result<_, _>>()?)
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
        StoreError::Conflict(conflict) if is_divergence(&StoreError::Conflict(conflict.clone())) => {
            Ok(Refused {
                why: format!("{conflict}, and the remote recorded something else there"),
                name: name.to_string(),
            })
        }
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

/// Whether taking in a ref failed because this ledger and the remote both recorded on it: a
/// history that goes on differently here, or an environment whose last deployment is in flight
/// or concluded here while the remote recorded something else.
pub fn is_divergence(error: &StoreError) -> bool {
    matches!(
        error,
        StoreError::Received(ReceiveError::Diverged { .. })
            | StoreError::Conflict(
                ConflictError::InFlight { .. }
                    | ConflictError::Unobserved { .. }
                    | ConflictError::AlreadyConcluded(_)
            )
    )
}

/// Downloaded objects, checked: id → (the entry, the ids it names).
type Fetched = BTreeMap<EntryId, Received>;

/// The objects reachable from `heads` that this ledger lacks, each checked against its id,
/// found by walking back level by level from the heads: in what `packs` downloaded already,
/// else as loose objects, else in the packs (see [`PackReader::find`]).
async fn fetch_missing<R: Remote>(
    store: &Store,
    remote: &R,
    heads: &[(RefName, EntryId)],
    progress: &dyn Progress,
    packs: &mut PackReader,
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
        let mut found = Vec::new();
        let mut loose = Vec::new();
        for (id, name) in wanted {
            match packs.take(&id) {
                Some(taken) => found.push((id, name, taken)),
                None => loose.push((id, name)),
            }
        }
        let mut answers = futures_util::stream::iter(loose)
            .map(|(id, name)| async move { (id, name, remote.get_object(id).await) })
            .buffer_unordered(PARALLEL_REQUESTS);
        let mut absent = Vec::new();
        while let Some((id, name, answer)) = answers.next().await {
            match answer? {
                Some(bytes) => found.push((id, name, Received::check(id, bytes).map_err(Box::new))),
                None => absent.push((id, name)),
            }
        }
        drop(answers);
        if !absent.is_empty() {
            let ids: Vec<EntryId> = absent.iter().map(|(id, _)| *id).collect();
            packs.find(remote, &ids, |id| reader.seq_of(id).ok().flatten().is_some()).await?;
            for (id, name) in absent {
                let missing =
                    || ExchangeError::MissingObject { url: remote.url().into(), name: name.into(), id };
                found.push((id, name, packs.take(&id).ok_or_else(missing)?));
            }
        }
        for (id, name, taken) in found {
            let received =
                taken.map_err(|source| ExchangeError::BadObject { url: remote.url().into(), id, source })?;
            frontier.extend(received.references().iter().map(|r| (*r, name)));
            fetched.insert(id, received);
            progress.advance(1);
        }
    }
    progress.finish();
    Ok(fetched)
}

/// Removes from `fetched` and returns the entries reachable from `target` through it.
fn take_reachable(fetched: &mut Fetched, target: EntryId) -> Fetched {
    let mut taken = Fetched::new();
    let mut stack = vec![target];
    while let Some(id) = stack.pop() {
        if let Some(received) = fetched.remove(&id) {
            stack.extend(received.references().iter().copied());
            taken.insert(id, received);
        }
    }
    taken
}

/// The entries of `fetched` reachable from `target` through it.
fn reachable(fetched: &Fetched, target: EntryId) -> BTreeSet<EntryId> {
    let mut found = BTreeSet::new();
    let mut stack = vec![target];
    while let Some(id) = stack.pop() {
        if let Some(received) = fetched.get(&id)
            && found.insert(id)
        {
            stack.extend(received.references().iter().copied());
        }
    }
    found
}

/// `entries` ordered so that each comes after those of them it names.
fn in_dependency_order(mut entries: Fetched) -> Vec<Received> {
    let mut ordered = Vec::with_capacity(entries.len());
    let ids: Vec<EntryId> = entries.keys().copied().collect();
    for root in ids {
        // Depth first; an entry is emitted once everything it names has been.
        let mut stack = vec![(root, false)];
        while let Some((id, expanded)) = stack.pop() {
            if expanded {
                if let Some(received) = entries.remove(&id) {
                    ordered.push(received);
                }
                continue;
            }
            let Some(received) = entries.get(&id) else { continue };
            stack.push((id, true));
            stack.extend(
                received.references().iter().filter(|r| entries.contains_key(r)).map(|r| (*r, false)),
            );
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
