use insta::assert_snapshot;
use redb::ReadableTable;

use ledger_testutil::process::Project;

#[test]
fn verify_a_sound_ledger() {
    let env = Project::sample();
    env.register_all("1.0");
    env.ok(&["apply", "latest", "stage", "--yes"]);
    assert_snapshot!(env.run(&["verify"]).render());
}

#[test]
fn verify_lists_damage_and_exits_3() {
    let env = Project::sample();
    let api = env.register("api", &format!("{}:v1", ledger_testutil::process::API));
    env.ok(&["apply", "latest", "stage", "--service", "api", "--yes"]);

    // Flip one bit of a stored release, behind ledger's back.
    let id = ledger::EntryId::from_hex(&api).unwrap();
    let seq = {
        use ledger::Source;
        let store = ledger::Store::open(&env.path().join(".ledger")).unwrap();
        store.read().unwrap().seq_of(&id).unwrap().unwrap()
    };
    let path = env.path().join(".ledger/ledger.redb");
    let db = redb::Database::create(&path).unwrap();
    let entries: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("entries");
    let txn = db.begin_write().unwrap();
    {
        let mut table = txn.open_table(entries).unwrap();
        let mut bytes = table.get(seq).unwrap().unwrap().value().to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x20;
        table.insert(seq, bytes.as_slice()).unwrap();
    }
    txn.commit().unwrap();
    drop(db);

    let run = env.run(&["verify"]);
    assert_eq!(run.code, 3);
    assert!(run.stdout.contains(&format!("damaged: object {api}: its bytes hash to")), "{}", run.render());
    let json: serde_json::Value = serde_json::from_str(&env.run(&["verify", "-o", "json"]).stdout).unwrap();
    assert_eq!(json["sound"], false);
}
