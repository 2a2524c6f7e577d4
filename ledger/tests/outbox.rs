//! The outbox: an entry recorded here is queued for the sinks whose filters take it, in its own
//! transaction; an entry taken in from elsewhere is not; settling removes what was delivered and
//! counts what failed.

use std::path::Path;

use ledger::manifest::Manifest;
use ledger::outbox::{Attempt, Queued};
use ledger::{EntryId, Source, Store, Timestamp};
use ledger_testutil::entries::{deploy, register, stamp, state};

/// Sinks: every release; failed prod outcomes; everything about stage.
fn sinks() -> Vec<ledger::notify::Sink> {
    let text = "[project]\nid = \"catalogue\"\n[environments.stage]\n[environments.prod]\n\
        [services.api]\nimage_repository = \"registry.local/api\"\n\
        [[notify]]\nname = \"releases\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:1/\"\nkinds = [\"release\"]\n\
        [[notify]]\nname = \"prod-failures\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:1/\"\n\
        environments = [\"prod\"]\nresults = [\"failed\", \"rolled_back\"]\n\
        [[notify]]\nname = \"stage\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:1/\"\nenvironments = [\"stage\"]\n";
    Manifest::parse(Path::new("ledger.toml"), text).expect("the manifest parses").notify
}

/// The exact bytes `id` is stored with, as a remote would send them.
fn stored_bytes(store: &Store, id: EntryId) -> Vec<u8> {
    let reader = store.read().unwrap();
    reader.raw_at(reader.seq_of(&id).unwrap().unwrap()).unwrap().unwrap()
}

fn queued_for(store: &Store) -> Vec<(String, u64)> {
    store.queued().unwrap().into_iter().map(|queued| (queued.sink, queued.seq)).collect()
}

#[test]
fn recorded_entries_are_queued_for_the_sinks_that_take_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap().announcing(&sinks());
    let release = register(&store, 1, "api", "v1");
    deploy(&store, 2, "stage", &state(&[("api", release)]));
    deploy(&store, 3, "prod", &state(&[("api", release)]));
    // 1 release; 2, 3 stage's deployment and outcome; prod's succeeded: no one's.
    let expected: Vec<(String, u64)> = vec![("releases".into(), 1), ("stage".into(), 2), ("stage".into(), 3)];
    let mut queued = queued_for(&store);
    queued.sort_by_key(|(_, seq)| *seq);
    assert_eq!(queued, expected);

    // A store opened without sinks queues nothing, and keeps what is queued.
    let plain = Store::open(dir.path()).unwrap();
    register(&plain, 4, "api", "v2");
    assert_eq!(queued_for(&plain).len(), 3);
}

#[test]
fn entries_taken_in_from_elsewhere_are_not_queued_and_own_appends_are() {
    let (source_dir, dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = Store::init(source_dir.path()).unwrap();
    let pulled = register(&source, 1, "api", "v1");
    let bytes = stored_bytes(&source, pulled);
    let store = Store::init(dir.path()).unwrap().announcing(&sinks());
    store.write(|w| w.receive(pulled, &bytes)).unwrap();
    assert!(queued_for(&store).is_empty(), "a pulled entry was announced where it was recorded");

    let appended = store
        .write(|w| {
            let (stored, bytes) =
                w.seal_new(stamp(2), ledger::Body::Release(ledger_testutil::entries::release("api", "v2")))?;
            w.receive_own(stored.id, &bytes)
        })
        .unwrap();
    assert_eq!(queued_for(&store), [("releases".to_string(), 2)]);
    // Received again (a second append of the same entry): not queued twice.
    let again = stored_bytes(&store, appended.id);
    store.write(|w| w.receive_own(appended.id, &again)).unwrap();
    assert_eq!(queued_for(&store).len(), 1);
}

#[test]
fn settling_removes_what_was_delivered_and_counts_what_failed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap().announcing(&sinks());
    register(&store, 1, "api", "v1");
    register(&store, 2, "api", "v2");
    let queued = store.queued().unwrap();
    let later = Timestamp::from_unix_seconds(2_000_000_000);
    let failed = Attempt::Failed { error: "connection refused".into(), retry_at: later };
    store.settle(&[(queued[0].clone(), Attempt::Delivered), (queued[1].clone(), failed.clone())]).unwrap();
    assert_eq!(
        store.queued().unwrap(),
        [Queued {
            sink: "releases".into(),
            seq: 2,
            attempts: 1,
            not_before: later,
            error: "connection refused".into()
        }]
    );
    // An event another process delivered meanwhile stays gone.
    store.settle(&[(queued[0].clone(), failed)]).unwrap();
    assert_eq!(store.queued().unwrap().len(), 1);
}
