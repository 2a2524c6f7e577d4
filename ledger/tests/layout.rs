//! The store's physical layout: ledgers of layouts 1 (written before entries were packed) and
//! 2 (before the id index was keyed by a prefix of the id) are upgraded and keep working, damaged packed rows are damage, and the file's bytes can be
//! accounted for table by table.

use ledger::admission::Rules;
use ledger::history::State;
use ledger::store::Scope;
use ledger::verify::{Damage, verify};
use ledger::{EntryId, Source, Store, StoreError};
use ledger_testutil::entries::{deploy, register, release, stamp, state};

const LAYOUT_1: &[u8] = include_bytes!("fixtures/layout-1.redb");

fn id(hex: &str) -> EntryId {
    EntryId::from_hex(hex).unwrap()
}

/// Every entry of the fixture, newest first, as `ledger log -n 100 -o json` listed them when
/// the fixture was written (by the ledger of layout 1).
const FIXTURE_IDS: [&str; 13] = [
    "b8d326e6e9ee2198df60023ddd981cf52331eee06c78eb826811ae56d503f792",
    "259d821d5be51285cb8070f4175cbf5dc843761a8f35a32e82980b1bdfd2f2c9",
    "bb6287ef50cd7c4346629b7b5eeb04f11bb8274031a358f2615fbc5af03a82e1",
    "f7eb7d019a4b9b6488d481e6da3e0748c63392d3fb811880a8226e65dbbf66a1",
    "9c2806e506a00110742fc7b8ab3a9baa0b0b18ef8e482d327559b4fb031e5900",
    "5cf8c2d594b4f2faca297df68889b22d5737a6b0e11c1d8ade6afc5fc5cc34bc",
    "3babf5492311bf781af0738846f66e797231155f25f690033cfcb078bd75cd02",
    "5e473815477a46f55dcfb672bc2d137a3a04bedab794c39c64b6ed8577f79fbd",
    "6c1bd10d855f770b1fe391b7fdfda3c6226aa61b6de8d543e0ec4236c827eb8c",
    "dd9e6780548d63ddd15859dc94db6bb2ca59fd3c9e0bf72da10ab98b0be75ed0",
    "dd71da68f19b961ee8eb5fee2a2ea70fece6486aacb360f9ecae1785c08fcf4e",
    "6fe7f91b65d3fe4b82e9fb7d0863d6c56d39a5aa9b4b6ff81cff40acff207e1e",
    "338fbd43cd903ddbfb4bc8d4a3c392ffbf0ea8a568fd60389835cc2f8c12a343",
];

fn layout_1_ledger() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(ledger::store::STORE_FILE), LAYOUT_1).unwrap();
    dir
}

fn table_names(store: &Store) -> Vec<String> {
    store.table_sizes().unwrap().into_iter().map(|size| size.name).collect()
}

#[test]
fn a_ledger_of_layout_1_is_upgraded_once_read_and_extended() {
    let dir = layout_1_ledger();
    let store = Store::open_for_reading(dir.path()).unwrap();
    assert!(!table_names(&store).contains(&"timeline".to_string()), "{:?}", table_names(&store));
    let reader = store.read().unwrap();
    // Every entry reads back as the bytes its id was computed from, in recording order.
    let newest: Vec<EntryId> = reader
        .newest(100)
        .unwrap()
        .into_iter()
        .map(|seq| reader.entry_at(seq).unwrap().unwrap().id)
        .collect();
    assert_eq!(newest, FIXTURE_IDS.map(id));
    for hex in FIXTURE_IDS {
        assert_eq!(reader.entry(&id(hex)).unwrap().unwrap().id, id(hex));
    }
    // The timelines moved to their new keys: api's releases and the deployments that changed it.
    let ids_in = |scope: Scope| -> Vec<String> {
        let seqs = reader.newest_in(&scope, 100).unwrap();
        seqs.into_iter()
            .map(|seq| reader.entry_at(seq).unwrap().unwrap().id.to_hex()[..4].to_string())
            .collect()
    };
    assert_eq!(ids_in(Scope::Service("api")), ["259d", "f7eb", "5cf8", "5e47", "dd9e", "338f"]);
    assert_eq!(ids_in(Scope::EnvService("stage", "api")), ["259d", "f7eb", "dd9e"]);
    assert_eq!(ids_in(Scope::EnvService("prod", "search")), ["5e47"]);
    let report = verify(&reader, &Rules::without_manifest()).unwrap();
    assert!(report.is_sound(), "{:?}", report.damage);
    drop(reader);
    drop(store);

    // Written to: a release and a deployment join the upgraded history.
    let store = Store::open(dir.path()).unwrap();
    let head = store.read().unwrap().ref_target("env/stage").unwrap();
    assert_eq!(head, Some(id(FIXTURE_IDS[0])));
    let api = register(&store, 2_000_000_000, "api", "v1.6");
    let recorded = deploy(&store, 2_000_000_001, "stage", &state(&[("api", api)]));
    let reader = store.read().unwrap();
    assert_eq!(reader.entry(&recorded.deployment.id).unwrap().unwrap().entry.parents, [id(FIXTURE_IDS[0])]);
    assert_eq!(reader.env_state("stage").unwrap()["api"], api);
    let newest_api = reader.newest_in(&Scope::EnvService("stage", "api"), 1).unwrap();
    assert_eq!(reader.entry_at(newest_api[0]).unwrap().unwrap().id, recorded.deployment.id);
    let report = verify(&reader, &Rules::without_manifest()).unwrap();
    assert!(report.is_sound(), "{:?}", report.damage);
    assert_eq!(report.objects, 13 + 3);
}

/// A ledger of layout 2 (entries packed, the id index keyed by whole ids): the bench history's
/// first 15 entries, written by `ledger-bench --entries 15 --disk-only` at 7f62b5d.
const LAYOUT_2: &[u8] = include_bytes!("fixtures/layout-2.redb");

#[test]
fn a_ledger_of_layout_2_gets_its_id_index_keyed_anew_and_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(ledger::store::STORE_FILE), LAYOUT_2).unwrap();
    let store = Store::open_for_reading(dir.path()).unwrap();
    let tables = table_names(&store);
    assert!(tables.contains(&"id_keys".to_string()) && !tables.contains(&"ids".to_string()), "{tables:?}");
    let reader = store.read().unwrap();
    // Every entry is where the new index places it, found by its id and by a prefix of it.
    let mut ids = Vec::new();
    for seq in 1..=15 {
        let entry = reader.entry_at(seq).unwrap().unwrap();
        assert_eq!(reader.seq_of(&entry.id).unwrap(), Some(seq));
        assert_eq!(reader.entry(&entry.id).unwrap().unwrap().entry, entry.entry);
        assert_eq!(ledger::resolve::resolve(&reader, &entry.id.to_hex()[..12]).unwrap(), entry.id);
        ids.push(entry.id);
    }
    assert!(reader.entry_at(16).unwrap().is_none());
    let report = verify(&reader, &Rules::without_manifest()).unwrap();
    assert!(report.is_sound(), "{:?}", report.damage);
    drop(reader);
    drop(store);

    // Written to: a release joins the upgraded history, after its service's last release.
    let store = Store::open(dir.path()).unwrap();
    let last = store.read().unwrap().ref_target("service/svc-00").unwrap().unwrap();
    assert!(ids.contains(&last));
    let next = store.write(|w| w.record_release(stamp(1), release("svc-00", "2.0"))).unwrap();
    let reader = store.read().unwrap();
    assert_eq!(next.entry.parents, [last]);
    assert_eq!(reader.seq_of(&next.id).unwrap(), Some(16));
    let report = verify(&reader, &Rules::without_manifest()).unwrap();
    assert!(report.is_sound(), "{:?}", report.damage);
    assert_eq!(report.objects, 16);
}

#[test]
fn a_ledger_of_layout_1_that_cannot_be_written_says_so() {
    let dir = layout_1_ledger();
    let file = dir.path().join(ledger::store::STORE_FILE);
    let mut permissions = std::fs::metadata(&file).unwrap().permissions();
    permissions.set_readonly(true);
    std::fs::set_permissions(&file, permissions).unwrap();
    // Root may write to a read-only file anyway: then the upgrade simply happens.
    match Store::open_for_reading(dir.path()) {
        Err(StoreError::NotUpgraded { .. }) => {}
        Ok(store) => assert!(!table_names(&store).contains(&"timeline".to_string())),
        Err(other) => panic!("another error: {other}"),
    }
}

/// Registers a digest-pinned release of `service`, as CI does: an entry that packing shrinks.
fn register_pinned(store: &Store, second: i64, service: &str) -> EntryId {
    let mut release = release(service, "v1.4.2");
    release.digest = Some(format!("sha256:{}", "5e".repeat(32)));
    store.write(|w| w.record_release(stamp(second), release)).unwrap().id
}

/// A change to a stored row's bytes.
type RowEdit = fn(&mut Vec<u8>);

/// Rewrites the stored row of `id` with `edit`, behind the store's back.
fn edit_row(store: Store, id: EntryId, edit: impl FnOnce(&mut Vec<u8>)) -> Store {
    use redb::ReadableTable;
    let path = store.path().to_path_buf();
    let seq = store.read().unwrap().seq_of(&id).unwrap().unwrap();
    drop(store);
    let db = redb::Database::create(&path).unwrap();
    let entries: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("entries");
    let txn = db.begin_write().unwrap();
    {
        let mut table = txn.open_table(entries).unwrap();
        let mut row = table.get(seq).unwrap().unwrap().value().to_vec();
        assert_eq!(row[0], ledger::packing::PACKED_V1, "the release is stored packed");
        edit(&mut row);
        table.insert(seq, row.as_slice()).unwrap();
    }
    txn.commit().unwrap();
    drop(db);
    Store::open(path.parent().unwrap()).unwrap()
}

#[test]
fn a_packed_row_that_does_not_unpack_is_damage() {
    let edits: [(&str, RowEdit); 5] = [
        ("unknown form", |row| row[0] = 0x7e),
        ("another kind", |row| row[1] = 2),
        ("length beyond any entry", |row| row.splice(2..3, [0xff, 0xff, 0xff, 0xff, 0x7f]).for_each(drop)),
        ("truncated", |row| row.truncate(row.len() / 2)),
        ("a match pointing before the dictionary", |row| {
            let last = row.len() - 1;
            row.extend_from_slice(&[0x0f, 0xff, 0xff]);
            row[last] ^= 0x40;
        }),
    ];
    for (what, edit) in edits {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let api = register_pinned(&store, 1, "api");
        let search = register_pinned(&store, 2, "search");
        let store = edit_row(store, api, edit);
        let reader = store.read().unwrap();
        match reader.entry(&api) {
            Err(StoreError::Damaged(damage)) => {
                assert!(damage.to_string().contains("run `ledger verify`"), "{what}: {damage}")
            }
            Ok(Some(entry)) => panic!("{what}: the damaged row was believed: {entry:?}"),
            other => panic!("{what}: another answer: {other:?}"),
        }
        assert_eq!(reader.entry(&search).unwrap().unwrap().id, search, "{what}");
        let report = verify(&reader, &Rules::without_manifest()).unwrap();
        assert!(
            report.damage.iter().any(|d| matches!(d, Damage::HashMismatch { id, .. } if *id == api)),
            "{what}: {:?}",
            report.damage
        );
    }
}

#[test]
fn an_unpackable_row_names_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let api = register_pinned(&store, 1, "api");
    let store = edit_row(store, api, |row| row[0] = 0x7e);
    let error = store.read().unwrap().entry_at(1).unwrap_err().to_string();
    assert!(error.contains("entry #1 cannot be unpacked: its first byte 0x7e"), "{error}");
}

#[test]
fn table_sizes_account_for_every_table() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let api = register(&store, 1, "api", "v1");
    deploy(&store, 2, "prod", &State::from([("api".to_string(), api)]));
    let sizes = store.table_sizes().unwrap();
    let rows = |name: &str| sizes.iter().find(|size| size.name == name).map(|size| size.rows);
    assert_eq!(rows("entries"), Some(3));
    assert_eq!(rows("id_keys"), Some(3));
    assert_eq!(rows("ids"), None);
    // The release (in its service's scope) and the deployment (in its environment and service's).
    assert_eq!(rows("scope_timeline"), Some(2));
    assert_eq!(rows("scopes"), Some(2));
    assert_eq!(rows("env_log"), Some(1));
    assert_eq!(rows("timeline"), None);
    for size in &sizes {
        assert!(size.page_bytes >= size.stored_bytes, "{size:?}");
        assert!(size.rows == 0 || size.page_bytes > 0, "{size:?}");
    }
}

#[test]
fn an_id_index_row_that_nothing_names_is_damage_named_by_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(dir.path()).unwrap();
    let api = register(&store, 1, "api", "v1");
    let path = store.path().to_path_buf();
    drop(store);
    // A row whose key no id here has, placing an entry at api's position.
    let db = redb::Database::create(&path).unwrap();
    let index: redb::TableDefinition<(u64, u64), ()> = redb::TableDefinition::new("id_keys");
    let bogus = !ledger::store::id_key(&api);
    let txn = db.begin_write().unwrap();
    txn.open_table(index).unwrap().insert((bogus, 1), ()).unwrap();
    txn.commit().unwrap();
    drop(db);

    let store = Store::open(dir.path()).unwrap();
    let reader = store.read().unwrap();
    assert_eq!(reader.entry(&api).unwrap().unwrap().id, api);
    let report = verify(&reader, &Rules::without_manifest()).unwrap();
    assert_eq!(report.damage, [Damage::IndexRow { key: bogus, seq: 1, actual: None }]);
    assert_eq!(
        report.damage[0].to_string(),
        format!("object {bogus:016x}…: indexed at #1, where no entry of such an id is stored")
    );
}
