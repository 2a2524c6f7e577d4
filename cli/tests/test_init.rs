use insta::assert_snapshot;

use crate::common::TestEnv;

#[test]
fn init_without_a_manifest_says_how_to_start() {
    let env = TestEnv::empty();
    assert_snapshot!(env.run(&["init"]).render());
}

#[test]
fn init_example_writes_a_manifest_and_running_twice_changes_nothing() {
    let env = TestEnv::empty();
    assert_snapshot!(env.run(&["init", "--example"]).render());
    let manifest = std::fs::read_to_string(env.path().join("ledger.toml")).unwrap();
    env.ok(&["register", "api", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalogue/api:v1"]);
    assert_snapshot!("init_again", env.run(&["init", "--example"]).render());
    assert_eq!(std::fs::read_to_string(env.path().join("ledger.toml")).unwrap(), manifest);
    assert_eq!(env.entry_count(), 1, "init again keeps the history");
}

#[test]
fn commands_before_init_say_to_run_it() {
    let env = TestEnv::empty();
    env.write("ledger.toml", crate::common::MANIFEST);
    assert_snapshot!(env.run(&["log"]).render());
}

#[test]
fn the_manifest_is_found_in_a_parent_or_named_explicitly() {
    let env = TestEnv::new();
    let nested = env.path().join("src/deep");
    std::fs::create_dir_all(&nested).unwrap();
    let output = env.command(&["status"]).current_dir(&nested).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    // A second project in the same directory tree, named with --manifest / LEDGER_MANIFEST.
    std::fs::create_dir_all(env.path().join("other")).unwrap();
    let other = env.write("other/ledger.toml", "[project]\nid = \"other\"\n[environments.qa]\n");
    let output = env.command(&["init"]).env("LEDGER_MANIFEST", &other).output().unwrap();
    assert!(output.status.success());
    assert!(env.path().join("other/.ledger/ledger.redb").is_file());
    let status = env.command(&["status", "--manifest", other.to_str().unwrap()]).output().unwrap();
    assert!(String::from_utf8_lossy(&status.stdout).starts_with("qa (qa)"));
}
