//! Push and pull between ledgers through a `file://` remote: what moves, what is refused, and
//! that nothing a remote serves enters a ledger unchecked.

use std::collections::BTreeMap;

use ledger::admission::Rules;
use ledger::refs::RefName;
use ledger::verify::verify;
use ledger::{EntryId, Source, Store};
use ledger_remote::exchange::{ExchangeError, pull, push};
use ledger_remote::file::FileRemote;
use ledger_remote::{RefDoc, Remote, Written, get_ref, object_key, put_ref};
use ledger_testutil::block_on;
use ledger_testutil::entries::{self, register};

fn deploy(store: &Store, second: i64, env: &str, releases: &[(&str, EntryId)]) -> EntryId {
    entries::deploy(store, second, env, &entries::state(releases)).deployment.id
}

struct Setup {
    _dirs: Vec<tempfile::TempDir>,
    remote: FileRemote,
    a: Store,
    b: Store,
}

fn setup() -> Setup {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let remote = FileRemote::new(&format!("file://{}", dirs[0].path().display())).unwrap();
    let (a, b) = (Store::init(dirs[1].path()).unwrap(), Store::init(dirs[2].path()).unwrap());
    Setup { _dirs: dirs, remote, a, b }
}

fn local_refs(store: &Store) -> BTreeMap<String, EntryId> {
    let all = store.read().unwrap().all_refs().unwrap();
    all.into_iter().filter(|(name, _)| !name.starts_with("remote/")).collect()
}

#[test]
fn what_one_ledger_pushes_another_pulls_and_only_new_entries_travel() {
    let s = setup();
    let api = register(&s.a, 1, "api", "1");
    let search = register(&s.a, 2, "search", "1");
    deploy(&s.a, 3, "stage", &[("api", api), ("search", search)]);
    let pushed = block_on(push(&s.a, &s.remote, "origin", None, &())).unwrap();
    assert_eq!(pushed.objects, 4, "two releases, a deployment, its outcome");
    assert_eq!(pushed.moved.len(), 3, "{pushed:?}");

    let pulled = block_on(pull(&s.b, &s.remote, "origin", &())).unwrap();
    assert_eq!(pulled.entries, 4);
    assert!(pulled.refused.is_empty());
    assert_eq!(local_refs(&s.b), local_refs(&s.a));
    assert_eq!(
        s.b.read().unwrap().env_state("stage").unwrap(),
        s.a.read().unwrap().env_state("stage").unwrap()
    );
    assert!(verify(&s.b.read().unwrap(), &Rules::without_manifest()).unwrap().is_sound());

    // One more release and deployment: only they travel, both ways.
    let api2 = register(&s.a, 4, "api", "2");
    deploy(&s.a, 5, "stage", &[("api", api2)]);
    let pushed = block_on(push(&s.a, &s.remote, "origin", None, &())).unwrap();
    assert_eq!(pushed.objects, 3, "{pushed:?}");
    let again = block_on(push(&s.a, &s.remote, "origin", None, &())).unwrap();
    assert_eq!((again.objects, again.moved.len()), (0, 0), "nothing new, nothing sent");
    let pulled = block_on(pull(&s.b, &s.remote, "origin", &())).unwrap();
    assert_eq!(pulled.entries, 3);
    assert_eq!(local_refs(&s.b), local_refs(&s.a));

    // B deploys and pushes; A pulls it.
    deploy(&s.b, 6, "prod", &[("api", api2)]);
    block_on(push(&s.b, &s.remote, "origin", None, &())).unwrap();
    block_on(pull(&s.a, &s.remote, "origin", &())).unwrap();
    assert_eq!(local_refs(&s.a), local_refs(&s.b));
}

#[test]
fn environment_histories_never_merge() {
    let s = setup();
    let api = register(&s.a, 1, "api", "1");
    block_on(push(&s.a, &s.remote, "origin", None, &())).unwrap();
    block_on(pull(&s.b, &s.remote, "origin", &())).unwrap();
    // Both deploy to stage; A pushes first.
    deploy(&s.a, 2, "stage", &[("api", api)]);
    let api_b = register(&s.b, 3, "api", "b");
    deploy(&s.b, 4, "stage", &[("api", api_b)]);
    block_on(push(&s.a, &s.remote, "origin", None, &())).unwrap();

    let refused = block_on(push(&s.b, &s.remote, "origin", None, &())).unwrap();
    let names: Vec<&str> = refused.refused.iter().map(|r| r.name.as_str()).collect();
    assert!(names.contains(&"env/stage"), "{refused:?}");
    let why = &refused.refused.iter().find(|r| r.name == "env/stage").unwrap().why;
    assert!(why.contains("`ledger pull` first"), "{why}");
    let remote_stage = block_on(get_ref(&s.remote, &RefName::env("stage"))).unwrap().unwrap();
    assert_eq!(
        Some(remote_stage.doc.target),
        s.a.read().unwrap().ref_target(&RefName::env("stage")).unwrap()
    );

    let pulled = block_on(pull(&s.b, &s.remote, "origin", &())).unwrap();
    assert!(pulled.refused.iter().any(|r| r.name == "env/stage"), "{pulled:?}");
    assert!(verify(&s.b.read().unwrap(), &Rules::without_manifest()).unwrap().is_sound());
}

#[test]
fn corrupted_or_missing_objects_never_enter_a_ledger() {
    let s = setup();
    let api = register(&s.a, 1, "api", "1");
    deploy(&s.a, 2, "stage", &[("api", api)]);
    block_on(push(&s.a, &s.remote, "origin", None, &())).unwrap();
    let root = s.remote.url().strip_prefix("file://").unwrap().to_string();
    let object = std::path::Path::new(&root).join(object_key(api));
    let original = std::fs::read(&object).unwrap();

    for damaged in [original[..original.len() - 3].to_vec(), [original.as_slice(), b"x"].concat(), {
        let mut flipped = original.clone();
        flipped[5] ^= 0x20;
        flipped
    }] {
        std::fs::write(&object, &damaged).unwrap();
        let error = block_on(pull(&s.b, &s.remote, "origin", &())).unwrap_err();
        assert!(matches!(&error, ExchangeError::BadObject { id, .. } if *id == api), "{error}");
        assert!(error.to_string().contains("corrupted or forged"), "{error}");
        assert!(local_refs(&s.b).is_empty(), "nothing of a bad pull is stored");
    }
    std::fs::remove_file(&object).unwrap();
    let error = block_on(pull(&s.b, &s.remote, "origin", &())).unwrap_err();
    assert!(matches!(&error, ExchangeError::MissingObject { id, .. } if *id == api), "{error}");
    std::fs::write(&object, &original).unwrap();
    block_on(pull(&s.b, &s.remote, "origin", &())).unwrap();
    assert_eq!(local_refs(&s.b), local_refs(&s.a));
}

/// Writes `entry` into the remote as anyone with write access to it can: a correctly hashed
/// object, and ref `name` moved to it.
fn forge(remote: &FileRemote, name: &RefName, entry: ledger::Entry) -> EntryId {
    let (stored, bytes) = ledger::StoredEntry::seal(entry);
    block_on(remote.put_object(stored.id, &bytes)).unwrap();
    let current = block_on(get_ref(remote, name)).unwrap();
    let doc = RefDoc { target: stored.id, version: current.as_ref().map_or(1, |c| c.doc.version + 1) };
    let written = block_on(put_ref(remote, name, doc, current.as_ref().map(|c| c.etag.as_str()))).unwrap();
    assert!(matches!(written, Written::Done(_)));
    stored.id
}

#[test]
fn a_forged_release_is_refused_with_its_ref_and_rule_and_nothing_of_its_ref_is_taken_in() {
    let s = setup();
    let b = s.b.admitting(entries::rules());
    let api = register(&s.a, 1, "api", "1");
    let search = register(&s.a, 2, "search", "1");
    deploy(&s.a, 3, "stage", &[("api", api), ("search", search)]);
    block_on(push(&s.a, &s.remote, "origin", None, &())).unwrap();
    let stamp = entries::stamp(10);
    let mut image = entries::release("api", "2");
    image.image = "docker.io/evil/backdoor:v2.1".into();
    let forged = forge(
        &s.remote,
        &RefName::service("api"),
        ledger::Entry {
            parents: vec![api],
            at: stamp.at,
            actor: stamp.actor,
            message: stamp.message,
            body: ledger::Body::Release(image),
        },
    );

    let pulled = block_on(pull(&b, &s.remote, "origin", &())).unwrap();
    let refused: Vec<&str> = pulled.refused.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(refused, ["service/api"], "{pulled:?}");
    let why = &pulled.refused[0].why;
    assert!(
        why.contains(&forged.short()) && why.contains("on service/api") && why.contains("breaks rule image"),
        "{why}"
    );
    assert!(why.contains("docker.io/evil/backdoor:v2.1") && why.contains("registry.local/api"), "{why}");
    // The forged release did not come in; the other refs did, and with env/stage the release
    // it deploys, which the forged one was put on top of.
    let reader = b.read().unwrap();
    assert_eq!(reader.seq_of(&forged).unwrap(), None);
    assert_eq!(reader.ref_target(&RefName::service("api")).unwrap(), Some(api));
    assert_eq!(reader.ref_target(&RefName::tracking("origin", &RefName::service("api"))).unwrap(), Some(api));
    assert_eq!(reader.ref_target(&RefName::service("search")).unwrap(), Some(search));
    assert_eq!(reader.env_state("stage").unwrap(), s.a.read().unwrap().env_state("stage").unwrap());
    assert!(verify(&reader, &entries::rules()).unwrap().is_sound());
}

#[test]
fn a_remote_ref_naming_an_entry_of_another_history_is_refused() {
    let s = setup();
    let b = s.b.admitting(entries::rules());
    let api = register(&s.a, 1, "api", "1");
    let deployment = deploy(&s.a, 2, "stage", &[("api", api)]);
    block_on(push(&s.a, &s.remote, "origin", None, &())).unwrap();
    let current = block_on(get_ref(&s.remote, &RefName::service("api"))).unwrap().unwrap();
    let doc = RefDoc { target: deployment, version: current.doc.version + 1 };
    block_on(put_ref(&s.remote, &RefName::service("api"), doc, Some(&current.etag))).unwrap();

    let pulled = block_on(pull(&b, &s.remote, "origin", &())).unwrap();
    let why = &pulled.refused.iter().find(|r| r.name == "service/api").expect("service/api refused").why;
    assert!(why.contains("breaks rule kind-on-ref") && why.contains("belongs on env/stage"), "{why}");
    let reader = b.read().unwrap();
    assert_eq!(reader.ref_target(&RefName::tracking("origin", &RefName::service("api"))).unwrap(), Some(api));
    assert_eq!(
        reader.ref_target(&RefName::env("stage")).unwrap(),
        s.a.read().unwrap().ref_target(&RefName::env("stage")).unwrap()
    );
}
