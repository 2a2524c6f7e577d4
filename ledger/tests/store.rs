//! The store and the history walks: parents, refs, materialised state, conflicts, rollback
//! targets, and `verify` finding damage.

use ledger::admission::Rules;
use ledger::deploy::{self, Plan, SetSource};
use ledger::history::{self, State};
use ledger::refs::RefName;
use ledger::store::{ConflictError, ReceiveError};
use ledger::verify::{Damage, WINDOW, verify, verify_within};
use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

use ledger_testutil::entries::{deploy, register, release, rules, stamp};

use ledger::{
    Body, Change, DeployResult, Deployment, Entry, EntryId, Outcome, ServiceOutcome, Source, Store,
    StoreError, StoredEntry, Timestamp, Trigger,
};

#[test]
fn releases_chain_per_service_and_refs_follow() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let a1 = register(&store, 1, "api", "1");
    let s1 = register(&store, 2, "search", "1");
    let a2 = register(&store, 3, "api", "2");
    let reader = store.read().unwrap();
    assert_eq!(reader.entry(&a2).unwrap().unwrap().entry.parents, [a1]);
    assert!(reader.entry(&s1).unwrap().unwrap().entry.parents.is_empty());
    assert_eq!(reader.ref_target(&RefName::service("api")).unwrap(), Some(a2));
    let ids = |seqs: Vec<u64>| {
        seqs.into_iter().map(|seq| reader.entry_at(seq).unwrap().unwrap().id).collect::<Vec<_>>()
    };
    assert_eq!(ids(reader.newest_in(&ledger::store::Scope::Service("api"), 10).unwrap()), [a2, a1]);
    assert_eq!(ids(reader.newest(2).unwrap()), [a2, s1]);
}

#[test]
fn init_twice_keeps_history() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let a1 = register(&store, 1, "api", "1");
    drop(store);
    let store = Store::init(dir.path()).unwrap();
    assert!(store.read().unwrap().entry(&a1).unwrap().is_some());
}

#[test]
fn open_without_init_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let error = Store::open(dir.path()).err().unwrap();
    assert!(matches!(error, StoreError::NotInitialized(_)));
    assert!(error.to_string().contains("ledger init"));
}

#[test]
fn deployments_move_state_and_rollback_restores_the_state_before() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let (a1, s1) = (register(&store, 1, "api", "1"), register(&store, 2, "search", "1"));
    let first = deploy(&store, 3, "prod", &State::from([("api".into(), a1), ("search".into(), s1)]));
    let a2 = register(&store, 4, "api", "2");
    let second = deploy(&store, 5, "prod", &State::from([("api".into(), a2)]));

    let reader = store.read().unwrap();
    assert_eq!(reader.env_state("prod").unwrap(), State::from([("api".into(), a2), ("search".into(), s1)]));
    assert_eq!(second.deployment.entry.parents, [first.outcome.id]);
    assert_eq!(second.deployment.entry.as_deployment().unwrap().changes["api"].from, Some(a1));
    let log = history::env_deployments(&reader, "prod", 10).unwrap();
    assert_eq!(
        log.iter().map(|r| r.deployment.id).collect::<Vec<_>>(),
        [second.deployment.id, first.deployment.id]
    );
    assert_eq!(history::env_deployments(&reader, "prod", 1).unwrap().len(), 1);
    let api_only = history::env_service_deployments(&reader, "prod", "search", 10).unwrap();
    assert_eq!(api_only.len(), 1);
    // Pages: the second newest alone, nothing past the end, and a filtered page.
    let older = history::deployments_page(&reader, "prod", None, 1, 1).unwrap();
    assert_eq!(older.iter().map(|r| r.deployment.id).collect::<Vec<_>>(), [first.deployment.id]);
    assert!(history::deployments_page(&reader, "prod", None, 2, 5).unwrap().is_empty());
    let api_pages = (0..3)
        .map(|skip| history::deployments_page(&reader, "prod", Some("api"), skip, 1).unwrap().len())
        .collect::<Vec<_>>();
    assert_eq!(api_pages, [1, 1, 0]);

    // Default rollback: the last good state before what runs now.
    let target = deploy::rollback_target(&reader, "prod", None).unwrap().unwrap();
    assert_eq!(target.state, State::from([("api".into(), a1), ("search".into(), s1)]));
    assert_eq!(target.trigger, Trigger::Rollback { to: Some(first.deployment.id) });
    // --to the second deployment: what runs now.
    let target = deploy::rollback_target(&reader, "prod", Some(second.deployment.id)).unwrap().unwrap();
    assert_eq!(target.state, reader.env_state("prod").unwrap());
    // Before anything: nothing.
    assert_eq!(history::state_after(&reader, "prod", None).unwrap(), State::new());
    assert!(history::state_after(&reader, "stage", Some(first.deployment.id)).is_err());
}

#[test]
fn a_plan_made_against_an_older_head_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let a1 = register(&store, 1, "api", "1");
    let stale = {
        let reader = store.read().unwrap();
        Plan::towards(&reader, "prod", SetSource::None, Trigger::Apply, &State::from([("api".into(), a1)]))
            .unwrap()
    };
    deploy(&store, 2, "prod", &State::from([("api".into(), a1)]));
    let error = store.write(|w| deploy::record_only(w, &stamp(3), &stale)).unwrap_err();
    assert!(matches!(error, StoreError::Conflict(ConflictError::EnvMoved { .. })), "{error}");
    assert_eq!(history::env_deployments(&store.read().unwrap(), "prod", 10).unwrap().len(), 1);
}

#[test]
fn an_intent_without_outcome_is_in_flight_and_blocks_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let a1 = register(&store, 1, "api", "1");
    let target = State::from([("api".into(), a1)]);
    let plan =
        Plan::towards(&store.read().unwrap(), "prod", SetSource::None, Trigger::Apply, &target).unwrap();
    let intent = store.write(|w| deploy::record_intent(w, &stamp(2), &plan)).unwrap();
    let reader = store.read().unwrap();
    assert_eq!(history::unfinished(&reader, "prod").unwrap().map(|u| u.deployment), Some(intent.id));
    assert!(reader.env_state("prod").unwrap().is_empty(), "state moves only with an outcome");
    let next = Plan::towards(&reader, "prod", SetSource::None, Trigger::Apply, &target).unwrap();
    let error = store.write(|w| deploy::record_only(w, &stamp(3), &next)).unwrap_err();
    assert!(matches!(error, StoreError::Conflict(ConflictError::InFlight { .. })), "{error}");
}

#[test]
fn a_submitted_deployment_blocks_the_next_until_its_final_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let a1 = register(&store, 1, "api", "1");
    let target = State::from([("api".into(), a1)]);
    let plan =
        Plan::towards(&store.read().unwrap(), "prod", SetSource::None, Trigger::Apply, &target).unwrap();
    let intent = store.write(|w| deploy::record_intent(w, &stamp(2), &plan)).unwrap();
    let outcome = |result: DeployResult, running: Option<EntryId>| Outcome {
        result,
        services: BTreeMap::from([(
            "api".to_string(),
            ServiceOutcome {
                result,
                running,
                task_definition: None,
                ecs_deployment: None,
                detail: String::new(),
            },
        )]),
    };
    let submitted = store
        .write(|w| w.record_outcome(stamp(3), intent.id, outcome(DeployResult::Submitted, None)))
        .unwrap();
    let reader = store.read().unwrap();
    let unfinished = history::unfinished(&reader, "prod").unwrap().unwrap();
    assert_eq!((unfinished.deployment, unfinished.submitted), (intent.id, Some(submitted.id)));
    assert!(reader.env_state("prod").unwrap().is_empty(), "a submitted outcome says nothing of what runs");
    let next = Plan::towards(&reader, "prod", SetSource::None, Trigger::Apply, &target).unwrap();
    let error = store.write(|w| deploy::record_only(w, &stamp(4), &next)).unwrap_err();
    assert!(matches!(error, StoreError::Conflict(ConflictError::Unobserved { .. })), "{error}");
    drop(reader);

    let last = store
        .write(|w| w.record_outcome(stamp(5), intent.id, outcome(DeployResult::Succeeded, Some(a1))))
        .unwrap();
    assert_eq!(last.entry.parents, [intent.id, submitted.id]);
    let again = store.write(|w| w.record_outcome(stamp(6), intent.id, outcome(DeployResult::Failed, None)));
    assert!(matches!(again.unwrap_err(), StoreError::Conflict(ConflictError::AlreadyConcluded(_))));
    let reader = store.read().unwrap();
    assert_eq!(history::unfinished(&reader, "prod").unwrap(), None);
    assert_eq!(reader.env_state("prod").unwrap(), target);
    let records = history::env_deployments(&reader, "prod", 10).unwrap();
    assert_eq!(records[0].result(), Some(DeployResult::Succeeded));
    let report = verify(&reader, &Rules::without_manifest()).unwrap();
    assert!(report.is_sound(), "{:?}", report.damage);
}

#[test]
fn verify_is_clean_then_finds_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let a1 = register(&store, 1, "api", "1");
    let recorded = deploy(&store, 2, "prod", &State::from([("api".into(), a1)]));
    let report = verify(&store.read().unwrap(), &Rules::without_manifest()).unwrap();
    assert!(report.is_sound(), "{:?}", report.damage);
    assert_eq!((report.objects, report.environments), (3, 1));
    let path = store.path().to_path_buf();
    let (release_seq, deployment_seq) = {
        let reader = store.read().unwrap();
        (reader.seq_of(&a1).unwrap().unwrap(), reader.seq_of(&recorded.deployment.id).unwrap().unwrap())
    };
    drop(store);

    // Alter one entry's bytes and drop another's, behind the store's back.
    use redb::ReadableTable;
    let db = redb::Database::create(&path).unwrap();
    let entries: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("entries");
    let txn = db.begin_write().unwrap();
    {
        let mut table = txn.open_table(entries).unwrap();
        let mut bytes = table.get(release_seq).unwrap().unwrap().value().to_vec();
        *bytes.last_mut().unwrap() ^= 1;
        table.insert(release_seq, bytes.as_slice()).unwrap();
        table.remove(deployment_seq).unwrap();
    }
    txn.commit().unwrap();
    drop(db);

    let store = Store::open(path.parent().unwrap()).unwrap();
    // However few entries it keeps in memory, verify finds the same.
    for window in [WINDOW, 1] {
        let report = verify_within(
            &store.read().unwrap(),
            &Rules::without_manifest(),
            window,
            &AtomicBool::new(false),
        )
        .unwrap();
        let kinds: Vec<&str> = report
            .damage
            .iter()
            .map(|d| match d {
                Damage::HashMismatch { .. } => "hash",
                Damage::MissingObject { .. } => "missing",
                Damage::Unindexed { .. } => "unindexed",
                Damage::IndexRow { .. } => "index row",
                Damage::MissingParent { .. } => "parent",
                Damage::BrokenHistory { .. } => "history",
                Damage::StrayOutcome { .. } => "stray",
                Damage::StateMismatch { .. } => "state",
                Damage::DanglingRef { .. } => "ref",
                Damage::Undecodable { .. } => "decode",
                Damage::BreaksRule(_) => "rule",
                Damage::Derived(_) => "derived",
            })
            .collect();
        assert_eq!(kinds, ["stray", "hash", "missing", "history"], "window {window}: {:?}", report.damage);
    }
}

/// `entry`, sealed and stored as a remote's entry is (checked for its hash and parents, not
/// for the rules), as a forged one would be.
fn store_forged(store: &Store, entry: Entry) -> EntryId {
    let (forged, bytes) = StoredEntry::seal(entry);
    store.write(|w| w.receive(forged.id, &bytes)).unwrap().id
}

fn forged(parents: Vec<EntryId>, at: Timestamp, body: Body) -> Entry {
    Entry { parents, at, actor: "tester".into(), message: String::new(), body }
}

#[test]
fn verify_holds_entries_to_the_rules_with_what_they_name_far_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let api = register(&store, 1, "api", "1");
    for n in 0..20 {
        register(&store, 2 + n, "search", &n.to_string());
    }
    // A deployment that gives search the release of api recorded 21 entries before it.
    let changes = BTreeMap::from([("search".to_string(), Change { from: None, to: api })]);
    let deployment = Deployment { env: "prod".into(), release_set: None, trigger: Trigger::Apply, changes };
    let wrong_service = store_forged(&store, forged(vec![], stamp(30).at, Body::Deployment(deployment)));
    // A release of api dated before its parent, 22 entries before it.
    let before = Timestamp(stamp(1).at.0 - 1);
    let too_early = store_forged(&store, forged(vec![api], before, Body::Release(release("api", "2"))));

    let reader = store.read().unwrap();
    let broken = |window| {
        let report = verify_within(&reader, &rules(), window, &AtomicBool::new(false)).unwrap();
        let broken: Vec<(EntryId, &str)> = report
            .damage
            .iter()
            .map(|d| match d {
                Damage::BreaksRule(refusal) => (refusal.id, refusal.broken.rule.as_str()),
                other => panic!("unexpected damage {other}"),
            })
            .collect();
        (broken, report.looked_up)
    };
    let expected = [(wrong_service, "named-entries"), (too_early, "time-order")];
    assert_eq!(broken(WINDOW), (expected.to_vec(), 0));
    // With a window of 4 entries, what they name is read back from the store, and found wrong.
    let (found, looked_up) = broken(4);
    assert_eq!(found, expected);
    assert_eq!(looked_up, 1, "the release of api, read back once and then held in turn");
}

#[test]
fn verify_finds_a_parent_missing_far_back_when_the_index_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let first = register(&store, 1, "api", "1");
    for n in 0..10 {
        register(&store, 2 + n, "search", &n.to_string());
    }
    let second = register(&store, 20, "api", "2");
    // Its parent, 11 entries back, is beyond a window of 2: it is looked up, and found.
    let report = verify_within(&store.read().unwrap(), &rules(), 2, &AtomicBool::new(false)).unwrap();
    assert!(report.is_sound(), "{:?}", report.damage);
    assert_eq!(report.looked_up, 1);
    let path = store.path().to_path_buf();
    let seq = store.read().unwrap().seq_of(&first).unwrap().unwrap();
    drop(store);
    // The first release's entry and its index row both gone: the index agrees with the entries.
    let db = redb::Database::create(&path).unwrap();
    let ids: redb::TableDefinition<(u64, u64), ()> = redb::TableDefinition::new("id_keys");
    let entries: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("entries");
    let txn = db.begin_write().unwrap();
    {
        assert!(txn.open_table(ids).unwrap().remove((ledger::store::id_key(&first), seq)).unwrap().is_some());
        txn.open_table(entries).unwrap().remove(seq).unwrap();
    }
    txn.commit().unwrap();
    drop(db);

    let store = Store::open(path.parent().unwrap()).unwrap();
    for window in [WINDOW, 2] {
        let report =
            verify_within(&store.read().unwrap(), &rules(), window, &AtomicBool::new(false)).unwrap();
        assert!(
            matches!(&report.damage[..], [Damage::MissingParent { id, parent }] if *id == second && *parent == first),
            "window {window}: {:?}",
            report.damage
        );
        assert_eq!(report.objects, 11);
    }
}

#[test]
fn an_entry_is_never_older_than_its_parents() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let first = store.write(|w| w.record_release(stamp(100), release("api", "1"))).unwrap();
    // A clock that went backwards, as on another machine.
    let second = store.write(|w| w.record_release(stamp(5), release("api", "2"))).unwrap();
    assert_eq!(second.entry.parents, [first.id]);
    assert_eq!(second.entry.at.0, first.entry.at.0 + 1);
    let reader = store.read().unwrap();
    let newest: Vec<_> =
        reader.newest(2).unwrap().into_iter().map(|seq| reader.entry_at(seq).unwrap().unwrap().id).collect();
    assert_eq!(newest, [second.id, first.id]);
}

#[test]
fn verify_finds_a_changed_and_a_deleted_state_row() {
    use redb::ReadableTable;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let (a1, s1) = (register(&store, 1, "api", "1"), register(&store, 2, "search", "1"));
    deploy(&store, 3, "prod", &State::from([("api".into(), a1), ("search".into(), s1)]));
    let a2 = register(&store, 4, "api", "2");
    deploy(&store, 5, "prod", &State::from([("api".into(), a2)]));
    let path = store.path().to_path_buf();
    let a1_seq = store.read().unwrap().seq_of(&a1).unwrap().unwrap();
    drop(store);

    let db = redb::Database::create(&path).unwrap();
    let state: redb::TableDefinition<(&str, &str), ([u8; 32], u64)> = redb::TableDefinition::new("state");
    let txn = db.begin_write().unwrap();
    {
        let mut table = txn.open_table(state).unwrap();
        assert_eq!(table.get(("prod", "api")).unwrap().unwrap().value().0, a2.0);
        table.insert(("prod", "api"), (a1.0, a1_seq)).unwrap();
        table.remove(("prod", "search")).unwrap();
    }
    txn.commit().unwrap();
    drop(db);

    let store = Store::open(path.parent().unwrap()).unwrap();
    let report = verify(&store.read().unwrap(), &Rules::without_manifest()).unwrap();
    assert_eq!(
        report.damage,
        [
            Damage::StateMismatch {
                env: "prod".into(),
                service: "api".into(),
                recorded: Some(a1),
                from_history: Some(a2)
            },
            Damage::StateMismatch {
                env: "prod".into(),
                service: "search".into(),
                recorded: None,
                from_history: Some(s1)
            },
        ]
    );
}

#[test]
fn verify_finds_a_state_row_pointing_at_the_wrong_position() {
    use redb::ReadableTable;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let a1 = register(&store, 1, "api", "1");
    deploy(&store, 2, "prod", &State::from([("api".into(), a1)]));
    let path = store.path().to_path_buf();
    drop(store);

    let db = redb::Database::create(&path).unwrap();
    let state: redb::TableDefinition<(&str, &str), ([u8; 32], u64)> = redb::TableDefinition::new("state");
    let txn = db.begin_write().unwrap();
    {
        let mut table = txn.open_table(state).unwrap();
        let (id, seq) = table.get(("prod", "api")).unwrap().unwrap().value();
        table.insert(("prod", "api"), (id, seq + 1)).unwrap();
    }
    txn.commit().unwrap();
    drop(db);

    let store = Store::open(path.parent().unwrap()).unwrap();
    let report = verify(&store.read().unwrap(), &Rules::without_manifest()).unwrap();
    assert!(
        matches!(&report.damage[..], [Damage::BrokenHistory { env, error }] if env == "prod" && error.contains("position")),
        "{:?}",
        report.damage
    );
    // Nor is the state shown from it: the row names a release its position does not hold.
    let reader = store.read().unwrap();
    let error = reader.env_state("prod").unwrap_err();
    assert!(matches!(&error, StoreError::Damaged(d) if d.row == "the state row of prod/api"), "{error}");
    assert!(error.to_string().contains("run `ledger verify`"), "{error}");
}

/// Every entry of `store` as (id, stored bytes), in the order recorded.
fn entries_of(store: &Store) -> Vec<(EntryId, Vec<u8>)> {
    let mut entries = Vec::new();
    let reader = store.read().unwrap();
    reader
        .for_each_entry(|_, bytes| {
            entries.push((EntryId::of_stored_bytes(bytes), bytes.to_vec()));
            Ok(())
        })
        .unwrap();
    entries
}

fn received_error(store: &Store, id: EntryId, bytes: &[u8]) -> ReceiveError {
    match store.write(|w| w.receive(id, bytes)) {
        Err(StoreError::Received(error)) => error,
        other => panic!("expected a refused entry, got {other:?}"),
    }
}

#[test]
fn received_entries_are_checked_before_anything_is_stored() {
    let (source_dir, copy_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = Store::init(source_dir.path()).unwrap();
    let a1 = register(&source, 1, "api", "1");
    let a2 = register(&source, 2, "api", "2");
    deploy(&source, 3, "stage", &State::from([("api".to_string(), a2)]));
    let entries = entries_of(&source);
    let copy = Store::init(copy_dir.path()).unwrap();

    // Bytes that do not hash to the id asked for: corrupted, truncated or forged.
    let (id, bytes) = &entries[0];
    let mut flipped = bytes.clone();
    *flipped.last_mut().unwrap() ^= 1;
    let error = received_error(&copy, *id, &flipped);
    assert!(matches!(error, ReceiveError::HashMismatch { expected, .. } if expected == *id), "{error}");
    let error = received_error(&copy, *id, &bytes[..bytes.len() - 1]);
    assert!(matches!(error, ReceiveError::HashMismatch { .. }), "{error}");
    // Bytes that hash to their id but are not an entry.
    let garbage = b"\x07not an entry".to_vec();
    let error = received_error(&copy, EntryId::of_stored_bytes(&garbage), &garbage);
    assert!(matches!(error, ReceiveError::Undecodable { .. }), "{error}");
    // An entry whose parent is not here yet.
    let error = received_error(&copy, entries[1].0, &entries[1].1);
    assert!(matches!(error, ReceiveError::MissingReference { missing, .. } if missing == a1), "{error}");
    assert!(entries_of(&copy).is_empty(), "nothing of a refused entry is stored");

    // In order, everything is received; receiving an entry twice changes nothing.
    copy.write(|w| entries.iter().try_for_each(|(id, bytes)| w.receive(*id, bytes).map(drop))).unwrap();
    copy.write(|w| w.receive(entries[0].0, &entries[0].1)).unwrap();
    assert_eq!(entries_of(&copy), entries);
    assert_eq!(copy.read().unwrap().env_state("stage").unwrap(), State::from([("api".to_string(), a2)]));
}

#[test]
fn a_received_entry_that_does_not_follow_its_ref_is_refused_as_diverged() {
    let (source_dir, copy_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = Store::init(source_dir.path()).unwrap();
    register(&source, 1, "api", "1");
    let copy = Store::init(copy_dir.path()).unwrap();
    // The copy recorded its own first release of api meanwhile.
    let own = register(&copy, 2, "api", "other");
    let (id, bytes) = &entries_of(&source)[0];
    let error = received_error(&copy, *id, bytes);
    assert!(
        matches!(&error, ReceiveError::Diverged { name, .. } if name.as_str() == RefName::service("api").as_str()),
        "{error}"
    );
    assert!(error.to_string().contains(&own.short()), "{error}");
    assert_eq!(copy.read().unwrap().ref_target(&RefName::service("api")).unwrap(), Some(own));
}

#[test]
fn a_store_holding_the_manifests_rules_records_nothing_that_breaks_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap().admitting(rules());
    let api = register(&store, 1, "api", "1");
    let mut forged = release("api", "2");
    forged.image = "docker.io/evil/backdoor:v2.1".into();
    let error = store.write(|w| w.record_release(stamp(2), forged)).unwrap_err();
    let message = error.to_string();
    assert!(matches!(&error, StoreError::Refused(r) if r.on == "service/api"), "{error:?}");
    assert!(message.contains("breaks rule image") && message.contains("registry.local/api"), "{message}");
    let unknown = store.write(|w| w.record_release(stamp(3), release("billing", "1"))).unwrap_err();
    assert!(unknown.to_string().contains("unknown service \"billing\""), "{unknown}");
    // Nothing of either was stored.
    let reader = store.read().unwrap();
    assert_eq!(reader.newest(10).unwrap().len(), 1);
    assert_eq!(reader.ref_target(&RefName::service("api")).unwrap(), Some(api));
}

#[test]
fn a_refused_entry_is_not_stored_even_when_the_write_goes_on_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap().admitting(rules());
    let api = register(&store, 1, "api", "1");
    let mut forged = release("api", "2");
    forged.image = "docker.io/evil/backdoor:v2.1".into();
    let error = store
        .write(|w| {
            let refused = w.record_release(stamp(2), forged);
            assert!(matches!(refused, Err(StoreError::Refused(_))), "{refused:?}");
            w.record_release(stamp(3), release("search", "1"))
        })
        .unwrap_err();
    assert!(matches!(&error, StoreError::Refused(r) if r.on == "service/api"), "{error:?}");
    let reader = store.read().unwrap();
    assert_eq!(reader.newest(10).unwrap().len(), 1, "neither entry of that write was stored");
    assert_eq!(reader.ref_target(&RefName::service("api")).unwrap(), Some(api));
}

#[test]
fn times_outside_the_range_and_after_the_last_time_are_errors_not_wraps() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let mut at_the_end = stamp(0);
    at_the_end.at = ledger::Timestamp::MAX;
    store.write(|w| w.record_release(at_the_end, release("api", "1"))).unwrap();
    let error = store.write(|w| w.record_release(stamp(1), release("api", "2"))).unwrap_err();
    assert!(
        matches!(error, StoreError::Time(ledger::timestamp::TimeError::NoLaterTime(at)) if at == ledger::Timestamp::MAX),
        "{error:?}"
    );
    let mut past_9999 = stamp(0);
    past_9999.at = ledger::Timestamp(i64::MAX);
    let error = store.write(|w| w.record_release(past_9999, release("search", "1"))).unwrap_err();
    assert!(matches!(error, StoreError::Time(ledger::timestamp::TimeError::OutOfRange(_))), "{error:?}");
    assert_eq!(store.read().unwrap().newest(10).unwrap().len(), 1);
}

#[test]
fn verify_reports_entries_that_break_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    register(&store, 1, "api", "1");
    let mut forged = release("api", "2");
    forged.image = "docker.io/evil/backdoor:v2.1".into();
    let forged = store.write(|w| w.record_release(stamp(2), forged)).unwrap();
    // A release dated past 9999, as only a forged or damaged entry is.
    let (far, bytes) = ledger::StoredEntry::seal(ledger::Entry {
        parents: vec![],
        at: ledger::Timestamp(ledger::Timestamp::MAX.0 + 1),
        actor: "tester".into(),
        message: String::new(),
        body: ledger::Body::Release(release("search", "1")),
    });
    store.write(|w| w.receive(far.id, &bytes)).unwrap();

    let reader = store.read().unwrap();
    let broken = |report: &ledger::verify::Report| -> Vec<(EntryId, &'static str)> {
        report
            .damage
            .iter()
            .map(|d| match d {
                Damage::BreaksRule(refusal) => (refusal.id, refusal.broken.rule.as_str()),
                other => panic!("unexpected damage {other}"),
            })
            .collect()
    };
    let report = verify(&reader, &rules()).unwrap();
    assert_eq!(broken(&report), [(forged.id, "image"), (far.id, "time-range")]);
    let shown = report.damage[1].to_string();
    assert!(shown.contains("time +10000-01-01T00:00:00.000000Z is outside"), "{shown}");
    let report = verify(&reader, &Rules::without_manifest()).unwrap();
    assert_eq!(broken(&report), [(far.id, "time-range")]);
}

/// Replaces every occurrence of `from` in the ledger file of `store` by `to` (same length):
/// damage as a flipped bit on disk does it, below redb.
fn alter_file(store: Store, from: &[u8], to: &[u8]) -> Store {
    let path = store.path().to_path_buf();
    drop(store);
    let mut bytes = std::fs::read(&path).unwrap();
    // Copy-on-write leaves older copies of a page in free space: alter every copy.
    let at: Vec<usize> =
        bytes.windows(from.len()).enumerate().filter(|(_, w)| *w == from).map(|(i, _)| i).collect();
    assert!(!at.is_empty(), "the bytes to alter are not in the file");
    for start in at {
        bytes[start..start + to.len()].copy_from_slice(to);
    }
    std::fs::write(&path, bytes).unwrap();
    Store::open(path.parent().unwrap()).unwrap()
}

#[test]
fn reads_refuse_an_entry_altered_on_disk_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let a1 = register(&store, 1, "api", "v1.1.0");
    let s1 = register(&store, 2, "search", "v2.0.0");
    deploy(&store, 3, "stage", &ledger_testutil::entries::state(&[("api", a1), ("search", s1)]));
    deploy(&store, 4, "prod", &ledger_testutil::entries::state(&[("api", a1)]));
    let store = alter_file(store, b"api:v1.1.0", b"api:v1.9.0");

    let damaged = |result: Result<_, StoreError>| match result {
        Err(StoreError::Damaged(damage)) => damage.to_string(),
        Err(other) => panic!("another error: {other}"),
        Ok(_) => panic!("the altered entry was believed"),
    };
    let reader = store.read().unwrap();
    let by_id = damaged(reader.entry(&a1).map(|_| ()));
    assert!(by_id.contains(&format!("the id index row of {a1} names {a1}")), "{by_id}");
    assert!(by_id.contains("run `ledger verify`"), "{by_id}");
    assert!(damaged(reader.env_state("prod").map(|_| ())).contains("the state row of prod/api"));
    let seq = reader.seq_of(&a1).unwrap().unwrap();
    assert!(damaged(reader.entry_at(seq).map(|_| ())).contains(&format!("entry #{seq}")));
    assert!(damaged(reader.env_state("stage").map(|_| ())).contains("the state row of stage/api"));
    // The deployments do not contain the release, only its id: they still read.
    assert_eq!(history::env_deployments(&reader, "prod", 10).unwrap().len(), 1);
    // An untouched entry still reads.
    assert_eq!(reader.entry(&s1).unwrap().unwrap().id, s1);
    drop(reader);

    // Planning against the damaged state refuses; nothing is recorded.
    let before = entries_of(&store).len();
    let target = ledger_testutil::entries::state(&[("search", s1)]);
    let plan = {
        let reader = store.read().unwrap();
        Plan::towards(&reader, "prod", SetSource::None, Trigger::Apply, &target).map(|_| ())
    };
    let error = plan.unwrap_err().to_string();
    assert!(error.contains("the state row of prod/api"), "{error}");
    assert_eq!(entries_of(&store).len(), before);
}

#[test]
fn reads_refuse_a_deployment_altered_on_disk_and_a_log_row_moved() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let a1 = register(&store, 1, "api", "1");
    let a2 = register(&store, 2, "api", "2");
    deploy(&store, 3, "prod", &ledger_testutil::entries::state(&[("api", a1)]));
    let mut stamp_two = stamp(4);
    stamp_two.message = "second qzx attempt".into();
    let second = {
        let reader = store.read().unwrap();
        let target = ledger_testutil::entries::state(&[("api", a2)]);
        let plan = Plan::towards(&reader, "prod", SetSource::None, Trigger::Apply, &target).unwrap();
        drop(reader);
        store.write(|w| deploy::record_only(w, &stamp_two, &plan)).unwrap()
    };
    let store = alter_file(store, b"second qzx attempt", b"second qzx attempT");
    let reader = store.read().unwrap();
    // The log reads the deployment by position; its outcome names the id it must hash to.
    let error = history::env_deployments(&reader, "prod", 10).unwrap_err().to_string();
    assert!(
        error.contains("the log row of prod") && error.contains(&second.deployment.id.to_hex()),
        "{error}"
    );
    assert!(matches!(reader.entry(&second.deployment.id), Err(StoreError::Damaged(_))));
    // The status reads the head's two newest rows the same way.
    assert!(history::env_deployments(&reader, "prod", 2).is_err());
    // The first deployment and its outcome are sound, and read alone.
    assert_eq!(history::deployments_page(&reader, "prod", None, 1, 1).unwrap().len(), 1);
}

#[test]
fn a_log_that_disagrees_with_its_ref_is_damage() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let a1 = register(&store, 1, "api", "1");
    deploy(&store, 2, "prod", &ledger_testutil::entries::state(&[("api", a1)]));
    // The ref's name altered: prod's log has rows and no ref.
    let store = alter_file(store, b"env/prod", b"env/prox");
    let error = history::env_deployments(&store.read().unwrap(), "prod", 10).unwrap_err().to_string();
    assert!(error.contains("the log of prod lists deployments, and it has no ref"), "{error}");
}

#[test]
fn a_ledger_records_the_project_it_belongs_to_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    assert_eq!(store.project().unwrap(), None, "made before projects were recorded, or not yet claimed");
    assert_eq!(store.claim_project("catalogue").unwrap(), "catalogue");
    assert_eq!(store.claim_project("billing").unwrap(), "catalogue", "the first claim stays");
    drop(store);
    let reopened = Store::open_for_reading(dir.path()).unwrap();
    assert_eq!(reopened.project().unwrap().as_deref(), Some("catalogue"));
}
