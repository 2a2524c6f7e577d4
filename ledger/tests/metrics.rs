//! Delivery metrics over a hand-built history whose every figure is known.

use std::collections::BTreeMap;

use ledger::deploy::{Plan, SetSource, record_intent};
use ledger::history::State;
use ledger::metrics::delivery;
use ledger::{DeployResult, Outcome, Release, ServiceOutcome, Stamp, Store, Timestamp, Trigger};

const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;
/// A Monday, far from any real clock.
const START: i64 = 1_800_000_000;

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

#[test]
fn frequency_failure_rate_restore_and_lead_time_by_week() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    // Week 1 (of 2): one success, committed 2 h before it ended.
    let r0 = release(&store, 0, 0, Some(0));
    deploy(&store, r0, HOUR, 2 * HOUR, DeployResult::Succeeded);
    // Week 2: a success (committed 10 h before it ended), a failure, a rollback (a failure too),
    // then a success that recovers from both.
    let r1 = release(&store, 1, 7 * DAY, Some(7 * DAY - 8 * HOUR));
    deploy(&store, r1, 7 * DAY + HOUR, 7 * DAY + 2 * HOUR, DeployResult::Succeeded);
    let r2 = release(&store, 2, 8 * DAY, None);
    deploy(&store, r2, 8 * DAY, 8 * DAY + HOUR, DeployResult::Failed);
    deploy(&store, r2, 9 * DAY + 14 * HOUR, 9 * DAY + 15 * HOUR, DeployResult::RolledBack);
    let r3 = release(&store, 3, 11 * DAY, Some(10 * DAY));
    deploy(&store, r3, 11 * DAY, 11 * DAY + HOUR, DeployResult::Succeeded);

    let now = Timestamp::from_unix_seconds(START + 14 * DAY);
    let reader = store.read().unwrap();
    let delivery = delivery(&reader, "prod", now, 2).unwrap();
    assert!(!delivery.truncated);
    let [first, second] = &delivery.weeks[..] else { panic!("two weeks: {delivery:?}") };
    assert_eq!(first.start, Timestamp::from_unix_seconds(START));
    assert_eq!(second.start, Timestamp::from_unix_seconds(START + 7 * DAY));
    assert_eq!((first.deployments, first.concluded, first.failures), (1, 1, 0));
    assert_eq!(first.lead_seconds, [2 * HOUR]);
    assert_eq!((second.deployments, second.concluded, second.failures), (4, 4, 2));
    assert_eq!(second.failure_percent(), Some(50));
    // Both failures were recovered by the success that ended on day 11, 01:00.
    assert_eq!(second.restore_seconds, [3 * DAY + HOUR, DAY + 11 * HOUR]);
    assert_eq!(second.median_restore(), Some(3 * DAY + HOUR));
    // r1 was committed 8 h before it was recorded and ended 2 h after: 10 h; r3 a day and 1 h.
    assert_eq!(second.lead_seconds, [10 * HOUR, DAY + HOUR]);
    assert_eq!(delivery.overall().deployments, 5);
    assert_eq!(delivery.overall().failure_percent(), Some(40));

    // A one-week window leaves the first week out, and an environment with no log is empty.
    let last_week = ledger::metrics::delivery(&reader, "prod", now, 1).unwrap();
    assert_eq!(last_week.weeks.len(), 1);
    assert_eq!(last_week.overall().deployments, 4);
    let empty = ledger::metrics::delivery(&reader, "stage", now, 3).unwrap();
    assert_eq!((empty.weeks.len(), empty.overall().deployments), (3, 0));
}
