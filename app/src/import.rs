//! `import`: adopt an environment that already runs on ECS, recording the images it runs now as
//! its first deployment and changing nothing on ECS.

use std::collections::BTreeMap;

use ledger::deploy::{self, Plan, SetSource};
use ledger::image::ImageRef;
use ledger::manifest::EcsEnvironment;
use ledger::refs::RefName;
use ledger::{Body, Change, DeployResult, Outcome, Release, ServiceOutcome, Source, Stamp, Trigger};
use ledger_sync::Backoff;
use ledger_sync::live::{LiveService, read_live};

use crate::deploy::{Deployed, Recorded, concluded, outcome_stamp};
use crate::error::{Error, Result};
use crate::hooks::Progress;
use crate::runtime::block_on;
use crate::session::Session;
use crate::workspace::{Workspace, check_message};

/// Imports `services` (every service of the manifest when empty) of `env`.
pub fn import(
    workspace: &Workspace,
    env: &str,
    services: &[String],
    message: Option<&str>,
    progress: &dyn Progress,
) -> Result<Deployed> {
    let Some(ecs) = workspace.environment(env)?.ecs.clone() else {
        return Err(Error::usage(format!(
            "{env} is a record-only environment (no `cluster` in ledger.toml): there is nothing on ECS to import"
        )));
    };
    for service in services {
        workspace.check_service(service)?;
    }
    let services = if services.is_empty() { workspace.services_of(None)? } else { services.to_vec() };
    let message = check_message(message.unwrap_or("imported from ECS"))?;
    let session = Session::open_synced(workspace, progress)?;
    let stamp = workspace.stamp(Some(&message))?;
    let actor = stamp.actor.clone();
    session.guarded(env, &actor, ecs.timeout, || adopt(&session, env, &ecs, &services, stamp))
}

/// Records what ECS runs in `env` as its first deployment (the environment guarded).
fn adopt(
    session: &Session<'_>,
    env: &str,
    ecs: &EcsEnvironment,
    services: &[String],
    stamp: Stamp,
) -> Result<Deployed> {
    let workspace = session.workspace;
    if session.store.read()?.ref_target(&RefName::env(env))?.is_some() {
        return Err(Error::usage(format!(
            "{env} already has deployments: import adopts a new environment only"
        ))
        .hint(format!("`ledger status {env} --live` compares the ledger with what ECS runs")));
    }

    let (cloud, stamp) = session.connect(ecs, stamp)?;
    let ecs_client = cloud.ecs();
    let backoff = Backoff::default();
    let mut live = BTreeMap::new();
    for service in services {
        let config = &workspace.manifest.services[service];
        let name = config.ecs_service_in(service, env);
        let found = block_on(read_live(&ecs_client, &backoff, &ecs.cluster, name, &config.container))??;
        live.insert(service.clone(), (running_image(workspace, service, &found)?, found));
    }

    // Each image is the service's latest release, or a new one (recorded as `register` does).
    let mut changes = BTreeMap::new();
    let mut outcomes = BTreeMap::new();
    for (service, (image, found)) in &live {
        let id = release_of(session, &stamp, service, image)?;
        changes.insert(service.clone(), Change { from: None, to: id });
        outcomes.insert(service.clone(), imported(id, found));
    }
    record_what_runs(session, env, None, Trigger::Import, changes, outcomes, &stamp)
}

/// Records what ECS runs as a deployment to `env` after `head` with its outcome, succeeded, in
/// one transaction: `changes` and `outcomes` per service.
pub(crate) fn record_what_runs(
    session: &Session<'_>,
    env: &str,
    head: Option<ledger::EntryId>,
    trigger: Trigger,
    changes: BTreeMap<String, Change>,
    outcomes: BTreeMap<String, ServiceOutcome>,
    stamp: &Stamp,
) -> Result<Deployed> {
    let (deployment, outcome) = session.store.write(|writer| {
        let plan = Plan { env: env.to_string(), head, set: SetSource::None, trigger, changes };
        let deployment = deploy::record_intent(writer, stamp, &plan)?;
        let outcome = Outcome { result: DeployResult::Succeeded, services: outcomes };
        let outcome = writer.record_outcome(outcome_stamp(stamp), deployment.id, outcome)?;
        Ok::<_, ledger::StoreError>((deployment, outcome))
    })?;
    concluded(session, env, None, Recorded { deployment, outcome, record_only: false })
}

/// The image service `service` runs, as ECS says (`found`), checked against its repository.
pub(crate) fn running_image(workspace: &Workspace, service: &str, found: &LiveService) -> Result<ImageRef> {
    let config = &workspace.manifest.services[service];
    let image = found.image.clone().ok_or_else(|| {
        Error::usage(format!(
            "{service}: task definition {} has no container {:?}; set `container` for it in ledger.toml",
            found.task_definition, config.container
        ))
    })?;
    let parsed =
        ImageRef::parse(&image).map_err(|e| Error::usage(format!("{service}: ECS runs {image}: {e}")))?;
    parsed.check_repository(&config.image_repository).map_err(|e| {
        Error::usage(format!("{service}: ECS runs {image}, not an image of its repository: {e}"))
    })?;
    Ok(parsed)
}

/// The release of `service` for `image`: its latest release when that is the image, else a new
/// release recorded with `stamp` (as `register` does).
pub(crate) fn release_of(
    session: &Session<'_>,
    stamp: &Stamp,
    service: &str,
    image: &ImageRef,
) -> Result<ledger::EntryId> {
    let release = Release {
        service: service.to_string(),
        image: image.name_and_tag(),
        digest: image.digest.clone(),
        revision: None,
        revision_at: None,
    };
    let latest = {
        let reader = session.store.read()?;
        match reader.ref_target(&RefName::service(service))? {
            Some(id) => {
                reader.entry(&id)?.filter(|e| e.entry.as_release().is_some_and(|r| same_image(r, &release)))
            }
            None => None,
        }
    };
    Ok(match latest {
        Some(existing) => existing.id,
        None => session.append(stamp.clone(), Body::Release(release))?.id,
    })
}

fn same_image(a: &Release, b: &Release) -> bool {
    a.image == b.image && a.digest == b.digest
}

fn imported(release: ledger::EntryId, found: &LiveService) -> ServiceOutcome {
    ServiceOutcome {
        result: DeployResult::Succeeded,
        running: Some(release),
        task_definition: Some(found.task_definition.clone()),
        ecs_deployment: found.ecs_deployment.clone(),
        detail: "imported: running on ECS".into(),
    }
}
