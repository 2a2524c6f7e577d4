//! Sharing one ledger through a remote, on S3 (the emulator, served one request at a time so
//! each conditional write is atomic, as S3's are) and on `file://`: round trips, clones,
//! incremental exchanges, damaged remotes, racing processes, and pushes killed half-way.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use ledger_testutil::moto::Moto;
use ledger_testutil::process::{Project, manifest_with_services};
use ledger_testutil::ssh::{generate_key, public_key_line};
use serde_json::Value;

const BUCKET: &str = "team-ledger";

/// A remote and the means to reach behind ledger's back into it.
struct Shared {
    url: String,
    moto: Option<Moto>,
    _dir: tempfile::TempDir,
}

impl Shared {
    fn file() -> Shared {
        let dir = tempfile::tempdir().unwrap();
        Shared { url: format!("file://{}/remote", dir.path().display()), moto: None, _dir: dir }
    }

    fn s3() -> Shared {
        let moto = Moto::start();
        moto.create_bucket(BUCKET);
        Shared {
            url: format!("s3://{BUCKET}/catalogue"),
            moto: Some(moto),
            _dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A project (3 services, record-only stage and prod) whose commands reach this remote.
    fn project(&self) -> Project {
        let project = Project::new(&manifest_with_services(3));
        match &self.moto {
            Some(moto) => project.with_env(moto.env()),
            None => project,
        }
    }

    /// A project whose ledger has this remote as origin (made a remote by the first member).
    fn member(&self) -> Project {
        let project = self.project();
        project.ok(&["init"]);
        project.ok(&["remote", "add", "origin", &self.url]);
        project.ok(&["remote", "init"]);
        project
    }

    /// Whether anything at all is stored under `url` (a `file://` directory or an S3 prefix).
    fn holds_anything(&self, url: &str) -> bool {
        match &self.moto {
            Some(moto) => {
                let prefix = url.strip_prefix(&format!("s3://{BUCKET}/")).unwrap();
                let (status, listing) =
                    moto.s3("GET", &format!("/{BUCKET}?list-type=2&prefix={prefix}/"), b"");
                assert_eq!(status, 200);
                String::from_utf8_lossy(&listing).contains("<Key>")
            }
            None => PathBuf::from(url.strip_prefix("file://").unwrap()).exists(),
        }
    }

    /// Deletes the remote's marker, leaving a remote as ledgers before markers made them.
    fn delete_marker(&self) {
        match &self.moto {
            Some(moto) => {
                assert_eq!(moto.s3("DELETE", &format!("/{BUCKET}/catalogue/ledger-remote.json"), b"").0, 204)
            }
            None => std::fs::remove_file(
                PathBuf::from(self.url.strip_prefix("file://").unwrap()).join("ledger-remote.json"),
            )
            .unwrap(),
        }
    }

    fn object_path(&self, id: &str) -> PathBuf {
        PathBuf::from(self.url.strip_prefix("file://").unwrap()).join("objects").join(id)
    }

    fn s3_path(id: &str) -> String {
        format!("/{BUCKET}/catalogue/objects/{id}")
    }

    fn read_object(&self, id: &str) -> Vec<u8> {
        match &self.moto {
            Some(moto) => {
                let (status, bytes) = moto.s3("GET", &Self::s3_path(id), b"");
                assert_eq!(status, 200, "reading object {id}");
                bytes
            }
            None => std::fs::read(self.object_path(id)).unwrap(),
        }
    }

    /// Overwrites an object, as a broken or hostile writer would.
    fn write_object(&self, id: &str, bytes: &[u8]) {
        match &self.moto {
            Some(moto) => assert_eq!(moto.s3("PUT", &Self::s3_path(id), bytes).0, 200),
            None => std::fs::write(self.object_path(id), bytes).unwrap(),
        }
    }

    fn delete_object(&self, id: &str) {
        match &self.moto {
            Some(moto) => assert_eq!(moto.s3("DELETE", &Self::s3_path(id), b"").0, 204),
            None => std::fs::remove_file(self.object_path(id)).unwrap(),
        }
    }
}

fn image(service: &str, tag: &str) -> String {
    format!("registry.example.com/e2e/{service}:{tag}")
}

/// Registers a release of each service, makes a release set and applies it to stage.
fn ship(project: &Project, tag: &str) {
    for service in ["s0", "s1", "s2"] {
        project.ok(&["register", service, &image(service, tag)]);
    }
    project.ok(&["release", "-m", tag]);
    project.ok(&["apply", "latest", "stage", "--yes", "-m", tag]);
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

/// The deployments of `env`, newest first.
fn log(project: &Project, env: &str) -> Vec<Value> {
    let log = project.json(&["log", env, "--limit", "100000"]);
    log["deployments"].as_array().unwrap().clone()
}

fn log_ids(project: &Project, env: &str) -> Vec<String> {
    log(project, env).iter().map(|row| row["id"].as_str().unwrap().to_string()).collect()
}

fn round_trip(shared: &Shared) {
    // A ledger recorded offline, then shared.
    let alice = shared.project();
    alice.ok(&["init"]);
    ship(&alice, "v1");
    alice.ok(&["remote", "add", "origin", &shared.url]);
    let pushed = alice.json(&["push"]);
    assert_eq!(
        pushed["objects"],
        3 + 1 + 1 + 2,
        "3 releases, 2 release sets, a deployment and its outcome: {pushed}"
    );
    assert_eq!(pushed["refused"], Value::Array(vec![]));
    let again = alice.json(&["push"]);
    assert_eq!((again["objects"].as_u64(), again["moved"].as_array().map(Vec::len)), (Some(0), Some(0)));

    // A clone from scratch holds the same history, checked.
    let bob = shared.project();
    let cloned = bob.json(&["clone", &shared.url]);
    assert_eq!(cloned["entries"], 7, "{cloned}");
    assert_eq!(log_ids(&bob, "stage"), log_ids(&alice, "stage"));
    bob.ok(&["verify"]);
    assert_eq!(bob.json(&["verify", "--remote", "origin"])["sound"], true);

    // Incremental: alice's next release reaches the remote by itself, bob takes in just that.
    ship(&alice, "v2");
    let fetched = bob.json(&["fetch"]);
    let behind: Vec<&Value> =
        fetched["refs"].as_array().unwrap().iter().filter(|r| r["state"] == "behind").collect();
    assert_eq!(behind.len(), 5, "{fetched}");
    let pulled = bob.json(&["pull"]);
    assert_eq!(pulled["entries"], 7, "{pulled}");
    assert_eq!(bob.json(&["pull"])["entries"], 0);
    assert_eq!(log_ids(&bob, "stage"), log_ids(&alice, "stage"));
    assert_eq!(bob.ok(&["status", "stage"]), alice.ok(&["status", "stage"]));

    // Bob promotes; alice sees it after a pull.
    bob.ok(&["promote", "stage", "prod", "--yes", "-m", "ship v2"]);
    alice.ok(&["pull"]);
    assert_eq!(log_ids(&alice, "prod"), log_ids(&bob, "prod"));
}

/// A remote is made by `ledger remote init` or a first push, never by a clone, a pull or a
/// register that finds nothing there; a remote or a ledger of another project is refused.
fn a_remote_is_created_explicitly(shared: &Shared) {
    // Nothing there yet: a clone is refused, and leaves nothing behind.
    let bob = shared.project();
    let output = bob.output(&["clone", &shared.url]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let says = format!("{} is not a ledger remote: it has no ledger-remote.json", shared.url);
    assert!(stderr(&output).contains(&says), "{}", stderr(&output));
    assert!(stderr(&output).contains("`ledger remote init"), "{}", stderr(&output));
    assert!(!bob.path().join(".ledger").exists());

    // A register through a mistyped remote is refused, and creates nothing at the typo.
    let alice = shared.project();
    alice.ok(&["init"]);
    let typo = format!("{}-typo", shared.url);
    alice.ok(&["remote", "add", "origin", &typo]);
    let output = alice.output(&["register", "s0", &image("s0", "v1")]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains(&format!("{typo} is not a ledger remote")), "{}", stderr(&output));
    assert!(!shared.holds_anything(&typo), "nothing was created at {typo}");
    assert_eq!(alice.entry_count(), 0, "nothing was recorded");
    for args in [&["pull"][..], &["fetch"], &["verify", "--remote", "origin"]] {
        let output = alice.output(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
        assert!(stderr(&output).contains(&typo), "{args:?}: {}", stderr(&output));
    }
    assert!(!shared.holds_anything(&typo));

    // `remote init` makes the remote; then register, push and clone work.
    alice.ok(&["remote", "remove", "origin"]);
    alice.ok(&["remote", "add", "origin", &shared.url]);
    let init = alice.json(&["remote", "init"]);
    assert_eq!((init["created"].as_bool(), init["adopted_refs"].as_u64()), (Some(true), Some(0)), "{init}");
    assert_eq!(alice.json(&["remote", "init"])["created"], false, "a second init changes nothing");
    let id = alice.ok(&["register", "s0", &image("s0", "v1")]).trim().to_string();
    alice.ok(&["push"]);
    assert_eq!(bob.json(&["clone", &shared.url])["entries"], 1);
    bob.ok(&["show", &id]);

    // Another project's manifest is refused by the remote and by the ledger, naming both ids.
    let other = shared.project();
    other.write("ledger.toml", &manifest_with_services(3).replace("id = \"e2e\"", "id = \"billing\""));
    let output = other.output(&["clone", &shared.url]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("is the ledger of project \"e2e\", but this project's id is \"billing\"")
    );
    assert!(!other.path().join(".ledger").exists());
    std::fs::copy(alice.path().join("ledger.toml"), other.path().join("e2e.toml")).unwrap();
    other.ok(&["--manifest", "e2e.toml", "--ledger-dir", ".ledger", "clone", &shared.url]);
    for args in [&["log"][..], &["register", "s0", &image("s0", "v2")]] {
        let output = other.output(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
        let says = format!("the ledger in {} is project \"e2e\"'s", other.path().join(".ledger").display());
        assert!(stderr(&output).contains(&says), "{args:?}: {}", stderr(&output));
        assert!(stderr(&output).contains("[project] id = \"billing\""), "{args:?}: {}", stderr(&output));
    }

    // A remote from before markers is refused until `remote init` adopts it (alice's ledger
    // remembers the marker it checked at this URL; `verify --remote` always reads it).
    shared.delete_marker();
    let output = alice.output(&["verify", "--remote", "origin"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("but it holds refs"), "{}", stderr(&output));
    assert!(stderr(&output).contains("`ledger remote init` checks"), "{}", stderr(&output));
    let init = alice.json(&["remote", "init"]);
    assert_eq!((init["created"].as_bool(), init["adopted_refs"].as_u64()), (Some(true), Some(1)), "{init}");
    alice.ok(&["pull"]);
}

#[test]
fn a_remote_is_created_explicitly_on_file() {
    let shared = Shared::file();
    // An empty directory is not a remote either.
    std::fs::create_dir_all(shared.url.strip_prefix("file://").unwrap()).unwrap();
    a_remote_is_created_explicitly(&shared);
}

#[test]
fn a_remote_is_created_explicitly_on_s3() {
    a_remote_is_created_explicitly(&Shared::s3());
}

#[test]
fn a_remote_from_before_markers_is_adopted_only_by_its_own_project() {
    let shared = Shared::file();
    let alice = shared.member();
    alice.ok(&["register", "s2", &image("s2", "v1")]);
    shared.delete_marker();
    // A project that declares no service s2 does not take the remote for its own.
    let other = Project::new(&manifest_with_services(2));
    other.ok(&["init"]);
    other.ok(&["remote", "add", "origin", &shared.url]);
    let output = other.output(&["remote", "init"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("does not declare, so it may be another project's ledger: service/s2"));
    assert_eq!(other.output(&["pull"]).status.code(), Some(2), "still no marker");
    // A push does not adopt it either (from a ledger that never checked its marker).
    let carol = shared.project();
    carol.ok(&["init"]);
    carol.ok(&["register", "s0", &image("s0", "v1")]);
    carol.ok(&["remote", "add", "origin", &shared.url]);
    let output = carol.output(&["push"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("a push does not adopt it"), "{}", stderr(&output));
    alice.ok(&["remote", "init"]);
    alice.ok(&["push"]);
}

#[test]
fn round_trip_clone_and_incremental_exchange_on_file() {
    round_trip(&Shared::file());
}

#[test]
fn round_trip_clone_and_incremental_exchange_on_s3() {
    round_trip(&Shared::s3());
}

fn damaged_objects_never_enter_a_ledger(shared: &Shared) {
    let alice = shared.member();
    ship(&alice, "v1");
    let stage_head = log_ids(&alice, "stage")[0].clone();
    let outcome = alice.json(&["show", "env/stage"])["id"].as_str().unwrap().to_string();
    let original = shared.read_object(&outcome);

    let tampered = {
        let mut bytes = original.clone();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        bytes
    };
    for (what, bytes) in [("tampered", tampered), ("truncated", original[..original.len() / 2].to_vec())] {
        shared.write_object(&outcome, &bytes);
        let bob = shared.project();
        let output = bob.output(&["clone", &shared.url]);
        assert_eq!(output.status.code(), Some(3), "{what}: {}", stderr(&output));
        assert!(
            stderr(&output).contains(&format!("object {outcome} is corrupted or forged")),
            "{what}: {}",
            stderr(&output)
        );
        assert!(!bob.path().join(".ledger").exists(), "{what}: a failed clone leaves no ledger behind");
        let verified = alice.output(&["verify", "--remote", "origin"]);
        assert_eq!(verified.status.code(), Some(3), "{what}");
        assert!(String::from_utf8_lossy(&verified.stdout).contains(&outcome), "{what}");
    }

    // A member that already has everything but the damaged entry takes in nothing of it.
    shared.write_object(&outcome, &original);
    let carol = shared.project();
    carol.ok(&["clone", &shared.url]);
    alice.ok(&["promote", "stage", "prod", "--yes"]);
    let prod_head = alice.json(&["show", "env/prod"])["id"].as_str().unwrap().to_string();
    let prod_bytes = shared.read_object(&prod_head);
    shared.write_object(&prod_head, &prod_bytes[..prod_bytes.len() - 3]);
    let output = carol.output(&["pull"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(stderr(&output).contains(&prod_head), "{}", stderr(&output));
    assert_eq!(
        carol.output(&["show", &prod_head]).status.code(),
        Some(2),
        "the damaged entry is not in the ledger"
    );
    carol.ok(&["verify"]);

    // A ref naming an object the remote does not have is reported by name.
    shared.write_object(&prod_head, &prod_bytes);
    shared.delete_object(&prod_head);
    let output = carol.output(&["pull"]);
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stderr(&output).contains(&format!("ref env/prod names {prod_head}, which the remote does not have")),
        "{}",
        stderr(&output)
    );
    let verified = carol.output(&["verify", "--remote", "origin"]);
    assert_eq!(verified.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&verified.stdout).contains(&format!("ref env/prod reaches {prod_head}")));
    assert_eq!(log_ids(&carol, "stage")[0], stage_head);
}

#[test]
fn damaged_objects_never_enter_a_ledger_on_file() {
    damaged_objects_never_enter_a_ledger(&Shared::file());
}

#[test]
fn damaged_objects_never_enter_a_ledger_on_s3() {
    damaged_objects_never_enter_a_ledger(&Shared::s3());
}

#[test]
fn environment_histories_never_merge_and_releases_follow_each_other() {
    let shared = Shared::file();
    let alice = shared.member();
    ship(&alice, "v1");
    let bob = shared.project();
    bob.ok(&["clone", &shared.url]);

    // Releases are independent appends: bob's register follows alice's, with no pull.
    let alices = alice.ok(&["register", "s0", &image("s0", "a")]).trim().to_string();
    let bobs = bob.ok(&["register", "s0", &image("s0", "b")]).trim().to_string();
    let parents = bob.json(&["show", &bobs])["parents"].clone();
    assert_eq!(parents, serde_json::json!([alices]));

    // Bob deploys while the remote is out of his reach, alice deploys there too: the
    // environment's histories have diverged, and stay apart.
    let bob_dir = bob.path().join(".ledger");
    let remotes = std::fs::read(bob_dir.join("remotes.toml")).unwrap();
    std::fs::remove_file(bob_dir.join("remotes.toml")).unwrap();
    bob.ok(&["promote", "stage", "prod", "--yes", "-m", "offline"]);
    std::fs::write(bob_dir.join("remotes.toml"), remotes).unwrap();
    alice.ok(&["promote", "stage", "prod", "--yes", "-m", "online"]);
    let output = bob.output(&["push"]);
    assert_eq!(output.status.code(), Some(3));
    assert!(stderr(&output).contains("env/prod: the remote's env/prod moved to"), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("`ledger pull` first, then plan the deployment again"),
        "{}",
        stderr(&output)
    );
    let fetched = bob.json(&["fetch"]);
    let prod = fetched["refs"].as_array().unwrap().iter().find(|r| r["ref"] == "env/prod").unwrap().clone();
    assert_eq!(prod["state"], "diverged", "{fetched}");
    let output = bob.output(&["pull"]);
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stderr(&output).contains("env/prod has entries here that the remote does not have"),
        "{}",
        stderr(&output)
    );
    let output = bob.output(&["promote", "stage", "prod", "--yes"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(shared_log(&shared, "prod"), log_ids(&alice, "prod"));
    assert_eq!(shared_log(&shared, "prod").len(), 1);

    // The messages lead bob to a sequence that works: set his ledger aside, clone, go on.
    let ledger_dir = bob_dir.display().to_string();
    let sequence =
        format!("`mv {ledger_dir} {ledger_dir}.diverged && ledger clone {} {ledger_dir}`", shared.url);
    assert!(stderr(&output).contains(&sequence), "{}", stderr(&output));
    let offline = log_ids(&bob, "prod");
    std::fs::rename(&bob_dir, format!("{ledger_dir}.diverged")).unwrap();
    bob.ok(&["clone", &shared.url, &ledger_dir]);
    assert_eq!(log_ids(&bob, "prod"), log_ids(&alice, "prod"));
    bob.ok(&["promote", "stage", "prod", "--yes", "-m", "after the divergence"]);
    bob.ok(&["push"]);
    alice.ok(&["pull"]);
    assert_eq!(log_ids(&alice, "prod"), log_ids(&bob, "prod"));
    let aside = bob.json(&["--ledger-dir", &format!("{ledger_dir}.diverged"), "log", "prod"]);
    assert_eq!(aside["deployments"][0]["id"].as_str(), Some(offline[0].as_str()), "{aside}");
}

#[test]
fn a_push_of_a_damaged_entry_uploads_nothing() {
    let shared = Shared::file();
    let alice = shared.member();
    let remote_dir = PathBuf::from(shared.url.strip_prefix("file://").unwrap());
    // Recorded while the remote was out of reach, then damaged on disk: v1.1.0 reads v1.9.0.
    let remotes = alice.path().join(".ledger/remotes.toml");
    let kept = std::fs::read(&remotes).unwrap();
    std::fs::remove_file(&remotes).unwrap();
    alice.ok(&["register", "s0", &image("s0", "v1.1.0")]);
    std::fs::write(&remotes, kept).unwrap();
    let file = alice.path().join(".ledger/ledger.redb");
    let mut bytes = std::fs::read(&file).unwrap();
    let mut flipped = 0;
    for at in 0..bytes.len() - 6 {
        if &bytes[at..at + 6] == b"v1.1.0" {
            bytes[at + 3] = b'9';
            flipped += 1;
        }
    }
    assert!(flipped > 0, "the release's image is in the file");
    std::fs::write(&file, &bytes).unwrap();

    let output = alice.output(&["push"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(stderr(&output).contains("ledger verify"), "{}", stderr(&output));
    let objects = std::fs::read_dir(remote_dir.join("objects")).map_or(0, |dir| dir.count());
    assert_eq!(objects, 0, "nothing was uploaded");
    assert!(!remote_dir.join("refs").exists(), "no ref was moved");
}

#[test]
fn a_remote_ref_that_went_back_is_reported_and_push_moves_it_forward() {
    let shared = Shared::file();
    let alice = shared.member();
    ship(&alice, "v1");
    alice.ok(&["promote", "stage", "prod", "--yes"]);
    let document = PathBuf::from(shared.url.strip_prefix("file://").unwrap()).join("refs/env/prod");
    let old_document = std::fs::read(&document).unwrap();
    let old_head = alice.json(&["show", "env/prod"])["id"].as_str().unwrap().to_string();
    ship(&alice, "v2");
    alice.ok(&["promote", "stage", "prod", "--yes"]);
    let head = alice.json(&["show", "env/prod"])["id"].as_str().unwrap().to_string();
    let bob = shared.project();
    bob.ok(&["clone", &shared.url]);

    // A restored backup of refs/env/prod.
    std::fs::write(&document, &old_document).unwrap();
    for args in
        [&["fetch"][..], &["pull"], &["verify", "--remote", "origin"], &["promote", "stage", "prod", "--yes"]]
    {
        let output = bob.output(args);
        let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), stderr(&output));
        assert_eq!(output.status.code(), Some(3), "{args:?}: {said}");
        assert!(
            said.contains("went back") && said.contains(&old_head) && said.contains(&head),
            "{args:?}: {said}"
        );
    }
    assert_eq!(log_ids(&bob, "prod")[0], log_ids(&alice, "prod")[0], "bob's ledger did not go back");

    // Push compares with the remote's ref as it is: it moves it forward again, and says so.
    let output = alice.output(&["push"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("went back"), "{}", stderr(&output));
    assert_eq!(shared_log(&shared, "prod"), log_ids(&alice, "prod"));
    bob.ok(&["pull"]);
    assert_eq!(bob.json(&["verify", "--remote", "origin"])["sound"], true);
}

/// 8 ledgers register 5 releases each of one service, all at once: every register is
/// recorded, one after the other.
fn registering_at_once(shared: &Shared) {
    const MEMBERS: usize = 8;
    const REGISTERS: usize = 5;
    let members: Vec<Project> = (0..MEMBERS).map(|_| shared.member()).collect();
    let recorded: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = members
            .iter()
            .enumerate()
            .map(|(m, member)| {
                scope.spawn(move || {
                    (0..REGISTERS)
                        .map(|r| {
                            member
                                .ok(&["register", "s0", &image("s0", &format!("m{m}-r{r}"))])
                                .trim()
                                .to_string()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(recorded.iter().collect::<BTreeSet<_>>().len(), MEMBERS * REGISTERS);
    let viewer = shared.project();
    viewer.ok(&["clone", &shared.url]);
    assert_eq!(viewer.json(&["verify", "--remote", "origin"])["sound"], true);
    viewer.ok(&["verify"]);
    for id in &recorded {
        viewer.ok(&["show", id]);
    }
}

/// An environment's log as a fresh clone of the remote shows it.
fn shared_log(shared: &Shared, env: &str) -> Vec<String> {
    let viewer = shared.project();
    viewer.ok(&["clone", &shared.url]);
    log_ids(&viewer, env)
}

/// 8 processes, each with its own ledger, 50 operations each: registers, release sets and
/// deployments to one environment, all at once on one remote.
fn racing_members(shared: &Shared) {
    const MEMBERS: usize = 8;
    const OPERATIONS: usize = 50;
    let members: Vec<Project> = (0..MEMBERS).map(|_| shared.member()).collect();
    members[0].ok(&["register", "s0", &image("s0", "seed")]);
    members[0].ok(&["register", "s1", &image("s1", "seed")]);
    members[0].ok(&["register", "s2", &image("s2", "seed")]);
    let results: Vec<(Vec<String>, Vec<String>, Vec<String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = members
            .iter()
            .enumerate()
            .map(|(m, member)| {
                scope.spawn(move || {
                    let (mut acknowledged, mut deployments, mut refusals) =
                        (Vec::new(), Vec::new(), Vec::new());
                    for op in 0..OPERATIONS {
                        let service = format!("s{}", op % 2);
                        let args: Vec<String> = match op % 3 {
                            0 => vec![
                                "register".into(),
                                service.clone(),
                                image(&service, &format!("m{m}-{op}")),
                            ],
                            1 => vec!["release".into()],
                            _ => vec!["apply".into(), "latest".into(), "stage".into(), "--yes".into()],
                        };
                        let mut with_json: Vec<&str> = args.iter().map(String::as_str).collect();
                        with_json.extend(["--output", "json"]);
                        let output = member.output(&with_json);
                        match output.status.code() {
                            Some(0) => {
                                let json: Value = serde_json::from_slice(&output.stdout).unwrap();
                                match &json["deployment"] {
                                    Value::Object(d) => {
                                        deployments.push(d["id"].as_str().unwrap().to_string());
                                        acknowledged
                                            .push(json["outcome"]["id"].as_str().unwrap().to_string());
                                    }
                                    Value::Null if args[0] == "apply" => {}
                                    _ => acknowledged.push(json["id"].as_str().unwrap().to_string()),
                                }
                            }
                            code => {
                                let why = stderr(&output);
                                assert_eq!(code, Some(3), "{args:?}: {why}");
                                refusals.push(why);
                            }
                        }
                    }
                    acknowledged.extend(deployments.iter().cloned());
                    (acknowledged, deployments, refusals)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    let viewer = shared.project();
    viewer.ok(&["clone", &shared.url]);
    assert_eq!(viewer.json(&["verify", "--remote", "origin"])["sound"], true);
    viewer.ok(&["verify"]);
    let mut all_deployments = BTreeSet::new();
    for (acknowledged, deployments, refusals) in &results {
        for id in acknowledged {
            viewer.ok(&["show", id]);
        }
        all_deployments.extend(deployments.iter().cloned());
        for why in refusals {
            let explained = [
                "is being deployed from another ledger",
                "moved since this ledger pulled",
                "try again",
                "`ledger pull` first",
            ];
            assert!(
                explained.iter().any(|reason| why.contains(reason)),
                "a refusal that does not say why: {why}"
            );
        }
    }
    assert!(all_deployments.len() >= 2, "some deployments went through: {}", all_deployments.len());
    // The environment's history is one line through every acknowledged deployment: each one
    // follows the outcome of the one before.
    let log = log(&viewer, "stage");
    let logged: BTreeSet<String> = log.iter().map(|row| row["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(logged, all_deployments);
    for pair in log.windows(2) {
        let (newer, older) = (&pair[0], &pair[1]);
        assert_eq!(
            newer["parents"][0], older["outcome"]["id"],
            "{} does not follow {}",
            newer["id"], older["id"]
        );
    }
}

#[test]
fn eight_racing_members_lose_nothing_on_file() {
    racing_members(&Shared::file());
}

#[test]
fn eight_racing_members_lose_nothing_on_s3() {
    racing_members(&Shared::s3());
}

#[test]
fn a_push_killed_half_way_leaves_the_remote_consistent_and_the_next_completes_it() {
    let shared = Shared::file();
    let alice = shared.project();
    alice.ok(&["init"]);
    for n in 0..400 {
        let service = format!("s{}", n % 3);
        alice.ok(&["register", &service, &image(&service, &format!("v{n}"))]);
    }
    alice.ok(&["release"]);
    alice.ok(&["apply", "latest", "stage", "--yes"]);
    alice.ok(&["remote", "add", "origin", &shared.url]);
    // 404 entries go up as one pack and its index, then the refs move: the push is killed once
    // its pack is on the remote, while its refs are moving (each move, and each tracking ref
    // stored after it, is a durable write: tens of milliseconds in all).
    let packs = PathBuf::from(shared.url.strip_prefix("file://").unwrap()).join("packs");
    let mut push: Child =
        alice.command(&["push"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_dir(&packs).map_or(0, |d| d.count()) == 0 {
        assert!(
            Instant::now() < deadline && push.try_wait().unwrap().is_none(),
            "the push ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    push.kill().unwrap();
    push.wait().unwrap();

    let verified = alice.json(&["verify", "--remote", "origin"]);
    assert_eq!(verified["sound"], true, "{verified}");
    let pushed = alice.output(&["push"]);
    assert!(pushed.status.success(), "{}", stderr(&pushed));
    assert_eq!(alice.json(&["verify", "--remote", "origin"])["unreachable"], 0);
    let bob = shared.project();
    assert_eq!(bob.json(&["clone", &shared.url])["entries"], 404);
    assert_eq!(log_ids(&bob, "stage"), log_ids(&alice, "stage"));
}

/// Requests by kind while `args` runs.
fn s3_requests(shared: &Shared, project: &Project, args: &[&str]) -> Requests {
    let moto = shared.moto.as_ref().unwrap();
    moto.reset_calls();
    project.ok(args);
    moto.calls().into_iter().filter(|(call, _)| call.starts_with("s3:")).collect()
}

/// The S3 requests of every command of a deployment onto a remote of `services` services, whose
/// history of `releases` releases was recorded offline and pushed whole.
fn deployment_requests(shared: &Shared, services: usize, releases: usize) -> Vec<(String, Requests)> {
    let moto = shared.moto.as_ref().unwrap();
    let alice = Project::new(&manifest_with_services(services)).with_env(moto.env());
    fn offline<'a>(args: &[&'a str]) -> Vec<&'a str> {
        [&["--ledger-dir", "offline"][..], args].concat()
    }
    alice.ok(&offline(&["init"]));
    for n in 0..releases {
        let service = format!("s{}", n % services);
        alice.ok(&offline(&["register", &service, &image(&service, &format!("v{n}"))]));
    }
    alice.ok(&offline(&["apply", "latest", "stage", "--yes"]));
    let prefix = format!("s3://{BUCKET}/history-{services}-{releases}");
    alice.ok(&offline(&["remote", "add", "origin", &prefix]));
    alice.ok(&offline(&["push"]));
    let mut measured = Vec::new();
    let mut measure = |what: &str, args: &[&str]| {
        measured.push((what.to_string(), s3_requests(shared, &alice, &offline(args))));
    };
    alice.ok(&offline(&["register", "s0", &image("s0", "new")]));
    // A release set made for the deployment, appended to the remote's, then the deployment.
    measure("apply latest", &["apply", "latest", "stage", "--service", "s0", "--yes"]);
    measure("promote", &["promote", "stage", "prod", "--yes"]);
    measure("pull with nothing new", &["pull"]);
    alice.ok(&offline(&["register", "s0", &image("s0", "newer")]));
    // Now from the lease this ledger gave back.
    measure("apply latest again", &["apply", "latest", "stage", "--service", "s0", "--yes"]);
    measured
}

type Requests = std::collections::BTreeMap<String, u64>;

#[test]
fn a_deployment_costs_the_same_requests_however_long_the_history() {
    let shared = Shared::s3();
    let small = deployment_requests(&shared, 3, 3);
    let large = deployment_requests(&shared, 30, 300);
    assert_eq!(small, large, "3 services and 3 releases cost as 30 services and 300 releases");
    for (what, requests) in &small {
        let total: u64 = requests.values().sum();
        assert!(total <= 10, "{what}: {total} requests: {requests:?}");
        assert!(requests.get("s3:ListObjectsV2") <= Some(&1), "{what}: one listing at most: {requests:?}");
    }
    let [apply, promote, pull, again] = &small[..] else { panic!("{small:?}") };
    assert_eq!(
        pull.1,
        Requests::from([("s3:ListObjectsV2".to_string(), 1)]),
        "a pull with nothing new lists the refs"
    );
    assert_eq!(
        promote.1["s3:PutObject"],
        2 + 1 + 2,
        "the deployment and its outcome, the move of env/prod, the lease taken and given back: {promote:?}"
    );
    // The release set: its object and the move of set/@all, the ref as the listing gave it.
    assert_eq!(apply.1["s3:PutObject"], promote.1["s3:PutObject"] + 2, "{apply:?}");
    // The lease taken again is one conditional write, without reading it first.
    assert_eq!(again.1["s3:GetObject"] + 1, apply.1["s3:GetObject"], "{again:?} {apply:?}");
}

#[test]
fn a_pull_reads_only_the_refs_that_changed() {
    let shared = Shared::s3();
    let alice = shared.member();
    ship(&alice, "v1");
    alice.ok(&["promote", "stage", "prod", "--yes"]);
    let bob = shared.project();
    bob.ok(&["clone", &shared.url]);
    let pull = |project: &Project| s3_requests(&shared, project, &["pull"]);
    assert_eq!(pull(&bob), Requests::from([("s3:ListObjectsV2".to_string(), 1)]));

    // Another ledger moves one ref: the listing, that ref and its one new entry.
    alice.ok(&["register", "s1", &image("s1", "v2")]);
    let changed = pull(&bob);
    assert_eq!(
        changed,
        Requests::from([("s3:ListObjectsV2".to_string(), 1), ("s3:GetObject".to_string(), 2)])
    );
    assert_eq!(bob.json(&["show", "service/s1"])["id"], alice.json(&["show", "service/s1"])["id"]);
    assert_eq!(pull(&bob), Requests::from([("s3:ListObjectsV2".to_string(), 1)]));

    // A document rewritten with the same target (another version, so another ETag): read once,
    // nothing taken in, and the deployment that follows moves the ref from its new ETag.
    let moto = shared.moto.as_ref().unwrap();
    let key = format!("/{BUCKET}/catalogue/refs/env/prod");
    let (status, document) = moto.s3("GET", &key, b"");
    assert_eq!(status, 200);
    let mut doc: Value = serde_json::from_slice(&document).unwrap();
    doc["version"] = (doc["version"].as_u64().unwrap() + 10).into();
    assert_eq!(moto.s3("PUT", &key, doc.to_string().as_bytes()).0, 200);
    let prod = bob.json(&["show", "env/prod"])["id"].clone();
    assert_eq!(
        pull(&bob),
        Requests::from([("s3:ListObjectsV2".to_string(), 1), ("s3:GetObject".to_string(), 1)])
    );
    assert_eq!(bob.json(&["show", "env/prod"])["id"], prod);
    assert_eq!(pull(&bob), Requests::from([("s3:ListObjectsV2".to_string(), 1)]));
    bob.ok(&["register", "s2", &image("s2", "v3")]);
    bob.ok(&["apply", "latest", "prod", "--service", "s2", "--yes"]);
    alice.ok(&["pull"]);
    assert_eq!(log_ids(&alice, "prod"), log_ids(&bob, "prod"));
    assert_eq!(alice.json(&["verify", "--remote", "origin"])["sound"], true);
}

/// A full push and a full clone through packs: the requests do not grow with the history. Then
/// `remote repack` merges the pack and a loose object, and deletes them after the grace period.
#[test]
fn a_full_push_and_clone_go_through_packs_and_cost_the_same_requests_at_any_length() {
    let shared = Shared::s3();
    let mut counts = Vec::new();
    for releases in [20, 50] {
        let alice = shared.project();
        alice.ok(&["init"]);
        for n in 0..releases {
            let service = format!("s{}", n % 3);
            alice.ok(&["register", &service, &image(&service, &format!("v{n}"))]);
        }
        alice.ok(&["apply", "latest", "stage", "--yes"]);
        let url = format!("s3://{BUCKET}/packs-{releases}");
        alice.ok(&["remote", "add", "origin", &url]);
        let push = s3_requests(&shared, &alice, &["push"]);
        let bob = shared.project();
        let clone = s3_requests(&shared, &bob, &["clone", &url]);
        assert_eq!(log_ids(&bob, "stage"), log_ids(&alice, "stage"));
        bob.ok(&["verify"]);
        counts.push((push, clone, alice, url));
    }
    let (small_push, small_clone) = (&counts[0].0, &counts[0].1);
    let (push, clone) = (&counts[1].0, &counts[1].1);
    assert_eq!(small_push, push, "20 releases and 50 cost the same to push");
    assert_eq!(small_clone, clone, "20 releases and 50 cost the same to clone");
    // The marker, one pack and its index, 5 refs (3 services, the set, stage).
    assert_eq!(push["s3:PutObject"], 1 + 2 + 5, "{push:?}");
    assert!(clone["s3:GetObject"] < 12, "the marker, the refs, one pack: {clone:?}");

    let (_, _, alice, url) = &counts[1];
    alice.ok(&["register", "s0", &image("s0", "loose")]);
    let merged = alice.json(&["remote", "repack", "--grace", "1s"]);
    assert_eq!(
        (merged["packs_written"].as_u64(), merged["entries_packed"].as_u64()),
        (Some(1), Some(54)),
        "{merged}"
    );
    assert_eq!(merged["packs_deleted"], 0, "{merged}");
    std::thread::sleep(Duration::from_millis(2100));
    let deleted = alice.json(&["remote", "repack", "--grace", "1s"]);
    assert_eq!(
        (deleted["packs_deleted"].as_u64(), deleted["objects_deleted"].as_u64()),
        (Some(1), Some(1)),
        "{deleted}"
    );
    let carol = shared.project();
    carol.ok(&["clone", url]);
    assert_eq!(log_ids(&carol, "stage"), log_ids(alice, "stage"));
    assert_eq!(carol.json(&["verify", "--remote", "origin"])["packs"], 1);
}

#[test]
fn eight_ledgers_registering_one_service_at_once_all_succeed_on_s3() {
    registering_at_once(&Shared::s3());
}

#[test]
fn eight_ledgers_registering_one_service_at_once_all_succeed_on_file() {
    registering_at_once(&Shared::file());
}

#[test]
fn a_garbage_ref_or_lease_document_is_named_with_its_repair() {
    let shared = Shared::file();
    let alice = shared.member();
    ship(&alice, "v1");
    let root = PathBuf::from(shared.url.strip_prefix("file://").unwrap());
    let document = root.join("refs/env/stage");
    let kept = std::fs::read(&document).unwrap();
    std::fs::write(&document, b"{\"target\":\"not an id\"").unwrap();
    let output = alice.output(&["pull"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(stderr(&output).contains("refs/env/stage is not a valid document"), "{}", stderr(&output));
    assert!(stderr(&output).contains("`ledger show env/stage`"), "{}", stderr(&output));
    assert!(stderr(&output).contains("`ledger push`"), "{}", stderr(&output));
    std::fs::write(&document, kept).unwrap();

    std::fs::write(root.join("locks/env/stage"), b"garbage").unwrap();
    let output = alice.output(&["apply", "latest", "stage", "--yes"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(stderr(&output).contains("locks/env/stage is not a valid document"), "{}", stderr(&output));
    assert!(stderr(&output).contains("remove it"), "{}", stderr(&output));
    std::fs::remove_file(root.join("locks/env/stage")).unwrap();
    alice.ok(&["promote", "stage", "prod", "--yes"]);
}

/// Writes into the remote, as anyone who may write to it can, a correctly hashed release of s0
/// on top of the remote's, whose image is not from s0's repository, and moves refs/service/s0
/// to it. Returns the forged entry's id.
fn forge_release(shared: &Shared, project: &Project) -> String {
    let parent = project.json(&["show", "service/s0"])["id"].as_str().unwrap().to_string();
    let parent_at = ledger::Entry::decode(&shared.read_object(&parent)).unwrap().0.at;
    let (forged, bytes) = ledger::StoredEntry::seal(ledger::Entry {
        parents: vec![ledger::EntryId::from_hex(&parent).unwrap()],
        at: parent_at.plus_seconds(60),
        actor: "mallory".into(),
        message: "hotfix".into(),
        body: ledger::Body::Release(ledger::Release {
            service: "s0".into(),
            image: "docker.io/evil/backdoor:v2.1".into(),
            digest: None,
            revision: None,
            revision_at: None,
        }),
    });
    let forged = forged.id.to_hex();
    std::fs::write(shared.object_path(&forged), bytes).unwrap();
    let root = PathBuf::from(shared.url.strip_prefix("file://").unwrap());
    let ref_path = root.join("refs").join("service").join("s0");
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&ref_path).unwrap()).unwrap();
    doc["version"] = (doc["version"].as_u64().unwrap() + 1).into();
    doc["target"] = forged.clone().into();
    std::fs::write(&ref_path, serde_json::to_vec(&doc).unwrap()).unwrap();
    forged
}

#[test]
fn a_forged_release_on_the_remote_is_refused_by_pull_clone_and_apply() {
    let shared = Shared::file();
    let alice = shared.member();
    ship(&alice, "v1");
    let s0 = alice.json(&["show", "service/s0"])["id"].as_str().unwrap().to_string();
    let forged = forge_release(&shared, &alice);
    let short = &forged[..12];

    let said = |output: &Output| {
        let stderr = stderr(output);
        assert_eq!(output.status.code(), Some(3), "{stderr}");
        for part in [short, "on service/s0", "breaks rule image", "docker.io/evil/backdoor:v2.1"] {
            assert!(stderr.contains(part), "{part:?} in {stderr}");
        }
    };
    said(&alice.output(&["pull"]));
    // Nothing of service/s0 was taken in: the ledger is as it was.
    assert_eq!(alice.json(&["show", "service/s0"])["id"], s0.as_str());
    assert_eq!(alice.output(&["show", &forged]).status.code(), Some(2));
    alice.ok(&["verify"]);
    // A deployment pulls first, and stops there: the forged release is never planned.
    let apply = alice.output(&["apply", "latest", "stage", "--service", "s0", "--yes"]);
    said(&apply);
    assert!(!String::from_utf8_lossy(&apply.stdout).contains("backdoor"));
    assert_eq!(log_ids(&alice, "stage").len(), 1, "nothing was deployed");

    let bob = shared.project();
    said(&bob.output(&["clone", &shared.url]));
}

/// The policy every member of `governed_team` shares: prod takes what succeeded in stage, once
/// two people other than its releaser and its applier approved it.
fn governed_manifest() -> String {
    manifest_with_services(3).replace(
        "[environments.prod]\nprotected = true\n",
        "[environments.prod]\nprotected = true\nrequires = [\"stage\"]\napprovals = 2\n",
    )
}

/// Approvals, freezes and quarantines recorded by other ledgers count once pulled (a deployment
/// pulls first), and are held to this ledger's rules on the way in.
fn governance_travels_through_the_remote(shared: &Shared) {
    let member = |actor: &str| {
        let project = Project::new(&governed_manifest());
        let project = match &shared.moto {
            Some(moto) => project.with_env(moto.env()),
            None => project,
        };
        (project, actor.to_string())
    };
    let (alice, alice_actor) = member("alice@example.com");
    alice.ok(&["init"]);
    alice.ok(&["remote", "add", "origin", &shared.url]);
    alice.ok(&["remote", "init"]);
    ship(&alice, "v1");
    let (bob, bob_actor) = member("bob@example.com");
    bob.ok(&["clone", &shared.url]);
    let (carol, carol_actor) = member("carol@example.com");
    carol.ok(&["clone", &shared.url]);
    let by = |project: &Project, actor: &str, args: &[&str]| {
        let output = project.command(args).env("LEDGER_ACTOR", actor).output().unwrap();
        (output.status.code(), stderr(&output))
    };

    let promote = ["promote", "stage", "prod", "--yes"];
    let (code, error) = by(&alice, &alice_actor, &promote);
    assert_eq!(code, Some(4), "{error}");
    assert!(error.contains("approvals 0 of 2"), "{error}");
    // Bob and Carol approve from their own ledgers; Alice's next promotion pulls them in.
    assert_eq!(by(&bob, &bob_actor, &["approve", "stage", "prod", "-m", "QA ok"]).0, Some(0));
    assert_eq!(by(&carol, &carol_actor, &["approve", "stage", "prod"]).0, Some(0));
    // Carol freezes prod before Alice deploys: that holds for Alice too.
    assert_eq!(by(&carol, &carol_actor, &["freeze", "prod", "-m", "incident 4711"]).0, Some(0));
    let (code, error) = by(&alice, &alice_actor, &promote);
    assert_eq!(code, Some(4), "{error}");
    assert!(error.contains("frozen by carol@example.com: incident 4711"), "{error}");
    assert!(
        !error.contains("approvals 0") && !error.contains("approvals 1"),
        "both approvals count: {error}"
    );
    assert_eq!(by(&bob, &bob_actor, &["unfreeze", "prod"]).0, Some(0));
    let (code, error) = by(&alice, &alice_actor, &promote);
    assert_eq!(code, Some(0), "{error}");

    // An approval for an environment this project does not declare is refused on pull.
    let (dave, dave_actor) = member("dave@example.com");
    dave.write("ledger.toml", &format!("{}\n[environments.qa]\n", governed_manifest()));
    dave.ok(&["clone", &shared.url]);
    assert_eq!(by(&dave, &dave_actor, &["approve", "stage", "qa"]).0, Some(0));
    let output = alice.output(&["pull"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(stderr(&output).contains("gates/qa"), "{}", stderr(&output));
    assert!(stderr(&output).contains("unknown environment \"qa\""), "{}", stderr(&output));
}

#[test]
fn governance_travels_through_the_remote_on_file() {
    governance_travels_through_the_remote(&Shared::file());
}

#[test]
fn governance_travels_through_the_remote_on_s3() {
    governance_travels_through_the_remote(&Shared::s3());
}

/// Signed entries (format 2) travel through the remote as they are: loose and in packs, taken in
/// by a clone and a pull that check every signature against the project's policy.
fn signed_history_travels_through_the_remote(shared: &Shared) {
    let keys = tempfile::tempdir().unwrap();
    let mut allowed = String::new();
    for name in ["alice", "bob"] {
        let key = generate_key(keys.path(), name, "ed25519", "");
        allowed.push_str(&format!("{name}@example.com {}\n", public_key_line(&key)));
    }
    let manifest =
        format!("{}\n[signing]\nallowed_signers = \"allowed_signers\"\n", manifest_with_services(3));
    let member = |name: &str| {
        let mut env = shared.moto.as_ref().map(Moto::env).unwrap_or_default();
        env.push(("LEDGER_SIGNING_KEY", keys.path().join(name).display().to_string()));
        env.push(("LEDGER_ACTOR", format!("{name}@example.com")));
        let project = Project::new(&manifest).with_env(env);
        project.write("allowed_signers", &allowed);
        project
    };
    let alice = member("alice");
    alice.ok(&["init"]);
    alice.ok(&["remote", "add", "origin", &shared.url]);
    alice.ok(&["remote", "init"]);
    ship(&alice, "v1");
    let bob = member("bob");
    bob.ok(&["clone", &shared.url]);
    let deployment = &log(&bob, "stage")[0];
    assert_eq!(deployment["signature"]["signer"], "alice@example.com", "{deployment}");
    assert_eq!(deployment["signature"]["valid"], true);
    bob.ok(&["promote", "stage", "prod", "--yes"]);
    alice.ok(&["pull"]);
    let promoted = &log(&alice, "prod")[0];
    assert_eq!(promoted["signature"]["signer"], "bob@example.com", "{promoted}");
    for project in [&alice, &bob] {
        let verified = project.json(&["verify"]);
        assert_eq!(verified["sound"], true, "{verified}");
        assert_eq!(verified["signed"], verified["objects"], "every entry is signed: {verified}");
    }
    let remote = alice.json(&["verify", "--remote", "origin"]);
    assert_eq!(remote["damage"], serde_json::json!([]), "{remote}");
}

#[test]
fn signed_history_travels_through_the_remote_on_file() {
    signed_history_travels_through_the_remote(&Shared::file());
}

#[test]
fn signed_history_travels_through_the_remote_on_s3() {
    signed_history_travels_through_the_remote(&Shared::s3());
}
