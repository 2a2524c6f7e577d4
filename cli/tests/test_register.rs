use insta::assert_snapshot;

use ledger_testutil::process::{API, Project};

const DIGEST: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

#[test]
fn register_prints_the_id_and_records_the_release() {
    let env = Project::sample();
    let run = env.run(&[
        "register",
        "api",
        &format!("{API}:v1.4@{DIGEST}"),
        "--revision",
        "3B18E512",
        "-m",
        "Add filters",
    ]);
    assert_snapshot!(run.render());
    let id = run.stdout.trim();
    assert_eq!(id.len(), 64);
    let shown = env.json(&["show", &id[..8]]);
    assert_snapshot!("register_json", serde_json::to_string_pretty(&shown).unwrap());
}

#[test]
fn register_takes_the_message_from_the_commit() {
    let env = Project::sample();
    env.git(&["init", "-q"]);
    env.git(&["commit", "-q", "--allow-empty", "-m", "Speed up search\n\nLonger body."]);
    let head = env.git(&["rev-parse", "HEAD"]);
    let id = register_with_revision(&env, &head[..7]);
    let release = env.json(&["show", &id]);
    assert_eq!(release["message"], "Speed up search");
    assert_eq!(release["revision"], head.as_str(), "the short revision is expanded");
    assert_eq!(release["revision_at"], "2026-10-01T10:00:00.000000Z");
}

fn register_with_revision(env: &Project, revision: &str) -> String {
    env.ok(&["register", "api", &format!("{API}:v2"), "--revision", revision]).trim().to_string()
}

#[test]
fn register_json_output() {
    let env = Project::sample();
    let value = env.json(&["register", "api", &format!("{API}@{DIGEST}")]);
    assert_eq!(value["kind"], "release");
    assert_eq!(value["digest"], DIGEST);
    assert_eq!(value["image"], format!("{API}@{DIGEST}"));
    assert_eq!(value["parents"], serde_json::json!([]));
}

#[test]
fn each_register_chains_to_the_previous_release_of_its_service() {
    let env = Project::sample();
    let first = env.register("api", &format!("{API}:v1"));
    let second = env.register("api", &format!("{API}:v2"));
    assert_eq!(env.json(&["show", &second])["parents"], serde_json::json!([first]));
}

#[test]
fn the_actor_comes_from_the_flag_the_variable_git_or_the_user() {
    let env = Project::sample();
    let home = env.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let actor_of = |command: &mut std::process::Command| {
        let output = command.arg("--output").arg("json").output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        value["actor"].as_str().unwrap().to_string()
    };
    let image = format!("{API}:v1");
    let register = || {
        let mut command = env.command(&["register", "api", &image]);
        // No global git configuration: only what each case sets.
        command.env("HOME", &home).env("GIT_CONFIG_NOSYSTEM", "1").env("XDG_CONFIG_HOME", &home);
        command
    };
    assert_eq!(actor_of(register().arg("--actor").arg("Flag Person")), "Flag Person");
    assert_eq!(actor_of(&mut register()), "Test User <test@example.com>", "LEDGER_ACTOR");

    let mut no_git = register();
    no_git.env_remove("LEDGER_ACTOR").env("USER", "deployer");
    let fallback = actor_of(&mut no_git);
    assert!(fallback.starts_with("deployer"), "user@host: {fallback}");

    std::fs::write(home.join(".gitconfig"), "[user]\n\tname = Git Person\n\temail = git@example.com\n")
        .unwrap();
    let mut from_git = register();
    from_git.env_remove("LEDGER_ACTOR");
    assert_eq!(actor_of(&mut from_git), "Git Person <git@example.com>");
}
