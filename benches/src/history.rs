//! The bench history, recorded through the library: 20 services, 3 environments, each release
//! deployed to dev, then stage, then prod. Shared by the benches.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ledger::deploy::{self, Plan, SetSource};
use ledger::history::State;
use ledger::refs::RefName;
use ledger::signing::EntrySigner;
use ledger::{Release, Source, Stamp, Store, Timestamp, Trigger};

const SERVICES: usize = 20;
pub const ENVIRONMENTS: [&str; 3] = ["dev", "stage", "prod"];
/// Entries per write transaction while generating.
const BATCH: usize = 10_000;
/// Who the generator records as.
const GENERATOR_ACTOR: &str = "ci-bot <ci@example.com>";

pub fn manifest() -> String {
    let mut manifest = String::from("[project]\nid = \"bench\"\n");
    for env in ENVIRONMENTS {
        manifest.push_str(&format!("[environments.{env}]\n"));
    }
    for n in 0..SERVICES {
        manifest.push_str(&format!(
            "[services.svc-{n:02}]\nimage_repository = \"registry.example.com/bench/svc-{n:02}\"\n"
        ));
    }
    manifest
}

/// The `ledger` binary built beside the running bench binary, or what to do when it is not.
pub fn ledger_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the bench binary: {e}"))?;
    let path = exe.with_file_name("ledger");
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("{} not found: build it first with `./scripts/dist`", path.display()))
    }
}

/// Empties `dir` and creates the project `dir/project` with the bench manifest; returns it.
pub fn new_project(dir: &Path) -> PathBuf {
    if dir.exists() {
        std::fs::remove_dir_all(dir).expect("clearing the bench directory");
    }
    let project = dir.join("project");
    std::fs::create_dir_all(&project).expect("creating the bench directory");
    std::fs::write(project.join("ledger.toml"), manifest()).expect("writing ledger.toml");
    project
}

/// What the generator recorded.
pub struct History {
    pub entries: usize,
    pub deployments_per_env: usize,
    /// When the last entry was recorded.
    pub end: Timestamp,
}

/// One entry as the git equivalent records it: (branch, message, service, image).
pub type Commit = (String, String, String, String);

/// Records `entries` entries: each cycle registers a release of one service and deploys it to
/// dev, then stage, then prod (7 entries: a release, and a deployment + outcome per environment).
/// Every entry is signed by `signer` when one is given. `each` is told every entry, in order.
pub fn generate(
    dir: &Path,
    entries: usize,
    signer: Option<Arc<dyn EntrySigner>>,
    mut each: impl FnMut(Commit),
) -> History {
    let mut store = Store::init(dir).expect("creating the bench ledger");
    if let Some(signer) = signer {
        store = store.signing(signer);
    }
    let mut at = Timestamp::parse_rfc3339("2020-01-01T00:00:00Z").expect("a valid time");
    let mut history = History { entries: 0, deployments_per_env: 0, end: at };
    let mut cycle = 0usize;
    while history.entries < entries {
        store
            .write(|writer| {
                let batch_end = (history.entries + BATCH).min(entries);
                while history.entries < batch_end {
                    let service = format!("svc-{:02}", (cycle * 7) % SERVICES);
                    let image = format!("registry.example.com/bench/{service}:1.{cycle}");
                    at = at.plus_seconds(60);
                    let stamp =
                        Stamp { at, actor: GENERATOR_ACTOR.into(), message: format!("build {cycle}") };
                    let digest = blake3::hash(image.as_bytes()).to_hex();
                    let release = Release {
                        service: service.clone(),
                        image: image.clone(),
                        digest: Some(format!("sha256:{digest}")),
                        revision: Some(digest[..40].to_string()),
                        revision_at: Some(at),
                    };
                    let release = writer.record_release(stamp.clone(), release)?;
                    history.entries += 1;
                    each(("releases".into(), format!("build {cycle}"), service.clone(), image.clone()));
                    for env in ENVIRONMENTS {
                        if history.entries >= batch_end {
                            break;
                        }
                        let target = State::from([(service.clone(), release.id)]);
                        let plan = Plan::towards(writer, env, SetSource::None, Trigger::Apply, &target)
                            .map_err(|e| ledger::StoreError::Conflict(conflict(e)))?;
                        let message = format!("deploy {service} 1.{cycle} to {env}");
                        deploy::record_only(
                            writer,
                            &Stamp { message: message.clone(), ..stamp.clone() },
                            &plan,
                        )?;
                        history.entries += 2;
                        if env == "prod" {
                            history.deployments_per_env += 1;
                        }
                        each((env.into(), message, service.clone(), image.clone()));
                        each((env.into(), "outcome: succeeded".into(), service.clone(), image.clone()));
                    }
                    cycle += 1;
                }
                Ok::<(), ledger::StoreError>(())
            })
            .expect("recording the bench history");
    }
    history.end = at;
    let reader = store.read().expect("reading");
    assert!(reader.ref_target(&RefName::env("prod")).expect("reading").is_some());
    history
}

fn conflict(error: ledger::history::HistoryError) -> ledger::store::ConflictError {
    panic!("planning the bench history failed: {error}")
}
