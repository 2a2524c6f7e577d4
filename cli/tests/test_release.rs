use insta::assert_snapshot;

use ledger_testutil::process::{API, Project, SEARCH};

#[test]
fn release_refuses_when_a_service_has_no_release() {
    let env = Project::sample();
    env.register("api", &format!("{API}:v1"));
    assert_snapshot!(env.run(&["release"]).render());
    assert_eq!(env.entry_count(), 1);
}

#[test]
fn release_of_a_service_set_uses_the_latest_releases() {
    let env = Project::sample();
    env.register("api", &format!("{API}:v1"));
    let api = env.register("api", &format!("{API}:v2"));
    let search = env.register("search", &format!("{SEARCH}:v1"));
    let run = env.run(&["release", "frontend", "-m", "frontend 2"]);
    assert_snapshot!(run.render());
    let set = env.json(&["show", run.stdout.trim()]);
    assert_eq!(set["kind"], "release_set");
    assert_eq!(set["service_set"], "frontend");
    assert_eq!(set["releases"], serde_json::json!({"api": api, "search": search}));

    // Nothing new: the same set is printed, nothing recorded.
    let count = env.entry_count();
    let again = env.run(&["release", "frontend"]);
    assert_eq!(again.stdout, run.stdout);
    assert_snapshot!("release_unchanged", again.stderr);
    assert_eq!(env.entry_count(), count);
}
