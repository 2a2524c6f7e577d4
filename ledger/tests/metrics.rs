//! Delivery metrics over a hand-built history whose every figure is known, kept as aggregates
//! that must equal what the history says: after records, a failure and its recovery, a copy
//! received entry by entry, and on a ledger made by a version that kept none.

use std::collections::BTreeMap;

use ledger::admission::Rules;
use ledger::deploy::{Plan, SetSource, record_intent};
use ledger::history::State;
use ledger::metrics::{Delivery, delivery};
use ledger::verify::{Damage, verify};
use ledger::{DeployResult, EntryId, Outcome, Release, ServiceOutcome, Stamp, Store, Timestamp, Trigger};

const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;
/// Monday 2027-01-11 00:00 UTC, far from any real clock.
const START: i64 = 1_799_625_600;

fn at(seconds: i64) -> Stamp {
    Stamp { at: Timestamp::from_unix_seconds(START + seconds), actor: "t".into(), message: String::new() }
}

/// Registers a release of `api` committed at `committed` (seconds from START).
fn release(store: &Store, n: u32, recorded: i64, committed: Option<i64>) -> ledger::EntryId {
    let release = Release {
        service: "api".into(),
        image: format!("r/api:{n}"),
        digest: None,
        revision: Some(format!("{n:040x}")),
        revision_at: committed.map(|c| Timestamp::from_unix_seconds(START + c)),
    };
    store.write(|w| w.record_release(at(recorded), release)).unwrap().id
}

/// Deploys `release` to prod at `started`, ending with `result` at `ended`.
fn deploy(store: &Store, release: ledger::EntryId, started: i64, ended: i64, result: DeployResult) {
    let target: State = BTreeMap::from([("api".to_string(), release)]);
    let plan =
        Plan::towards(&store.read().unwrap(), "prod", SetSource::None, Trigger::Apply, &target).unwrap();
    store
        .write(|w| {
            let deployment = record_intent(w, &at(started), &plan)?;
            let running = (result == DeployResult::Succeeded).then_some(release);
            let service = ServiceOutcome {
                result,
                running,
                task_definition: None,
                ecs_deployment: None,
                detail: String::new(),
            };
            let outcome = Outcome { result, services: BTreeMap::from([("api".to_string(), service)]) };
            w.record_outcome(at(ended), deployment.id, outcome)
        })
        .unwrap();
}

/// The history whose figures the first test spells out: two weeks of prod, with a failure and
/// a rollback recovered from by a later success.
fn known_history(store: &Store) {
    // Week 1 (of 2): one success, committed 2 h before it ended.
    let r0 = release(store, 0, 0, Some(0));
    deploy(store, r0, HOUR, 2 * HOUR, DeployResult::Succeeded);
    // Week 2: a success (committed 10 h before it ended), a failure, a rollback (a failure too),
    // then a success that recovers from both.
    let r1 = release(store, 1, 7 * DAY, Some(7 * DAY - 8 * HOUR));
    deploy(store, r1, 7 * DAY + HOUR, 7 * DAY + 2 * HOUR, DeployResult::Succeeded);
    let r2 = release(store, 2, 8 * DAY, None);
    deploy(store, r2, 8 * DAY, 8 * DAY + HOUR, DeployResult::Failed);
    deploy(store, r2, 9 * DAY + 14 * HOUR, 9 * DAY + 15 * HOUR, DeployResult::RolledBack);
    let r3 = release(store, 3, 11 * DAY, Some(10 * DAY));
    deploy(store, r3, 11 * DAY, 11 * DAY + HOUR, DeployResult::Succeeded);
}

/// Sunday night of the second week.
fn now() -> Timestamp {
    Timestamp::from_unix_seconds(START + 14 * DAY - 1)
}

fn prod(store: &Store, weeks: u32) -> Delivery {
    delivery(&store.read().unwrap(), "prod", now(), weeks).unwrap()
}

fn durations(values: &[i64]) -> ledger::metrics::Durations {
    let mut counted = BTreeMap::new();
    for value in values {
        *counted.entry(*value).or_default() += 1;
    }
    ledger::metrics::Durations(counted)
}

#[test]
fn frequency_failure_rate_restore_and_lead_time_by_week() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    known_history(&store);

    let delivery = prod(&store, 2);
    assert_eq!(delivery.recorded, 5);
    let [first, second] = &delivery.weeks[..] else { panic!("two weeks: {delivery:?}") };
    assert_eq!(first.start, Timestamp::from_unix_seconds(START));
    assert_eq!(second.start, Timestamp::from_unix_seconds(START + 7 * DAY));
    let counts =
        |week: &ledger::metrics::Week| (week.counts.deployments, week.counts.concluded, week.counts.failures);
    assert_eq!(counts(first), (1, 1, 0));
    assert_eq!(first.lead, durations(&[2 * HOUR]));
    assert_eq!(counts(second), (4, 4, 2));
    assert_eq!(second.failure_percent(), Some(50));
    // Both failures were recovered by the success that ended on day 11, 01:00.
    assert_eq!(second.restore, durations(&[3 * DAY + HOUR, DAY + 11 * HOUR]));
    assert_eq!(second.median_restore(), Some(3 * DAY + HOUR));
    // r1 was committed 8 h before it was recorded and ended 2 h after: 10 h; r3 a day and 1 h.
    assert_eq!(second.lead, durations(&[10 * HOUR, DAY + HOUR]));
    assert_eq!(delivery.overall().counts.deployments, 5);
    assert_eq!(delivery.overall().failure_percent(), Some(40));
    assert_eq!(delivery.overall().median_lead(), Some(10 * HOUR));

    // A one-week window leaves the first week out, and an environment with no log is empty.
    let last_week = prod(&store, 1);
    assert_eq!(last_week.weeks.len(), 1);
    assert_eq!((last_week.overall().counts.deployments, last_week.recorded), (4, 5));
    let empty = ledger::metrics::delivery(&store.read().unwrap(), "stage", now(), 3).unwrap();
    assert_eq!((empty.weeks.len(), empty.overall().counts.deployments), (3, 0));
}

/// Verify's damage that concerns the aggregates or the ordinal index.
fn derived_damage(store: &Store) -> Vec<String> {
    let report = verify(&store.read().unwrap(), &Rules::without_manifest()).unwrap();
    report
        .damage
        .iter()
        .filter(|damage| matches!(damage, Damage::Derived(_)))
        .map(ToString::to_string)
        .collect()
}

#[test]
fn the_aggregates_equal_the_history_after_failures_recovery_and_a_copy_received_entry_by_entry() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let r0 = release(&store, 0, 0, Some(0));
    deploy(&store, r0, HOUR, 2 * HOUR, DeployResult::Failed);
    // A failure not recovered from yet: it has no time to restore, and the rebuild agrees.
    assert_eq!(prod(&store, 2).overall().restore.count(), 0);
    assert_eq!(derived_damage(&store), Vec::<String>::new());
    deploy(&store, r0, DAY, DAY + HOUR, DeployResult::Succeeded);
    assert_eq!(prod(&store, 2).overall().restore, durations(&[DAY]));
    assert_eq!(derived_damage(&store), Vec::<String>::new());

    // A ledger that receives every entry, as a pull or a clone does, keeps the same aggregates.
    let copy_dir = tempfile::tempdir().unwrap();
    let copy = Store::init(copy_dir.path()).unwrap();
    let mut received = Vec::new();
    store
        .read()
        .unwrap()
        .for_each_entry(|_, bytes| {
            received.push(bytes.to_vec());
            Ok(())
        })
        .unwrap();
    copy.write(|w| {
        received.iter().try_for_each(|bytes| w.receive(EntryId::of_stored_bytes(bytes), bytes).map(drop))
    })
    .unwrap();
    assert_eq!(prod(&copy, 2), prod(&store, 2));
    assert_eq!(derived_damage(&copy), Vec::<String>::new());
}

const DERIVED_TABLES: [&str; 4] = ["metric_weeks", "metric_durations", "metric_pending", "env_order"];

/// Makes the ledger in `dir` look like one the previous version made: no derived tables, no
/// marker of what they count.
fn strip_derived(store: Store) -> std::path::PathBuf {
    let path = store.path().to_path_buf();
    drop(store);
    let db = redb::Database::create(&path).unwrap();
    let txn = db.begin_write().unwrap();
    for name in DERIVED_TABLES {
        let table: redb::TableDefinition<(&str, u64), u64> = redb::TableDefinition::new(name);
        txn.delete_table(table).unwrap();
    }
    let meta: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
    txn.open_table(meta).unwrap().remove("derived_through").unwrap();
    txn.commit().unwrap();
    path.parent().unwrap().to_path_buf()
}

#[test]
fn a_ledger_made_by_the_previous_version_gets_the_same_figures_and_its_aggregates_on_the_first_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    known_history(&store);
    let expected = prod(&store, 2);
    let dir_path = strip_derived(store);

    // Read only, before any write: counted from the history.
    let reading = Store::open_for_reading(&dir_path).unwrap();
    assert_eq!(prod(&reading, 2), expected);
    drop(reading);

    // The first write builds them, and from then on they are read.
    let store = Store::open(&dir_path).unwrap();
    release(&store, 9, 13 * DAY, None);
    assert_eq!(prod(&store, 2), expected);
    assert_eq!(derived_damage(&store), Vec::<String>::new());
    let r = release(&store, 10, 13 * DAY, Some(13 * DAY));
    deploy(&store, r, 13 * DAY, 13 * DAY + HOUR, DeployResult::Succeeded);
    assert_eq!(prod(&store, 2).overall().counts.deployments, 6);
    assert_eq!(derived_damage(&store), Vec::<String>::new());
}

#[test]
fn verify_reports_aggregates_that_disagree_with_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    known_history(&store);
    let path = store.path().to_path_buf();
    drop(store);

    let db = redb::Database::create(&path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let weeks: redb::TableDefinition<(&str, i64), (u64, u64, u64)> =
            redb::TableDefinition::new("metric_weeks");
        let mut table = txn.open_table(weeks).unwrap();
        table.insert(("prod", START * 1_000_000), (1, 1, 1)).unwrap();
    }
    txn.commit().unwrap();
    drop(db);

    let store = Store::open(dir.path()).unwrap();
    let damage = derived_damage(&store);
    assert_eq!(damage.len(), 1, "{damage:?}");
    assert!(damage[0].contains("the metrics of prod for the week of 2027-01-11"), "{damage:?}");
}

/// The ordinal index as a write transaction sees it: (env, ordinal) → deployment seq.
type Ordinals<'t> = redb::Table<'t, (&'static str, u64), u64>;

/// Edits the ordinal index of the ledger in `dir` behind the store's back.
fn edit_ordinals(dir: &std::path::Path, edit: impl FnOnce(&mut Ordinals)) {
    let path = Store::open(dir).unwrap().path().to_path_buf();
    let db = redb::Database::create(&path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let order: redb::TableDefinition<(&str, u64), u64> = redb::TableDefinition::new("env_order");
        edit(&mut txn.open_table(order).unwrap());
    }
    txn.commit().unwrap();
}

#[test]
fn verify_reports_an_ordinal_index_that_disagrees_with_the_log() {
    let sound = tempfile::tempdir().unwrap();
    known_history(&Store::init(sound.path()).unwrap());
    assert_eq!(derived_damage(&Store::open(sound.path()).unwrap()), Vec::<String>::new());
    let damaged = |edit: &dyn Fn(&mut Ordinals)| {
        let dir = tempfile::tempdir().unwrap();
        known_history(&Store::init(dir.path()).unwrap());
        edit_ordinals(dir.path(), edit);
        derived_damage(&Store::open(dir.path()).unwrap())
    };
    let at =
        |ordinal: u64| format!("the ordinal index of prod at {ordinal} does not name its log's deployment");
    let not_all = "the ordinal index of prod does not list its 5 deployments".to_string();

    // A row naming another deployment: that row alone.
    let swapped = damaged(&|order| {
        let third = redb::ReadableTable::get(order, ("prod", 3)).unwrap().unwrap().value();
        order.insert(("prod", 2), third).unwrap();
    });
    assert_eq!(swapped, vec![at(2)]);
    // A row missing: every later one is out of place, and the count is short.
    let missing = damaged(&|order| {
        order.remove(("prod", 3)).unwrap();
    });
    assert_eq!(missing, vec![at(4), at(5), not_all.clone()]);
    // A row beyond the log.
    let beyond = damaged(&|order| {
        order.insert(("prod", 6), 1).unwrap();
    });
    assert_eq!(beyond, vec![at(6), not_all.clone()]);
    // Another environment's rows, though it has no log.
    let stray = damaged(&|order| {
        order.insert(("dev", 1), 1).unwrap();
    });
    assert_eq!(stray, vec!["the ordinal index of dev at 1 does not name its log's deployment".to_string()]);
}
