//! The store and the history walks: parents, refs, materialised state, conflicts, rollback
//! targets, and `verify` finding damage.

use ledger::deploy::{self, Plan, SetSource};
use ledger::history::{self, State};
use ledger::refs::RefName;
use ledger::store::{ConflictError, ReceiveError};
use ledger::verify::{Damage, verify};
use std::collections::BTreeMap;

use ledger_testutil::entries::{deploy, register, release, stamp};

use ledger::{DeployResult, EntryId, Outcome, ServiceOutcome, Source, Store, StoreError, Trigger};

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

    // Default rollback: the state before the last successful deployment.
    let (state, trigger) = deploy::rollback_target(&reader, "prod", None).unwrap().unwrap();
    assert_eq!(state, State::from([("api".into(), a1), ("search".into(), s1)]));
    assert_eq!(trigger, Trigger::Rollback { to: Some(first.deployment.id) });
    // --to the second deployment: what runs now.
    let (state, _) = deploy::rollback_target(&reader, "prod", Some(second.deployment.id)).unwrap().unwrap();
    assert_eq!(state, reader.env_state("prod").unwrap());
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
    let report = verify(&reader).unwrap();
    assert!(report.is_sound(), "{:?}", report.damage);
}

#[test]
fn verify_is_clean_then_finds_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let a1 = register(&store, 1, "api", "1");
    let recorded = deploy(&store, 2, "prod", &State::from([("api".into(), a1)]));
    let report = verify(&store.read().unwrap()).unwrap();
    assert!(report.is_sound(), "{:?}", report.damage);
    assert_eq!((report.objects, report.environments), (3, 1));
    let path = store.path().to_path_buf();
    drop(store);

    // Alter one entry's bytes and drop another's, behind the store's back.
    use redb::ReadableTable;
    let db = redb::Database::create(&path).unwrap();
    let ids: redb::TableDefinition<[u8; 32], u64> = redb::TableDefinition::new("ids");
    let entries: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("entries");
    let txn = db.begin_write().unwrap();
    {
        let ids = txn.open_table(ids).unwrap();
        let (release_seq, deployment_seq) = (
            ids.get(&a1.0).unwrap().unwrap().value(),
            ids.get(&recorded.deployment.id.0).unwrap().unwrap().value(),
        );
        let mut table = txn.open_table(entries).unwrap();
        let mut bytes = table.get(release_seq).unwrap().unwrap().value().to_vec();
        *bytes.last_mut().unwrap() ^= 1;
        table.insert(release_seq, bytes.as_slice()).unwrap();
        table.remove(deployment_seq).unwrap();
    }
    txn.commit().unwrap();
    drop(db);

    let store = Store::open(path.parent().unwrap()).unwrap();
    let report = verify(&store.read().unwrap()).unwrap();
    let kinds: Vec<&str> = report
        .damage
        .iter()
        .map(|d| match d {
            Damage::HashMismatch { .. } => "hash",
            Damage::MissingObject { .. } => "missing",
            Damage::Unindexed { .. } => "unindexed",
            Damage::MissingParent { .. } => "parent",
            Damage::BrokenHistory { .. } => "history",
            Damage::StrayOutcome { .. } => "stray",
            Damage::StateMismatch { .. } => "state",
            Damage::DanglingRef { .. } => "ref",
            Damage::Undecodable { .. } => "decode",
        })
        .collect();
    assert_eq!(kinds, ["stray", "hash", "missing", "history"], "{:?}", report.damage);
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
    drop(store);

    let db = redb::Database::create(&path).unwrap();
    let state: redb::TableDefinition<(&str, &str), ([u8; 32], u64)> = redb::TableDefinition::new("state");
    let ids: redb::TableDefinition<[u8; 32], u64> = redb::TableDefinition::new("ids");
    let txn = db.begin_write().unwrap();
    {
        let a1_seq = txn.open_table(ids).unwrap().get(&a1.0).unwrap().unwrap().value();
        let mut table = txn.open_table(state).unwrap();
        assert_eq!(table.get(("prod", "api")).unwrap().unwrap().value().0, a2.0);
        table.insert(("prod", "api"), (a1.0, a1_seq)).unwrap();
        table.remove(("prod", "search")).unwrap();
    }
    txn.commit().unwrap();
    drop(db);

    let store = Store::open(path.parent().unwrap()).unwrap();
    let report = verify(&store.read().unwrap()).unwrap();
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
    let report = verify(&store.read().unwrap()).unwrap();
    assert!(
        matches!(&report.damage[..], [Damage::BrokenHistory { env, error }] if env == "prod" && error.contains("position")),
        "{:?}",
        report.damage
    );
    // The wrong position is only a hint: showing the state still finds the release.
    let reader = store.read().unwrap();
    assert_eq!(reader.env_state("prod").unwrap(), State::from([("api".into(), a1)]));
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
