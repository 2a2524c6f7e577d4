//! `ledger demo`: a sample project with a realistic history, on the embedded store.

use std::path::PathBuf;

use clap::Args;
use ledger::deploy::{self, Plan, SetSource};
use ledger::history::State;
use ledger::manifest::{EXAMPLE, MANIFEST_FILE, Manifest};
use ledger::store::refs;
use ledger::{Release, ReleaseSet, Source, Stamp, Store, Timestamp, Trigger};

use crate::cli::GlobalArgs;
use crate::error::{CommandError, CommandResult, Finished};
use crate::workspace::{LEDGER_DIR, clock};

/// Create a sample project with a history, and show it
///
/// Writes ledger.toml into DIR and records two weeks of history for three services: releases,
/// deployments to stage, promotions to prod, and a rollback. Then prints `ledger log prod` and
/// `ledger diff stage prod`. Nothing is called: the environments are record-only.
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct DemoArgs {
    /// Where to create the project (must not hold a ledger.toml yet)
    #[arg(default_value = "ledger-demo")]
    pub dir: PathBuf,
}

const ANA: &str = "Ana Lima <ana@example.com>";
const CI: &str = "ci-bot <ci@example.com>";
const SAM: &str = "Sam Okoro <sam@example.com>";

pub fn run(globals: &GlobalArgs, args: &DemoArgs) -> CommandResult {
    let manifest_path = args.dir.join(MANIFEST_FILE);
    if manifest_path.exists() {
        return Err(CommandError::user(format!("{} already exists", manifest_path.display()))
            .with_hint("choose another directory: `ledger demo <dir>`"));
    }
    std::fs::create_dir_all(&args.dir)
        .and_then(|()| std::fs::write(&manifest_path, EXAMPLE))
        .map_err(|e| CommandError::failed(format!("cannot write {}: {e}", manifest_path.display())))?;
    let manifest = Manifest::load(&manifest_path)?;
    let store = Store::init(&args.dir.join(LEDGER_DIR))?;
    let mut history = History { store: &store, manifest: &manifest, at: clock()?.plus_seconds(-14 * 86_400) };
    history.record()?;

    println!("A sample project with two weeks of history is in {}/\n", args.dir.display());
    let demo_globals = GlobalArgs { manifest: Some(manifest_path), ledger_dir: None, ..globals.clone() };
    println!("$ ledger log prod -n 4\n");
    super::log::run(
        &demo_globals,
        &super::log::LogArgs { env: Some("prod".into()), limit: 4, service: None },
    )?;
    println!("$ ledger diff stage prod\n");
    let diff =
        super::diff::DiffArgs { a: "stage".into(), b: "prod".into(), exit_code: false, commits: false };
    super::diff::run(&demo_globals, &diff)?;
    println!(
        "\nTry, in {}: ledger status, ledger log, ledger promote stage prod --dry-run,\nor ledger serve: a web dashboard of it on http://127.0.0.1:8080/",
        args.dir.display()
    );
    Ok(Finished::Success)
}

/// Records the sample history, advancing a synthetic clock.
struct History<'a> {
    store: &'a Store,
    manifest: &'a Manifest,
    at: Timestamp,
}

impl History<'_> {
    fn record(&mut self) -> Result<(), CommandError> {
        for service in ["api", "search", "worker"] {
            self.register(service, "1.0.0", CI, "Initial release")?;
        }
        let first = self.release(None, "First full release")?;
        self.apply(first, "stage", ANA, "First deployment")?;
        self.promote("stage", "prod", ANA, "Go live")?;

        self.hours(30);
        self.register("api", "1.1.0", CI, "Paginate the catalogue listing")?;
        self.register("search", "1.1.0", CI, "Faster prefix search")?;
        let frontend = self.release(Some("frontend"), "frontend 1.1")?;
        self.apply(frontend, "stage", CI, "Nightly deploy of frontend")?;
        self.hours(20);
        self.promote("stage", "prod", SAM, "Ship frontend 1.1")?;

        self.hours(50);
        self.register("api", "1.2.0", CI, "Cache category pages")?;
        let latest = self.release(Some("frontend"), "frontend 1.2")?;
        self.apply(latest, "stage", CI, "Nightly deploy of frontend")?;
        self.hours(18);
        self.promote("stage", "prod", SAM, "Ship api 1.2")?;
        self.hours(1);
        self.rollback("prod", SAM, "Error rate up after api 1.2 (stale cache); back to 1.1")?;

        self.hours(40);
        self.register("api", "1.2.1", CI, "Invalidate the category cache on writes")?;
        self.register("worker", "1.1.0", CI, "Retry failed imports")?;
        let all = self.release(None, "api fix and worker retries")?;
        self.apply(all, "stage", ANA, "Try the cache fix on stage")?;
        Ok(())
    }

    fn hours(&mut self, hours: i64) {
        self.at = self.at.plus_seconds(hours * 3_600);
    }

    fn stamp(&mut self, actor: &str, message: &str) -> Stamp {
        self.at = self.at.plus_seconds(97);
        Stamp { at: self.at, actor: actor.into(), message: message.into() }
    }

    fn register(
        &mut self,
        service: &str,
        version: &str,
        actor: &str,
        message: &str,
    ) -> Result<(), CommandError> {
        let repository = &self.manifest.services[service].image_repository;
        let seed = format!("{service} {version}");
        let digest = blake3::hash(seed.as_bytes()).to_hex();
        let revision = blake3::hash(format!("commit {seed}").as_bytes()).to_hex()[..40].to_string();
        let release = Release {
            service: service.into(),
            image: format!("{repository}:v{version}"),
            digest: Some(format!("sha256:{digest}")),
            revision: Some(revision),
            revision_at: Some(self.at.plus_seconds(-1_800)),
        };
        let stamp = self.stamp(actor, message);
        self.store.write(|w| w.record_release(stamp, release))?;
        Ok(())
    }

    fn release(&mut self, service_set: Option<&str>, message: &str) -> Result<ledger::EntryId, CommandError> {
        let services: Vec<String> = match service_set {
            Some(set) => self.manifest.service_sets[set].clone(),
            None => self.manifest.services.keys().cloned().collect(),
        };
        let stamp = self.stamp(CI, message);
        let stored = self.store.write(|w| {
            let mut releases = State::new();
            for service in services {
                let release =
                    w.ref_target(&refs::service(&service))?.expect("the demo registers every service first");
                releases.insert(service, release);
            }
            w.record_release_set(stamp, ReleaseSet { service_set: service_set.map(str::to_string), releases })
        })?;
        Ok(stored.id)
    }

    fn apply(
        &mut self,
        set: ledger::EntryId,
        env: &str,
        actor: &str,
        message: &str,
    ) -> Result<(), CommandError> {
        let releases = self
            .store
            .read()?
            .entry(&set)?
            .and_then(|s| s.entry.as_release_set().map(|s| s.releases.clone()));
        let target = releases.unwrap_or_default();
        self.deploy(env, SetSource::Existing(set), Trigger::Apply, &target, actor, message)
    }

    fn promote(&mut self, from: &str, to: &str, actor: &str, message: &str) -> Result<(), CommandError> {
        let (target, from_head) = {
            let reader = self.store.read()?;
            (reader.env_state(from)?, reader.ref_target(&refs::env(from))?)
        };
        let trigger = Trigger::Promote { from_env: from.into(), from_head };
        self.deploy(to, SetSource::None, trigger, &target, actor, message)
    }

    fn rollback(&mut self, env: &str, actor: &str, message: &str) -> Result<(), CommandError> {
        let (target, trigger) = deploy::rollback_target(&self.store.read()?, env, None)?
            .expect("the demo rolls back after a successful deployment");
        self.deploy(env, SetSource::None, trigger, &target, actor, message)
    }

    fn deploy(
        &mut self,
        env: &str,
        set: SetSource,
        trigger: Trigger,
        target: &State,
        actor: &str,
        message: &str,
    ) -> Result<(), CommandError> {
        let plan = Plan::towards(&self.store.read()?, env, set, trigger, target)?;
        let stamp = self.stamp(actor, message);
        self.store.write(|w| deploy::record_only(w, &stamp, &plan))?;
        Ok(())
    }
}
