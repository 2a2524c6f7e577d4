//! Delivery metrics of an environment, week by week: how often it is deployed to, how often a
//! deployment fails, how long it takes to recover, and how long a commit takes to get there.
//!
//! They are kept as the ledger grows: every entry the store indexes adds to per-environment,
//! per-week aggregates in the same write transaction ([`fold`]), so a window of any length is
//! read from a few rows, and every deployment is counted. `verify` rebuilds them from the
//! history ([`Rebuild`]) and compares. A week runs from Monday 00:00 UTC to the next.
//!
//! What is counted, per environment and week (the week of the deployment's `at`):
//! - deployments: every deployment recorded;
//! - concluded: those whose outcome is `succeeded`, `failed` or `rolled_back`;
//! - failures: those `failed` or `rolled_back`;
//! - time to restore: for each failure, seconds from the failed deployment to the next
//!   `succeeded` outcome of the environment (a failure not recovered from yet has none);
//! - lead time: for each service a `succeeded` deployment changed to a release with a commit
//!   time, seconds from the commit to the outcome.
//!
//! Times to restore and lead times are kept as exact counts per whole second, so medians over
//! any window are exact.

use std::collections::{BTreeMap, BTreeSet};

use redb::{ReadableTable, Table};

use crate::entry::{Body, DeployResult, StoredEntry};
use crate::id::EntryId;
use crate::store::{Derived, EnvLog, Reader, Source, StoreError, db_error};
use crate::timestamp::Timestamp;

const WEEK_MICROS: i64 = 7 * 86_400 * 1_000_000;
/// 1970-01-05 00:00 UTC, the first Monday of the Unix epoch.
const FIRST_MONDAY_MICROS: i64 = 4 * 86_400 * 1_000_000;

/// The start (Monday 00:00 UTC) of the week holding `at`.
pub fn week_of(at: Timestamp) -> Timestamp {
    let index = (at.0 - FIRST_MONDAY_MICROS).div_euclid(WEEK_MICROS);
    Timestamp(index * WEEK_MICROS + FIRST_MONDAY_MICROS)
}

/// The counts of one week.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Deployments started this week.
    pub deployments: u64,
    /// Those that ended: succeeded, failed or rolled back.
    pub concluded: u64,
    /// Those that failed or were rolled back.
    pub failures: u64,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.deployments += other.deployments;
        self.concluded += other.concluded;
        self.failures += other.failures;
    }
}

/// Which durations a row counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// From a failed deployment to the next success.
    Restore = 0,
    /// From a release's commit to the successful outcome that brought it.
    Lead = 1,
}

impl Kind {
    fn from_key(key: u8) -> Option<Kind> {
        match key {
            0 => Some(Kind::Restore),
            1 => Some(Kind::Lead),
            _ => None,
        }
    }
}

/// Durations in whole seconds, each with how many times it occurred.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Durations(pub BTreeMap<i64, u64>);

impl Durations {
    /// How many durations are counted.
    pub fn count(&self) -> u64 {
        self.0.values().sum()
    }

    /// The middle one (of an even number, the upper of the two middle ones).
    pub fn median(&self) -> Option<i64> {
        let middle = self.count() / 2;
        let mut passed = 0;
        for (seconds, times) in &self.0 {
            passed += times;
            if passed > middle {
                return Some(*seconds);
            }
        }
        None
    }

    fn add(&mut self, seconds: i64, times: u64) {
        *self.0.entry(seconds).or_default() += times;
    }

    fn merge(&mut self, other: &Durations) {
        for (seconds, times) in &other.0 {
            self.add(*seconds, *times);
        }
    }
}

/// One week of an environment's deliveries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Week {
    pub start: Timestamp,
    pub counts: Counts,
    /// Times to restore from this week's failures.
    pub restore: Durations,
    /// Lead times of this week's successful deployments.
    pub lead: Durations,
}

impl Week {
    fn starting(start: Timestamp) -> Week {
        Week { start, counts: Counts::default(), restore: Durations::default(), lead: Durations::default() }
    }

    /// Failures per concluded deployment, in percent (rounded down).
    pub fn failure_percent(&self) -> Option<u64> {
        (self.counts.concluded > 0).then(|| self.counts.failures * 100 / self.counts.concluded)
    }

    pub fn median_restore(&self) -> Option<i64> {
        self.restore.median()
    }

    pub fn median_lead(&self) -> Option<i64> {
        self.lead.median()
    }
}

/// An environment's weeks, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub weeks: Vec<Week>,
    /// Every deployment the environment has, in any week: those in the window are all counted.
    pub recorded: u64,
}

impl Delivery {
    /// Over the whole window.
    pub fn overall(&self) -> Week {
        let mut all = Week::starting(self.weeks.first().map_or(Timestamp(0), |w| w.start));
        for week in &self.weeks {
            all.counts.add(week.counts);
            all.restore.merge(&week.restore);
            all.lead.merge(&week.lead);
        }
        all
    }
}

/// The `weeks` weeks of `env` up to and including the one holding `now`.
///
/// Read from the aggregates when they cover the whole ledger; a ledger last written by an
/// earlier version (which kept none, or did not keep them up to date) is counted from its
/// history instead, which takes longer and gives the same figures.
pub fn delivery(reader: &Reader, env: &str, now: Timestamp, weeks: u32) -> Result<Delivery, StoreError> {
    let last = week_of(now).0;
    let first = last - i64::from(weeks.saturating_sub(1)) * WEEK_MICROS;
    let window = Window { first, last };
    let aggregates = match reader.current_derived()? {
        Some(derived) => Aggregates::read(derived, Some(env), Some(window))?,
        None => Rebuild::from_history(reader)?.aggregates,
    };
    Ok(aggregates.delivery(env, window))
}

/// A range of weeks, by their start in microseconds, both ends included.
#[derive(Clone, Copy)]
struct Window {
    first: i64,
    last: i64,
}

/// Every aggregate row, in memory: what the tables hold, or what a rebuild from history found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Aggregates {
    /// (env, week start) → counts.
    weeks: BTreeMap<(String, i64), Counts>,
    /// (env, kind, week start) → durations.
    durations: BTreeMap<(String, Kind, i64), Durations>,
    /// (env, deployment seq) → its `at`: failures not recovered from yet.
    pending: BTreeMap<(String, u64), i64>,
}

impl Aggregates {
    /// The rows of `env` (every environment when `None`) within `window` (all when `None`).
    /// Every environment's counts are read in full, as a window's need the total.
    fn read(
        derived: &ReadDerived,
        env: Option<&str>,
        window: Option<Window>,
    ) -> Result<Aggregates, StoreError> {
        let mut aggregates = Aggregates::default();
        let within = |week: i64| window.is_none_or(|w| (w.first..=w.last).contains(&week));
        let envs = |key: &str| env.is_none_or(|env| env == key);
        let (low, high) = match env {
            Some(env) => ((env, i64::MIN), (env, i64::MAX)),
            None => (("", i64::MIN), ("\u{10ffff}", i64::MAX)),
        };
        for row in derived.weeks.range(low..=high).map_err(db_error)? {
            let (key, value) = row.map_err(db_error)?;
            let (row_env, week) = key.value();
            let (deployments, concluded, failures) = value.value();
            let counts = Counts { deployments, concluded, failures };
            // A window's weeks, and one row per environment summing the rest (for `recorded`).
            let week = if within(week) { week } else { i64::MIN };
            aggregates.weeks.entry((row_env.to_string(), week)).or_default().add(counts);
        }
        let ranges = match (env, window) {
            (Some(env), Some(w)) => [Kind::Restore, Kind::Lead]
                .map(|kind| (env, kind as u8, w.first, i64::MIN)..=(env, kind as u8, w.last, i64::MAX))
                .to_vec(),
            _ => vec![("", 0, i64::MIN, i64::MIN)..=("\u{10ffff}", u8::MAX, i64::MAX, i64::MAX)],
        };
        for range in ranges {
            for row in derived.durations.range(range).map_err(db_error)? {
                let (key, times) = row.map_err(db_error)?;
                let (row_env, kind, week, seconds) = key.value();
                if !envs(row_env) || !within(week) {
                    continue;
                }
                let kind = Kind::from_key(kind)
                    .ok_or_else(|| crate::store::Damaged::new("a metrics row", format!("has kind {kind}")))?;
                aggregates
                    .durations
                    .entry((row_env.to_string(), kind, week))
                    .or_default()
                    .add(seconds, times.value());
            }
        }
        if window.is_none() {
            for row in derived.pending.iter().map_err(db_error)? {
                let (key, at) = row.map_err(db_error)?;
                let (row_env, seq) = key.value();
                aggregates.pending.insert((row_env.to_string(), seq), at.value());
            }
        }
        Ok(aggregates)
    }

    fn delivery(&self, env: &str, window: Window) -> Delivery {
        let mut weeks = Vec::new();
        let mut start = window.first;
        while start <= window.last {
            let mut week = Week::starting(Timestamp(start));
            if let Some(counts) = self.weeks.get(&(env.to_string(), start)) {
                week.counts = *counts;
            }
            for (kind, durations) in [(Kind::Restore, &mut week.restore), (Kind::Lead, &mut week.lead)] {
                if let Some(found) = self.durations.get(&(env.to_string(), kind, start)) {
                    *durations = found.clone();
                }
            }
            weeks.push(week);
            start += WEEK_MICROS;
        }
        let recorded = self
            .weeks
            .range((env.to_string(), i64::MIN)..=(env.to_string(), i64::MAX))
            .map(|(_, counts)| counts.deployments)
            .sum();
        Delivery { weeks, recorded }
    }
}

/// What one entry adds to its environment's aggregates.
pub(crate) enum Delta {
    Deployment { env: String, week: i64 },
    Concluded { env: String, week: i64, failed: Option<(u64, Timestamp)>, ended: Timestamp, leads: Vec<i64> },
}

/// How the entries an outcome names are found.
trait Lookup {
    /// The deployment `id` and its seq.
    fn deployment(&mut self, id: &EntryId) -> Result<Option<(u64, StoredEntry)>, StoreError>;
    /// The commit time of release `id`, if it has one.
    fn revision_at(&mut self, id: &EntryId) -> Result<Option<Timestamp>, StoreError>;
}

/// Looks entries up by id.
struct ById<'s, S>(&'s S);

impl<S: Source> Lookup for ById<'_, S> {
    fn deployment(&mut self, id: &EntryId) -> Result<Option<(u64, StoredEntry)>, StoreError> {
        self.0.located(id)
    }

    fn revision_at(&mut self, id: &EntryId) -> Result<Option<Timestamp>, StoreError> {
        Ok(self.0.entry(id)?.and_then(|stored| stored.entry.as_release().and_then(|r| r.revision_at)))
    }
}

impl Delta {
    fn of(lookup: &mut impl Lookup, stored: &StoredEntry) -> Result<Option<Delta>, StoreError> {
        let entry = &stored.entry;
        match &entry.body {
            Body::Deployment(deployment) => {
                Ok(Some(Delta::Deployment { env: deployment.env.clone(), week: week_of(entry.at).0 }))
            }
            Body::Outcome(outcome) => {
                let failed = match outcome.result {
                    DeployResult::Succeeded => false,
                    DeployResult::Failed | DeployResult::RolledBack => true,
                    DeployResult::Submitted => return Ok(None),
                };
                let named = entry.parents.first().copied().unwrap_or(EntryId([0; 32]));
                let not_a_deployment = crate::store::ConflictError::NotADeployment(named);
                let (seq, deployment) = lookup.deployment(&named)?.ok_or(not_a_deployment.clone())?;
                let started = deployment.entry.at;
                let Body::Deployment(deployment) = deployment.entry.body else {
                    return Err(not_a_deployment.into());
                };
                let mut leads = Vec::new();
                if !failed {
                    for change in deployment.changes.values() {
                        if let Some(committed) = lookup.revision_at(&change.to)? {
                            leads.push(seconds_between(committed, entry.at));
                        }
                    }
                }
                Ok(Some(Delta::Concluded {
                    env: deployment.env,
                    week: week_of(started).0,
                    failed: failed.then_some((seq, started)),
                    ended: entry.at,
                    leads,
                }))
            }
            Body::Release(_)
            | Body::ReleaseSet(_)
            | Body::Approval(_)
            | Body::Freeze(_)
            | Body::Unfreeze(_)
            | Body::Quarantine(_)
            | Body::TaskRun(_) => Ok(None),
        }
    }

    fn apply(self, sink: &mut impl Sink) -> Result<(), StoreError> {
        match self {
            Delta::Deployment { env, week } => {
                sink.add_counts(&env, week, Counts { deployments: 1, ..Counts::default() })
            }
            Delta::Concluded { env, week, failed: Some((seq, started)), .. } => {
                sink.add_counts(&env, week, Counts { concluded: 1, failures: 1, ..Counts::default() })?;
                sink.add_pending(&env, seq, started)
            }
            Delta::Concluded { env, week, failed: None, ended, leads } => {
                sink.add_counts(&env, week, Counts { concluded: 1, ..Counts::default() })?;
                for failed_at in sink.take_pending(&env)? {
                    sink.add_duration(
                        &env,
                        Kind::Restore,
                        week_of(failed_at).0,
                        seconds_between(failed_at, ended),
                    )?;
                }
                for lead in leads {
                    sink.add_duration(&env, Kind::Lead, week, lead)?;
                }
                Ok(())
            }
        }
    }
}

/// Where aggregates are added to: the store's tables, or memory.
trait Sink {
    fn add_counts(&mut self, env: &str, week: i64, add: Counts) -> Result<(), StoreError>;
    fn add_duration(&mut self, env: &str, kind: Kind, week: i64, seconds: i64) -> Result<(), StoreError>;
    fn add_pending(&mut self, env: &str, deployment: u64, at: Timestamp) -> Result<(), StoreError>;
    /// Removes the environment's failures not recovered from yet, and says when they started.
    fn take_pending(&mut self, env: &str) -> Result<Vec<Timestamp>, StoreError>;
}

impl Sink for Aggregates {
    fn add_counts(&mut self, env: &str, week: i64, add: Counts) -> Result<(), StoreError> {
        self.weeks.entry((env.to_string(), week)).or_default().add(add);
        Ok(())
    }

    fn add_duration(&mut self, env: &str, kind: Kind, week: i64, seconds: i64) -> Result<(), StoreError> {
        self.durations.entry((env.to_string(), kind, week)).or_default().add(seconds, 1);
        Ok(())
    }

    fn add_pending(&mut self, env: &str, deployment: u64, at: Timestamp) -> Result<(), StoreError> {
        self.pending.insert((env.to_string(), deployment), at.0);
        Ok(())
    }

    fn take_pending(&mut self, env: &str) -> Result<Vec<Timestamp>, StoreError> {
        let keys: Vec<(String, u64)> = self
            .pending
            .range((env.to_string(), 0)..=(env.to_string(), u64::MAX))
            .map(|(k, _)| k.clone())
            .collect();
        Ok(keys.into_iter().filter_map(|key| self.pending.remove(&key)).map(Timestamp).collect())
    }
}

/// The aggregate tables, as a write transaction sees them.
pub(crate) type WriteDerived<'t> = Derived<
    Table<'t, (&'static str, i64), (u64, u64, u64)>,
    Table<'t, (&'static str, u8, i64, i64), u64>,
    Table<'t, (&'static str, u64), i64>,
    Table<'t, (&'static str, u64), u64>,
>;

/// The aggregate tables, as a read transaction sees them.
pub(crate) type ReadDerived = Derived<
    redb::ReadOnlyTable<(&'static str, i64), (u64, u64, u64)>,
    redb::ReadOnlyTable<(&'static str, u8, i64, i64), u64>,
    redb::ReadOnlyTable<(&'static str, u64), i64>,
    redb::ReadOnlyTable<(&'static str, u64), u64>,
>;

impl Sink for WriteDerived<'_> {
    fn add_counts(&mut self, env: &str, week: i64, add: Counts) -> Result<(), StoreError> {
        let found = self.weeks.get((env, week)).map_err(db_error)?.map(|v| v.value());
        let (deployments, concluded, failures) = found.unwrap_or_default();
        let mut counts = Counts { deployments, concluded, failures };
        counts.add(add);
        let value = (counts.deployments, counts.concluded, counts.failures);
        self.weeks.insert((env, week), value).map_err(db_error)?;
        Ok(())
    }

    fn add_duration(&mut self, env: &str, kind: Kind, week: i64, seconds: i64) -> Result<(), StoreError> {
        let key = (env, kind as u8, week, seconds);
        let times = self.durations.get(key).map_err(db_error)?.map_or(0, |v| v.value());
        self.durations.insert(key, times + 1).map_err(db_error)?;
        Ok(())
    }

    fn add_pending(&mut self, env: &str, deployment: u64, at: Timestamp) -> Result<(), StoreError> {
        self.pending.insert((env, deployment), at.0).map_err(db_error)?;
        Ok(())
    }

    fn take_pending(&mut self, env: &str) -> Result<Vec<Timestamp>, StoreError> {
        let mut taken = Vec::new();
        for row in self.pending.extract_from_if((env, 0)..=(env, u64::MAX), |_, _| true).map_err(db_error)? {
            taken.push(Timestamp(row.map_err(db_error)?.1.value()));
        }
        Ok(taken)
    }
}

/// What an entry just indexed brings to the aggregates and to the ordinal index of
/// environment logs, worked out before the tables are written (the writer is the [`Source`]
/// the deployment and releases an outcome names are read from).
pub(crate) struct Folding(Option<Delta>);

impl Folding {
    pub(crate) fn of(source: &impl Source, stored: &StoredEntry) -> Result<Folding, StoreError> {
        Ok(Folding(Delta::of(&mut ById(source), stored)?))
    }

    /// Adds it, for the entry at `seq`, in the same write transaction.
    pub(crate) fn add_to(self, derived: &mut WriteDerived<'_>, seq: u64) -> Result<(), StoreError> {
        if let Some(Delta::Deployment { env, .. }) = &self.0 {
            let range = (env.as_str(), 0)..=(env.as_str(), u64::MAX);
            let last = match derived.order.range(range).map_err(db_error)?.next_back() {
                Some(row) => row.map_err(db_error)?.0.value().1,
                None => 0,
            };
            let ordinal = last + 1;
            derived.order.insert((env.as_str(), ordinal), seq).map_err(db_error)?;
        }
        if let Some(delta) = self.0 {
            delta.apply(derived)?;
        }
        derived.through = seq;
        Ok(())
    }
}

/// The aggregates rebuilt from the history, fed every entry in recording order: what `verify`
/// compares the tables with, and what a reader counts from when the tables are not current.
pub struct Rebuild<'r> {
    reader: &'r Reader,
    /// Entries after this one are not in the tables (written by an earlier version): they are
    /// not counted either.
    through: u64,
    aggregates: Aggregates,
    /// Per environment, the deployments counted so far: each log's ordinal index must say the same.
    deployments: BTreeMap<String, u64>,
    recent: Recent<'r>,
    /// An entry could not be counted: the history is damaged, and `verify` says where.
    met_damage: bool,
}

/// The latest deployment of each environment and the commit times of recent releases, so that
/// a rebuild seldom looks an entry up by id.
struct Recent<'r> {
    reader: &'r Reader,
    deployments: BTreeMap<String, (EntryId, u64, StoredEntry)>,
    revisions: BTreeMap<EntryId, Option<Timestamp>>,
}

/// How many release commit times a rebuild remembers before it starts over.
const RECENT_RELEASES: usize = 4_096;

impl Lookup for Recent<'_> {
    fn deployment(&mut self, id: &EntryId) -> Result<Option<(u64, StoredEntry)>, StoreError> {
        if let Some((_, seq, stored)) = self.deployments.values().find(|(known, _, _)| known == id) {
            return Ok(Some((*seq, stored.clone())));
        }
        ById(self.reader).deployment(id)
    }

    fn revision_at(&mut self, id: &EntryId) -> Result<Option<Timestamp>, StoreError> {
        match self.revisions.get(id) {
            Some(known) => Ok(*known),
            None => ById(self.reader).revision_at(id),
        }
    }
}

impl<'r> Rebuild<'r> {
    /// A rebuild of what `reader`'s tables cover.
    pub fn new(reader: &'r Reader) -> Result<Rebuild<'r>, StoreError> {
        let through = match reader.derived() {
            Some(derived) => derived.through,
            None => u64::MAX,
        };
        let recent = Recent { reader, deployments: BTreeMap::new(), revisions: BTreeMap::new() };
        Ok(Rebuild {
            reader,
            through,
            aggregates: Aggregates::default(),
            deployments: BTreeMap::new(),
            recent,
            met_damage: false,
        })
    }

    /// Counts the entry stored at `seq`; entries must come in recording order. An entry whose
    /// deployment or releases cannot be read (damage `verify` reports on its own) ends the
    /// comparison: nothing is compared then.
    pub fn add(&mut self, seq: u64, stored: &StoredEntry) -> Result<(), StoreError> {
        if self.met_damage {
            return Ok(());
        }
        match self.count(seq, stored) {
            Err(StoreError::Conflict(_) | StoreError::Corrupt { .. } | StoreError::Damaged(_)) => {
                self.met_damage = true;
                Ok(())
            }
            counted => counted,
        }
    }

    fn count(&mut self, seq: u64, stored: &StoredEntry) -> Result<(), StoreError> {
        if seq > self.through {
            return Ok(());
        }
        match &stored.entry.body {
            Body::Release(release) => {
                if self.recent.revisions.len() == RECENT_RELEASES {
                    self.recent.revisions.clear();
                }
                self.recent.revisions.insert(stored.id, release.revision_at);
            }
            Body::Deployment(deployment) => {
                *self.deployments.entry(deployment.env.clone()).or_default() += 1;
                self.recent.deployments.insert(deployment.env.clone(), (stored.id, seq, stored.clone()));
            }
            _ => {}
        }
        if let Some(delta) = Delta::of(&mut self.recent, stored)? {
            delta.apply(&mut self.aggregates)?;
        }
        Ok(())
    }

    /// Counts the whole history.
    fn from_history(reader: &'r Reader) -> Result<Rebuild<'r>, StoreError> {
        let mut rebuild = Rebuild::new(reader)?;
        rebuild.through = u64::MAX;
        for seq in 1.. {
            let Some(stored) = reader.entry_at(seq)? else { break };
            rebuild.count(seq, &stored)?;
        }
        Ok(rebuild)
    }

    /// What the tables hold that the history does not say: one line per difference (none when
    /// the ledger kept no tables yet).
    pub fn mismatches(self) -> Result<Vec<String>, StoreError> {
        let Some(derived) = self.reader.derived().filter(|_| !self.met_damage) else { return Ok(Vec::new()) };
        let mut found = Vec::new();
        let recorded = Aggregates::read(derived, None, None)?;
        let day = |week: i64| Timestamp(week).to_rfc3339()[..10].to_string();
        let weeks: BTreeSet<&(String, i64)> =
            recorded.weeks.keys().chain(self.aggregates.weeks.keys()).collect();
        for key in weeks {
            let (kept, counted) = (recorded.weeks.get(key), self.aggregates.weeks.get(key));
            if kept != counted {
                found.push(format!(
                    "the metrics of {} for the week of {}: the table counts {:?}, the history {:?}",
                    key.0,
                    day(key.1),
                    kept.copied().unwrap_or_default(),
                    counted.copied().unwrap_or_default()
                ));
            }
        }
        let durations: BTreeSet<&(String, Kind, i64)> =
            recorded.durations.keys().chain(self.aggregates.durations.keys()).collect();
        for key in durations {
            if recorded.durations.get(key) != self.aggregates.durations.get(key) {
                let what = match key.1 {
                    Kind::Restore => "times to restore",
                    Kind::Lead => "lead times",
                };
                found.push(format!(
                    "the {what} of {} for the week of {} differ from the history",
                    key.0,
                    day(key.2)
                ));
            }
        }
        if recorded.pending != self.aggregates.pending {
            found.push("the failures not yet recovered from differ from the history".into());
        }
        // Each environment's rows of the ordinal index are read beside its log, one row of
        // each at a time, so that memory does not grow with the history. The log is in
        // recording order: the rows the tables cover come first.
        let mut ordinals: BTreeMap<String, u64> = BTreeMap::new();
        let mut walking: Option<(String, u64, EnvLog<'_>)> = None;
        for row in derived.order.iter().map_err(db_error)? {
            let (key, seq) = row.map_err(db_error)?;
            let (env, ordinal) = key.value();
            let walk = match walking.take() {
                Some(walk) if walk.0 == env => walk,
                walked => {
                    if let Some((walked, rows, _)) = walked {
                        ordinals.insert(walked, rows);
                    }
                    (env.to_string(), 0, self.reader.env_log_rows(env)?)
                }
            };
            let (_, rows, log) = walking.insert(walk);
            *rows += 1;
            // Once an ordinal is not the next one, each later one of the environment is not
            // either, and is reported as such.
            let listed = log.next().transpose()?.map(|row| row.deployment).filter(|seq| *seq <= self.through);
            if ordinal != *rows || listed != Some(seq.value()) {
                found.push(format!(
                    "the ordinal index of {env} at {ordinal} does not name its log's deployment"
                ));
            }
        }
        if let Some((walked, rows, _)) = walking {
            ordinals.insert(walked, rows);
        }
        for (env, count) in &self.deployments {
            if ordinals.get(env) != Some(count) {
                found.push(format!("the ordinal index of {env} does not list its {count} deployments"));
            }
        }
        Ok(found)
    }
}

fn seconds_between(from: Timestamp, to: Timestamp) -> i64 {
    ((to.0 - from.0) / 1_000_000).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        let durations = |values: &[i64]| {
            let mut durations = Durations::default();
            values.iter().for_each(|v| durations.add(*v, 1));
            durations
        };
        assert_eq!(durations(&[5, 1, 3]).median(), Some(3));
        assert_eq!(durations(&[4, 1, 3, 2]).median(), Some(3));
        assert_eq!(durations(&[7, 7, 7, 1]).median(), Some(7));
        assert_eq!(durations(&[]).median(), None);
    }

    #[test]
    fn weeks_start_on_monday() {
        let monday = Timestamp::parse_rfc3339("2026-11-30T00:00:00Z").unwrap();
        let sunday_night = Timestamp::parse_rfc3339("2026-12-06T23:59:59Z").unwrap();
        assert_eq!(week_of(monday), monday);
        assert_eq!(week_of(sunday_night), monday);
        assert_eq!(week_of(monday.plus_seconds(-1)), monday.plus_seconds(-7 * 86_400));
    }
}
