//! Checking a remote: every object, loose or in a pack, re-hashed and decoded, every pack
//! against its name and its index, every ref and every entry a ref reaches present, and every
//! ref still reaching where a ledger saw it, and every signature judged by the signing policy.
//! Objects no ref reaches (left by pushes that did
//! not finish) and packs without an index (likewise) are harmless and only counted.

use std::collections::{BTreeMap, BTreeSet};

use ledger::admission::Rule;
use ledger::refs::RefName;
use ledger::signing::Trust;
use ledger::{Body, EntryId, StoredEntry};

use futures_util::StreamExt;

use crate::exchange::Progress;
use crate::pack::{PackError, PackPart, complete_packs, read_index, read_pack};
use crate::{Remote, RemoteError, get_ref};
use ledger::received::entry_of;

#[derive(Debug, Default)]
pub struct RemoteReport {
    /// Distinct entries checked, loose or in packs.
    pub objects: usize,
    /// Complete packs checked (a pack and its index).
    pub packs: usize,
    /// Packs without their index: left by a push that did not finish.
    pub unfinished_packs: usize,
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
    trust: &Trust,
    progress: &dyn Progress,
) -> Result<RemoteReport, RemoteError> {
    let mut downloaded = download_all(remote, progress).await?;
    let mut report = RemoteReport::default();
    let (complete, others) = complete_packs(&remote.list_pack_files().await?);
    for file in others {
        match file.key.part {
            PackPart::Pack => report.unfinished_packs += 1,
            PackPart::Index => report.damage.push(format!("pack {} has an index but no pack", file.key.id)),
        }
    }
    progress.start("checking packs", complete.len());
    for (pack, _) in complete {
        let read = match read_index(remote, pack).await {
            Ok(Some(index)) => read_pack(remote, pack, Some(&index)).await,
            Ok(None) => Ok(None),
            Err(error) => Err(error),
        };
        match read {
            Ok(Some(records)) => {
                report.packs += 1;
                downloaded.extend(records.into_iter().map(|(id, bytes)| (id, Some(bytes))));
            }
            Ok(None) => report.damage.push(format!("pack {pack} was listed but cannot be read")),
            Err(PackError::Remote(error)) => return Err(error),
            Err(error @ PackError::Bad { .. }) => report.damage.push(error.to_string()),
        }
        progress.advance(1);
    }
    progress.finish();
    // id → the ids it names, for every sound object.
    let mut sound: BTreeMap<EntryId, Vec<EntryId>> = BTreeMap::new();
    let mut checked = BTreeSet::new();
    // The environment of every deployment, for the signatures of outcomes (judged last).
    let mut environments: BTreeMap<EntryId, String> = BTreeMap::new();
    let mut outcomes = Vec::new();
    // Every copy (loose, in a pack, in two packs) is checked.
    for (id, bytes) in downloaded {
        checked.insert(id);
        let Some(bytes) = bytes else {
            report.damage.push(format!("object {id} is listed but cannot be read"));
            continue;
        };
        match entry_of(id, &bytes) {
            Ok(stored) => {
                sound.insert(id, stored.entry.references());
                match (&stored.entry.body, stored.entry.environment()) {
                    (Body::Outcome(_), _) => outcomes.push(stored),
                    (body, env) => {
                        if let Body::Deployment(deployment) = body {
                            environments.insert(id, deployment.env.clone());
                        }
                        judge_signature(trust, &stored, env, &mut report);
                    }
                }
            }
            Err(error) => report.damage.push(error.to_string()),
        }
    }
    for stored in outcomes {
        let env = stored.entry.parents.first().and_then(|deployment| environments.get(deployment));
        judge_signature(trust, &stored, env.map(String::as_str), &mut report);
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
    report.objects = checked.len();
    report.unreachable = sound.keys().filter(|id| !reached.contains(id)).count();
    Ok(report)
}

/// Reports `stored` when the signing policy does not accept its signature (or its lack of one).
fn judge_signature(trust: &Trust, stored: &StoredEntry, env: Option<&str>, report: &mut RemoteReport) {
    if let Some(problem) = trust.judge(stored, env).problem() {
        report.damage.push(format!("entry {} breaks rule {}: {problem}", stored.id, Rule::Signature));
    }
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

/// Every object the remote lists, downloaded 64 at a time: each id with its bytes (`None`:
/// it was gone by the time it was read).
async fn download_all<R: Remote>(
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
