//! Packs on a `file://` remote: a big push and a clone cost a number of requests that does not
//! grow with the history, a damaged or forged pack is refused, loose objects of older pushes
//! still come in, and a repack keeps what it superseded for the grace period, while a reader
//! that meets a pack deleted since its listing lists again.

mod common;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use ledger::admission::Rules;
use ledger::refs::RefName;
use ledger::signing::Trust;
use ledger::store::ReceiveError;
use ledger::verify::verify;
use ledger::{EntryId, Source, Store};
use ledger_remote::check::check;
use ledger_remote::exchange::{ExchangeError, pull, push};
use ledger_remote::file::FileRemote;
use ledger_remote::pack::{LOOSE_LIMIT, PackBuilder, PackKey, PackPart, write_pack};
use ledger_remote::repack::repack;
use ledger_remote::{RefDoc, Remote, get_ref, put_ref};
use ledger_testutil::block_on;
use ledger_testutil::entries::{self, register};

use common::{Call, Request, Watched};

/// The requests made through [`Counted::remote`], counted by primitive; and `on_pack_read`, when
/// set, run once before the first read of a pack.
struct Counted<'a> {
    inner: &'a FileRemote,
    calls: RefCell<BTreeMap<&'static str, usize>>,
    on_pack_read: Cell<Option<Box<dyn FnOnce() + 'a>>>,
}

impl<'a> Counted<'a> {
    fn new(inner: &'a FileRemote) -> Counted<'a> {
        Counted { inner, calls: RefCell::default(), on_pack_read: Cell::new(None) }
    }

    fn remote(&self) -> Watched<'_, impl AsyncFn(&Request)> {
        Watched::new(self.inner, async move |request: &Request| {
            if request.call == Call::GetPackFile
                && request.key.ends_with(".pack")
                && let Some(before) = self.on_pack_read.take()
            {
                before();
            }
            *self.calls.borrow_mut().entry(request.call.name()).or_default() += 1;
        })
    }

    fn total(&self) -> usize {
        self.calls.borrow().values().sum()
    }

    fn reset(&self) -> BTreeMap<&'static str, usize> {
        std::mem::take(&mut *self.calls.borrow_mut())
    }
}

struct Setup {
    dirs: RefCell<Vec<tempfile::TempDir>>,
    remote: FileRemote,
    a: Store,
}

impl Setup {
    fn new() -> Setup {
        let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
        let remote = FileRemote::new(&format!("file://{}", dirs[0].path().display())).unwrap();
        let a = Store::init(dirs[1].path()).unwrap();
        Setup { dirs: RefCell::new(dirs), remote, a }
    }

    /// A new empty ledger.
    fn empty(&self) -> Store {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        self.dirs.borrow_mut().push(dir);
        store
    }

    fn root(&self) -> std::path::PathBuf {
        self.dirs.borrow()[0].path().to_path_buf()
    }

    fn pack_files(&self, part: PackPart) -> Vec<PackKey> {
        let listed = block_on(self.remote.list_pack_files()).unwrap();
        listed.into_iter().map(|file| file.key).filter(|key| key.part == part).collect()
    }
}

/// `releases` releases of three services, each deployed to stage in turn, from second `from`.
fn record(store: &Store, from: i64, releases: i64) {
    for n in 0..releases {
        let service = ["api", "web", "search"][(n % 3) as usize];
        let release = register(store, from + 2 * n, service, &format!("{from}-{n}"));
        entries::deploy(store, from + 2 * n + 1, "stage", &entries::state(&[(service, release)]));
    }
}

fn local_refs(store: &Store) -> BTreeMap<String, EntryId> {
    let all = store.read().unwrap().all_refs().unwrap();
    all.into_iter().filter(|(name, _)| !name.starts_with("remote/")).collect()
}

fn assert_sound(store: &Store) {
    assert!(verify(&store.read().unwrap(), &Rules::without_manifest()).unwrap().is_sound());
}

/// The requests of a full push of a history of `releases` releases, and of a full clone of it.
fn push_and_clone_requests(releases: i64) -> (BTreeMap<&'static str, usize>, BTreeMap<&'static str, usize>) {
    let s = Setup::new();
    record(&s.a, 1, releases);
    let counted = Counted::new(&s.remote);
    let pushed = block_on(push(&s.a, &counted.remote(), "origin", None, &())).unwrap();
    assert!(pushed.refused.is_empty());
    assert!(!s.pack_files(PackPart::Index).is_empty(), "a big push writes packs");
    assert!(block_on(s.remote.list_objects()).unwrap().is_empty(), "and no loose object");
    let push_calls = counted.reset();
    let b = s.empty();
    let pulled = block_on(pull(&b, &counted.remote(), "origin", &())).unwrap();
    assert!(pulled.refused.is_empty());
    assert_eq!(local_refs(&b), local_refs(&s.a));
    assert_sound(&b);
    (push_calls, counted.reset())
}

#[test]
fn a_full_push_and_clone_cost_the_same_requests_at_any_length() {
    let (small_push, small_clone) = push_and_clone_requests(20);
    let (big_push, big_clone) = push_and_clone_requests(600);
    assert_eq!(small_push, big_push, "1,800 entries cost what 60 do");
    assert_eq!(small_clone, big_clone, "1,800 entries cost what 60 do");
    // Refs read and moved (service/api, web, search, env/stage), one pack and its index.
    assert_eq!(big_push.get("put_pack_file"), Some(&2), "{big_push:?}");
    assert_eq!(big_clone.get("get_object"), None, "{big_clone:?}");
    assert_eq!(big_clone.get("list_objects"), None, "a clone lists packs, not objects: {big_clone:?}");
}

#[test]
fn a_push_of_a_few_entries_writes_loose_objects_and_both_kinds_come_in() {
    let s = Setup::new();
    record(&s.a, 1, 30);
    block_on(push(&s.a, &s.remote, "origin", None, &())).unwrap();
    let b = s.empty();
    block_on(pull(&b, &s.remote, "origin", &())).unwrap();
    // A deployment's few entries go up loose, as every push did before packs.
    record(&s.a, 1000, 1);
    let counted = Counted::new(&s.remote);
    block_on(push(&s.a, &counted.remote(), "origin", None, &())).unwrap();
    assert_eq!(counted.calls.borrow().get("put_pack_file"), None);
    assert_eq!(counted.calls.borrow().get("put_object"), Some(&3), "a release, a deployment, its outcome");
    // A pull takes the loose ones by id, never listing packs; a clone takes both kinds.
    let pulling = Counted::new(&s.remote);
    block_on(pull(&b, &pulling.remote(), "origin", &())).unwrap();
    assert_eq!(pulling.calls.borrow().get("list_pack_files"), None, "{:?}", pulling.calls);
    let c = s.empty();
    block_on(pull(&c, &s.remote, "origin", &())).unwrap();
    for store in [&b, &c] {
        assert_eq!(local_refs(store), local_refs(&s.a));
        assert_sound(store);
    }
    let report = block_on(check(
        &s.remote,
        &c.read().unwrap().tracking_refs("origin").unwrap(),
        &Trust::default(),
        &(),
    ))
    .unwrap();
    assert!(report.is_sound(), "{report:?}");
    assert_eq!((report.objects, report.packs, report.unreachable), (93, 1, 0), "{report:?}");
}

#[test]
fn a_pull_behind_by_a_pack_reads_only_the_part_it_lacks() {
    let s = Setup::new();
    record(&s.a, 1, 5);
    block_on(push(&s.a, &s.remote, "origin", None, &())).unwrap();
    let b = s.empty();
    block_on(pull(&b, &s.remote, "origin", &())).unwrap();
    record(&s.a, 100, 40);
    block_on(push(&s.a, &s.remote, "origin", None, &())).unwrap();
    let counted = Counted::new(&s.remote);
    let pulled = block_on(pull(&b, &counted.remote(), "origin", &())).unwrap();
    assert_eq!(pulled.entries, 40 * 3);
    assert_eq!(local_refs(&b), local_refs(&s.a));
    assert_sound(&b);
    let calls = counted.reset();
    // The heads are not loose: one listing of packs, the newest index, one range of the pack.
    assert_eq!((calls.get("list_pack_files"), calls.get("get_pack_file")), (Some(&1), Some(&2)), "{calls:?}");
}

#[test]
fn a_damaged_pack_is_refused_and_nothing_of_it_is_stored() {
    let s = Setup::new();
    record(&s.a, 1, 20);
    block_on(push(&s.a, &s.remote, "origin", None, &())).unwrap();
    let pack = s.pack_files(PackPart::Pack)[0];
    let path = s.root().join(pack.key());
    let original = std::fs::read(&path).unwrap();
    let mut damaged = original.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x20;
    std::fs::write(&path, &damaged).unwrap();

    let b = s.empty();
    let error = block_on(pull(&b, &s.remote, "origin", &())).unwrap_err();
    assert!(matches!(&error, ExchangeError::BadPack { pack: p, .. } if *p == pack.id), "{error}");
    assert!(error.to_string().contains("corrupted or forged"), "{error}");
    assert!(local_refs(&b).is_empty(), "nothing of a bad clone is stored");
    let report = block_on(check(&s.remote, &BTreeMap::new(), &Trust::default(), &())).unwrap();
    assert!(report.damage.iter().any(|d| d.contains(&pack.id.to_hex())), "{report:?}");

    // An incremental pull reads a range: what was damaged fails its own check.
    let c = s.empty();
    register(&c, 0, "other", "1");
    let error = block_on(pull(&c, &s.remote, "origin", &())).unwrap_err();
    assert!(
        matches!(
            error,
            ExchangeError::BadObject { .. }
                | ExchangeError::BadPack { .. }
                | ExchangeError::MissingObject { .. }
        ),
        "{error}"
    );
    assert_eq!(local_refs(&c).len(), 1, "only what it had");
    std::fs::write(&path, &original).unwrap();
    block_on(pull(&c, &s.remote, "origin", &())).unwrap();
    assert_eq!(
        c.read().unwrap().ref_target(&RefName::env("stage")).unwrap(),
        local_refs(&s.a).get("env/stage").copied()
    );
}

#[test]
fn a_forged_pack_is_refused_with_its_ref_and_nothing_of_its_ref_is_taken_in() {
    let s = Setup::new();
    let api = register(&s.a, 1, "api", "1");
    let search = register(&s.a, 2, "search", "1");
    block_on(push(&s.a, &s.remote, "origin", None, &())).unwrap();
    // Anyone who may write to the remote writes a well-formed pack of releases breaking a rule,
    // and moves service/api to the last of them.
    let mut builder = PackBuilder::default();
    let mut parent = api;
    for n in 0..=LOOSE_LIMIT {
        let stamp = entries::stamp(10 + n as i64);
        let mut release = entries::release("api", &format!("forged-{n}"));
        release.image = format!("docker.io/evil/backdoor:{n}");
        let entry = ledger::Entry {
            parents: vec![parent],
            at: stamp.at,
            actor: stamp.actor,
            message: stamp.message,
            body: ledger::Body::Release(release),
        };
        let (stored, bytes) = ledger::StoredEntry::seal(entry);
        builder.push(stored.id, &bytes);
        parent = stored.id;
    }
    block_on(write_pack(&s.remote, &builder.finish())).unwrap();
    let current = block_on(get_ref(&s.remote, &RefName::service("api"))).unwrap().unwrap();
    let doc = RefDoc { target: parent, version: current.doc.version + 1 };
    block_on(put_ref(&s.remote, &RefName::service("api"), doc, Some(&current.etag))).unwrap();

    let b = s.empty().admitting(entries::rules());
    let pulled = block_on(pull(&b, &s.remote, "origin", &())).unwrap();
    let refused: Vec<&str> = pulled.refused.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(refused, ["service/api"], "{pulled:?}");
    assert!(pulled.refused[0].why.contains("breaks rule image"), "{pulled:?}");
    let reader = b.read().unwrap();
    assert_eq!(reader.seq_of(&parent).unwrap(), None);
    assert_eq!(reader.ref_target(&RefName::service("api")).unwrap(), None, "nothing of the ref");
    assert_eq!(reader.seq_of(&api).unwrap(), None);
    assert_eq!(reader.ref_target(&RefName::service("search")).unwrap(), Some(search));
}

#[test]
fn a_repack_merges_keeps_what_it_superseded_for_the_grace_period_and_readers_retry() {
    const GRACE: i64 = 3600;
    let s = Setup::new();
    // Two packs and a few loose objects.
    record(&s.a, 1, 10);
    block_on(push(&s.a, &s.remote, "origin", None, &())).unwrap();
    record(&s.a, 100, 10);
    block_on(push(&s.a, &s.remote, "origin", None, &())).unwrap();
    record(&s.a, 1000, 1);
    block_on(push(&s.a, &s.remote, "origin", None, &())).unwrap();
    assert_eq!(s.pack_files(PackPart::Index).len(), 2);
    assert_eq!(block_on(s.remote.list_objects()).unwrap().len(), 3);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;

    let first = block_on(repack(&s.remote, now, GRACE, &())).unwrap();
    assert_eq!((first.packs_written, first.entries_packed), (1, 63), "{first:?}");
    assert_eq!((first.packs_deleted, first.objects_deleted), (0, 0), "{first:?}");
    // Within the grace period, nothing superseded goes.
    let again = block_on(repack(&s.remote, now + GRACE - 60, GRACE, &())).unwrap();
    assert_eq!((again.packs_written, again.packs_deleted, again.objects_deleted, again.kept), (0, 0, 0, 5));
    assert_eq!(s.pack_files(PackPart::Index).len(), 3);

    // A clone that listed the three packs meets two of them deleted: it lists again.
    let counted = Counted::new(&s.remote);
    let remote = &s.remote;
    counted.on_pack_read.set(Some(Box::new(move || {
        // Another process: the reader is inside its own runtime.
        let after = std::thread::scope(|scope| {
            scope.spawn(|| block_on(repack(remote, now + GRACE + 5, GRACE, &())).unwrap()).join().unwrap()
        });
        assert_eq!((after.packs_written, after.packs_deleted, after.objects_deleted), (0, 2, 3), "{after:?}");
    })));
    let b = s.empty();
    let pulled = block_on(pull(&b, &counted.remote(), "origin", &())).unwrap();
    assert!(pulled.refused.is_empty());
    assert_eq!(counted.calls.borrow().get("list_pack_files"), Some(&2), "{:?}", counted.calls);
    assert_eq!(local_refs(&b), local_refs(&s.a));
    assert_sound(&b);
    assert_eq!(s.pack_files(PackPart::Index).len(), 1);
    assert!(block_on(s.remote.list_objects()).unwrap().is_empty());
    let report = block_on(check(
        &s.remote,
        &b.read().unwrap().tracking_refs("origin").unwrap(),
        &Trust::default(),
        &(),
    ))
    .unwrap();
    assert!(report.is_sound() && report.packs == 1 && report.objects == 63, "{report:?}");
    // A repack with nothing to merge or delete does nothing.
    let idle = block_on(repack(&s.remote, now + 2 * GRACE, GRACE, &())).unwrap();
    assert_eq!(idle, Default::default());

    // An incremental pull behind the repacked history finds what it lacks in the new pack.
    let c = s.empty();
    register(&c, 0, "other", "1");
    let counted = Counted::new(&s.remote);
    block_on(pull(&c, &counted.remote(), "origin", &())).unwrap();
    let mut expected = local_refs(&s.a);
    expected.insert("service/other".into(), local_refs(&c)["service/other"]);
    assert_eq!(local_refs(&c), expected);
    assert!(counted.total() < 20, "{:?}", counted.calls);
}

/// Writes the history of `store` to the remote in `packs` packs of about equal length, in
/// recording order (as a push of a long history writes packs of [`pack::PACK_TARGET_BYTES`]),
/// each entry's bytes as `alter` gives them (told its seq), and points the remote's refs at the
/// store's heads.
fn write_in_packs(store: &Store, remote: &FileRemote, packs: usize, alter: impl Fn(u64, Vec<u8>) -> Vec<u8>) {
    let mut entries = Vec::new();
    let reader = store.read().unwrap();
    reader
        .for_each_entry(|seq, bytes| {
            entries.push((seq, bytes.to_vec()));
            Ok(())
        })
        .unwrap();
    for chunk in entries.chunks(entries.len().div_ceil(packs)) {
        let mut builder = PackBuilder::default();
        for (seq, bytes) in chunk {
            builder.push(EntryId::of_stored_bytes(bytes), &alter(*seq, bytes.clone()));
        }
        block_on(write_pack(remote, &builder.finish())).unwrap();
    }
    for (name, target) in local_refs(store) {
        let name = RefName::parse(&name).unwrap();
        block_on(put_ref(remote, &name, RefDoc { target, version: 1 }, None)).unwrap();
    }
}

/// A remote holding, in three packs of 30 entries, the history of 30 releases, each deployed (a
/// deployment and its outcome): 90 entries.
fn three_packs(alter: impl Fn(u64, Vec<u8>) -> Vec<u8>) -> Setup {
    let s = Setup::new();
    record(&s.a, 1, 30);
    write_in_packs(&s.a, &s.remote, 3, alter);
    assert_eq!(s.pack_files(PackPart::Index).len(), 3);
    s
}

#[test]
fn a_clone_of_several_packs_takes_in_all_of_them_checked() {
    let s = three_packs(|_, bytes| bytes);
    let b = s.empty();
    let pulled = block_on(pull(&b, &s.remote, "origin", &())).unwrap();
    assert!(pulled.refused.is_empty(), "{pulled:?}");
    assert_eq!(pulled.entries, 90);
    assert_eq!(local_refs(&b), local_refs(&s.a));
    assert_sound(&b);
}

#[test]
fn a_forged_entry_in_a_later_pack_of_a_clone_is_refused_and_nothing_is_stored() {
    // Packs that hash to their names, holding an entry whose bytes are not those of its id:
    // anyone who may write to the remote can write such a pack. Entry 45 is in the second.
    const FORGED_AT: u64 = 45;
    let s = three_packs(|seq, mut bytes| {
        if seq == FORGED_AT {
            let last = bytes.len() - 1;
            bytes[last] ^= 1;
        }
        bytes
    });
    let forged = s.a.read().unwrap().entry_at(FORGED_AT).unwrap().unwrap().id;
    let b = s.empty();
    let error = block_on(pull(&b, &s.remote, "origin", &())).unwrap_err();
    assert!(
        matches!(&error, ExchangeError::BadObject { id, source, .. }
            if *id == forged && matches!(**source, ReceiveError::HashMismatch { .. })),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "remote {}: object {forged} is corrupted or forged (object {forged}: its bytes hash to {}, so they are corrupted or forged); nothing of it was stored",
            s.remote.url(),
            match &error {
                ExchangeError::BadObject { source, .. } => match &**source {
                    ReceiveError::HashMismatch { actual, .. } => *actual,
                    other => panic!("{other}"),
                },
                other => panic!("{other}"),
            }
        )
    );
    assert!(local_refs(&b).is_empty(), "nothing of a bad clone is believed");
    assert!(b.read().unwrap().newest(1).unwrap().is_empty(), "nor stored");
}

#[test]
fn a_clone_interrupted_at_any_pack_stores_nothing_and_the_next_pull_completes() {
    let s = three_packs(|_, bytes| bytes);
    for interrupted_at in 0..3 {
        let b = s.empty();
        let reads = Cell::new(0);
        let interrupting = common::Watched::new(&s.remote, async |request: &Request| {
            if request.call == Call::GetPackFile && request.key.ends_with(".pack") {
                reads.set(reads.get() + 1);
                // The process dies here: nothing after this point runs, in this thread.
                assert!(reads.get() <= interrupted_at, "interrupted");
            }
        });
        let died = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            block_on(pull(&b, &interrupting, "origin", &()))
        }));
        assert!(died.is_err(), "pack read {interrupted_at} ends it");
        assert!(local_refs(&b).is_empty(), "at pack {interrupted_at}: nothing believed");
        assert!(b.read().unwrap().newest(1).unwrap().is_empty(), "at pack {interrupted_at}: nothing stored");
        let pulled = block_on(pull(&b, &s.remote, "origin", &())).unwrap();
        assert!(pulled.refused.is_empty(), "{pulled:?}");
        assert_eq!(local_refs(&b), local_refs(&s.a));
        assert_sound(&b);
    }
}
