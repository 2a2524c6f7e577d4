use insta::assert_snapshot;

use ledger_testutil::process::{API, Project};

fn with_releases() -> Project {
    let env = Project::sample();
    env.register_all("1.0");
    env
}

#[test]
fn dry_run_shows_the_plan_and_records_nothing() {
    let env = with_releases();
    let count = env.entry_count();
    assert_snapshot!(env.run(&["apply", "latest", "stage", "--dry-run"]).render());
    assert_eq!(env.entry_count(), count);
}

#[test]
fn without_a_terminal_or_yes_apply_refuses_at_once() {
    let env = with_releases();
    let count = env.entry_count();
    assert_snapshot!(env.run(&["apply", "latest", "prod"]).render());
    assert_eq!(env.entry_count(), count);
}

#[test]
fn apply_latest_records_a_set_a_deployment_and_an_outcome() {
    let env = with_releases();
    let count = env.entry_count();
    assert_snapshot!(env.run(&["apply", "latest", "stage", "--yes", "-m", "first"]).render());
    assert_eq!(env.entry_count(), count + 3);
    let status = env.json(&["status", "stage"]);
    assert_eq!(status["environments"][0]["last_result"], "succeeded");
    assert_eq!(status["environments"][0]["state"]["api"]["image"], format!("{API}:v1.0"));

    // Applying the same again changes nothing and records nothing.
    assert_snapshot!("apply_again", env.run(&["apply", "latest", "stage", "--yes"]).render());
    assert_eq!(env.entry_count(), count + 3);
}

#[test]
fn apply_a_service_set_by_name_or_a_set_by_prefix_with_service_filter() {
    let env = with_releases();
    let set = env.ok(&["release", "frontend"]).trim().to_string();
    env.ok(&["apply", "frontend", "stage", "--yes"]);
    assert_eq!(env.json(&["status", "stage"])["environments"][0]["state"].as_object().unwrap().len(), 2);

    env.register("api", &format!("{API}:v1.1"));
    let next = env.ok(&["release", "frontend"]).trim().to_string();
    let value = env.json(&["apply", &next[..6], "prod", "--service", "search", "--yes"]);
    assert_eq!(value["deployment"]["release_set"], next);
    assert_eq!(value["deployment"]["services"].as_object().unwrap().keys().collect::<Vec<_>>(), ["search"]);
    assert_eq!(value["outcome"]["result"], "succeeded");
    assert_eq!(value["outcome"]["deployment"], value["deployment"]["id"]);
    assert_ne!(set, next);
}

#[test]
fn apply_json_shape() {
    let env = with_releases();
    let value = env.json(&["apply", "latest", "stage", "--service", "api", "--yes"]);
    assert_snapshot!(serde_json::to_string_pretty(&value).unwrap());
}

#[test]
fn promote_applies_what_the_source_runs() {
    let env = with_releases();
    env.ok(&["apply", "latest", "stage", "--yes"]);
    assert_snapshot!(env.run(&["promote", "stage", "prod", "--yes", "-m", "go live"]).render());
    let diff = env.run(&["diff", "stage", "prod", "--exit-code"]);
    assert_eq!(diff.code, 0, "{}", diff.render());
    let log = env.json(&["log", "prod"]);
    assert_eq!(log["deployments"][0]["trigger"]["kind"], "promote");
    assert_eq!(log["deployments"][0]["trigger"]["from_env"], "stage");
}
