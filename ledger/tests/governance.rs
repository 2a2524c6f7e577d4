//! Approvals, freezes and quarantines as recorded: each on its ref, read back by
//! `ledger::governance`, held to the rules, sound under `verify`, and taken in by a second
//! ledger entry by entry as a pull does; and what `rollback` restores, given them.

use std::collections::BTreeMap;

use ledger::deploy::{self, Plan, SetSource};
use ledger::entry::{Approval, Freeze, Quarantine, Unfreeze};
use ledger::governance;
use ledger::refs::RefName;
use ledger::verify::verify;
use ledger::{
    Body, DeployResult, EntryId, Outcome, ReleaseSet, ServiceOutcome, Source, Stamp, Store, StoredEntry,
    Timestamp, Trigger,
};
use ledger_testutil::entries::{register, rules, stamp, state};

/// Records `body` as the app layer does: sealed on top of its ref's head, then stored.
fn record(store: &Store, stamp: Stamp, body: Body) -> StoredEntry {
    store
        .write(|w| {
            let (stored, bytes) = w.seal_new(stamp, body)?;
            w.receive(stored.id, &bytes)
        })
        .expect("recording a governance entry")
}

fn by(actor: &str, second: i64, message: &str) -> Stamp {
    Stamp { actor: actor.into(), message: message.into(), ..stamp(second) }
}

#[test]
fn approvals_freezes_and_quarantines_are_read_back_from_their_refs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap().admitting(rules());
    let api = register(&store, 1, "api", "v1");
    let search = register(&store, 2, "search", "v1");
    let releases = BTreeMap::from([("api".to_string(), api), ("search".to_string(), search)]);
    let set = record(&store, stamp(3), Body::ReleaseSet(ReleaseSet { service_set: None, releases })).id;
    let set_at = Timestamp::from_unix_seconds(1_800_000_003);

    let approve = |actor: &str, second| {
        record(
            &store,
            by(actor, second, "ok"),
            Body::Approval(Approval { env: "prod".into(), release_set: set }),
        )
    };
    let alice = approve("alice", 10);
    record(&store, by("ops", 11, "incident 4711"), Body::Freeze(Freeze { env: "prod".into() }));
    let bob = approve("bob", 12);
    // Another environment's approvals are on another ref.
    record(&store, by("carol", 13, "ok"), Body::Approval(Approval { env: "stage".into(), release_set: set }));

    let reader = store.read().unwrap();
    let approvals = governance::approvals(&reader, "prod", set, set_at).unwrap();
    let approvers: Vec<(&str, EntryId)> = approvals.iter().map(|a| (a.actor.as_str(), a.id)).collect();
    assert_eq!(approvers, [("alice", alice.id), ("bob", bob.id)]);
    assert_eq!(bob.entry.parents.len(), 1, "each entry of gates/prod follows the one before");
    assert_eq!(governance::approvals(&reader, "stage", set, set_at).unwrap().len(), 1);
    let newest = governance::newest_approvals(&reader, "prod", 1).unwrap();
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0].1.actor, "bob");
    let freeze = governance::manual_freeze(&reader, "prod").unwrap().expect("prod is frozen");
    assert_eq!((freeze.actor.as_str(), freeze.message.as_str()), ("ops", "incident 4711"));
    assert_eq!(governance::manual_freeze(&reader, "stage").unwrap(), None);
    drop(reader);

    record(&store, by("ops", 14, "resolved"), Body::Unfreeze(Unfreeze { env: "prod".into() }));
    record(&store, by("qa", 15, "leaks memory"), Body::Quarantine(Quarantine { target: set }));
    let reader = store.read().unwrap();
    assert_eq!(governance::manual_freeze(&reader, "prod").unwrap(), None);
    let quarantined = governance::quarantined(&reader).unwrap();
    assert_eq!(quarantined.keys().copied().collect::<Vec<_>>(), {
        let mut both = vec![api, search];
        both.sort();
        both
    });
    assert_eq!(quarantined[&api].target, set);
    assert_eq!(quarantined[&api].by.message, "leaks memory");
    assert!(reader.ref_target(&RefName::quarantine()).unwrap().is_some());

    let report = verify(&reader, &rules()).unwrap();
    assert!(report.is_sound(), "{:?}", report.damage);

    // A second ledger takes every entry in, in recording order, as a pull does.
    let other_dir = tempfile::tempdir().unwrap();
    let other = Store::init(other_dir.path()).unwrap().admitting(rules());
    for seq in reader.newest(usize::MAX).unwrap().into_iter().rev() {
        let bytes = reader.raw_at(seq).unwrap().expect("an entry at each seq");
        let id = EntryId::of_stored_bytes(&bytes);
        other.write(|w| w.receive(id, &bytes)).expect("taken in");
    }
    let other_reader = other.read().unwrap();
    assert_eq!(other_reader.all_refs().unwrap(), reader.all_refs().unwrap());
}

#[test]
fn an_approval_of_what_is_not_a_release_set_is_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap().admitting(rules());
    let api = register(&store, 1, "api", "v1");
    let refused = store.write(|w| {
        let (stored, bytes) =
            w.seal_new(stamp(2), Body::Approval(Approval { env: "prod".into(), release_set: api }))?;
        w.receive(stored.id, &bytes)
    });
    let error = refused.expect_err("an approval must name a release set").to_string();
    assert!(error.contains("breaks rule named-entries"), "{error}");
    assert_eq!(store.read().unwrap().ref_target(&RefName::gates("prod")).unwrap(), None);
}

/// Deploys `release` of api to prod, with an outcome of `result` that leaves `release` running.
fn deploy_api(store: &Store, second: i64, release: EntryId, result: DeployResult) -> EntryId {
    let target = state(&[("api", release)]);
    let plan =
        Plan::towards(&store.read().unwrap(), "prod", SetSource::None, Trigger::Apply, &target).unwrap();
    store
        .write(|w| {
            let deployment = deploy::record_intent(w, &stamp(second), &plan)?;
            let service = ServiceOutcome {
                result,
                running: Some(release),
                task_definition: None,
                ecs_deployment: None,
                detail: String::new(),
            };
            let services = BTreeMap::from([("api".to_string(), service)]);
            w.record_outcome(stamp(second), deployment.id, Outcome { result, services })?;
            Ok::<_, ledger::StoreError>(deployment.id)
        })
        .unwrap()
}

#[test]
fn rollback_restores_the_newest_state_that_succeeded_was_not_left_by_a_rollback_and_holds_no_quarantine() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap().admitting(rules());
    let v: Vec<EntryId> = (1..=4).map(|n| register(&store, n, "api", &format!("v{n}"))).collect();
    let chosen = |store: &Store| deploy::rollback_target(&store.read().unwrap(), "prod", None).unwrap();

    assert_eq!(chosen(&store), None, "nothing deployed: nothing to restore");
    let d1 = deploy_api(&store, 10, v[0], DeployResult::Succeeded);
    assert_eq!(chosen(&store), None, "no earlier state than the first deployment's");
    let d2 = deploy_api(&store, 11, v[1], DeployResult::Succeeded);
    // v3 failed and kept running: the last good state is v2's, not the one before it.
    deploy_api(&store, 12, v[2], DeployResult::Failed);
    let target = chosen(&store).unwrap();
    assert_eq!((target.state, target.trigger), (state(&[("api", v[1])]), Trigger::Rollback { to: Some(d2) }));
    assert!(target.why.contains(&d2.short()), "{}", target.why);

    // Once v2 is quarantined, v1's state is the last good one; the plan says what it passed over.
    record(&store, by("qa", 13, "leaks"), Body::Quarantine(Quarantine { target: v[1] }));
    let target = chosen(&store).unwrap();
    assert_eq!(target.trigger, Trigger::Rollback { to: Some(d1) });
    assert!(
        target.why.contains(&format!("{} holds quarantined release {}", d2.short(), v[1].short())),
        "{}",
        target.why
    );

    // A rollback to v1, then v4: rolling back again does not return to v3's state, which
    // failed, nor to v2's (quarantined): v1's again.
    let plan = {
        let reader = store.read().unwrap();
        let target = deploy::rollback_target(&reader, "prod", None).unwrap().unwrap();
        Plan::towards(&reader, "prod", SetSource::None, target.trigger, &target.state).unwrap()
    };
    store.write(|w| deploy::record_only(w, &stamp(14), &plan)).unwrap();
    deploy_api(&store, 15, v[3], DeployResult::Succeeded);
    let target = chosen(&store).unwrap();
    assert_eq!(target.state, state(&[("api", v[0])]));
}

#[test]
fn a_state_left_by_a_rollback_is_not_restored_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap().admitting(rules());
    let v: Vec<EntryId> = (1..=3).map(|n| register(&store, n, "api", &format!("v{n}"))).collect();
    let d1 = deploy_api(&store, 10, v[0], DeployResult::Succeeded);
    deploy_api(&store, 11, v[1], DeployResult::Succeeded);
    deploy_api(&store, 12, v[2], DeployResult::Succeeded);
    // Roll back from v3 to v2 ...
    let rollback = |second| {
        let reader = store.read().unwrap();
        let target = deploy::rollback_target(&reader, "prod", None).unwrap().unwrap();
        let plan = Plan::towards(&reader, "prod", SetSource::None, target.trigger, &target.state).unwrap();
        drop(reader);
        store.write(|w| deploy::record_only(w, &stamp(second), &plan)).unwrap();
    };
    rollback(13);
    assert_eq!(store.read().unwrap().env_state("prod").unwrap(), state(&[("api", v[1])]));
    // ... and again: to v1, not back to v3, which the first rollback left.
    let target = deploy::rollback_target(&store.read().unwrap(), "prod", None).unwrap().unwrap();
    assert_eq!(target.trigger, Trigger::Rollback { to: Some(d1) });
    assert!(target.why.contains("was rolled back since"), "{}", target.why);
}
