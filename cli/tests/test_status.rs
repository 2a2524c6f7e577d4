use insta::assert_snapshot;
use ledger::deploy::{self, Plan, SetSource};
use ledger::refs::RefName;
use ledger::{Source, Stamp, Store, Timestamp, Trigger};

use ledger_testutil::process::Project;

#[test]
fn status_of_every_environment() {
    let env = Project::sample();
    env.register_all("1.0");
    env.ok(&["apply", "latest", "stage", "--yes"]);
    assert_snapshot!(env.run(&["status"]).render());
    assert_snapshot!("status_json", serde_json::to_string_pretty(&env.json(&["status"])).unwrap());
}

#[test]
fn an_interrupted_deployment_is_in_flight_and_blocks_the_next() {
    let env = Project::sample();
    env.register_all("1.0");
    // A deployment whose intent was recorded and whose process died before the outcome.
    let store = Store::open(&env.path().join(".ledger")).unwrap();
    let plan = {
        let reader = store.read().unwrap();
        let api = reader.ref_target(&RefName::service("api")).unwrap().unwrap();
        let target = [("api".to_string(), api)].into();
        Plan::towards(&reader, "stage", SetSource::None, Trigger::Apply, &target).unwrap()
    };
    let stamp = Stamp { at: Timestamp(1_790_000_000_000_000), actor: "ci".into(), message: "killed".into() };
    store.write(|w| deploy::record_intent(w, &stamp, &plan)).unwrap();
    drop(store);

    assert_snapshot!(env.run(&["status", "stage"]).render());
    assert_eq!(env.json(&["status", "stage"])["environments"][0]["in_flight"], true);
    let count = env.entry_count();
    assert_snapshot!("apply_refused", env.run(&["apply", "latest", "stage", "--yes"]).render());
    assert_eq!(env.entry_count(), count);
}
