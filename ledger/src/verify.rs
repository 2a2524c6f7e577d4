//! `verify`: re-hash every stored object, check every parent and ref resolves, hold every entry
//! to the rules entries are admitted by, and check each environment's materialised state
//! against the one its history implies. It reads the entries once, in recording order, on two
//! threads (one reads, hashes and decodes, the other checks), beside redb's page check on a
//! third, in memory that does not grow with the history (see docs/store.md, "Verify").

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};

use crate::admission::{Named, Recent, Refusal, Rules, Summary};
use crate::entry::SIGNED_FORMAT_VERSION;
use crate::entry::{Body, DeployResult, Entry, Outcome, StoredEntry};
use crate::history::State;
use crate::id::EntryId;
use crate::refs::RefName;
use crate::signing::Judgement;
use crate::signing::trust::{SignatureCheck, verify_signature};
use crate::store::{EnvLog, EnvLogRow, PageCheck, Reader, Source, Store, StoreError, id_key, ref_of};
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Damage {
    /// The bytes stored for `id` hash to another id: altered.
    HashMismatch {
        id: EntryId,
        actual: EntryId,
    },
    /// `id` is indexed, and no entry is stored for it.
    MissingObject {
        id: EntryId,
    },
    /// An entry is stored that no id points to.
    Unindexed {
        id: EntryId,
    },
    /// A row of the id index (the first 8 bytes of an id, a position) whose entry is lost or
    /// altered, and whose full id nothing else names.
    IndexRow {
        key: u64,
        seq: u64,
        actual: Option<EntryId>,
    },
    Undecodable {
        id: EntryId,
        error: String,
    },
    MissingParent {
        id: EntryId,
        parent: EntryId,
    },
    DanglingRef {
        name: String,
        target: EntryId,
    },
    /// The environment's log and its parent links disagree, or an entry of it is unusable.
    BrokenHistory {
        env: String,
        error: String,
    },
    /// An outcome whose deployment is not the latest of any environment (`None`: it names none).
    StrayOutcome {
        id: EntryId,
        deployment: Option<EntryId>,
    },
    StateMismatch {
        env: String,
        service: String,
        recorded: Option<EntryId>,
        from_history: Option<EntryId>,
    },
    /// An entry breaks a rule every entry is admitted by (see [`crate::admission`]).
    BreaksRule(Refusal),
    /// The metrics aggregates or the ordinal index disagree with the history (see
    /// [`crate::metrics::Rebuild`]).
    Derived(String),
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = |id: &Option<EntryId>| id.map_or_else(|| "nothing".to_string(), |id| id.short());
        match self {
            Damage::HashMismatch { id, actual } => {
                write!(f, "object {id}: its bytes hash to {actual} (corrupted or altered)")
            }
            Damage::MissingObject { id } => write!(f, "object {id}: indexed but not stored"),
            Damage::Unindexed { id } => write!(f, "object {id}: stored but not indexed"),
            Damage::IndexRow { key, seq, actual: Some(actual) } => {
                write!(f, "object {key:016x}… at #{seq}: its bytes hash to {actual} (corrupted or altered)")
            }
            Damage::IndexRow { key, seq, actual: None } => {
                write!(f, "object {key:016x}…: indexed at #{seq}, where no entry of such an id is stored")
            }
            Damage::Undecodable { id, error } => write!(f, "object {id}: cannot be decoded: {error}"),
            Damage::MissingParent { id, parent } => write!(f, "object {id}: parent {parent} is missing"),
            Damage::DanglingRef { name, target } => {
                write!(f, "ref {name}: points to missing object {target}")
            }
            Damage::BrokenHistory { env, error } => write!(f, "environment {env}: {error}"),
            Damage::StrayOutcome { id, deployment: Some(deployment) } => {
                write!(f, "outcome {id}: its deployment {deployment} is not awaiting an outcome")
            }
            Damage::StrayOutcome { id, deployment: None } => {
                write!(f, "outcome {id}: it names no deployment")
            }
            Damage::StateMismatch { env, service, recorded, from_history } => write!(
                f,
                "environment {env}, service {service}: recorded state is {}, history says {}",
                short(recorded),
                short(from_history)
            ),
            Damage::BreaksRule(refusal) => write!(f, "{refusal}"),
            Damage::Derived(problem) => write!(f, "{problem}"),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Report {
    pub objects: u64,
    pub refs: usize,
    pub environments: usize,
    /// Entries named from beyond the window of recent ones, read again from the store.
    pub looked_up: u64,
    /// Entries whose signature the signing policy believes.
    pub signed: u64,
    /// Unsigned entries recorded before the signing policy's `since`: not failures.
    pub unsigned_before_policy: u64,
    pub damage: Vec<Damage>,
}

impl Report {
    pub fn is_sound(&self) -> bool {
        self.damage.is_empty()
    }
}

/// How many entries' summaries `verify` keeps (see [`Recent`]): about 100 bytes each. An entry
/// named from further back is read again from the store.
pub const WINDOW: usize = 1 << 12;
/// Entries handed from the reading thread to the checking one at a time, and batches queued.
const BATCH: usize = 256;
const QUEUED_BATCHES: usize = 8;

/// What `verify` found of a ledger file.
pub enum Verified {
    /// The history was checked, and the pages were sound (`pages_checked`; `false`: the file is
    /// read-only here, and redb checks pages only where it may write).
    Checked { report: Report, pages_checked: bool },
    /// A page does not match its checksum: this says where.
    DamagedFile(String),
}

impl Verified {
    pub fn is_sound(&self) -> bool {
        matches!(self, Verified::Checked { report, .. } if report.is_sound())
    }
}

/// Verifies the ledger in `dir`: redb checks every page of the file against its checksum on one
/// handle while the history is checked through another. A damaged page is reported as such,
/// whatever the history check met meanwhile.
pub fn verify_dir(dir: &Path, rules: &Rules) -> Result<Verified, StoreError> {
    let Some(store) = Store::open_read_only(dir)? else {
        // Left unclean by a crash: the page check repairs it first, then the history is read.
        return match Store::check_pages(dir)? {
            PageCheck::Damaged(detail) => Ok(damaged_file(dir, &detail)),
            pages => {
                let report = verify(&Store::open_for_reading(dir)?.read()?, rules)?;
                Ok(Verified::Checked { report, pages_checked: pages == PageCheck::Sound })
            }
        };
    };
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let pages = scope.spawn(|| {
            let pages = Store::check_pages(dir);
            if !matches!(pages, Ok(PageCheck::Sound | PageCheck::Unchecked)) {
                stop.store(true, Ordering::Relaxed);
            }
            pages
        });
        // A damaged page may make the storage engine panic where the history crosses it.
        let history = catch_unwind(AssertUnwindSafe(|| verify_within(&store.read()?, rules, WINDOW, &stop)));
        match pages.join().unwrap_or_else(|panic| resume_unwind(panic))? {
            PageCheck::Damaged(detail) => Ok(damaged_file(dir, &detail)),
            pages => {
                let report = history.unwrap_or_else(|panic| resume_unwind(panic))?;
                Ok(Verified::Checked { report, pages_checked: pages == PageCheck::Sound })
            }
        }
    })
}

fn damaged_file(dir: &Path, detail: &str) -> Verified {
    Verified::DamagedFile(format!("the ledger file in {} is damaged: {detail}", dir.display()))
}

/// Checks the whole history, holding each entry to `rules` (see [`verify_within`]).
pub fn verify(reader: &Reader, rules: &Rules) -> Result<Report, StoreError> {
    verify_within(reader, rules, WINDOW, &AtomicBool::new(false))
}

/// Checks the whole history in one pass over the entries in recording order, holding each
/// entry to `rules`, with the summaries of at most `window` recent entries in memory (besides a
/// few per environment). Stops early, its report incomplete, once `stop` is set.
///
/// Each entry is taken to be where the id index places it, and the pass sums keyed hashes of
/// (id, position) over the entries and over the index to find out. Only if they disagree is the
/// pass made again, looking each entry up in the index, to tell exactly what is wrong.
pub fn verify_within(
    reader: &Reader,
    rules: &Rules,
    window: usize,
    stop: &AtomicBool,
) -> Result<Report, StoreError> {
    let summed = Placement::Summed(random_key());
    match pass(reader, rules, window, stop, &summed)? {
        Passed::Sound(report) => Ok(report),
        Passed::Stopped(report) => Ok(report),
        Passed::IndexDisagrees => match pass(reader, rules, window, stop, &Placement::LookedUp)? {
            Passed::Sound(report) | Passed::Stopped(report) => Ok(report),
            Passed::IndexDisagrees => unreachable!("a pass that looks entries up reports the index as it is"),
        },
    }
}

/// How a pass learns whether each entry is where the id index places it.
enum Placement {
    /// It takes it to be, and sums keyed hashes of both sides to find out at the end.
    Summed([u8; 32]),
    /// It looks each entry up in the index.
    LookedUp,
}

enum Passed {
    Sound(Report),
    Stopped(Report),
    /// The entries are not where the index says (a pass with [`Placement::Summed`]).
    IndexDisagrees,
}

fn pass(
    reader: &Reader,
    rules: &Rules,
    window: usize,
    stop: &AtomicBool,
    placement: &Placement,
) -> Result<Passed, StoreError> {
    let mut checker = Checker {
        reader,
        rules,
        recent: Recent::new(window),
        replays: BTreeMap::new(),
        unindexed: BTreeMap::new(),
        derived: crate::metrics::Rebuild::new(reader)?,
        report: Report::default(),
    };
    let sums = std::thread::scope(|scope| {
        let (batches, received) = sync_channel(QUEUED_BATCHES);
        let reading = scope.spawn(|| read_entries(reader, placement, stop, batches));
        for batch in received {
            let rows = batch.rows();
            let signatures = verify_signatures(&rows);
            for ((read, bytes), verified) in batch.entries.iter().zip(rows).zip(signatures) {
                checker.check(read, bytes, verified)?;
            }
        }
        reading.join().unwrap_or_else(|panic| resume_unwind(panic))
    })?;
    if stop.load(Ordering::Relaxed) {
        return Ok(Passed::Stopped(checker.report));
    }
    match (placement, sums) {
        (Placement::Summed(_), Some((entries, index))) if entries != index => {
            return Ok(Passed::IndexDisagrees);
        }
        (Placement::LookedUp, _) => checker.check_index()?,
        _ => {}
    }
    Ok(Passed::Sound(checker.finish()?))
}

/// Entries as read, in recording order: their stored bytes one after another, and for each its
/// position, the id its bytes hash to, where its bytes end, and whether the id index places it
/// there (with [`Placement::Summed`], taken to). They are decoded where they are checked, so
/// that what decoding allocates is freed by the thread that allocated it.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    entries: Vec<Read>,
}

struct Read {
    seq: u64,
    id: EntryId,
    end: usize,
    indexed: bool,
}

impl Batch {
    /// Each entry's stored bytes.
    fn rows(&self) -> Vec<&[u8]> {
        let mut start = 0;
        let mut rows = Vec::with_capacity(self.entries.len());
        for read in &self.entries {
            rows.push(&self.bytes[start..read.end]);
            start = read.end;
        }
        rows
    }
}

/// The signatures of a batch's entries, checked by themselves (see [`verify_signature`]) on
/// every core: by far the costliest check of a signed entry. A row that is not a signed entry
/// that decodes counts as unsigned here; checking it reports why.
fn verify_signatures(rows: &[&[u8]]) -> Vec<SignatureCheck> {
    let verify = |bytes: &&[u8]| match bytes.first() {
        Some(&SIGNED_FORMAT_VERSION) => match Entry::decode(bytes) {
            Ok((entry, signature)) => verify_signature(&entry, signature.as_ref()),
            Err(_) => SignatureCheck::Unsigned,
        },
        _ => SignatureCheck::Unsigned,
    };
    if !rows.iter().any(|bytes| bytes.first() == Some(&SIGNED_FORMAT_VERSION)) {
        return rows.iter().map(verify).collect();
    }
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = rows.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let parts: Vec<_> = rows
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(verify).collect::<Vec<_>>()))
            .collect();
        parts.into_iter().flat_map(|part| part.join().unwrap_or_else(|panic| resume_unwind(panic))).collect()
    })
}

/// Reads and hashes every entry in order, and hands them on in batches; stops when `stop` is
/// set or nobody takes them. With [`Placement::Summed`], returns the keyed sums of
/// (id, position) over the entries and over the id index.
fn read_entries(
    reader: &Reader,
    placement: &Placement,
    stop: &AtomicBool,
    batches: SyncSender<Batch>,
) -> Result<Option<(PlacementSum, PlacementSum)>, StoreError> {
    let mut stored = PlacementSum::default();
    let mut batch = Batch::default();
    let mut taken = true;
    reader.for_each_entry_while(|seq, bytes| {
        let id = EntryId::of_stored_bytes(bytes);
        let indexed = match placement {
            Placement::Summed(key) => {
                stored.add(key, id_key(&id), seq);
                true
            }
            Placement::LookedUp => reader.places(&id, seq)?,
        };
        batch.bytes.extend_from_slice(bytes);
        batch.entries.push(Read { seq, id, end: batch.bytes.len(), indexed });
        if batch.entries.len() == BATCH {
            taken = batches.send(std::mem::take(&mut batch)).is_ok();
        }
        Ok(taken && !stop.load(Ordering::Relaxed))
    })?;
    if taken && !batch.entries.is_empty() {
        taken = batches.send(batch).is_ok();
    }
    drop(batches);
    let Placement::Summed(key) = placement else { return Ok(None) };
    if !taken {
        return Ok(None);
    }
    let mut indexed = PlacementSum::default();
    reader.for_each_id_row(|id_key, seq| indexed.add(key, id_key, seq))?;
    Ok(Some((stored, indexed)))
}

/// The ids whose key (see [`id_key`]) is among `keys`, as the refs, the state and the entries
/// name them: what an index row of such a key stood for, when the entry it places is lost or
/// altered. One more pass over the history, made only for a damaged index.
fn named_ids(reader: &Reader, keys: &BTreeSet<u64>) -> Result<BTreeMap<u64, EntryId>, StoreError> {
    let mut named = BTreeMap::new();
    let mut note = |id: EntryId| {
        if keys.contains(&id_key(&id)) {
            named.entry(id_key(&id)).or_insert(id);
        }
    };
    reader.all_refs()?.into_iter().for_each(|(_, id)| note(id));
    reader.all_state_rows()?.into_iter().for_each(|(_, _, id, _)| note(id));
    reader.for_each_entry(|_, bytes| {
        if let Ok((entry, _)) = Entry::decode(bytes) {
            entry.named().for_each(&mut note);
        }
        Ok(())
    })?;
    Ok(named)
}

/// A sum of keyed hashes of (id key, position) pairs (the id index holds the key of an id,
/// [`id_key`]; where it places an entry, the key of the entry's id is what must be there). Two sets of pairs with the same sum and count
/// are the same set, but with a chance of 2^-128: the key is drawn anew for each check, so no
/// damage can be made to agree with it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct PlacementSum {
    count: u64,
    sum: u128,
}

impl PlacementSum {
    fn add(&mut self, key: &[u8; 32], id_key: u64, seq: u64) {
        let mut hasher = blake3::Hasher::new_keyed(key);
        hasher.update(&id_key.to_le_bytes());
        hasher.update(&seq.to_le_bytes());
        let mut lane = [0u8; 16];
        lane.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
        self.sum = self.sum.wrapping_add(u128::from_le_bytes(lane));
        self.count += 1;
    }
}

/// A key nobody can know in advance: from the standard library's random hash keys (seeded by
/// the operating system) and the time.
fn random_key() -> [u8; 32] {
    use std::hash::{BuildHasher, RandomState};
    let mut hasher = blake3::Hasher::new();
    for part in 0..4u8 {
        hasher.update(&RandomState::new().hash_one(part).to_le_bytes());
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    hasher.update(&now.as_nanos().to_le_bytes());
    *hasher.finalize().as_bytes()
}

/// Whether an entry named by another is in the ledger.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Presence {
    /// Its summary is held.
    Held,
    Absent,
    /// Indexed, but its bytes are not those of its id or do not decode (reported where it is).
    Unusable,
}

/// The checking side of a pass: takes the entries in recording order.
struct Checker<'r> {
    reader: &'r Reader,
    rules: &'r Rules,
    recent: Recent,
    replays: BTreeMap<String, Replay<'r>>,
    /// Entries whose id the index does not place where they are (with [`Placement::LookedUp`]).
    unindexed: BTreeMap<u64, EntryId>,
    /// The metrics tables rebuilt from the history, compared with the stored ones at the end.
    derived: crate::metrics::Rebuild<'r>,
    report: Report,
}

impl<'r> Checker<'r> {
    fn check(&mut self, read: &Read, bytes: &[u8], verified: SignatureCheck) -> Result<(), StoreError> {
        self.report.objects += 1;
        let (seq, id) = (read.seq, read.id);
        if !read.indexed {
            self.unindexed.insert(seq, id);
            return Ok(());
        }
        let stored = match StoredEntry::decoded(id, bytes) {
            Ok(stored) => stored,
            Err(error) => {
                self.report.damage.push(Damage::Undecodable { id, error: error.to_string() });
                return Ok(());
            }
        };
        let entry = &stored.entry;
        let mut usable = true;
        for (position, named) in entry.named().enumerate() {
            match self.resolve(&named)? {
                Presence::Held => {}
                Presence::Absent if position < entry.parents.len() => {
                    self.report.damage.push(Damage::MissingParent { id, parent: named })
                }
                Presence::Absent => {}
                Presence::Unusable => usable = false,
            }
        }
        // An outcome whose deployment is not one is reported below, as a stray.
        if usable && let Some(on) = self.history_ref(entry) {
            match self.rules.check_stored_verified(&on, &stored, &self.recent, verified) {
                Ok(Judgement::Valid { .. }) => self.report.signed += 1,
                Ok(Judgement::UnsignedBeforePolicy) => self.report.unsigned_before_policy += 1,
                Ok(_) => {}
                Err(broken) => {
                    let refusal = Refusal { id, on: on.to_string(), broken };
                    self.report.damage.push(Damage::BreaksRule(refusal));
                }
            }
        }
        self.derived.add(seq, &stored)?;
        let entry = stored.entry;
        match &entry.body {
            Body::Deployment(deployment) => {
                if !self.replays.contains_key(&deployment.env) {
                    let replay = Replay::new(self.reader.env_log_rows(&deployment.env)?);
                    self.replays.insert(deployment.env.clone(), replay);
                }
                if let Some(replay) = self.replays.get_mut(&deployment.env) {
                    replay.deployment(id, seq, &entry.parents)?;
                }
            }
            Body::Outcome(outcome) => {
                let deployment = entry.parents.first().copied();
                let env = deployment.and_then(|d| self.recent.summary(&d)).and_then(Summary::deployment);
                let replay = env
                    .and_then(|(env, _)| self.replays.get_mut(env))
                    .filter(|replay| deployment.is_some_and(|d| replay.awaits(d)));
                match replay {
                    Some(replay) => replay.outcome(id, seq, &entry.parents, outcome),
                    None => self.report.damage.push(Damage::StrayOutcome { id, deployment }),
                }
            }
            Body::Release(_)
            | Body::ReleaseSet(_)
            | Body::Approval(_)
            | Body::Freeze(_)
            | Body::Unfreeze(_)
            | Body::Quarantine(_)
            | Body::TaskRun(_) => {}
        }
        self.recent.insert(id, Summary::of(&entry));
        self.recent.trim();
        Ok(())
    }

    /// Holds the summary of entry `id` if the ledger has it, from the window or the store.
    fn resolve(&mut self, id: &EntryId) -> Result<Presence, StoreError> {
        if self.recent.contains(id) {
            return Ok(Presence::Held);
        }
        match self.reader.entry(id) {
            Ok(Some(stored)) => {
                self.report.looked_up += 1;
                self.recent.insert(*id, Summary::of(&stored.entry));
                Ok(Presence::Held)
            }
            Ok(None) => Ok(Presence::Absent),
            Err(StoreError::Damaged(_) | StoreError::Corrupt { .. }) => Ok(Presence::Unusable),
            Err(error) => Err(error),
        }
    }

    /// The ref whose history `entry` is part of, from the summaries held (an outcome's is its
    /// deployment's environment): `None` for an outcome whose first parent is no deployment.
    fn history_ref(&self, entry: &Entry) -> Option<RefName> {
        ref_of(&entry.body).or_else(|| {
            let deployment = self.recent.summary(entry.parents.first()?)?;
            deployment.deployment().map(|(env, _)| RefName::env(env))
        })
    }

    /// With [`Placement::LookedUp`]: the index rows whose entry was not found where they say,
    /// and the entries no row places.
    fn check_index(&mut self) -> Result<(), StoreError> {
        let matched = self.report.objects - self.unindexed.len() as u64;
        let mut rows = 0;
        self.reader.for_each_id_row(|_, _| rows += 1)?;
        if rows != matched {
            // Read back what each row names: random reads, made only for a damaged index.
            let mut rows = Vec::new();
            self.reader.for_each_id_row(|key, seq| rows.push((key, seq)))?;
            let mut wrong = Vec::new();
            for (key, seq) in rows {
                let holds_it = match self.reader.raw_at(seq) {
                    Ok(stored) => {
                        stored.is_some_and(|bytes| id_key(&EntryId::of_stored_bytes(&bytes)) == key)
                    }
                    // A row that does not unpack holds no entry's bytes.
                    Err(StoreError::Damaged(_)) => false,
                    Err(error) => return Err(error),
                };
                if !holds_it {
                    wrong.push((key, seq));
                }
            }
            let named = named_ids(self.reader, &wrong.iter().map(|(key, _)| *key).collect())?;
            for (key, seq) in wrong {
                let actual = self.unindexed.remove(&seq);
                self.report.damage.push(match (named.get(&key), actual) {
                    (Some(&id), Some(actual)) => Damage::HashMismatch { id, actual },
                    (Some(&id), None) => Damage::MissingObject { id },
                    (None, actual) => Damage::IndexRow { key, seq, actual },
                });
            }
        }
        let unindexed = std::mem::take(&mut self.unindexed);
        self.report.damage.extend(unindexed.into_values().map(|id| Damage::Unindexed { id }));
        Ok(())
    }

    /// After the last entry: the refs, the state rows and each environment's end.
    fn finish(mut self) -> Result<Report, StoreError> {
        let reader = self.reader;
        let mut report = self.report;
        report.damage.extend(self.derived.mismatches()?.into_iter().map(Damage::Derived));
        for replay in self.replays.values_mut() {
            replay.finish()?;
        }
        let refs = reader.all_refs()?;
        report.refs = refs.len();
        let mut heads: BTreeMap<String, EntryId> = BTreeMap::new();
        for (name, target) in &refs {
            if reader.seq_of(target)?.is_none() {
                report.damage.push(Damage::DanglingRef { name: name.clone(), target: *target });
            } else if let Some(env) = RefName::parse(name).as_ref().and_then(RefName::env_name) {
                heads.insert(env.to_string(), *target);
            }
        }
        let mut recorded: BTreeMap<String, State> = BTreeMap::new();
        for (env, service, release, seq) in reader.all_state_rows()? {
            if reader.seq_of(&release)?.is_some_and(|indexed| indexed != seq) {
                let error = format!("its state names release {release} at position #{seq}, where it is not");
                report.damage.push(Damage::BrokenHistory { env: env.clone(), error });
            }
            recorded.entry(env).or_default().insert(service, release);
        }
        let mut logged: BTreeMap<String, usize> = BTreeMap::new();
        reader.for_each_env_log_row(|env, _| {
            match logged.get_mut(env) {
                Some(count) => *count += 1,
                None => {
                    logged.insert(env.to_string(), 1);
                }
            };
        })?;

        let envs: BTreeSet<&String> =
            heads.keys().chain(recorded.keys()).chain(logged.keys()).chain(self.replays.keys()).collect();
        report.environments = envs.len();
        let no_state = State::new();
        for env in envs {
            let (head, logged) = (heads.get(env).copied(), logged.get(env).copied().unwrap_or(0));
            let error = match self.replays.get(env) {
                Some(replay) => replay.error(head, logged),
                None => Replay::ends_at(None, 0, head, logged),
            };
            match error {
                Some(error) => report.damage.push(Damage::BrokenHistory { env: env.clone(), error }),
                None => {
                    let from_history = self.replays.get(env).map_or(&no_state, |replay| &replay.state);
                    compare_states(
                        env,
                        recorded.get(env).unwrap_or(&no_state),
                        from_history,
                        &mut report.damage,
                    )
                }
            }
        }
        Ok(report)
    }
}

/// One environment's history replayed in recording order: every deployment must follow the
/// previous head, every outcome its deployment, and the log must list them all, in order. The
/// log is read alongside, row by row.
struct Replay<'r> {
    head: Option<EntryId>,
    /// The latest deployment while it has no final outcome.
    open: Option<EntryId>,
    /// Its `submitted` outcome, if it has one: the final outcome's second parent.
    submitted: Option<EntryId>,
    /// (deployment seq, outcome seq or 0) of the latest deployment: what the log must say next,
    /// once its outcome is known.
    row: Option<(u64, u64)>,
    /// The deployments replayed so far.
    rows: usize,
    /// The environment's log, from the row after the last one compared.
    log: EnvLog<'r>,
    /// The first row where the log disagrees with the history.
    log_mismatch: Option<String>,
    state: State,
    /// The first thing found wrong in the history; the replay stops there.
    broken: Option<String>,
}

impl<'r> Replay<'r> {
    fn new(log: EnvLog<'r>) -> Replay<'r> {
        Replay {
            head: None,
            open: None,
            submitted: None,
            row: None,
            rows: 0,
            log,
            log_mismatch: None,
            state: State::new(),
            broken: None,
        }
    }

    fn awaits(&self, deployment: EntryId) -> bool {
        self.broken.is_none() && self.open == Some(deployment)
    }

    fn deployment(&mut self, id: EntryId, seq: u64, parents: &[EntryId]) -> Result<(), StoreError> {
        if self.broken.is_some() {
            return Ok(());
        }
        if let Some(in_flight) = self.open {
            self.broken = Some(format!("deployment {id} was recorded while {in_flight} had no outcome"));
        } else if parents != self.head.as_slice() {
            self.broken = Some(format!("deployment {id} does not follow the environment's previous head"));
        }
        self.compare_row()?;
        self.head = Some(id);
        self.open = Some(id);
        self.row = Some((seq, 0));
        self.rows += 1;
        Ok(())
    }

    fn outcome(&mut self, id: EntryId, seq: u64, parents: &[EntryId], outcome: &Outcome) {
        let expected: Vec<EntryId> = self.open.into_iter().chain(self.submitted).collect();
        if parents != expected.as_slice() {
            self.broken = Some(format!("outcome {id} does not follow its deployment's earlier outcome"));
            return;
        }
        if outcome.result == DeployResult::Submitted {
            self.submitted = Some(id);
        } else {
            self.open = None;
            self.submitted = None;
        }
        if let Some(row) = &mut self.row {
            row.1 = seq;
        }
        for (service, result) in &outcome.services {
            if let Some(running) = result.running {
                self.state.insert(service.clone(), running);
            }
        }
        self.head = Some(id);
    }

    /// Compares the latest deployment's row with the log's next one.
    fn compare_row(&mut self) -> Result<(), StoreError> {
        let Some(row) = self.row.take() else { return Ok(()) };
        let logged = self.log.next().transpose()?;
        if let Some(logged) = logged {
            self.mismatch(self.rows - 1, Some(row), logged);
        }
        Ok(())
    }

    fn mismatch(&mut self, position: usize, row: Option<(u64, u64)>, logged: EnvLogRow) {
        let logged = (logged.deployment, logged.outcome.unwrap_or(0));
        if self.broken.is_none() && self.log_mismatch.is_none() && row != Some(logged) {
            self.log_mismatch = Some(format!(
                "its log's row {} (#{}, #{}) is not what its history says",
                position + 1,
                logged.0,
                logged.1
            ));
        }
    }

    /// After the last entry: the last row, and a log that goes on beyond the history.
    fn finish(&mut self) -> Result<(), StoreError> {
        self.compare_row()?;
        if let Some(beyond) = self.log.next().transpose()? {
            self.mismatch(self.rows, None, beyond);
        }
        Ok(())
    }

    /// What is wrong with the history, the log, or how they end (the head ref, the log's length).
    fn error(&self, head: Option<EntryId>, logged: usize) -> Option<String> {
        (self.broken.clone())
            .or_else(|| self.log_mismatch.clone())
            .or_else(|| Replay::ends_at(self.head, self.rows, head, logged))
    }

    /// What is wrong with how a history that ends at `ended` after `rows` deployments ends.
    fn ends_at(ended: Option<EntryId>, rows: usize, head: Option<EntryId>, logged: usize) -> Option<String> {
        let name = |id: Option<EntryId>| id.map_or_else(|| "nothing".to_string(), |id| id.short());
        if head != ended {
            return Some(format!("its head is {}, but its history ends at {}", name(head), name(ended)));
        }
        if logged != rows {
            return Some(format!("its log lists {logged} deployments, its history has {rows}"));
        }
        None
    }
}

fn compare_states(env: &str, recorded: &State, from_history: &State, damage: &mut Vec<Damage>) {
    for diff in crate::diff::diff_states(recorded, from_history) {
        if diff.from != diff.to {
            damage.push(Damage::StateMismatch {
                env: env.to_string(),
                service: diff.service,
                recorded: diff.from,
                from_history: diff.to,
            });
        }
    }
}
