//! Consolidation (`ledger remote repack`): loose objects and small packs merged into big packs,
//! and what was superseded deleted only once a grace period has passed since it was
//! superseded, so that a reader that listed before still finds what it listed, or retries from
//! a new listing. See docs/remote.md, "Repack".

use std::collections::{BTreeMap, BTreeSet};

use futures_util::StreamExt;
use ledger::{EntryId, Timestamp};

use crate::Remote;
use crate::exchange::Progress;
use crate::pack::{
    Index, ListedPackFile, PACK_TARGET_BYTES, PackBuilder, PackError, PackId, PackKey, PackPart,
    complete_packs, read_index, read_pack, write_pack,
};
use ledger::received::entry_of;

/// How long what a repack superseded stays, by default: far longer than any clone or pull.
pub const DEFAULT_GRACE_SECONDS: i64 = 60 * 60;

/// Loose objects read at once.
const PARALLEL_REQUESTS: usize = 16;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct RepackReport {
    /// New packs written.
    pub packs_written: usize,
    /// Entries in them.
    pub entries_packed: usize,
    /// Superseded packs deleted (a pack and its index count once), including packs a push left
    /// without an index.
    pub packs_deleted: usize,
    /// Loose objects deleted: a pack has held each for the grace period.
    pub objects_deleted: usize,
    /// Superseded packs and loose objects kept until their grace period has passed.
    pub kept: usize,
    /// Loose objects that failed their check: left as they are, not packed.
    pub damaged: Vec<String>,
}

/// What the remote holds, as listed at the start.
struct Holdings {
    /// Complete packs with their indexes, in the order in which one supersedes another: by
    /// number of entries, then when written, then id (a merged pack holds more than each pack it
    /// merged, even when written in the same second).
    packs: Vec<(PackId, i64, Index)>,
    /// Pack files that are not part of a complete pack, with when they were written.
    others: Vec<ListedPackFile>,
    loose: Vec<EntryId>,
}

impl Holdings {
    async fn list<R: Remote>(remote: &R) -> Result<Holdings, PackError> {
        let (complete, others) = complete_packs(&remote.list_pack_files().await?);
        let mut packs = Vec::new();
        for (id, written) in complete {
            // An index gone since the listing: its pack was deleted by another repack.
            if let Some(index) = read_index(remote, id).await? {
                packs.push((id, written, index));
            }
        }
        packs.sort_by_key(|(id, written, index)| (index.records.len(), *written, *id));
        Ok(Holdings { packs, others, loose: remote.list_objects().await? })
    }

    /// For each id in a pack, the packs that hold it, oldest first (positions in `packs`).
    fn holders(&self) -> BTreeMap<EntryId, Vec<usize>> {
        let mut holders: BTreeMap<EntryId, Vec<usize>> = BTreeMap::new();
        for (position, (_, _, index)) in self.packs.iter().enumerate() {
            for record in &index.records {
                holders.entry(record.id).or_default().push(position);
            }
        }
        holders
    }
}

/// When something was superseded, and the packs (positions in `Holdings::packs`) that hold its
/// ids and are never superseded themselves: for each id, the newest pack holding it.
struct Superseded {
    at: i64,
    by: BTreeSet<usize>,
}

/// Pack `position` is superseded when every id it holds is in a pack after it in the order of
/// `Holdings::packs` (a strict order, so two packs never supersede each other), since the
/// latest of the times those ids were first in such a pack.
fn pack_superseded(
    holdings: &Holdings,
    holders: &BTreeMap<EntryId, Vec<usize>>,
    position: usize,
) -> Option<Superseded> {
    let mut superseded = Superseded { at: i64::MIN, by: BTreeSet::new() };
    for record in &holdings.packs[position].2.records {
        let holders = &holders[&record.id];
        let since = holders
            .iter()
            .filter(|holder| **holder > position)
            .map(|later| holdings.packs[*later].1)
            .min()?;
        superseded.at = superseded.at.max(since);
        superseded.by.extend(holders.last());
    }
    Some(superseded)
}

/// Merges the loose objects and the small packs of `remote` into packs of about
/// [`PACK_TARGET_BYTES`], and deletes what was superseded at least `grace` seconds before `now`
/// (Unix seconds). Nothing is deleted that a pack written after it does not hold, checked.
pub async fn repack<R: Remote>(
    remote: &R,
    now: i64,
    grace: i64,
    progress: &dyn Progress,
) -> Result<RepackReport, PackError> {
    let holdings = Holdings::list(remote).await?;
    let holders = holdings.holders();
    let mut report = RepackReport::default();

    // What is superseded, and whether its grace period has passed.
    let mut doomed_packs = Vec::new();
    let mut doomed_objects = Vec::new();
    let mut relied_on = BTreeSet::new();
    let mut small = Vec::new();
    for (position, (id, _, index)) in holdings.packs.iter().enumerate() {
        match pack_superseded(&holdings, &holders, position) {
            Some(superseded) if now - superseded.at >= grace => {
                doomed_packs.push(*id);
                relied_on.extend(superseded.by);
            }
            Some(_) => report.kept += 1,
            None if (index.pack_len as usize) < PACK_TARGET_BYTES / 2 => small.push(position),
            None => {}
        }
    }
    let mut unpacked = Vec::new();
    for id in &holdings.loose {
        let packed = holders.get(id).and_then(|holders| {
            Some((holders.iter().map(|holder| holdings.packs[*holder].1).min()?, holders.last()?))
        });
        match packed {
            Some((since, newest)) if now - since >= grace => {
                doomed_objects.push(*id);
                relied_on.insert(*newest);
            }
            Some(_) => report.kept += 1,
            None => unpacked.push(*id),
        }
    }
    let mut unfinished = Vec::new();
    for file in &holdings.others {
        if now - file.modified >= grace {
            unfinished.push(file.key);
        } else {
            report.kept += 1;
        }
    }

    // Merge.
    if small.len() + unpacked.len() >= 2 && !(small.len() == 1 && unpacked.is_empty()) {
        let mut entries: BTreeMap<EntryId, Vec<u8>> = BTreeMap::new();
        for position in &small {
            let (id, _, index) = &holdings.packs[*position];
            // Gone since the listing: another repack merged it.
            if let Some(records) = read_pack(remote, *id, Some(index)).await? {
                entries.extend(records);
            }
        }
        progress.start("reading loose objects", unpacked.len());
        let mut answers = futures_util::stream::iter(&unpacked)
            .map(|id| async move { (*id, remote.get_object(*id).await) })
            .buffer_unordered(PARALLEL_REQUESTS);
        while let Some((id, answer)) = answers.next().await {
            if let Some(bytes) = answer? {
                entries.insert(id, bytes);
            }
            progress.advance(1);
        }
        drop(answers);
        progress.finish();
        let ordered = in_time_order(entries, &mut report.damaged);
        let mut builder = PackBuilder::default();
        for (n, (id, bytes)) in ordered.iter().enumerate() {
            builder.push(*id, bytes);
            if builder.is_full() || n + 1 == ordered.len() {
                let pack = std::mem::take(&mut builder).finish();
                write_pack(remote, &pack).await?;
                report.packs_written += 1;
                report.entries_packed += pack.entries;
            }
        }
    }

    // Delete, once every pack relied on is checked: it hashes to its name, its index describes
    // it, and each entry in it hashes to its id.
    for position in relied_on {
        let (id, _, index) = &holdings.packs[position];
        let records = read_pack(remote, *id, Some(index)).await?;
        let sound = records.is_some_and(|records| {
            records.iter().all(|(entry, bytes)| EntryId::of_stored_bytes(bytes) == *entry)
        });
        if !sound {
            return Err(PackError::Bad {
                url: remote.url().into(),
                pack: *id,
                why: "it holds entries that do not match their ids, or is gone; nothing was deleted".into(),
            });
        }
    }
    for id in doomed_packs {
        // The index first: a pack without its index is one no reader looks for.
        remote.delete_pack_file(&PackKey::index(id)).await?;
        remote.delete_pack_file(&PackKey::pack(id)).await?;
        report.packs_deleted += 1;
    }
    for key in unfinished {
        remote.delete_pack_file(&key).await?;
        if key.part == PackPart::Pack {
            report.packs_deleted += 1;
        }
    }
    for id in doomed_objects {
        remote.delete_object(id).await?;
        report.objects_deleted += 1;
    }
    Ok(report)
}

/// `entries` that pass their check, oldest first by their time, each after the entries it
/// names (so that a reader's range from the first entry it lacks holds what it needs); the
/// others are named in `damaged`.
fn in_time_order(entries: BTreeMap<EntryId, Vec<u8>>, damaged: &mut Vec<String>) -> Vec<(EntryId, Vec<u8>)> {
    let mut sound: BTreeMap<EntryId, (Timestamp, Vec<EntryId>, Vec<u8>)> = BTreeMap::new();
    for (id, bytes) in entries {
        match entry_of(id, &bytes) {
            Ok(entry) => {
                sound.insert(id, (entry.entry.at, entry.entry.references(), bytes));
            }
            Err(error) => damaged.push(error.to_string()),
        }
    }
    let mut by_time: Vec<(Timestamp, EntryId)> = sound.iter().map(|(id, (at, _, _))| (*at, *id)).collect();
    by_time.sort();
    let mut ordered = Vec::with_capacity(sound.len());
    for (_, root) in by_time {
        let mut stack = vec![(root, false)];
        while let Some((id, expanded)) = stack.pop() {
            if expanded {
                if let Some((_, _, bytes)) = sound.remove(&id) {
                    ordered.push((id, bytes));
                }
                continue;
            }
            let Some((_, references, _)) = sound.get(&id) else { continue };
            stack.push((id, true));
            stack.extend(references.iter().filter(|r| sound.contains_key(r)).map(|r| (*r, false)));
        }
    }
    ordered
}
