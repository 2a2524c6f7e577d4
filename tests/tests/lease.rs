//! An environment's lease on a `file://` remote when its holder goes away: an apply interrupted
//! with SIGINT while it waits for ECS (the emulator) gives it back, one killed on this machine
//! is taken over at once, and one left by another machine is shown and broken with
//! `ledger lease`.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use ledger_testutil::moto::{Moto, Rollout, repository};
use ledger_testutil::process::{Project, manifest_with_services};
use serde_json::{Value, json};

const CONTAINER: &str = "app";

/// A `file://` remote, kept in a temporary directory.
struct Remote {
    dir: tempfile::TempDir,
}

impl Remote {
    fn new() -> Remote {
        Remote { dir: tempfile::tempdir().unwrap() }
    }

    fn url(&self) -> String {
        format!("file://{}", self.dir.path().display())
    }

    fn lease_path(&self, env: &str) -> PathBuf {
        self.dir.path().join("locks/env").join(env)
    }

    fn lease(&self, env: &str) -> Value {
        serde_json::from_slice(&std::fs::read(self.lease_path(env)).expect("a lease document")).unwrap()
    }

    /// The target of the remote's `refs/env/<env>`.
    fn env_head(&self, env: &str) -> String {
        let path = self.dir.path().join("refs/env").join(env);
        let doc: Value = serde_json::from_slice(&std::fs::read(path).expect("a ref document")).unwrap();
        doc["target"].as_str().unwrap().to_string()
    }
}

/// An emulated account whose cluster `stage` runs service `api` at `v0`, and a project that
/// deploys to it and shares through `remote`.
fn account(remote: &Remote) -> (Moto, Project) {
    let moto = Moto::start();
    moto.create_cluster("stage");
    moto.create_service("stage", "api", CONTAINER, &image("v0"));
    let manifest = format!(
        "[project]\nid = \"e2e\"\n\n\
         [environments.stage]\ncluster = \"stage\"\npoll_interval = \"20ms\"\ntimeout = \"60s\"\n\n\
         [services.api]\nimage_repository = \"{}\"\ncontainer = \"{CONTAINER}\"\n\n\
         [remote]\nurl = \"{}\"\n",
        repository("e2e/api"),
        remote.url()
    );
    let project = Project::new(&manifest).with_env(moto.env());
    project.ok(&["init"]);
    // The first push creates the remote.
    project.ok(&["push"]);
    (moto, project)
}

fn image(tag: &str) -> String {
    format!("{}:{tag}", repository("e2e/api"))
}

/// Starts `ledger apply latest stage --yes` and returns once it waits for ECS (ECS never ends
/// the rollout).
fn apply_waiting_for_ecs(moto: &Moto, project: &Project) -> Child {
    moto.set_rollout("stage", "api", Rollout::Never, 0);
    let apply = project
        .command(&["apply", "latest", "stage", "--yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting apply");
    let deadline = Instant::now() + Duration::from_secs(60);
    while moto.describe_service("stage", "api")["deployments"].as_array().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "the apply never updated the service");
        std::thread::sleep(Duration::from_millis(50));
    }
    apply
}

fn signal(child: &Child, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) with a pid of our own child and a valid signal number.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "signalling pid {pid}");
}

fn in_flight(project: &Project) -> bool {
    project.json(&["status", "stage"])["environments"][0]["in_flight"] == true
}

#[test]
fn ctrl_c_while_an_apply_waits_for_ecs_gives_the_lease_back_and_reconcile_finishes() {
    let remote = Remote::new();
    let (moto, project) = account(&remote);
    project.ok(&["register", "api", &image("v1")]);
    let apply = apply_waiting_for_ecs(&moto, &project);
    assert_eq!(remote.lease("stage")["released"], false);

    signal(&apply, libc::SIGINT);
    let interrupted = apply.wait_with_output().expect("reaping apply");
    let stderr = String::from_utf8_lossy(&interrupted.stderr);
    assert_eq!(interrupted.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("error: interrupted while waiting for ECS: deployment "), "{stderr}");
    assert!(stderr.contains("stays in flight"), "{stderr}");
    assert!(stderr.contains("hint: `ledger reconcile stage`"), "{stderr}");
    assert!(stderr.contains("the lease of stage there was given back"), "{stderr}");

    // The lease is free, and the deployment, in flight, is on the remote for everyone.
    assert_eq!(remote.lease("stage")["released"], true);
    assert!(in_flight(&project));
    let log = project.json(&["log", "stage"]);
    assert_eq!(remote.env_head("stage"), log["deployments"][0]["id"].as_str().unwrap(), "{log:#}");

    moto.set_rollout("stage", "api", Rollout::Complete, 0);
    let reconciled = project.output(&["reconcile", "stage"]);
    assert_eq!(reconciled.status.code(), Some(0), "{reconciled:?}");
    assert!(!in_flight(&project));
    assert_eq!(remote.lease("stage")["released"], true);
}

#[test]
fn sigterm_while_reconcile_waits_records_nothing_and_gives_the_lease_back() {
    let remote = Remote::new();
    let (moto, project) = account(&remote);
    project.ok(&["register", "api", &image("v1")]);
    let mut apply = apply_waiting_for_ecs(&moto, &project);
    apply.kill().unwrap();
    apply.wait().unwrap();

    let reconcile = project
        .command(&["reconcile", "stage"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting reconcile");
    // It holds the lease once the document names its pid.
    let deadline = Instant::now() + Duration::from_secs(60);
    while remote.lease("stage")["pid"] != json!(reconcile.id()) {
        assert!(Instant::now() < deadline, "reconcile never took the lease");
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(&reconcile, libc::SIGTERM);
    let interrupted = reconcile.wait_with_output().expect("reaping reconcile");
    let stderr = String::from_utf8_lossy(&interrupted.stderr);
    assert_eq!(interrupted.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(stderr.contains("ledger reconcile stage"), "{stderr}");
    assert_eq!(remote.lease("stage")["released"], true);
    assert!(in_flight(&project));
}

#[test]
fn a_lease_left_by_a_killed_apply_on_this_machine_is_taken_over_at_once() {
    let remote = Remote::new();
    let (moto, project) = account(&remote);
    project.ok(&["register", "api", &image("v1")]);
    let mut apply = apply_waiting_for_ecs(&moto, &project);
    let pid = apply.id();
    apply.kill().expect("killing apply");
    apply.wait().expect("reaping apply");

    // Held until it runs out, by a process that is gone, as `ledger lease` says.
    let lease = project.json(&["lease", "stage"]);
    assert_eq!(lease["held"], true, "{lease:#}");
    assert_eq!(lease["holder_gone"], true, "{lease:#}");
    assert_eq!(lease["lease"]["pid"], json!(pid), "{lease:#}");
    let shown = project.ok(&["lease", "stage"]);
    assert!(shown.contains(&format!("pid:     {pid}")), "{shown}");
    assert!(shown.contains("its process has ended"), "{shown}");

    moto.set_rollout("stage", "api", Rollout::Complete, 0);
    let reconciled = project.output(&["reconcile", "stage"]);
    assert_eq!(reconciled.status.code(), Some(0), "{reconciled:?}");
    assert!(!in_flight(&project));
    assert_eq!(remote.lease("stage")["released"], true);
}

/// Writes the lease of `env` as another machine's apply would have left it, held for an hour.
fn lease_left_by_another_machine(path: &Path) {
    let expires_at =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3600;
    let doc = json!({
        "holder": "CI <ci@example.com> (pid 4242 on runner-7, since 2026-12-01 10:00:00 UTC)",
        "expires_at": expires_at,
        "released": false,
        "taken": 7,
        "host": "runner-7",
        "pid": 4242,
    });
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_vec(&doc).unwrap()).unwrap();
}

#[test]
fn a_lease_left_by_another_machine_is_shown_and_broken_with_a_reason_the_team_sees() {
    let remote = Remote::new();
    let project = Project::new(&manifest_with_services(1));
    project.ok(&["init"]);
    project.ok(&["register", "s0", "registry.example.com/e2e/s0:v1"]);
    project.ok(&["remote", "add", "origin", &remote.url()]);
    project.ok(&["push"]);
    let free = project.ok(&["lease", "stage"]);
    assert!(free.starts_with("no lease: no ledger has held stage on origin"), "{free}");
    lease_left_by_another_machine(&remote.lease_path("stage"));

    let refused = project.output(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(refused.status.code(), Some(3), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("CI <ci@example.com> (pid 4242 on runner-7"), "{stderr}");
    assert!(stderr.contains("`ledger lease stage --break -m <why>`"), "{stderr}");

    let shown = project.json(&["lease", "stage"]);
    assert_eq!(shown["held"], true, "{shown:#}");
    assert_eq!(shown["holder_gone"], false, "{shown:#}");
    assert_eq!(shown["lease"]["host"], "runner-7", "{shown:#}");
    assert_eq!(shown["lease"]["broken"], Value::Null, "{shown:#}");

    let without_reason = project.output(&["lease", "stage", "--break"]);
    assert_eq!(without_reason.status.code(), Some(2), "{without_reason:?}");
    let broken = project.output(&["lease", "stage", "--break", "-m", "runner-7 was killed mid-apply"]);
    assert_eq!(broken.status.code(), Some(0), "{broken:?}");
    assert!(String::from_utf8_lossy(&broken.stderr).contains("warning: broke the lease of stage on origin"));

    // The break stays in the document, also after the next deployment took and gave it back.
    project.ok(&["apply", "latest", "stage", "--yes"]);
    let lease = remote.lease("stage");
    assert_eq!(lease["released"], true, "{lease:#}");
    assert_eq!(lease["broken"]["reason"], "runner-7 was killed mid-apply", "{lease:#}");
    assert_eq!(lease["broken"]["by"], "e2e <e2e@example.com>", "{lease:#}");
    let shown = project.ok(&["lease", "stage"]);
    assert!(shown.contains("last broken: "), "{shown}");
    assert!(
        shown.contains("runner-7 was killed mid-apply (it was held by CI <ci@example.com> (pid 4242"),
        "{shown}"
    );
    let again = project.output(&["lease", "stage", "--break", "-m", "again"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing to break"), "{again:?}");
}

#[test]
fn a_lease_held_by_a_running_process_of_this_machine_is_never_broken() {
    let remote = Remote::new();
    let (moto, project) = account(&remote);
    project.ok(&["register", "api", &image("v1")]);
    let apply = apply_waiting_for_ecs(&moto, &project);
    let refused = project.output(&["lease", "stage", "--break", "-m", "impatient"]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("which still runs"), "{refused:?}");
    assert_eq!(remote.lease("stage")["released"], false);
    signal(&apply, libc::SIGINT);
    assert_eq!(apply.wait_with_output().unwrap().status.code(), Some(3));
}
