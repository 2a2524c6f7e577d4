//! `verify`: re-hash every stored object, check every parent and ref resolves, hold every entry
//! to the rules entries are admitted by, and check each environment's materialised state
//! against the one its history implies.

use crate::refs::RefName;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::admission::{Refusal, Rules};
use crate::entry::{Body, DeployResult, Entry, Outcome, StoredEntry};
use crate::history::State;
use crate::id::EntryId;
use crate::store::{EnvLogRow, Reader, Source, StoreError};

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
    pub damage: Vec<Damage>,
}

impl Report {
    pub fn is_sound(&self) -> bool {
        self.damage.is_empty()
    }
}

/// Checks the whole ledger in one ordered pass over the entries (plus two over the id index),
/// holding each entry to `rules`. Memory grows by 25 bytes per entry: the id index held in
/// memory replaces a random lookup per parent.
pub fn verify(reader: &Reader, rules: &Rules) -> Result<Report, StoreError> {
    let mut report = Report::default();
    // Id prefixes and seqs, sorted by id as the index table is. 128 bits of a BLAKE3 id tell a
    // missing parent from a present one with certainty for any ledger that fits on a disk.
    let (mut prefixes, mut seqs) = (Vec::new(), Vec::new());
    reader.for_each_id(|id, seq| {
        prefixes.push(id_prefix(&id));
        seqs.push(seq);
    })?;
    let find = |id: &EntryId| prefixes.binary_search(&id_prefix(id)).ok();
    let mut matched = vec![false; prefixes.len()];
    let mut unindexed: BTreeMap<u64, EntryId> = BTreeMap::new();
    let mut replays: BTreeMap<String, Replay> = BTreeMap::new();
    let mut derived = crate::metrics::Rebuild::new(reader)?;

    reader.for_each_entry(|seq, bytes| {
        report.objects += 1;
        let id = EntryId::of_stored_bytes(bytes);
        match find(&id).filter(|i| seqs[*i] == seq) {
            Some(i) => matched[i] = true,
            None => {
                unindexed.insert(seq, id);
                return Ok(());
            }
        }
        let entry = match Entry::decode(bytes) {
            Ok(entry) => entry,
            Err(error) => {
                report.damage.push(Damage::Undecodable { id, error: error.to_string() });
                return Ok(());
            }
        };
        for parent in entry.parents.iter().filter(|parent| find(parent).is_none()) {
            report.damage.push(Damage::MissingParent { id, parent: *parent });
        }
        let stored = StoredEntry { id, entry };
        derived.add(seq, &stored)?;
        match rules.admit_in_history(reader, &stored) {
            Ok(()) => {}
            Err(StoreError::Refused(refusal)) => report.damage.push(Damage::BreaksRule(*refusal)),
            // An outcome without its deployment, or a named entry that does not decode or was
            // altered: each is reported where it is found.
            Err(StoreError::Conflict(_) | StoreError::Corrupt { .. } | StoreError::Damaged(_)) => {}
            Err(error) => return Err(error),
        }
        let entry = stored.entry;
        match &entry.body {
            Body::Deployment(deployment) => {
                let replay = replays.entry(deployment.env.clone()).or_default();
                replay.deployment(id, seq, &entry.parents);
            }
            Body::Outcome(outcome) => {
                let deployment = entry.parents.first().copied();
                match replays.iter_mut().find(|(_, replay)| deployment.is_some_and(|d| replay.awaits(d))) {
                    Some((_, replay)) => replay.outcome(id, seq, &entry.parents, outcome),
                    None => report.damage.push(Damage::StrayOutcome { id, deployment }),
                }
            }
            Body::Release(_) | Body::ReleaseSet(_) => {}
        }
        Ok(())
    })?;
    // Indexed ids whose entry was not found where the index says: altered or lost.
    if matched.contains(&false) {
        let mut position = 0;
        reader.for_each_id(|id, seq| {
            if !matched[position] {
                report.damage.push(match unindexed.remove(&seq) {
                    Some(actual) => Damage::HashMismatch { id, actual },
                    None => Damage::MissingObject { id },
                });
            }
            position += 1;
        })?;
    }
    report.damage.extend(unindexed.into_values().map(|id| Damage::Unindexed { id }));
    report.damage.extend(derived.mismatches()?.into_iter().map(Damage::Derived));

    let refs = reader.all_refs()?;
    report.refs = refs.len();
    let mut heads: BTreeMap<String, EntryId> = BTreeMap::new();
    for (name, target) in &refs {
        if find(target).is_none() {
            report.damage.push(Damage::DanglingRef { name: name.clone(), target: *target });
        } else if let Some(env) = RefName::parse(name).as_ref().and_then(RefName::env_name) {
            heads.insert(env.to_string(), *target);
        }
    }
    let mut recorded: BTreeMap<String, State> = BTreeMap::new();
    for (env, service, release, seq) in reader.all_state_rows()? {
        if find(&release).is_some_and(|i| seqs[i] != seq) {
            let error = format!("its state names release {release} at position #{seq}, where it is not");
            report.damage.push(Damage::BrokenHistory { env: env.clone(), error });
        }
        recorded.entry(env).or_default().insert(service, release);
    }
    // The environment logs, read once in order, must list exactly what the replay saw.
    let mut logged: BTreeMap<String, usize> = BTreeMap::new();
    reader.for_each_env_log_row(|env, row| {
        let position = logged.entry(env.to_string()).or_default();
        if let Some(replay) = replays.get_mut(env) {
            replay.check_logged(*position, row);
        }
        *position += 1;
    })?;

    let envs: BTreeSet<String> =
        heads.keys().chain(recorded.keys()).chain(logged.keys()).chain(replays.keys()).cloned().collect();
    report.environments = envs.len();
    let (no_replay, no_state) = (Replay::default(), State::new());
    for env in &envs {
        let replay = replays.get(env).unwrap_or(&no_replay);
        let error = replay
            .broken
            .clone()
            .or_else(|| replay.ends_at(heads.get(env).copied(), logged.get(env).copied().unwrap_or(0)));
        match error {
            Some(error) => report.damage.push(Damage::BrokenHistory { env: env.clone(), error }),
            None => {
                compare_states(env, recorded.get(env).unwrap_or(&no_state), &replay.state, &mut report.damage)
            }
        }
    }
    Ok(report)
}

fn id_prefix(id: &EntryId) -> u128 {
    let mut prefix = [0u8; 16];
    prefix.copy_from_slice(&id.0[..16]);
    u128::from_be_bytes(prefix)
}

/// One environment's history replayed in recording order: every deployment must follow the
/// previous head, every outcome its deployment, and the log must list them all, in order.
#[derive(Default)]
struct Replay {
    head: Option<EntryId>,
    /// The latest deployment while it has no final outcome.
    open: Option<EntryId>,
    /// Its `submitted` outcome, if it has one: the final outcome's second parent.
    submitted: Option<EntryId>,
    /// (deployment seq, outcome seq or 0) of every deployment: what the log must say.
    rows: Vec<(u64, u64)>,
    state: State,
    /// The first thing found wrong; the replay stops there.
    broken: Option<String>,
}

impl Replay {
    fn awaits(&self, deployment: EntryId) -> bool {
        self.broken.is_none() && self.open == Some(deployment)
    }

    fn deployment(&mut self, id: EntryId, seq: u64, parents: &[EntryId]) {
        if self.broken.is_some() {
            return;
        }
        if let Some(in_flight) = self.open {
            self.broken = Some(format!("deployment {id} was recorded while {in_flight} had no outcome"));
        } else if parents != self.head.as_slice() {
            self.broken = Some(format!("deployment {id} does not follow the environment's previous head"));
        }
        self.head = Some(id);
        self.open = Some(id);
        self.rows.push((seq, 0));
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
        if let Some(row) = self.rows.last_mut() {
            row.1 = seq;
        }
        for (service, result) in &outcome.services {
            if let Some(running) = result.running {
                self.state.insert(service.clone(), running);
            }
        }
        self.head = Some(id);
    }

    /// Compares the log's row at `position` with what the replay saw there.
    fn check_logged(&mut self, position: usize, row: EnvLogRow) {
        if self.broken.is_some() {
            return;
        }
        let logged = (row.deployment, row.outcome.unwrap_or(0));
        if self.rows.get(position) != Some(&logged) {
            self.broken = Some(format!(
                "its log's row {} (#{}, #{}) is not what its history says",
                position + 1,
                logged.0,
                logged.1
            ));
        }
    }

    /// What is wrong with how the history ends: the head ref and the log's length.
    fn ends_at(&self, head: Option<EntryId>, logged: usize) -> Option<String> {
        let name = |id: Option<EntryId>| id.map_or_else(|| "nothing".to_string(), |id| id.short());
        if head != self.head {
            return Some(format!("its head is {}, but its history ends at {}", name(head), name(self.head)));
        }
        if logged != self.rows.len() {
            return Some(format!("its log lists {logged} deployments, its history has {}", self.rows.len()));
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
