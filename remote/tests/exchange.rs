//! Push and pull between ledgers through a `file://` remote: what moves, what is refused, and
//! that nothing a remote serves enters a ledger unchecked.

mod common;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use ledger::Body;
use ledger::admission::Rules;
use ledger::refs::RefName;
use ledger::signing::Trust;
use ledger::store::Writer;
use ledger::verify::verify;
use ledger::{EntryId, Source, Store};
use ledger_remote::check::check;
use ledger_remote::exchange::{APPEND_DEADLINE, ExchangeError, append, fetch, pull, push};
use ledger_remote::file::FileRemote;
use ledger_remote::{RefDoc, Remote, Written, get_ref, object_key, put_ref};
use ledger_testutil::block_on;
use ledger_testutil::entries::{self, register};

use common::{Call, Request, Watched};

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

/// The remote's `refs/<name>` document as stored, to put an older one back as a restored
/// backup would.
fn ref_document(remote: &FileRemote, name: &str) -> std::path::PathBuf {
    std::path::Path::new(remote.url().strip_prefix("file://").unwrap()).join("refs").join(name)
}

/// Prod deployed twice, each pushed, `b` pulled the second; then the remote's `refs/env/prod`
/// goes back to the first push's document, as a restored backup would put it. Returns the
/// release deployed and the head `a` and `b` saw.
fn prod_went_back(s: &Setup) -> (EntryId, EntryId) {
    let api = register(&s.a, 1, "api", "1");
    deploy(&s.a, 2, "prod", &[("api", api)]);
    block_on(push(&s.a, &s.remote, "origin", None, &())).unwrap();
    let path = ref_document(&s.remote, "env/prod");
    let old_document = std::fs::read(&path).unwrap();
    deploy(&s.a, 3, "prod", &[("api", api)]);
    block_on(push(&s.a, &s.remote, "origin", None, &())).unwrap();
    block_on(pull(&s.b, &s.remote, "origin", &())).unwrap();
    std::fs::write(&path, &old_document).unwrap();
    (api, s.a.read().unwrap().ref_target(&RefName::env("prod")).unwrap().unwrap())
}

#[test]
fn a_remote_ref_that_went_back_is_an_error_and_push_moves_it_forward_again() {
    let s = setup();
    let (_, head) = prod_went_back(&s);
    let old_target = block_on(get_ref(&s.remote, &RefName::env("prod"))).unwrap().unwrap().doc.target;
    assert_ne!(old_target, head);

    let error = block_on(fetch(&s.b, &s.remote, "origin", &())).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, ExchangeError::WentBack { .. }), "{message}");
    assert!(message.contains(&old_target.to_string()) && message.contains(&head.to_string()), "{message}");

    let pulled = block_on(pull(&s.b, &s.remote, "origin", &())).unwrap();
    let refused = pulled.refused.iter().find(|r| r.name == "env/prod").expect("env/prod refused");
    assert!(refused.why.contains(&old_target.to_string()) && refused.why.contains(&head.to_string()));
    assert_eq!(
        s.b.read().unwrap().ref_target(&RefName::tracking("origin", &RefName::env("prod"))).unwrap(),
        Some(head),
        "the tracking ref does not follow the remote back"
    );

    let seen = s.b.read().unwrap().tracking_refs("origin").unwrap();
    let checked = block_on(check(&s.remote, &seen, &Trust::default(), &())).unwrap();
    assert!(!checked.is_sound(), "{checked:?}");
    assert!(
        checked.damage.iter().any(|d| d.contains(&old_target.to_string()) && d.contains(&head.to_string()))
    );

    // A push from a ledger that saw the newer head moves the ref forward again.
    let pushed = block_on(push(&s.a, &s.remote, "origin", None, &())).unwrap();
    assert_eq!(pushed.went_back.len(), 1, "{pushed:?}");
    assert!(pushed.moved.iter().any(|(name, id)| name == "env/prod" && *id == head), "{pushed:?}");
    let now = block_on(get_ref(&s.remote, &RefName::env("prod"))).unwrap().unwrap();
    assert_eq!(now.doc.target, head);
    assert!(block_on(check(&s.remote, &seen, &Trust::default(), &())).unwrap().is_sound());
    assert!(block_on(pull(&s.b, &s.remote, "origin", &())).unwrap().refused.is_empty());
}

#[test]
fn a_ref_version_never_wraps() {
    let s = setup();
    let first = register(&s.a, 1, "api", "1");
    block_on(push(&s.a, &s.remote, "origin", None, &())).unwrap();
    let path = ref_document(&s.remote, "service/api");
    std::fs::write(&path, format!("{{\"target\":\"{first}\",\"version\":{}}}", u64::MAX)).unwrap();
    register(&s.a, 2, "api", "2");
    let error = block_on(push(&s.a, &s.remote, "origin", None, &())).unwrap_err();
    assert!(error.to_string().contains("refs/service/api"), "{error}");
    assert!(error.to_string().contains("cannot grow"), "{error}");
    let still = block_on(get_ref(&s.remote, &RefName::service("api"))).unwrap().unwrap();
    assert_eq!((still.doc.target, still.doc.version), (first, u64::MAX));
}

#[test]
fn a_history_rewritten_from_an_older_state_is_refused_naming_what_was_seen() {
    let s = setup();
    let (api, seen_head) = prod_went_back(&s);
    // A third ledger that never saw the newer state deploys on top.
    let dir = tempfile::tempdir().unwrap();
    let c = Store::init(dir.path()).unwrap();
    block_on(pull(&c, &s.remote, "origin", &())).unwrap();
    deploy(&c, 4, "prod", &[("api", api)]);
    assert!(block_on(push(&c, &s.remote, "origin", None, &())).unwrap().refused.is_empty());

    let pulled = block_on(pull(&s.b, &s.remote, "origin", &())).unwrap();
    let refused = pulled.refused.iter().find(|r| r.name == "env/prod").expect("env/prod refused");
    assert!(
        refused.why.contains("no longer contains") && refused.why.contains(&seen_head.to_string()),
        "{refused:?}"
    );
    let checked = block_on(check(
        &s.remote,
        &s.b.read().unwrap().tracking_refs("origin").unwrap(),
        &Trust::default(),
        &(),
    ))
    .unwrap();
    assert!(checked.damage.iter().any(|d| d.contains("went back") && d.contains(&seen_head.to_string())));
}

/// Another ledger, `other`, that before each of the first `crowd` moves of a ref through
/// [`Crowded::remote`] appends to that ref first, so the move is refused.
struct Crowded<'a> {
    inner: &'a FileRemote,
    other: &'a Store,
    crowd: Cell<usize>,
}

impl Crowded<'_> {
    fn remote(&self) -> Watched<'_, impl AsyncFn(&Request)> {
        Watched::new(self.inner, async move |request: &Request| {
            if request.call != Call::PutDocument || self.crowd.get() == 0 {
                return;
            }
            self.crowd.set(self.crowd.get() - 1);
            let tag = format!("other-{}", self.crowd.get());
            let seal = move |w: &Writer<'_>| {
                w.seal_new(entries::stamp(100), Body::Release(entries::release("api", &tag)))
            };
            append(self.other, self.inner, "origin", &RefName::service("api"), false, seal).await.unwrap();
        })
    }
}

#[test]
fn an_append_outlasts_others_appending_first_until_its_deadline() {
    let s = setup();
    register(&s.a, 1, "api", "1");
    block_on(push(&s.a, &s.remote, "origin", None, &())).unwrap();
    block_on(pull(&s.b, &s.remote, "origin", &())).unwrap();
    // 25 times in a row someone else appends first: more than any fixed number of attempts
    // that gave up at once, far less than the deadline once the waits are counted.
    let crowded = Crowded { inner: &s.remote, other: &s.b, crowd: Cell::new(25) };
    let seal =
        |w: &Writer<'_>| w.seal_new(entries::stamp(200), Body::Release(entries::release("api", "mine")));
    // The waits between attempts pass on a paused clock.
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
    let started = runtime.block_on(async { tokio::time::Instant::now() });
    let stored = runtime
        .block_on(append(&s.a, &crowded.remote(), "origin", &RefName::service("api"), false, seal))
        .unwrap();
    let waited = runtime.block_on(async { started.elapsed() });
    assert!(waited < APPEND_DEADLINE, "{waited:?}");
    assert_eq!(crowded.crowd.get(), 0);
    let head = block_on(get_ref(&s.remote, &RefName::service("api"))).unwrap().unwrap();
    assert_eq!(head.doc.target, stored.id);
    assert_eq!(head.doc.version, 1 + 25 + 1, "every append is on the remote, one after the other");

    // Others that never stop: the append gives up at the deadline, having recorded nothing.
    let endless = Crowded { inner: &s.remote, other: &s.b, crowd: Cell::new(usize::MAX) };
    let seal =
        |w: &Writer<'_>| w.seal_new(entries::stamp(300), Body::Release(entries::release("api", "late")));
    let error = runtime
        .block_on(append(&s.a, &endless.remote(), "origin", &RefName::service("api"), false, seal))
        .unwrap_err();
    assert!(error.to_string().contains("for 60 s"), "{error}");
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

/// The requests a `file://` remote served through [`Recording::remote`], each noted as
/// `list refs/`, `get <key>`, `put <key>`.
struct Recording<'a> {
    inner: &'a FileRemote,
    requests: RefCell<Vec<String>>,
}

impl<'a> Recording<'a> {
    fn new(inner: &'a FileRemote) -> Recording<'a> {
        Recording { inner, requests: Default::default() }
    }

    fn remote(&self) -> Watched<'_, impl AsyncFn(&Request)> {
        Watched::new(self.inner, async move |request: &Request| {
            self.requests.borrow_mut().push(request.to_string())
        })
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.requests.borrow_mut())
    }
}

#[test]
fn a_pull_reads_only_the_refs_whose_tag_changed() {
    let s = setup();
    let api = register(&s.a, 1, "api", "1");
    let search = register(&s.a, 2, "search", "1");
    deploy(&s.a, 3, "stage", &[("api", api), ("search", search)]);
    block_on(push(&s.a, &s.remote, "origin", None, &())).unwrap();
    let recording = Recording::new(&s.remote);
    let b_remote = recording.remote();
    // A ledger that never exchanged with the remote reads every ref once.
    block_on(pull(&s.b, &b_remote, "origin", &())).unwrap();
    let first = recording.take();
    let refs_read = first.iter().filter(|r| r.starts_with("get refs/")).count();
    assert_eq!(refs_read, 3, "{first:?}");
    // Nothing new: one listing.
    block_on(pull(&s.b, &b_remote, "origin", &())).unwrap();
    assert_eq!(recording.take(), ["list refs/"]);

    // A pushes a release of api: B reads that ref and that entry, nothing else.
    let api2 = register(&s.a, 4, "api", "2");
    block_on(push(&s.a, &s.remote, "origin", None, &())).unwrap();
    let pulled = block_on(pull(&s.b, &b_remote, "origin", &())).unwrap();
    assert_eq!(pulled.entries, 1);
    assert_eq!(
        recording.take(),
        ["list refs/".to_string(), "get refs/service/api".into(), format!("get {}", object_key(api2))]
    );
    assert_eq!(local_refs(&s.b), local_refs(&s.a));

    // The same target under another tag (a document written again, one version up): read, and
    // nothing to take in; then unchanged again.
    let name = RefName::env("stage");
    let state = block_on(get_ref(&s.remote, &name)).unwrap().unwrap();
    let doc = RefDoc { version: state.doc.version + 1, ..state.doc };
    block_on(put_ref(&s.remote, &name, doc, Some(&state.etag))).unwrap();
    let pulled = block_on(pull(&s.b, &b_remote, "origin", &())).unwrap();
    assert_eq!((pulled.entries, pulled.refused.len()), (0, 0));
    assert_eq!(recording.take(), ["list refs/", "get refs/env/stage"]);
    block_on(pull(&s.b, &b_remote, "origin", &())).unwrap();
    assert_eq!(recording.take(), ["list refs/"]);

    // B's push of stage starts from the tag it remembers: one conditional write, no read.
    deploy(&s.b, 5, "stage", &[("api", api2)]);
    let pushed = block_on(push(&s.b, &b_remote, "origin", Some(&name), &())).unwrap();
    assert_eq!(pushed.moved.len(), 1, "{pushed:?}");
    let requests = recording.take();
    assert!(!requests.iter().any(|r| r.starts_with("get ")), "{requests:?}");
    assert_eq!(requests.last().map(String::as_str), Some("put refs/env/stage"), "{requests:?}");
}

#[test]
fn a_ref_that_went_back_is_refused_at_every_pull_though_its_tag_is_remembered_nowhere() {
    let s = setup();
    let (_, head) = prod_went_back(&s);
    let recording = Recording::new(&s.remote);
    let b_remote = recording.remote();
    for _ in 0..2 {
        let pulled = block_on(pull(&s.b, &b_remote, "origin", &())).unwrap();
        assert_eq!(pulled.refused.len(), 1, "{pulled:?}");
        assert!(pulled.refused[0].why.contains("went back"), "{pulled:?}");
        let requests = recording.take();
        assert!(requests.contains(&"get refs/env/prod".to_string()), "read again each time: {requests:?}");
    }
    assert_eq!(
        s.b.read().unwrap().ref_target(&RefName::env("prod")).unwrap(),
        Some(head),
        "B did not go back"
    );
}
