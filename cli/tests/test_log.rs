use insta::assert_snapshot;

use ledger_testutil::process::{API, Project};

/// stage: three deployments; prod: one promotion.
fn with_history() -> Project {
    let env = Project::sample();
    env.register_all("1.0");
    env.ok(&["apply", "latest", "stage", "--yes", "-m", "first deployment\n\nwith a body"]);
    env.register("api", &format!("{API}:v1.1"));
    env.ok(&["apply", "latest", "stage", "--yes", "-m", "api 1.1"]);
    env.ok(&["promote", "stage", "prod", "--yes", "-m", "ship"]);
    env.register("worker", &format!("{}:v2", ledger_testutil::process::WORKER));
    env.ok(&["apply", "latest", "stage", "--service", "worker", "--yes"]);
    env
}

#[test]
fn log_of_an_environment() {
    let env = with_history();
    assert_snapshot!(env.run(&["log", "stage"]).render());
    assert_snapshot!("log_prod_json", serde_json::to_string_pretty(&env.json(&["log", "prod"])).unwrap());
}

#[test]
fn log_limits_and_filters() {
    let env = with_history();
    assert_eq!(env.json(&["log", "stage", "-n", "2"])["deployments"].as_array().unwrap().len(), 2);
    let api = env.json(&["log", "stage", "--service", "api"]);
    let messages: Vec<&str> =
        api["deployments"].as_array().unwrap().iter().map(|d| d["message"].as_str().unwrap()).collect();
    assert_eq!(messages, ["api 1.1", "first deployment\n\nwith a body"]);
    let worker_entries = env.json(&["log", "--service", "worker"]);
    let kinds: Vec<&str> =
        worker_entries["entries"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["deployment", "release", "deployment", "deployment", "release"],
        "stage, release, promotion to prod, stage, release"
    );
    assert_eq!(env.run(&["log", "prod", "--service", "nope"]).code, 2);
}

#[test]
fn log_of_every_entry() {
    let env = with_history();
    assert_snapshot!(env.run(&["log", "-n", "8"]).render());
}

#[test]
fn log_of_an_empty_ledger() {
    let env = Project::sample();
    assert_snapshot!(format!("{}{}", env.run(&["log"]).render(), env.run(&["log", "prod"]).render()));
}
