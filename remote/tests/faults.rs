//! Fault injection for the remote, as redb tests its storage: a [`Remote`] wrapper makes
//! request N fail, lose the answer of a request that landed (with or without a retry that is
//! then refused, as S3 answers a retried conditional write), or land late; or makes every
//! request from N on fail (an outage). Push, pull, clone, append and the lease run through
//! every N of a scenario, and after each: nothing acknowledged is lost, the ledger and the
//! remote check clean, and the next command, without faults, completes the work.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::ops::Range;

use ledger::admission::Rules;
use ledger::refs::RefName;
use ledger::signing::Trust;
use ledger::store::Writer;
use ledger::verify::verify;
use ledger::{Body, EntryId, Source, Store, StoreError, StoredEntry};
use ledger_remote::check::check;
use ledger_remote::exchange::{append, pull, push};
use ledger_remote::file::FileRemote;
use ledger_remote::lease::{self, Holder, Taken};
use ledger_remote::pack::{LOOSE_LIMIT, ListedPackFile, PackKey};
use ledger_remote::{Document, DocumentKey, ListedRef, Remote, RemoteError, Written, get_ref};
use ledger_testutil::block_on;
use ledger_testutil::entries::{self, register};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// The request does nothing and fails.
    Fail,
    /// The request is done, and the caller gets an error instead of its answer.
    LostAnswer,
    /// The request is done, its answer is lost, and the retry of a write (with the same
    /// condition) is answered: `Refused`.
    LostAnswerRetried,
    /// The request fails, and lands all the same just before the next request.
    LandsLate,
    /// This request and every later one fail.
    Outage,
}

const FAULTS: [Fault; 5] =
    [Fault::Fail, Fault::LostAnswer, Fault::LostAnswerRetried, Fault::LandsLate, Fault::Outage];

/// A write held back by [`Fault::LandsLate`].
enum Late {
    Object(EntryId, Vec<u8>),
    PackFile(PackKey, Vec<u8>),
    Document(DocumentKey, Vec<u8>, Option<String>),
}

/// A remote whose request `at` (counted from 0) meets `fault`.
struct Faulty<'a> {
    inner: &'a FileRemote,
    at: Option<(usize, Fault)>,
    requests: Cell<usize>,
    late: RefCell<Option<Late>>,
}

impl<'a> Faulty<'a> {
    fn new(inner: &'a FileRemote, at: Option<(usize, Fault)>) -> Faulty<'a> {
        Faulty { inner, at, requests: Cell::new(0), late: RefCell::new(None) }
    }

    /// Lands a late write, counts the request, and says which fault it meets.
    async fn next(&self) -> Option<Fault> {
        let late = self.late.borrow_mut().take();
        match late {
            Some(Late::Object(id, bytes)) => drop(self.inner.put_object(id, &bytes).await),
            Some(Late::PackFile(key, bytes)) => drop(self.inner.put_pack_file(&key, &bytes).await),
            Some(Late::Document(key, bytes, expected)) => {
                drop(self.inner.put_document(&key, &bytes, expected.as_deref()).await)
            }
            None => {}
        }
        let n = self.requests.get();
        self.requests.set(n + 1);
        match self.at {
            Some((at, fault)) if n == at => Some(fault),
            Some((at, Fault::Outage)) if n > at => Some(Fault::Outage),
            _ => None,
        }
    }

    fn error(&self, key: &str) -> RemoteError {
        RemoteError::Io {
            url: self.inner.url().into(),
            operation: "injected",
            key: key.into(),
            message: "injected fault".into(),
        }
    }

    /// A read: done unless it fails; its answer lost with any fault.
    async fn read<T>(
        &self,
        key: &str,
        read: impl AsyncFnOnce() -> Result<T, RemoteError>,
    ) -> Result<T, RemoteError> {
        match self.next().await {
            None => read().await,
            Some(Fault::LostAnswer | Fault::LostAnswerRetried) => {
                read().await?;
                Err(self.error(key))
            }
            Some(_) => Err(self.error(key)),
        }
    }
}

impl Remote for Faulty<'_> {
    fn url(&self) -> &str {
        self.inner.url()
    }

    async fn get_object(&self, id: EntryId) -> Result<Option<Vec<u8>>, RemoteError> {
        self.read(&id.to_hex(), async || self.inner.get_object(id).await).await
    }

    async fn put_object(&self, id: EntryId, bytes: &[u8]) -> Result<Written, RemoteError> {
        match self.next().await {
            None => self.inner.put_object(id, bytes).await,
            Some(Fault::Fail | Fault::Outage) => Err(self.error(&id.to_hex())),
            Some(Fault::LostAnswer) => {
                self.inner.put_object(id, bytes).await?;
                Err(self.error(&id.to_hex()))
            }
            Some(Fault::LostAnswerRetried) => {
                self.inner.put_object(id, bytes).await?;
                self.inner.put_object(id, bytes).await
            }
            Some(Fault::LandsLate) => {
                *self.late.borrow_mut() = Some(Late::Object(id, bytes.to_vec()));
                Err(self.error(&id.to_hex()))
            }
        }
    }

    async fn list_objects(&self) -> Result<Vec<EntryId>, RemoteError> {
        self.read("objects/", async || self.inner.list_objects().await).await
    }

    async fn delete_object(&self, id: EntryId) -> Result<(), RemoteError> {
        self.read(&id.to_hex(), async || self.inner.delete_object(id).await).await
    }

    async fn get_pack_file(
        &self,
        key: &PackKey,
        range: Option<Range<u64>>,
    ) -> Result<Option<Vec<u8>>, RemoteError> {
        self.read(&key.key(), async || self.inner.get_pack_file(key, range).await).await
    }

    async fn put_pack_file(&self, key: &PackKey, bytes: &[u8]) -> Result<Written, RemoteError> {
        match self.next().await {
            None => self.inner.put_pack_file(key, bytes).await,
            Some(Fault::Fail | Fault::Outage) => Err(self.error(&key.key())),
            Some(Fault::LostAnswer) => {
                self.inner.put_pack_file(key, bytes).await?;
                Err(self.error(&key.key()))
            }
            Some(Fault::LostAnswerRetried) => {
                self.inner.put_pack_file(key, bytes).await?;
                self.inner.put_pack_file(key, bytes).await
            }
            Some(Fault::LandsLate) => {
                *self.late.borrow_mut() = Some(Late::PackFile(*key, bytes.to_vec()));
                Err(self.error(&key.key()))
            }
        }
    }

    async fn list_pack_files(&self) -> Result<Vec<ListedPackFile>, RemoteError> {
        self.read("packs/", async || self.inner.list_pack_files().await).await
    }

    async fn delete_pack_file(&self, key: &PackKey) -> Result<(), RemoteError> {
        self.read(&key.key(), async || self.inner.delete_pack_file(key).await).await
    }

    async fn get_document(&self, key: &DocumentKey) -> Result<Option<Document>, RemoteError> {
        self.read(key.as_str(), async || self.inner.get_document(key).await).await
    }

    async fn put_document(
        &self,
        key: &DocumentKey,
        bytes: &[u8],
        expected: Option<&str>,
    ) -> Result<Written, RemoteError> {
        match self.next().await {
            None => self.inner.put_document(key, bytes, expected).await,
            Some(Fault::Fail | Fault::Outage) => Err(self.error(key.as_str())),
            Some(Fault::LostAnswer) => {
                self.inner.put_document(key, bytes, expected).await?;
                Err(self.error(key.as_str()))
            }
            Some(Fault::LostAnswerRetried) => {
                self.inner.put_document(key, bytes, expected).await?;
                self.inner.put_document(key, bytes, expected).await
            }
            Some(Fault::LandsLate) => {
                *self.late.borrow_mut() =
                    Some(Late::Document(key.clone(), bytes.to_vec(), expected.map(str::to_string)));
                Err(self.error(key.as_str()))
            }
        }
    }

    async fn list_refs(&self) -> Result<Vec<ListedRef>, RemoteError> {
        self.read("refs/", async || self.inner.list_refs().await).await
    }
}

/// A remote and three ledgers: `a` records, `b` follows, `c` is empty.
struct World {
    _dirs: Vec<tempfile::TempDir>,
    remote: FileRemote,
    a: Store,
    b: Store,
    c: Store,
}

impl World {
    fn new() -> World {
        let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
        let remote = FileRemote::new(&format!("file://{}", dirs[0].path().display())).unwrap();
        let open = |n: usize| Store::init(dirs[n].path()).unwrap();
        let (a, b, c) = (open(1), open(2), open(3));
        World { _dirs: dirs, remote, a, b, c }
    }

    /// A history on the remote, which `b` has, and more in `a` that the remote lacks.
    fn shared_then_recorded() -> World {
        let world = World::new();
        let api = register(&world.a, 1, "api", "1");
        let web = register(&world.a, 2, "web", "1");
        entries::deploy(&world.a, 3, "stage", &entries::state(&[("api", api), ("web", web)]));
        block_on(push(&world.a, &world.remote, "origin", None, &())).unwrap();
        block_on(pull(&world.b, &world.remote, "origin", &())).unwrap();
        let api2 = register(&world.a, 4, "api", "2");
        entries::deploy(&world.a, 5, "stage", &entries::state(&[("api", api2)]));
        entries::deploy(&world.a, 6, "prod", &entries::state(&[("api", api2), ("web", web)]));
        world
    }

    /// A release on the remote, which `b` has; and more entries in `a` than a push sends as
    /// loose objects: they go up as a pack, and `b`'s pull finds them there.
    fn recorded_for_a_pack() -> World {
        let world = World::new();
        let mut api = register(&world.a, 1, "api", "0");
        block_on(push(&world.a, &world.remote, "origin", None, &())).unwrap();
        block_on(pull(&world.b, &world.remote, "origin", &())).unwrap();
        for n in 1..=LOOSE_LIMIT as i64 {
            api = register(&world.a, 1 + n, "api", &n.to_string());
        }
        entries::deploy(&world.a, 100, "stage", &entries::state(&[("api", api)]));
        world
    }
}

fn local_refs(store: &Store) -> BTreeMap<String, EntryId> {
    let all = store.read().unwrap().all_refs().unwrap();
    all.into_iter().filter(|(name, _)| !name.starts_with("remote/")).collect()
}

fn remote_refs(remote: &FileRemote) -> BTreeMap<String, EntryId> {
    block_on(async {
        let mut refs = BTreeMap::new();
        for listed in remote.list_refs().await.unwrap() {
            let (name, state) = (&listed.name, get_ref(remote, &listed.name).await.unwrap().unwrap());
            refs.insert(name.to_string(), state.doc.target);
        }
        refs
    })
}

/// A lease holder on another machine, whose process is never known to have ended.
fn elsewhere(name: &str) -> Holder {
    Holder { name: name.into(), host: "ci-7".into(), pid: 4242 }
}

/// Both checks clean: the ledger's, and the remote's against where the ledger saw its refs.
fn assert_clean(world: &World, store: &Store, schedule: &str) {
    let report = verify(&store.read().unwrap(), &Rules::without_manifest()).unwrap();
    assert!(report.is_sound(), "{schedule}: the ledger: {:?}", report.damage);
    let remote = block_on(check(
        &world.remote,
        &store.read().unwrap().tracking_refs("origin").unwrap(),
        &Trust::default(),
        &(),
    ))
    .unwrap();
    assert!(remote.is_sound(), "{schedule}: the remote: {:?}", remote.damage);
}

/// Runs `scenario` once without faults to count its requests, then once per request and
/// fault on a new world; returns the number of schedules run.
fn every_schedule(
    new_world: impl Fn() -> World,
    scenario: impl Fn(&World, Option<(usize, Fault)>) -> usize,
) -> usize {
    let requests = scenario(&new_world(), None);
    assert!(requests > 0);
    let mut schedules = 0;
    for at in 0..requests {
        for fault in FAULTS {
            scenario(&new_world(), Some((at, fault)));
            schedules += 1;
        }
    }
    schedules
}

fn describe(at: Option<(usize, Fault)>) -> String {
    at.map_or("no fault".into(), |(n, fault)| format!("{fault:?} at request {n}"))
}

#[test]
fn push_under_every_fault() {
    let mut schedules = 0;
    for new_world in [World::shared_then_recorded, World::recorded_for_a_pack] {
        schedules += push_schedules(new_world);
    }
    eprintln!("push: {schedules} schedules");
}

fn push_schedules(new_world: fn() -> World) -> usize {
    every_schedule(new_world, |world, at| {
        let schedule = describe(at);
        let faulty = Faulty::new(&world.remote, at);
        let pushed = block_on(push(&world.a, &faulty, "origin", None, &()));
        if let Ok(report) = &pushed {
            assert!(report.refused.is_empty(), "{schedule}: {report:?}");
            for (name, target) in &report.moved {
                assert_eq!(
                    remote_refs(&world.remote).get(name),
                    Some(target),
                    "{schedule}: {name} acknowledged"
                );
            }
        }
        assert_clean(world, &world.a, &schedule);
        let again = block_on(push(&world.a, &world.remote, "origin", None, &())).unwrap();
        assert!(again.refused.is_empty(), "{schedule}: {again:?}");
        assert_eq!(remote_refs(&world.remote), local_refs(&world.a), "{schedule}");
        assert_clean(world, &world.a, &schedule);
        block_on(pull(&world.b, &world.remote, "origin", &())).unwrap();
        assert_eq!(local_refs(&world.b), local_refs(&world.a), "{schedule}");
        faulty.requests.get()
    })
}

#[test]
fn pull_and_clone_under_every_fault() {
    let mut schedules = 0;
    for (cloning, new_world) in [false, true].into_iter().flat_map(|cloning| {
        [(cloning, World::shared_then_recorded as fn() -> World), (cloning, World::recorded_for_a_pack)]
    }) {
        let pushed = || {
            let world = new_world();
            block_on(push(&world.a, &world.remote, "origin", None, &())).unwrap();
            world
        };
        schedules += every_schedule(pushed, |world, at| {
            let schedule = format!("{} ({})", describe(at), if cloning { "clone" } else { "pull" });
            let store = if cloning { &world.c } else { &world.b };
            let faulty = Faulty::new(&world.remote, at);
            if let Ok(report) = block_on(pull(store, &faulty, "origin", &())) {
                assert!(report.refused.is_empty(), "{schedule}: {report:?}");
                assert_eq!(local_refs(store), local_refs(&world.a), "{schedule}: acknowledged");
            }
            assert_clean(world, store, &schedule);
            let again = block_on(pull(store, &world.remote, "origin", &())).unwrap();
            assert!(again.refused.is_empty(), "{schedule}: {again:?}");
            assert_eq!(local_refs(store), local_refs(&world.a), "{schedule}");
            assert_eq!(remote_refs(&world.remote), local_refs(&world.a), "{schedule}: a pull writes nothing");
            assert_clean(world, store, &schedule);
            faulty.requests.get()
        });
    }
    eprintln!("pull and clone: {schedules} schedules");
}

/// The releases of `service` in `store` whose image has tag `tag`.
fn releases_tagged(store: &Store, service: &str, tag: &str) -> usize {
    let image = entries::release(service, tag).image;
    let reader = store.read().unwrap();
    let mut head = reader.ref_target(&RefName::service(service)).unwrap();
    let mut found = 0;
    while let Some(id) = head {
        let entry = reader.entry(&id).unwrap().unwrap().entry;
        if matches!(&entry.body, Body::Release(release) if release.image == image) {
            found += 1;
        }
        head = entry.parents.first().copied();
    }
    found
}

fn seal_release(tag: &'static str) -> impl Fn(&Writer<'_>) -> Result<(StoredEntry, Vec<u8>), StoreError> {
    move |w| w.seal_new(entries::stamp(10), Body::Release(entries::release("api", tag)))
}

#[test]
fn append_under_every_fault() {
    // `b` appended to the service since `a` last exchanged: `a` catches up first.
    let diverging = || {
        let world = World::shared_then_recorded();
        block_on(push(&world.a, &world.remote, "origin", None, &())).unwrap();
        block_on(pull(&world.b, &world.remote, "origin", &())).unwrap();
        block_on(append(
            &world.b,
            &world.remote,
            "origin",
            &RefName::service("api"),
            false,
            seal_release("b"),
        ))
        .unwrap();
        world
    };
    let schedules = every_schedule(diverging, |world, at| {
        let schedule = describe(at);
        let faulty = Faulty::new(&world.remote, at);
        let name = RefName::service("api");
        let appended = block_on(append(&world.a, &faulty, "origin", &name, false, seal_release("new")));
        if let Ok(stored) = &appended {
            assert_eq!(
                remote_refs(&world.remote).get("service/api"),
                Some(&stored.id),
                "{schedule}: acknowledged"
            );
            assert_eq!(local_refs(&world.a).get("service/api"), Some(&stored.id), "{schedule}");
        }
        assert_clean(world, &world.a, &schedule);
        // The next command takes in whatever landed; the release is there at most once.
        let pulled = block_on(pull(&world.a, &world.remote, "origin", &())).unwrap();
        assert!(pulled.refused.is_empty(), "{schedule}: {pulled:?}");
        let recorded = releases_tagged(&world.a, "api", "new");
        assert!(recorded <= 1, "{schedule}: recorded {recorded} times");
        assert!(appended.is_err() || recorded == 1, "{schedule}");
        if recorded == 0 {
            block_on(append(&world.a, &world.remote, "origin", &name, false, seal_release("new"))).unwrap();
        }
        assert_eq!(releases_tagged(&world.a, "api", "new"), 1, "{schedule}");
        assert_eq!(
            releases_tagged(&world.a, "api", "b"),
            1,
            "{schedule}: the other ledger's release is kept"
        );
        block_on(pull(&world.b, &world.remote, "origin", &())).unwrap();
        assert_eq!(local_refs(&world.b), local_refs(&world.a), "{schedule}");
        assert_clean(world, &world.b, &schedule);
        faulty.requests.get()
    });
    eprintln!("append: {schedules} schedules");
}

#[test]
fn the_lease_under_every_fault() {
    const EXPIRES: i64 = 200;
    let schedules = every_schedule(World::new, |world, at| {
        let schedule = describe(at);
        let faulty = Faulty::new(&world.remote, at);
        let key = ledger_remote::lease_key("prod").unwrap();
        let document = || {
            let document = block_on(world.remote.get_document(&key)).unwrap();
            document.map(|d| serde_json::from_slice::<lease::LeaseDoc>(&d.bytes).unwrap())
        };
        let mut held = false;
        match block_on(lease::take(&faulty, "prod", &elsewhere("alice"), 100, EXPIRES, |_| false)) {
            Ok(Taken::Held(lease)) => {
                held = true;
                let doc = document().unwrap();
                assert!(doc.holder == "alice" && !doc.released, "{schedule}: acknowledged: {doc:?}");
                if let Ok(Some(_)) = block_on(lease::release(&faulty, lease)) {
                    assert!(document().unwrap().released, "{schedule}: acknowledged release");
                }
            }
            Ok(Taken::Busy { holder, .. }) => panic!("{schedule}: busy, held by {holder}"),
            Err(_) => {}
        }
        // Another taker gets it now; or, when giving it back failed, once it has run out. A
        // take that failed never leaves it held.
        match block_on(lease::take(&world.remote, "prod", &elsewhere("bob"), 150, 300, |_| false)).unwrap() {
            Taken::Held(_) => {}
            Taken::Busy { holder, expires_at } => {
                assert!(held, "{schedule}: a failed take left the lease held");
                assert_eq!((holder.as_str(), expires_at), ("alice", EXPIRES), "{schedule}");
                let taken =
                    block_on(lease::take(&world.remote, "prod", &elsewhere("bob"), EXPIRES + 1, 300, |_| {
                        false
                    }))
                    .unwrap();
                assert!(matches!(taken, Taken::Held(_)), "{schedule}: {taken:?}");
            }
        }
        assert_eq!(document().unwrap().holder, "bob", "{schedule}");
        faulty.requests.get()
    });
    eprintln!("lease: {schedules} schedules");
}
