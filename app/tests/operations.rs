//! The application layer used as a library, as a front end uses it: operations over a
//! workspace, results and errors as data, progress and confirmations through hooks.

use std::cell::RefCell;

use ledger::manifest::EXAMPLE;
use ledger_app::deploy::{self, DeployOptions};
use ledger_app::hooks::{Confirm, Progress};
use ledger_app::ledger_remote::exchange;
use ledger_app::register::{RegisterRequest, register};
use ledger_app::views::PlanView;
use ledger_app::{Error, ErrorKind, Result, Settings, Workspace, log};

const IMAGES: [(&str, &str); 3] = [
    ("api", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalogue/api:v1"),
    ("search", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalogue/search:v1"),
    ("worker", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalogue/worker:v1"),
];

/// What the hooks were told and asked.
#[derive(Default)]
struct Hooks {
    planned: RefCell<Vec<(String, usize)>>,
    asked: RefCell<Vec<(String, bool)>>,
    confirm: bool,
}

impl exchange::Progress for Hooks {
    fn start(&self, _step: &'static str, _total: usize) {}
    fn advance(&self, _items: usize) {}
    fn finish(&self) {}
}

impl Progress for Hooks {
    fn note(&self, _line: &str) {}
    fn service(&self, _service: &str, _line: &str) {}
    fn warning(&self, _line: &str) {}
    fn planned(&self, plan: &PlanView) {
        self.planned.borrow_mut().push((plan.env.clone(), plan.changes.len()));
    }
}

impl Confirm for Hooks {
    fn confirm_deploy(&self, env: &str, protected: bool) -> Result<()> {
        self.asked.borrow_mut().push((env.to_string(), protected));
        if self.confirm { Ok(()) } else { Err(Error::usage(format!("not confirmed for {env}"))) }
    }
}

/// The sample project, initialised, with a release of each service.
fn project() -> (tempfile::TempDir, Workspace) {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("ledger.toml");
    std::fs::write(&manifest, EXAMPLE).unwrap();
    let settings = Settings {
        manifest: Some(manifest),
        actor: Some("Tester <t@example.com>".into()),
        ..Settings::default()
    };
    let workspace = ledger_app::init::init(&settings, false).unwrap().workspace;
    for (service, image) in IMAGES {
        let request =
            RegisterRequest { service: service.into(), image: image.into(), ..RegisterRequest::default() };
        register(&workspace, &request, &()).unwrap();
    }
    (dir, workspace)
}

fn deployments(workspace: &Workspace, env: &str) -> usize {
    workspace.read(|releases| Ok(log::env_log(workspace, releases, env, None, 100)?.records.len())).unwrap()
}

#[test]
fn the_plan_is_shown_then_confirmed_then_recorded() {
    let (_dir, workspace) = project();
    let hooks = Hooks { confirm: true, ..Hooks::default() };
    let deployed =
        deploy::apply(&workspace, "latest", "prod", &[], &DeployOptions::default(), (&hooks, &hooks))
            .unwrap();
    assert_eq!(*hooks.planned.borrow(), [("prod".to_string(), 3)]);
    assert_eq!(*hooks.asked.borrow(), [("prod".to_string(), true)], "prod is protected");
    let recorded = deployed.recorded.as_ref().expect("a deployment and its outcome");
    assert!(recorded.record_only);
    assert!(deployed.succeeded());
    assert_eq!(deployed.json["deployment"]["id"], recorded.deployment.id.to_hex());
    assert_eq!(deployed.json["plan"]["changes"].as_array().unwrap().len(), 3);
    assert_eq!(deployments(&workspace, "prod"), 1);
}

#[test]
fn a_refused_confirmation_records_nothing() {
    let (_dir, workspace) = project();
    let hooks = Hooks::default();
    let error =
        deploy::apply(&workspace, "latest", "stage", &[], &DeployOptions::default(), (&hooks, &hooks))
            .err()
            .expect("refused");
    assert_eq!(error.kind, ErrorKind::Usage);
    assert_eq!(error.message, "not confirmed for stage");
    assert_eq!(*hooks.asked.borrow(), [("stage".to_string(), false)]);
    assert_eq!(deployments(&workspace, "stage"), 0);
}

#[test]
fn a_dry_run_plans_and_never_asks() {
    let (_dir, workspace) = project();
    let hooks = Hooks::default();
    let options = DeployOptions { dry_run: true, ..DeployOptions::default() };
    let deployed =
        deploy::apply(&workspace, "latest", "stage", &["api".into()], &options, (&hooks, &hooks)).unwrap();
    assert!(deployed.recorded.is_none());
    assert_eq!(*hooks.planned.borrow(), [("stage".to_string(), 1)]);
    assert!(hooks.asked.borrow().is_empty());
    assert_eq!(deployed.json["deployment"], serde_json::Value::Null);
    assert_eq!(deployments(&workspace, "stage"), 0);
}

#[test]
fn errors_say_what_kind_they_are_and_keep_every_hint_and_their_cause() {
    let (_dir, workspace) = project();
    let hooks = Hooks { confirm: true, ..Hooks::default() };
    let options = DeployOptions::default();
    let unknown_env =
        deploy::apply(&workspace, "latest", "qa", &[], &options, (&hooks, &hooks)).err().unwrap();
    assert_eq!(unknown_env.kind, ErrorKind::NotFound);
    let not_a_set =
        deploy::apply(&workspace, "zzzz", "stage", &[], &options, (&hooks, &hooks)).err().unwrap();
    assert_eq!(not_a_set.kind, ErrorKind::NotFound, "{not_a_set}");
    assert_eq!(not_a_set.hints, ["give a release set id or prefix, a service set's name, or `latest`"]);
    assert!(std::error::Error::source(&not_a_set).is_some(), "the resolver's error is kept as the cause");

    let request = RegisterRequest {
        service: "api".into(),
        image: "docker.io/evil/api:v1".into(),
        ..RegisterRequest::default()
    };
    assert_eq!(register(&workspace, &request, &()).err().unwrap().kind, ErrorKind::Usage);

    let error = Error::failed("it broke").hint("first").hint("second");
    assert_eq!(error.hints, ["first", "second"], "a later hint does not replace an earlier one");
}

#[test]
fn show_finds_an_entry_by_the_name_of_an_environment_service_or_set() {
    let (_dir, workspace) = project();
    let hooks = Hooks { confirm: true, ..Hooks::default() };
    let deployed =
        deploy::apply(&workspace, "latest", "stage", &[], &DeployOptions::default(), (&hooks, &hooks))
            .unwrap();
    let outcome = deployed.recorded.unwrap().outcome.id;
    workspace
        .read(|releases| {
            assert_eq!(log::show(&workspace, releases, "stage")?.entry.id, outcome);
            assert_eq!(log::show(&workspace, releases, "api")?.json["service"], "api");
            assert_eq!(log::show(&workspace, releases, "env/stage")?.entry.id, outcome);
            assert_eq!(log::show(&workspace, releases, "prod").err().unwrap().kind, ErrorKind::NotFound);
            Ok(())
        })
        .unwrap();
}
