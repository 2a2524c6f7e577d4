use insta::assert_snapshot;

use ledger_testutil::process::Project;

#[test]
fn demo_builds_a_history_and_shows_it() {
    let env = Project::empty().with_fixed_clock();
    assert_snapshot!(env.run(&["demo", "sample"]).render());
    let run = env.command(&["verify"]).current_dir(env.path().join("sample")).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stdout));
    // A second demo into the same place is refused, leaving the first intact.
    assert_eq!(env.run(&["demo", "sample"]).code, 2);
}
