//! Every kind of bad input: a clear message, exit 2, and nothing recorded.

use insta::assert_snapshot;

use ledger_testutil::process::{API, Project, SEARCH};

fn assert_refused(env: &Project, args: &[&str]) -> String {
    let before = env.entry_count();
    let run = env.run(args);
    assert_eq!(run.code, 2, "ledger {args:?}:\n{}", run.render());
    assert!(run.stdout.is_empty() || !run.stdout.contains("panicked"), "{}", run.render());
    assert!(!run.stderr.contains("panicked"), "{}", run.render());
    assert_eq!(env.entry_count(), before, "ledger {args:?} recorded something");
    run.stderr
}

#[test]
fn bad_register_arguments() {
    let env = Project::sample();
    let cases: &[&[&str]] = &[
        &["register", "nope", "x/y:1"],
        &["register", "../etc", "x/y:1"],
        &["register", "API", "x/y:1"],
        &["register", "api", "Not An Image"],
        &["register", "api", &format!("{API}:v1@sha256:1234")],
        &["register", "api", &format!("{SEARCH}:v1")],
        &["register", "api", &format!("{API}:v1"), "--revision", "main; rm -rf /"],
        &["register", "api", &format!("{API}:v1"), "--revision", "abc"],
        &["register", "api", &format!("{API}:v1"), "-m", "bell\u{7}"],
        &["register", "api", &format!("{API}:v1"), "--actor", ""],
    ];
    let messages: Vec<String> = cases.iter().map(|args| assert_refused(&env, args)).collect();
    assert_snapshot!(messages.join(""));
}

#[test]
fn bad_deploy_arguments() {
    let env = Project::sample();
    let release = env.register("api", &format!("{API}:v1"));
    let cases: &[&[&str]] = &[
        &["apply", "latest", "qa", "--yes"],
        &["apply", "latest", "stage", "--yes"],
        &["apply", "latest", "stage", "--service", "nope", "--yes"],
        &["apply", "frontend", "stage", "--yes"],
        &["apply", &release[..10], "stage", "--yes"],
        &["apply", "zz", "stage", "--yes"],
        &["apply", "latest", "stage", "--service", "api"],
        &["promote", "stage", "stage", "--yes"],
        &["promote", "stage", "prod", "--yes"],
        &["rollback", "stage", "--yes"],
        &["diff", "stage", "nowhere"],
        &["log", "qa"],
        &["status", "../../etc"],
        &["show", "abc"],
    ];
    let messages: Vec<String> = cases.iter().map(|args| assert_refused(&env, args)).collect();
    assert_snapshot!(messages.join(""));
}

#[test]
fn bad_manifests_name_the_file_line_and_key() {
    let env = Project::empty().with_fixed_clock();
    let cases = [
        "[project]\nid = \"catalogue\"\n[services.api]\nimage_repo = \"r/api\"\n",
        "[project]\nid = \"Catalogue\"\n",
        "[project]\nid = \"c\"\n[services.api]\nimage_repository = \"r/api\"\n[service_sets]\nweb = [\"api\", \"www\"]\n",
        "[project]\nid = \"c\"\n[services.api]\nimage_repository = \"r/api\"\n[services.api]\nimage_repository = \"r/api2\"\n",
        "[project]\nid = \"c\"\n[environments.\"prod/../../x\"]\n",
        "[project\nid = 1\n",
        "[environments.prod]\n",
        "\u{0}\u{1}binary",
    ];
    let mut messages = String::new();
    for manifest in cases {
        env.write("ledger.toml", manifest);
        let run = env.run(&["init"]);
        assert_eq!(run.code, 2, "{}", run.render());
        assert!(!env.path().join(".ledger").exists(), "a bad manifest created a ledger");
        messages.push_str(&run.stderr);
    }
    assert_snapshot!(messages);
}

#[test]
fn usage_errors_exit_2() {
    let env = Project::sample();
    for args in [&["frobnicate"][..], &["register", "api"], &["log", "-n", "many"]] {
        assert_eq!(env.run(args).code, 2, "{args:?}");
    }
}

#[test]
fn a_release_set_naming_a_service_the_manifest_dropped_is_refused_not_skipped() {
    let env = Project::sample();
    env.register_all("1.0");
    let set = env.ok(&["release"]).trim().to_string();
    env.write(
        "ledger.toml",
        &ledger_testutil::process::SAMPLE_MANIFEST.replace("[services.worker]", "[services.unused]"),
    );
    let stderr = assert_refused(&env, &["apply", &set, "stage", "--yes"]);
    assert!(stderr.contains("cannot deploy: unknown service \"worker\""), "{stderr}");
}

#[test]
fn a_malformed_clock_override_is_refused() {
    let env = Project::sample();
    let before = env.entry_count();
    let output = env
        .command(&["register", "api", &format!("{API}:v1")])
        .env("LEDGER_TIMESTAMP", "yesterday")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("LEDGER_TIMESTAMP"));
    assert_eq!(env.entry_count(), before);
}

#[test]
fn bad_remote_arguments() {
    let env = Project::sample();
    let cases: &[&[&str]] = &[
        &["remote", "add", "origin", "http://example.com/ledger"],
        &["remote", "add", "origin", "file://relative/dir"],
        &["remote", "add", "../origin", "s3://team-ledger/x"],
        &["remote", "add", "origin", "s3://Team_Ledger/x"],
        &["remote", "add", "origin", "s3://team-ledger/../x"],
        &["remote", "add", "origin", "s3://team-ledger/x", "--sse", "none"],
        &["remote", "add", "origin", "s3://team-ledger/x", "--kms-key-id", "alias/k"],
        &["remote", "remove", "origin"],
        &["push"],
        &["pull", "nope"],
        &["verify", "--remote", "nope"],
        &["clone", "s3://team-ledger/x"],
        &["clone", "s3://team-ledger/../x", "elsewhere"],
    ];
    let messages: Vec<String> = cases.iter().map(|args| assert_refused(&env, args)).collect();
    assert!(!env.path().join(".ledger").join("remotes.toml").exists(), "no remote was added");
    assert_snapshot!(messages.join(""));
}

/// stderr of a command run with `--output json`: exactly one JSON object, nothing on stdout.
fn json_error(env: &Project, args: &[&str], code: i32) -> serde_json::Value {
    let run = env.run(args);
    assert_eq!(run.code, code, "ledger {args:?}:\n{}", run.render());
    assert_eq!(run.stdout, "", "ledger {args:?}: stdout stays empty");
    let error: serde_json::Value = serde_json::from_str(&run.stderr)
        .unwrap_or_else(|e| panic!("ledger {args:?}: stderr is not one JSON object ({e}):\n{}", run.stderr));
    assert_eq!(error["error"]["exit_code"], code, "{error}");
    assert!(error["error"]["hints"].is_array(), "{error}");
    error
}

#[test]
fn with_output_json_an_error_is_one_json_object_on_stderr() {
    let env = Project::sample();
    let unknown = json_error(&env, &["log", "qa", "--output", "json"], 2);
    assert!(
        unknown["error"]["message"].as_str().unwrap().contains("unknown environment \"qa\""),
        "{unknown}"
    );
    let bad_image = json_error(&env, &["-o", "json", "register", "api", "Not An Image"], 2);
    assert!(bad_image["error"]["message"].as_str().unwrap().contains("Not An Image"), "{bad_image}");
    // Arguments clap refuses, too.
    let usage = json_error(&env, &["log", "--bogus", "--output=json"], 2);
    assert!(usage["error"]["message"].as_str().unwrap().contains("'--bogus'"), "{usage}");
    assert!(usage["error"]["hints"].to_string().contains("Usage: ledger log"), "{usage}");
    // Without --output json, the same errors are lines for people.
    assert!(env.run(&["log", "qa"]).stderr.starts_with("error: unknown environment"));
}

#[test]
fn a_manifest_that_is_not_a_file_is_named_for_what_it_is() {
    let env = Project::sample();
    let fifo = env.path().join("fifo.toml");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    for (path, says) in [
        (".", "is a directory, not a file"),
        ("fifo.toml", "is a FIFO (named pipe), not a file"),
        ("/dev/null", "is a device, not a file"),
        ("missing.toml", "does not exist"),
    ] {
        let stderr = assert_refused(&env, &["status", "--manifest", path]);
        assert!(stderr.contains(&format!("{path} {says}")), "{path}: {stderr}");
    }
}

#[test]
fn empty_variables_count_as_unset() {
    let env = Project::sample();
    let empty = ["LEDGER_MANIFEST", "LEDGER_DIR", "LEDGER_ACTOR", "LEDGER_TIMESTAMP"];
    let run = |args: &[&str]| {
        let mut command = env.command(args);
        for variable in empty {
            command.env(variable, "");
        }
        command.output().unwrap()
    };
    let status = run(&["status"]);
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let registered = run(&["register", "api", &format!("{API}:v1"), "--output", "json"]);
    assert!(registered.status.success(), "{}", String::from_utf8_lossy(&registered.stderr));
    let registered: serde_json::Value = serde_json::from_slice(&registered.stdout).unwrap();
    assert!(!registered["actor"].as_str().unwrap().is_empty(), "{registered}");
    assert_eq!(env.entry_count(), 1);
}
