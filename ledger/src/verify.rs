//! `verify`: re-hash every stored object, check every parent and ref resolves, and check each
//! environment's materialised state against the one its history implies.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::entry::Entry;
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
    StateMismatch {
        env: String,
        service: String,
        recorded: Option<EntryId>,
        from_history: Option<EntryId>,
    },
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
            Damage::StateMismatch { env, service, recorded, from_history } => write!(
                f,
                "environment {env}, service {service}: recorded state is {}, history says {}",
                short(recorded),
                short(from_history)
            ),
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

/// Checks the whole ledger in a few sequential passes. Memory grows by 25 bytes per entry:
/// the sorted id index held in memory replaces a random lookup per parent.
pub fn verify(reader: &Reader) -> Result<Report, StoreError> {
    let mut report = Report::default();
    // (id prefix, seq), sorted by id as the index table is. 128 bits of a BLAKE3 id tell a
    // missing parent from a present one with certainty for any ledger that fits on a disk.
    let mut index = Vec::new();
    reader.for_each_id(|id, seq| index.push((id_prefix(&id), seq)))?;
    let find = |id: &EntryId| index.binary_search_by_key(&id_prefix(id), |(prefix, _)| *prefix).ok();
    let mut matched = vec![false; index.len()];
    let mut unindexed: BTreeMap<u64, EntryId> = BTreeMap::new();

    reader.for_each_entry(|seq, bytes| {
        report.objects += 1;
        let id = EntryId::of_stored_bytes(bytes);
        match find(&id).filter(|i| index[*i].1 == seq) {
            Some(i) => matched[i] = true,
            None => {
                unindexed.insert(seq, id);
                return Ok(());
            }
        }
        match Entry::decode(bytes) {
            Ok(entry) => {
                for parent in entry.parents.iter().filter(|parent| find(parent).is_none()) {
                    report.damage.push(Damage::MissingParent { id, parent: *parent });
                }
            }
            Err(error) => report.damage.push(Damage::Undecodable { id, error: error.to_string() }),
        }
        Ok(())
    })?;
    // Indexed ids whose entry was not found where the index says: altered or lost.
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
    report.damage.extend(unindexed.into_values().map(|id| Damage::Unindexed { id }));

    let refs = reader.all_refs()?;
    report.refs = refs.len();
    let mut heads: BTreeMap<String, EntryId> = BTreeMap::new();
    for (name, target) in &refs {
        if find(target).is_none() {
            report.damage.push(Damage::DanglingRef { name: name.clone(), target: *target });
        } else if let Some(env) = name.strip_prefix("env/") {
            heads.insert(env.to_string(), *target);
        }
    }
    let mut recorded: BTreeMap<String, State> = BTreeMap::new();
    for (env, service, release) in reader.all_state_rows()? {
        recorded.entry(env).or_default().insert(service, release);
    }
    let mut logs: BTreeMap<String, Vec<EnvLogRow>> = BTreeMap::new();
    reader.for_each_env_log_row(|env, row| logs.entry(env.to_string()).or_default().push(row))?;
    let envs: BTreeSet<String> = heads.keys().chain(recorded.keys()).chain(logs.keys()).cloned().collect();
    report.environments = envs.len();
    let no_rows = Vec::new();
    let no_state = State::new();
    for env in &envs {
        let rows = logs.get(env).unwrap_or(&no_rows);
        match replay(reader, env, rows, heads.get(env).copied()) {
            Ok(from_history) => {
                compare_states(env, recorded.get(env).unwrap_or(&no_state), &from_history, &mut report.damage)
            }
            Err(error) => report.damage.push(Damage::BrokenHistory { env: env.clone(), error }),
        }
    }
    Ok(report)
}

fn id_prefix(id: &EntryId) -> u128 {
    let mut prefix = [0u8; 16];
    prefix.copy_from_slice(&id.0[..16]);
    u128::from_be_bytes(prefix)
}

/// Replays `env`'s log from its first deployment: checks every parent link along it and that
/// it ends at the environment's head, and returns the state its outcomes observed.
fn replay(reader: &Reader, env: &str, rows: &[EnvLogRow], head: Option<EntryId>) -> Result<State, String> {
    let mut state = State::new();
    let mut previous: Option<EntryId> = None;
    let load = |seq: u64| match reader.entry_at(seq) {
        Ok(Some(stored)) => Ok(stored),
        Ok(None) => Err(format!("its log names entry #{seq}, which is not stored")),
        Err(error) => Err(error.to_string()),
    };
    for row in rows {
        let deployment = load(row.deployment)?;
        match deployment.entry.as_deployment() {
            Some(d) if d.env == env => {}
            _ => return Err(format!("{} is in its log but is not a deployment to it", deployment.id)),
        }
        if deployment.entry.parents != previous.into_iter().collect::<Vec<_>>() {
            return Err(format!("deployment {} does not follow the one before it in the log", deployment.id));
        }
        previous = Some(deployment.id);
        if let Some(seq) = row.outcome {
            let outcome = load(seq)?;
            let Some(observed) =
                outcome.entry.as_outcome().filter(|_| outcome.entry.parents == [deployment.id])
            else {
                return Err(format!(
                    "{} is logged as the outcome of {}, and is not",
                    outcome.id, deployment.id
                ));
            };
            for (service, result) in &observed.services {
                if let Some(running) = result.running {
                    state.insert(service.clone(), running);
                }
            }
            previous = Some(outcome.id);
        }
    }
    if previous != head {
        let name = |id: Option<EntryId>| id.map_or_else(|| "nothing".to_string(), |id| id.short());
        return Err(format!("its head is {}, but its log ends at {}", name(head), name(previous)));
    }
    Ok(state)
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
