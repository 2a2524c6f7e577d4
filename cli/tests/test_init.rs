use insta::assert_snapshot;

use ledger_testutil::process::Project;

#[test]
fn init_without_a_manifest_says_how_to_start() {
    let env = Project::empty().with_fixed_clock();
    assert_snapshot!(env.run(&["init"]).render());
}

#[test]
fn init_example_writes_a_manifest_and_running_twice_changes_nothing() {
    let env = Project::empty().with_fixed_clock();
    assert_snapshot!(env.run(&["init", "--example"]).render());
    let manifest = std::fs::read_to_string(env.path().join("ledger.toml")).unwrap();
    env.ok(&["register", "api", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalogue/api:v1"]);
    assert_snapshot!("init_again", env.run(&["init", "--example"]).render());
    assert_eq!(std::fs::read_to_string(env.path().join("ledger.toml")).unwrap(), manifest);
    assert_eq!(env.entry_count(), 1, "init again keeps the history");
}

#[test]
fn commands_before_init_say_to_run_it() {
    let env = Project::empty().with_fixed_clock();
    env.write("ledger.toml", ledger_testutil::process::SAMPLE_MANIFEST);
    assert_snapshot!(env.run(&["log"]).render());
}

#[test]
fn the_manifest_is_found_in_a_parent_or_named_explicitly() {
    let env = Project::sample();
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

#[test]
fn the_ledger_directory_can_be_named_by_flag_or_variable() {
    let env = Project::empty().with_fixed_clock();
    env.write("ledger.toml", ledger_testutil::process::SAMPLE_MANIFEST);
    let elsewhere = env.path().join("shared-ledger");
    let by_variable = env.command(&["init"]).env("LEDGER_DIR", &elsewhere).output().unwrap();
    assert!(by_variable.status.success(), "{}", String::from_utf8_lossy(&by_variable.stderr));
    assert!(elsewhere.join("ledger.redb").is_file());
    assert!(!env.path().join(".ledger").exists(), "the default place was not used");

    let dir = elsewhere.to_str().unwrap();
    let image = format!("{}:v1", ledger_testutil::process::API);
    let registered = env.command(&["register", "api", &image, "--ledger-dir", dir]).output().unwrap();
    assert!(registered.status.success(), "{}", String::from_utf8_lossy(&registered.stderr));
    let log = env.command(&["log", "--output", "json"]).env("LEDGER_DIR", &elsewhere).output().unwrap();
    let entries: serde_json::Value = serde_json::from_slice(&log.stdout).unwrap();
    assert_eq!(entries["entries"].as_array().unwrap().len(), 1);
    // Without them, the default place has no ledger.
    assert_eq!(env.run(&["log"]).code, 2);
}

#[test]
fn a_ledger_belongs_to_the_project_that_made_it() {
    let env = Project::sample();
    let manifest = std::fs::read_to_string(env.path().join("ledger.toml")).unwrap();
    env.write("ledger.toml", &manifest.replacen("id = \"catalogue\"", "id = \"billing\"", 1));
    for args in [
        &["log"][..],
        &["status"],
        &["init"],
        &["register", "api", &format!("{}:v1", ledger_testutil::process::API)],
    ] {
        let run = env.run(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.render());
        assert!(
            run.stderr.contains("the ledger in [DIR]/.ledger is project \"catalogue\"'s, but [DIR]/ledger.toml says [project] id = \"billing\""),
            "{args:?}: {}",
            run.render()
        );
    }
    env.write("ledger.toml", &manifest);
    env.ok(&["status"]);
}
