//! `verify`: re-hash every stored object, check every parent and ref resolves, and check each
//! environment's materialised state against the one its history implies.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::entry::{Body, Entry};
use crate::history::{self, State};
use crate::id::EntryId;
use crate::store::{Reader, Source, StoreError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Damage {
    /// The stored bytes do not hash to the id they are stored under.
    HashMismatch {
        id: EntryId,
        actual: EntryId,
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
    /// The history could not be walked for this environment.
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
            Damage::Undecodable { id, error } => {
                write!(f, "object {id}: cannot be decoded: {error}")
            }
            Damage::MissingParent { id, parent } => {
                write!(f, "object {id}: parent {parent} is missing")
            }
            Damage::DanglingRef { name, target } => {
                write!(f, "ref {name}: points to missing object {target}")
            }
            Damage::BrokenHistory { env, error } => {
                write!(f, "environment {env}: history cannot be walked: {error}")
            }
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

/// Checks the whole ledger. Memory grows by 16 bytes per entry (a sorted list of id prefixes
/// replaces a random lookup per parent); everything else streams.
pub fn verify(reader: &Reader) -> Result<Report, StoreError> {
    let mut report = Report::default();
    // The table is ordered by id, so the prefixes come sorted. 128 bits of a BLAKE3 id tell a
    // missing parent from a present one with certainty for any ledger that fits on a disk.
    let mut known = Vec::new();
    reader.for_each_object(|id, _| {
        known.push(id_prefix(&id));
        Ok(())
    })?;
    let exists = |id: &EntryId| known.binary_search(&id_prefix(id)).is_ok();

    reader.for_each_object(|id, bytes| {
        report.objects += 1;
        let actual = EntryId::of_stored_bytes(bytes);
        if actual != id {
            report.damage.push(Damage::HashMismatch { id, actual });
            return Ok(());
        }
        match Entry::decode(bytes) {
            Ok(entry) => {
                for parent in entry.parents.iter().filter(|parent| !exists(parent)) {
                    report.damage.push(Damage::MissingParent { id, parent: *parent });
                }
            }
            Err(error) => report.damage.push(Damage::Undecodable { id, error: error.to_string() }),
        }
        Ok(())
    })?;

    // Per environment: what its state records, and every service it ever deployed.
    let mut recorded: BTreeMap<String, State> = BTreeMap::new();
    let mut services: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (env, service, release) in reader.all_state_rows()? {
        services.entry(env.clone()).or_default().insert(service.clone());
        recorded.entry(env).or_default().insert(service, release);
    }
    for (env, service) in reader.deployed_services()? {
        services.entry(env).or_default().insert(service);
    }
    let refs = reader.all_refs()?;
    report.refs = refs.len();
    for (name, target) in &refs {
        if !exists(target) {
            report.damage.push(Damage::DanglingRef { name: name.clone(), target: *target });
            continue;
        }
        if let Some(env) = name.strip_prefix("env/") {
            services.entry(env.to_string()).or_default();
        }
    }
    report.environments = services.len();
    let no_state = State::new();
    for (env, services) in &services {
        match state_from_history(reader, env, services) {
            Ok(from_history) => {
                compare_states(env, recorded.get(env).unwrap_or(&no_state), &from_history, &mut report.damage)
            }
            Err(error) => {
                report.damage.push(Damage::BrokenHistory { env: env.clone(), error: error.to_string() })
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

/// What `env`'s history says runs there, for `services`: the newest outcome that observed each.
/// Walks back from the head only until every one of them is decided.
fn state_from_history(
    reader: &Reader,
    env: &str,
    services: &BTreeSet<String>,
) -> Result<State, history::HistoryError> {
    let mut state = State::new();
    let mut cursor = reader.ref_target(&crate::store::refs::env(env))?;
    while let Some(id) = cursor {
        if services.iter().all(|service| state.contains_key(service)) {
            break;
        }
        let stored = reader.entry(&id)?.ok_or(history::HistoryError::Missing { env: env.to_string(), id })?;
        if let Body::Outcome(outcome) = &stored.entry.body {
            for (service, result) in &outcome.services {
                if let Some(running) = result.running {
                    state.entry(service.clone()).or_insert(running);
                }
            }
        }
        cursor = stored.entry.parents.first().copied();
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
