use insta::assert_snapshot;

use ledger_testutil::process::Project;

#[test]
fn show_each_kind_by_name_ref_and_prefix() {
    let env = Project::sample();
    env.register_all("1.0");
    let set = env.ok(&["release", "frontend", "-m", "frontend 1.0"]).trim().to_string();
    let deployment = env.json(&["apply", "frontend", "stage", "--yes", "-m", "try it"])["deployment"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut shown = String::new();
    for target in ["api", "service/search", &set[..7], &deployment, "stage"] {
        shown.push_str(&env.run(&["show", target]).render());
    }
    assert_snapshot!(shown);
    assert_snapshot!(
        "show_deployment_json",
        serde_json::to_string_pretty(&env.json(&["show", &deployment])).unwrap()
    );
}

#[test]
fn short_and_ambiguous_prefixes_are_refused_with_the_candidates() {
    let env = Project::sample();
    assert_snapshot!(env.run(&["show", "abc"]).render());

    // Record releases straight into the store until two ids share 4 hex digits (the
    // pigeonhole principle bounds the loop; with fixed times it is the same pair every run).
    let store = ledger::Store::open(&env.path().join(".ledger")).unwrap();
    let mut seen = std::collections::BTreeMap::new();
    let (a, b) = (0..)
        .find_map(|n: i64| {
            let stamp = ledger::Stamp { at: ledger::Timestamp(n), actor: "t".into(), message: String::new() };
            let release = ledger::Release {
                service: "api".into(),
                image: format!("{}:v{n}", ledger_testutil::process::API),
                digest: None,
                revision: None,
                revision_at: None,
            };
            let id = store.write(|w| w.record_release(stamp, release)).unwrap().id.to_hex();
            seen.insert(id[..4].to_string(), id.clone()).map(|other| (other, id))
        })
        .unwrap();
    drop(store);
    let run = env.run(&["show", &a[..4]]);
    assert_eq!(run.code, 2, "{}", run.render());
    assert!(
        run.stderr.contains("ambiguous") && run.stderr.contains(&a) && run.stderr.contains(&b),
        "{}",
        run.stderr
    );
    // One more digit that differs resolves.
    let unique = (5..=64).map(|len| &a[..len]).find(|p| !b.starts_with(p)).unwrap();
    assert_eq!(env.json(&["show", unique])["id"], a.as_str());
}
