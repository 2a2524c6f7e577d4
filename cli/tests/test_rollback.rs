use insta::assert_snapshot;

use ledger_testutil::process::{API, Project};

#[test]
fn rollback_restores_the_last_good_state_and_says_why() {
    let env = Project::sample();
    env.register_all("1.0");
    env.ok(&["apply", "latest", "prod", "--yes"]);
    let good = env.json(&["status", "prod"])["environments"][0]["state"].clone();
    env.register("api", &format!("{API}:v1.1"));
    env.ok(&["apply", "latest", "prod", "--yes", "-m", "api 1.1"]);

    assert_snapshot!(env.run(&["rollback", "prod", "--yes", "-m", "errors up"]).render());
    assert_eq!(env.json(&["status", "prod"])["environments"][0]["state"], good);
    let log = env.json(&["log", "prod"]);
    assert_eq!(log["deployments"].as_array().unwrap().len(), 3, "rollback is a new deployment");
    assert_eq!(log["deployments"][0]["trigger"]["kind"], "rollback");
}

#[test]
fn rollback_to_a_named_deployment() {
    let env = Project::sample();
    env.register_all("1.0");
    let first =
        env.json(&["apply", "latest", "stage", "--yes"])["deployment"]["id"].as_str().unwrap().to_string();
    let at_first = env.json(&["status", "stage"])["environments"][0]["state"].clone();
    for version in ["1.1", "1.2"] {
        env.register("api", &format!("{API}:v{version}"));
        env.ok(&["apply", "latest", "stage", "--yes"]);
    }
    let run = env.run(&["rollback", "stage", "--to", &first[..8], "--yes"]);
    assert_eq!(run.code, 0, "{}", run.render());
    assert_eq!(env.json(&["status", "stage"])["environments"][0]["state"], at_first);
    assert_eq!(env.json(&["log", "stage", "-n", "1"])["deployments"][0]["trigger"]["to"], first);
}

#[test]
fn rollback_with_nothing_earlier_is_refused() {
    let env = Project::sample();
    env.register_all("1.0");
    env.ok(&["apply", "latest", "stage", "--yes"]);
    assert_snapshot!(env.run(&["rollback", "stage", "--yes"]).render());
}

#[test]
fn services_that_did_not_run_then_are_left_as_they_are() {
    let env = Project::sample();
    env.register_all("1.0");
    env.ok(&["apply", "latest", "prod", "--service", "api", "--yes"]);
    env.register("api", &format!("{API}:v1.1"));
    // The last deployment changes api and brings search in for the first time.
    env.ok(&["apply", "latest", "prod", "--service", "api", "--service", "search", "--yes"]);
    let run = env.run(&["rollback", "prod", "--dry-run"]);
    assert_snapshot!(run.render());
    let plan = &env.json(&["rollback", "prod", "--dry-run"])["plan"];
    assert_eq!(plan["notes"][1], "search did not run in prod then; left as it is");
    let why = plan["notes"][0].as_str().unwrap();
    assert!(why.starts_with("restores the state right after deployment "), "{why}");
    assert_eq!(plan["changes"].as_array().unwrap().len(), 1, "only api goes back");
}
