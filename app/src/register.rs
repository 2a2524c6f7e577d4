//! `register` and `release`: recording a release (one service's image at a revision) and a
//! release set (the latest release of each service of a set).

use ledger::admission::{Rules, check_revision};
use ledger::image::ImageRef;
use ledger::refs::RefName;
use ledger::{Body, Release, ReleaseSet, Source, StoredEntry, Timestamp};
use ledger_sync::ssm::{Parameters, parameter_name};
use ledger_sync::{Backoff, ecr};
use serde_json::Value;

use crate::cloud;
use crate::error::{Error, Result};
use crate::git;
use crate::hooks::Progress;
use crate::json;
use crate::runtime::block_on;
use crate::session::Session;
use crate::views::{ReleaseView, Releases};
use crate::workspace::{Workspace, git_dir};

/// What `register` is asked to record.
#[derive(Clone, Debug, Default)]
pub struct RegisterRequest {
    pub service: String,
    pub image: String,
    /// The git commit the image was built from.
    pub revision: Option<String>,
    pub message: Option<String>,
    /// Look the digest of the tag up in ECR.
    pub resolve_digest: bool,
}

/// A recorded release (or release set), as the front ends show it.
pub struct Registered {
    pub entry: StoredEntry,
    /// The release's view; `None` for a release set.
    pub release: Option<ReleaseView>,
    /// `false` when nothing changed and an existing release set is returned.
    pub is_new: bool,
    /// The entry's JSON.
    pub json: Value,
}

/// Records a release: on the remote first when there is one, and with `[aws]` also the SSM
/// parameter `/{project}/images/latest/<service>`.
pub fn register(
    workspace: &Workspace,
    request: &RegisterRequest,
    progress: &dyn Progress,
) -> Result<Registered> {
    let service = &request.service;
    let mut image = ImageRef::parse(&request.image)?;
    // The rules every release is held to, checked before AWS or git is asked anything (the
    // ledger checks the release it records again, with its revision).
    Rules::of(&workspace.manifest).check_release(&Release {
        service: service.clone(),
        image: image.name_and_tag(),
        digest: image.digest.clone(),
        revision: None,
        revision_at: None,
    })?;
    let aws = workspace.manifest.aws.clone();
    let cloud =
        if request.resolve_digest || aws.is_some() { Some(cloud::connect(workspace, None)?) } else { None };
    if let (true, Some(cloud)) = (request.resolve_digest, &cloud) {
        let Some(tag) = image.tag.clone().filter(|_| image.digest.is_none()) else {
            return Err(Error::usage("--resolve-digest needs an image given by tag, without a digest"));
        };
        let digest = block_on(ecr::resolve_digest(&cloud.ecr(), &image.repository, &tag))??;
        // What ECR answered is checked like any image given on the command line.
        image = ImageRef::parse(&format!("{}:{tag}@{digest}", image.repository))?;
    }

    let commit = match &request.revision {
        Some(revision) => {
            check_revision(revision).map_err(|broken| Error::usage(format!("--{broken}")))?;
            git::commit(&git_dir(), revision)
        }
        None => None,
    };
    let revision = commit
        .as_ref()
        .map(|c| c.hash.clone())
        .or_else(|| request.revision.as_ref().map(|r| r.to_lowercase()));
    let message = request.message.clone().or_else(|| commit.as_ref().map(|c| c.subject.clone()));
    let release = Release {
        service: service.clone(),
        image: image.name_and_tag(),
        digest: image.digest.clone(),
        revision,
        revision_at: commit.as_ref().map(|c| Timestamp::from_unix_seconds(c.time)),
    };
    let mut stamp = workspace.stamp(message.as_deref())?;
    if let Some(cloud) = &cloud {
        stamp = cloud::with_principal(stamp, cloud)?;
    }
    let session = Session::open(workspace, progress)?;
    let image_ref = release.image_ref();
    let stored = session.append(stamp, Body::Release(release))?;
    if let (Some(cloud), Some(aws)) = (&cloud, &aws)
        && aws.write_latest
    {
        let name = parameter_name(&format!("/{}/images/latest", workspace.manifest.project.id), service);
        let written =
            block_on(Backoff::default().retry(async || cloud.parameters().put(&name, &image_ref).await))?;
        written.map_err(|error| {
            Error::failed(format!(
                "release {} was recorded, but {name} was not written: {error}",
                stored.id.short()
            ))
            .hint("set `write_latest = false` under [aws] in ledger.toml if nothing reads that parameter")
        })?;
    }
    registered(&session, stored, true)
}

/// Records a release set of the latest release of each service of `service_set` (all services
/// when `None`); when nothing changed since its latest release set, returns that one.
pub fn release(
    workspace: &Workspace,
    service_set: Option<&str>,
    message: Option<&str>,
    progress: &dyn Progress,
) -> Result<Registered> {
    let services = workspace.services_of(service_set)?;
    let stamp = workspace.stamp(message)?;
    // The latest releases are the team's, not only this ledger's.
    let session = Session::open_synced(workspace, progress)?;
    let (releases, unchanged) = {
        let reader = session.store.read()?;
        let mut releases = std::collections::BTreeMap::new();
        let mut missing = Vec::new();
        for service in &services {
            match reader.ref_target(&RefName::service(service))? {
                Some(release) => {
                    releases.insert(service.clone(), release);
                }
                None => missing.push(service.as_str()),
            }
        }
        if !missing.is_empty() {
            return Err(Error::usage(format!("no release yet for: {}", missing.join(", ")))
                .hint("record one with `ledger register <service> <image>`"));
        }
        let latest = match reader.ref_target(&RefName::set(service_set))? {
            Some(latest) => reader.entry(&latest)?,
            None => None,
        };
        let unchanged = latest.filter(|l| l.entry.as_release_set().is_some_and(|s| s.releases == releases));
        (releases, unchanged)
    };
    match unchanged {
        Some(latest) => registered(&session, latest, false),
        None => {
            let body =
                Body::ReleaseSet(ReleaseSet { service_set: service_set.map(str::to_string), releases });
            let stored = session.append(stamp, body)?;
            registered(&session, stored, true)
        }
    }
}

fn registered(session: &Session<'_>, entry: StoredEntry, is_new: bool) -> Result<Registered> {
    let reader = session.store.read()?;
    let releases = Releases::new(&reader, &session.workspace.trust);
    let json = json::entry(&releases, &entry)?;
    let release = match entry.entry.as_release() {
        Some(_) => Some(ReleaseView::load(&reader, entry.id)?),
        None => None,
    };
    Ok(Registered { entry, release, is_new, json })
}
