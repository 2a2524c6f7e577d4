use insta::assert_snapshot;

use ledger_testutil::process::{API, Project, SEARCH};

fn staged_ahead_of_prod() -> Project {
    let env = Project::sample();
    env.register_all("1.0");
    env.ok(&["apply", "latest", "prod", "--yes"]);
    env.register("api", &format!("{API}:v1.1"));
    env.ok(&["apply", "latest", "stage", "--service", "api", "--service", "search", "--yes"]);
    env
}

#[test]
fn diff_two_environments() {
    let env = staged_ahead_of_prod();
    assert_snapshot!(env.run(&["diff", "stage", "prod"]).render());
    assert_snapshot!(
        "diff_json",
        serde_json::to_string_pretty(&env.json(&["diff", "stage", "prod"])).unwrap()
    );
}

#[test]
fn exit_code_says_whether_they_differ() {
    let env = staged_ahead_of_prod();
    assert_eq!(env.run(&["diff", "stage", "prod", "--exit-code"]).code, 1);
    assert_eq!(env.run(&["diff", "stage", "prod"]).code, 0);
    assert_eq!(env.run(&["diff", "prod", "prod", "--exit-code"]).code, 0);
}

#[test]
fn diff_release_sets_and_deployments() {
    let env = Project::sample();
    env.register_all("1.0");
    let old = env.ok(&["release", "frontend"]).trim().to_string();
    let first =
        env.json(&["apply", "frontend", "stage", "--yes"])["deployment"]["id"].as_str().unwrap().to_string();
    env.register("search", &format!("{SEARCH}:v2"));
    let new = env.ok(&["release", "frontend"]).trim().to_string();
    env.ok(&["apply", "frontend", "stage", "--yes"]);

    let sets = env.json(&["diff", &old[..8], &new[..8]]);
    let kinds: Vec<(&str, &str)> = sets["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["service"].as_str().unwrap(), c["change"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, [("api", "unchanged"), ("search", "changed")]);
    // A deployment side is the state right after it.
    let then_and_now = env.json(&["diff", &first, "stage"]);
    assert_eq!(then_and_now["changes"][1]["change"], "changed");
    assert_eq!(env.run(&["diff", &first, &old, "--exit-code"]).code, 0);
}

#[test]
fn commits_between_the_revisions() {
    let env = Project::sample();
    env.git(&["init", "-q"]);
    env.git(&["commit", "-q", "--allow-empty", "-m", "Base"]);
    let base = env.git(&["rev-parse", "HEAD"]);
    env.git(&["commit", "-q", "--allow-empty", "-m", "Add filters"]);
    env.git(&["commit", "-q", "--allow-empty", "-m", "Fix paging"]);
    let tip = env.git(&["rev-parse", "HEAD"]);
    env.ok(&["register", "api", &format!("{API}:v1"), "--revision", &base]);
    env.ok(&["apply", "latest", "prod", "--service", "api", "--yes"]);
    env.ok(&["register", "api", &format!("{API}:v2"), "--revision", &tip]);
    env.ok(&["apply", "latest", "stage", "--service", "api", "--yes"]);
    assert_snapshot!(env.run(&["diff", "stage", "prod", "--commits"]).render());
    let value = env.json(&["diff", "prod", "stage", "--commits"]);
    assert_eq!(value["changes"][0]["commits"].as_array().unwrap().len(), 2);
}
