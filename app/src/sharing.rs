//! The sharing operations: `push`, `pull`, `fetch`, `clone`, `verify --remote`, and `remote
//! add|list|remove|init|repack`. Each returns what happened; a refused ref is in the report, and
//! [`Exchanged::accepted`] turns it into the error the operation ends with.

use std::path::{Path, PathBuf};

use ledger::Store;
use ledger::admission::Rules;
use ledger::manifest::RemoteSettings;
use ledger::refs::RefName;
use ledger_remote::check::{self, RemoteReport};
use ledger_remote::exchange::{self, Comparison, Refused};
use ledger_remote::pack::PackError;
use ledger_remote::repack::{self, RepackReport};
use ledger_remote::{Remote, marker, remembered};
use ledger_sync::s3::S3Location;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::hooks::Progress;
use crate::json;
use crate::remotes::{self, Configured, REMOTES_FILE, Shared};
use crate::runtime::block_on;
use crate::workspace::{LEDGER_DIR, Settings, Workspace, current_dir};

/// What a push, pull or clone moved.
pub struct Exchanged {
    pub remote: String,
    /// Objects uploaded (push) or entries taken in (pull, clone).
    pub count: usize,
    pub moved: Vec<(String, ledger::EntryId)>,
    pub refused: Vec<Refused>,
    /// `{"remote", "objects" | "entries", "moved", "refused"}`.
    pub json: Value,
    /// What to do about the refused refs, beyond each one's reason.
    hint: Option<String>,
}

impl Exchanged {
    fn new(
        remote: &str,
        count_field: &str,
        count: usize,
        moved: Vec<(String, ledger::EntryId)>,
        refused: Vec<Refused>,
    ) -> Exchanged {
        let json = json::exchange(remote, count_field, count, &moved, &refused);
        Exchanged { remote: remote.to_string(), count, moved, refused, json, hint: None }
    }

    /// `Ok` when no ref was refused; otherwise the error that lists each refused ref and why.
    pub fn accepted(&self, what: &str) -> Result<()> {
        let refused = remotes::accepted(what, &self.remote, &self.refused);
        match &self.hint {
            Some(hint) => refused.map_err(|error| error.hint(hint)),
            None => refused,
        }
    }
}

/// Sends what this ledger recorded to `remote` (the default one when `None`).
/// A first push to a location that holds nothing creates the remote there.
pub fn push(workspace: &Workspace, remote: Option<&str>, progress: &dyn Progress) -> Result<Exchanged> {
    let store = workspace.open_store()?;
    let shared = Shared::chosen_for_push(workspace, remote, &store)?;
    let report = shared.push_report(&store, None, progress)?;
    Ok(Exchanged::new(&shared.name, "objects", report.objects, report.moved, report.refused))
}

/// Takes in what `remote` (the default one when `None`) has.
pub fn pull(workspace: &Workspace, remote: Option<&str>, progress: &dyn Progress) -> Result<Exchanged> {
    let store = workspace.open_store()?;
    let shared = Shared::chosen(workspace, remote, Some(&store))?;
    let report = shared.pull_report(&store, progress)?;
    let hint = shared.diverged_hint(&store, &report);
    let pulled = Exchanged::new(&shared.name, "entries", report.entries, report.moved, report.refused);
    Ok(Exchanged { hint, ..pulled })
}

/// How each ref of a remote compares with this ledger.
pub struct Fetched {
    pub remote: String,
    pub refs: Vec<(String, Comparison)>,
    /// `{"remote", "refs": [{"ref", "state", "incoming"}]}`.
    pub json: Value,
}

/// Compares this ledger with `remote`, changing nothing.
pub fn fetch(workspace: &Workspace, remote: Option<&str>, progress: &dyn Progress) -> Result<Fetched> {
    let store = workspace.open_store_for_reading()?;
    let shared = Shared::chosen(workspace, remote, Some(&store))?;
    let refs = block_on(exchange::fetch(&store, &shared.remote, &shared.name, progress))??;
    let rows: Vec<Value> = refs
        .iter()
        .map(|(name, comparison)| {
            let (state, incoming) = match comparison {
                Comparison::Same => ("up_to_date", 0),
                Comparison::Behind(n) => ("behind", *n),
                Comparison::Ahead => ("ahead", 0),
                Comparison::Diverged => ("diverged", 0),
            };
            json!({"ref": name, "state": state, "incoming": incoming})
        })
        .collect();
    let json = json!({"remote": shared.name, "refs": rows});
    Ok(Fetched { remote: shared.name, refs, json })
}

/// A new ledger, cloned.
pub struct Cloned {
    pub dir: PathBuf,
    pub exchanged: Exchanged,
}

/// Creates a ledger in `dir` (default: the settings' ledger directory, else `.ledger` beside
/// the manifest, else `.ledger` here) holding everything `remote` has, checked, and recording
/// the remote's project as its own. A location that is not a remote (no marker), or the remote
/// of another project than the manifest's, is refused before anything is created. On failure
/// the new ledger is removed.
pub fn clone(
    settings: &Settings,
    remote: &RemoteSettings,
    dir: Option<&Path>,
    progress: &dyn Progress,
) -> Result<Cloned> {
    remote.check().map_err(Error::usage)?;
    let workspace = Workspace::load(settings).ok();
    let dir = match (dir, &workspace) {
        (Some(dir), _) => dir.to_path_buf(),
        (None, Some(workspace)) => workspace.ledger_dir.clone(),
        (None, None) => settings.ledger_dir.clone().unwrap_or(current_dir()?.join(LEDGER_DIR)),
    };
    if Store::open_for_reading(&dir).is_ok() {
        return Err(Error::usage(format!("{} already holds a ledger", dir.display()))
            .hint("`ledger pull` takes in what the remote has; or clone into another directory"));
    }
    let region = workspace.as_ref().and_then(Workspace::project_region);
    let connected = remotes::connect(remote, settings, region)?;
    let project = workspace.as_ref().map(|workspace| workspace.manifest.project.id.as_str());
    let marker = block_on(marker::check(&connected, project))??;
    let created = !dir.exists();
    // Entries are held to the project's rules; without a manifest, to those that need none.
    let rules = workspace.as_ref().map_or_else(Rules::without_manifest, |w| Rules::of(&w.manifest));
    let cloned = (|| {
        let store = Store::init_for_clone(&dir)?.admitting(rules);
        store.claim_project(&marker.project)?;
        remotes::write_added(&dir, vec![remote.clone()])?;
        let document = ledger_remote::Document { bytes: marker.to_bytes(), etag: String::new() };
        remembered::remember_document(&store, &remote.name, &connected, &marker::marker_key(), &document)?;
        Ok::<_, Error>(block_on(exchange::pull(&store, &connected, &remote.name, progress))??)
    })();
    let report = match cloned {
        Ok(report) => report,
        Err(error) => {
            if created {
                let _ = std::fs::remove_dir_all(&dir);
            } else {
                let _ = std::fs::remove_file(dir.join(ledger::store::STORE_FILE));
                let _ = std::fs::remove_file(dir.join(REMOTES_FILE));
            }
            return Err(error);
        }
    };
    let exchanged = Exchanged::new(&remote.name, "entries", report.entries, report.moved, report.refused);
    Ok(Cloned { dir, exchanged })
}

/// Checks remote `name`: every object re-hashed and decoded, every ref and what it reaches
/// present, and every ref still reaching where this ledger saw it.
pub fn verify_remote(workspace: &Workspace, name: &str, progress: &dyn Progress) -> Result<RemoteReport> {
    // The marker is read again: a check believes nothing remembered.
    let shared = Shared::chosen(workspace, Some(name), None)?;
    let seen = remotes::tracked(&workspace.open_store_for_reading()?, name)?;
    Ok(block_on(check::check(&shared.remote, &seen, &workspace.trust, progress))??)
}

/// What `remote repack` did.
pub struct RemoteRepack {
    pub remote: String,
    pub url: String,
    pub report: RepackReport,
    /// `{"remote", "url", "grace_seconds", "packs_written", "entries_packed", "packs_deleted",
    /// "objects_deleted", "kept", "damaged"}`.
    pub json: Value,
}

/// Merges the loose objects and small packs of `remote` (the default one when `None`) into big
/// packs, and deletes what a pack superseded at least `grace` ago (default
/// [`repack::DEFAULT_GRACE_SECONDS`]); see docs/remote.md, "Repack".
pub fn repack_remote(
    workspace: &Workspace,
    remote: Option<&str>,
    grace: Option<std::time::Duration>,
    progress: &dyn Progress,
) -> Result<RemoteRepack> {
    let shared = Shared::chosen(workspace, remote, None)?;
    let grace = grace.map_or(repack::DEFAULT_GRACE_SECONDS, |grace| grace.as_secs() as i64);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() as i64);
    let report =
        block_on(repack::repack(&shared.remote, now, grace, progress))?.map_err(|error| match error {
            PackError::Remote(error) => Error::from(error),
            error @ PackError::Bad { .. } => Error::failed(error.to_string()).hint(format!(
                "nothing was deleted; `ledger verify --remote {}` checks the whole remote",
                shared.name
            )),
        })?;
    let json = json!({
        "remote": shared.name,
        "url": shared.remote.url(),
        "grace_seconds": grace,
        "packs_written": report.packs_written,
        "entries_packed": report.entries_packed,
        "packs_deleted": report.packs_deleted,
        "objects_deleted": report.objects_deleted,
        "kept": report.kept,
        "damaged": report.damaged,
    });
    Ok(RemoteRepack { remote: shared.name, url: shared.remote.url().to_string(), report, json })
}

/// What `remote init` found or did.
pub struct RemoteInit {
    pub remote: String,
    pub url: String,
    /// The marker was written now (`false`: it was there already, this project's).
    pub created: bool,
    /// Refs the location held when the marker was written (a remote from before markers).
    pub adopted_refs: usize,
    /// `{"remote", "url", "created", "adopted_refs"}`.
    pub json: Value,
}

/// Makes `remote` (the default one when `None`) a remote of this project by writing its marker.
/// A location that already holds refs (a remote from before markers) is adopted only when
/// every ref names an environment, service or service set the manifest declares.
pub fn init_remote(workspace: &Workspace, remote: Option<&str>) -> Result<RemoteInit> {
    let settings = remotes::choose(workspace, remote)?;
    let connected = remotes::connect(&settings, &workspace.settings, workspace.project_region())?;
    let project = &workspace.manifest.project.id;
    let (created, adopted_refs) = match block_on(marker::read(&connected))?? {
        Some(found) => {
            marker::accept(&connected, &found, Some(project))?;
            (false, 0)
        }
        None => {
            let refs: Vec<RefName> =
                block_on(connected.list_refs())??.into_iter().map(|listed| listed.name).collect();
            let declared = declared_refs(workspace);
            let undeclared: Vec<String> =
                refs.iter().filter(|name| !declared.contains(name)).map(RefName::to_string).collect();
            if !undeclared.is_empty() {
                return Err(Error::usage(format!(
                    "{} holds refs that {} does not declare, so it may be another project's ledger: {}",
                    settings.url,
                    workspace.manifest.path.display(),
                    undeclared.join(", ")
                ))
                .hint("check the URL; if the remote is this project's, declare those names in ledger.toml and run `ledger remote init` again"));
            }
            (block_on(marker::create(&connected, project))??, refs.len())
        }
    };
    let json = json!({"remote": settings.name, "url": settings.url, "created": created, "adopted_refs": adopted_refs});
    Ok(RemoteInit { remote: settings.name, url: settings.url, created, adopted_refs, json })
}

/// Every ref the manifest's environments, services and service sets can have.
fn declared_refs(workspace: &Workspace) -> Vec<RefName> {
    let manifest = &workspace.manifest;
    let envs = manifest.environments.keys().map(|env| RefName::env(env));
    let services = manifest.services.keys().map(|service| RefName::service(service));
    let sets = manifest.service_sets.keys().map(|set| RefName::set(Some(set)));
    envs.chain(services).chain(sets).chain([RefName::set(None)]).collect()
}

/// Adds a remote to this ledger (`.ledger/remotes.toml`).
pub fn add_remote(workspace: &Workspace, settings: RemoteSettings) -> Result<()> {
    settings.check().map_err(Error::usage)?;
    if settings.url.starts_with("s3://") {
        S3Location::parse(&settings.url).map_err(Error::usage)?;
    }
    if remotes::configured(workspace)?.iter().any(|r| r.settings.name == settings.name) {
        return Err(Error::usage(format!("remote {:?} already exists", settings.name))
            .hint("remove it first with `ledger remote remove`, or choose another name"));
    }
    // The ledger must exist: tracking refs live in it.
    workspace.open_store()?;
    let mut added = remotes::read_added(&workspace.ledger_dir)?;
    added.push(settings);
    remotes::write_added(&workspace.ledger_dir, added)
}

/// Every remote, with where it is configured, and their JSON.
pub fn list_remotes(workspace: &Workspace) -> Result<(Vec<Configured>, Value)> {
    let remotes = remotes::configured(workspace)?;
    let rows: Vec<Value> = remotes
        .iter()
        .map(|r| {
            json!({
                "name": r.settings.name,
                "url": r.settings.url,
                "sse": r.settings.sse,
                "kms_key_id": r.settings.kms_key_id,
                "configured_in": if r.in_manifest { "ledger.toml" } else { REMOTES_FILE },
            })
        })
        .collect();
    Ok((remotes, Value::Array(rows)))
}

/// Removes a remote added to this ledger, and its tracking refs; nothing on it is touched.
pub fn remove_remote(workspace: &Workspace, name: &str) -> Result<()> {
    let mut added = remotes::read_added(&workspace.ledger_dir)?;
    let Some(index) = added.iter().position(|r| r.name == name) else {
        let in_manifest = workspace.manifest.remote.as_ref().is_some_and(|r| r.name == name);
        let hint = if in_manifest {
            "it is ledger.toml's [remote]: edit ledger.toml"
        } else {
            "`ledger remote list` shows the remotes"
        };
        return Err(Error::usage(format!("no remote {name:?} was added to this ledger")).hint(hint));
    };
    added.remove(index);
    remotes::write_added(&workspace.ledger_dir, added)?;
    let store = workspace.open_store()?;
    store.write(|w| w.forget_remote(name))?;
    store.forget_remote_documents(name)?;
    Ok(())
}
