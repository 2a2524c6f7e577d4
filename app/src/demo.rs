//! `demo`: a sample project with a realistic history (three services, promotions, a rollback),
//! recorded on the embedded store with a synthetic clock. Nothing is called.

use std::path::{Path, PathBuf};

use ledger::deploy::{self, Plan, SetSource};
use ledger::history::State;
use ledger::manifest::{EXAMPLE, MANIFEST_FILE, Manifest};
use ledger::refs::RefName;
use ledger::{Release, ReleaseSet, Source, Stamp, Store, Timestamp, Trigger};

use crate::error::{Error, Result};
use crate::workspace::{LEDGER_DIR, clock};

const ANA: &str = "Ana Lima <ana@example.com>";
const CI: &str = "ci-bot <ci@example.com>";
const SAM: &str = "Sam Okoro <sam@example.com>";

/// Writes the sample manifest into `dir` and records two weeks of history in `dir/.ledger`;
/// returns the manifest's path. Refuses a directory that holds a ledger.toml already.
pub fn create(dir: &Path) -> Result<PathBuf> {
    let manifest_path = dir.join(MANIFEST_FILE);
    if manifest_path.exists() {
        return Err(Error::usage(format!("{} already exists", manifest_path.display()))
            .hint("choose another directory: `ledger demo <dir>`"));
    }
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&manifest_path, EXAMPLE))
        .map_err(|e| Error::failed(format!("cannot write {}: {e}", manifest_path.display())))?;
    let manifest = Manifest::load(&manifest_path)?;
    let store = Store::init(&dir.join(LEDGER_DIR))?;
    let mut history = History { store: &store, manifest: &manifest, at: clock()?.plus_seconds(-14 * 86_400) };
    history.record()?;
    Ok(manifest_path)
}

/// Records the sample history, advancing a synthetic clock.
struct History<'a> {
    store: &'a Store,
    manifest: &'a Manifest,
    at: Timestamp,
}

impl History<'_> {
    fn record(&mut self) -> Result<()> {
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

    fn register(&mut self, service: &str, version: &str, actor: &str, message: &str) -> Result<()> {
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

    fn release(&mut self, service_set: Option<&str>, message: &str) -> Result<ledger::EntryId> {
        let services: Vec<String> = match service_set {
            Some(set) => self.manifest.service_sets[set].clone(),
            None => self.manifest.services.keys().cloned().collect(),
        };
        let stamp = self.stamp(CI, message);
        let stored = self.store.write(|w| {
            let mut releases = State::new();
            for service in services {
                let release = w
                    .ref_target(&RefName::service(&service))?
                    .expect("the demo registers every service first");
                releases.insert(service, release);
            }
            w.record_release_set(stamp, ReleaseSet { service_set: service_set.map(str::to_string), releases })
        })?;
        Ok(stored.id)
    }

    fn apply(&mut self, set: ledger::EntryId, env: &str, actor: &str, message: &str) -> Result<()> {
        let releases = self
            .store
            .read()?
            .entry(&set)?
            .and_then(|s| s.entry.as_release_set().map(|s| s.releases.clone()));
        let target = releases.unwrap_or_default();
        self.deploy(env, SetSource::Existing(set), Trigger::Apply, &target, actor, message)
    }

    fn promote(&mut self, from: &str, to: &str, actor: &str, message: &str) -> Result<()> {
        let (target, from_head) = {
            let reader = self.store.read()?;
            (reader.env_state(from)?, reader.ref_target(&RefName::env(from))?)
        };
        let trigger = Trigger::Promote { from_env: from.into(), from_head };
        self.deploy(to, SetSource::None, trigger, &target, actor, message)
    }

    fn rollback(&mut self, env: &str, actor: &str, message: &str) -> Result<()> {
        let chosen = deploy::rollback_target(&self.store.read()?, env, None)?
            .expect("the demo rolls back after a successful deployment");
        self.deploy(env, SetSource::None, chosen.trigger, &chosen.state, actor, message)
    }

    fn deploy(
        &mut self,
        env: &str,
        set: SetSource,
        trigger: Trigger,
        target: &State,
        actor: &str,
        message: &str,
    ) -> Result<()> {
        let plan = Plan::towards(&self.store.read()?, env, set, trigger, target)?;
        let stamp = self.stamp(actor, message);
        self.store.write(|w| deploy::record_only(w, &stamp, &plan))?;
        Ok(())
    }
}
