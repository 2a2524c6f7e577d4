//! `ledger import`: adopt an environment that already runs on ECS.

use std::collections::BTreeMap;

use clap::Args;
use ledger::deploy::{self, Plan, SetSource};
use ledger::image::ImageRef;
use ledger::manifest::EcsEnvironment;
use ledger::store::refs;
use ledger::{Body, Change, DeployResult, Outcome, Release, ServiceOutcome, Source, Stamp, Store, Trigger};
use ledger_sync::Backoff;
use ledger_sync::live::{LiveService, read_live};

use crate::cli::GlobalArgs;
use crate::cloud;
use crate::deploy::{open_synced, outcome_stamp, report};
use crate::error::{CommandError, CommandResult};
use crate::lock;
use crate::sharing::{self, Shared};
use crate::workspace::{Workspace, check_message};

/// Adopt an environment that already runs: record what ECS runs now as its first state
///
/// Reads each service's running image from ECS (the PRIMARY deployment's task definition) and
/// records it as the environment's first deployment, so a team can start using the ledger
/// without redeploying. An image that matches the service's latest release reuses it; any
/// other is recorded as a new release. Nothing on ECS or SSM is changed. Only an environment
/// with no deployments yet can be imported.
///
/// Examples:
///   ledger import prod -m "adopted by the ledger"
///   ledger import stage --service api --service search
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct ImportArgs {
    /// The environment to adopt (it must have a `cluster` in ledger.toml)
    pub env: String,

    /// Import only this service (repeatable) [default: every service of ledger.toml]
    #[arg(long = "service", value_name = "SERVICE")]
    pub services: Vec<String>,

    /// Why: recorded with the import
    #[arg(short, long, value_name = "REASON")]
    pub message: Option<String>,
}

pub fn run(globals: &GlobalArgs, args: &ImportArgs) -> CommandResult {
    let workspace = Workspace::load(globals)?;
    let env = &args.env;
    let Some(ecs) = workspace.environment(env)?.ecs.clone() else {
        return Err(CommandError::user(format!(
            "{env} is a record-only environment (no `cluster` in ledger.toml): there is nothing on ECS to import"
        )));
    };
    for service in &args.services {
        workspace.check_service(service)?;
    }
    let services =
        if args.services.is_empty() { workspace.services_of(None)? } else { args.services.clone() };
    let message = check_message(args.message.as_deref().unwrap_or("imported from ECS"))?;
    let (store, shared) = open_synced(&workspace)?;
    let stamp = workspace.stamp(Some(&message))?;
    let _lock = lock::lock(&workspace.ledger_dir, env, &stamp.actor)?;
    let adopt = || adopt(&workspace, &store, shared.as_ref(), env, &ecs, &services, stamp.clone());
    match &shared {
        Some(shared) => shared.under_lease(&store, env, &stamp.actor, ecs.timeout, adopt),
        None => adopt(),
    }
}

/// Records what ECS runs in `env` as its first deployment (the lock, and any lease, held).
fn adopt(
    workspace: &Workspace,
    store: &Store,
    shared: Option<&Shared>,
    env: &str,
    ecs: &EcsEnvironment,
    services: &[String],
    stamp: Stamp,
) -> CommandResult {
    if store.read()?.ref_target(&refs::env(env))?.is_some() {
        return Err(CommandError::user(format!(
            "{env} already has deployments: import adopts a new environment only"
        ))
        .with_hint(format!("`ledger status {env} --live` compares the ledger with what ECS runs")));
    }

    let cloud = cloud::connect(workspace, Some(ecs))?;
    let stamp = cloud::with_principal(stamp, &cloud)?;
    let ecs_client = cloud.ecs();
    let backoff = Backoff::default();
    let mut live = BTreeMap::new();
    for service in services {
        let config = &workspace.manifest.services[service];
        let name = config.ecs_service_in(service, env);
        let found = cloud::run(read_live(&ecs_client, &backoff, &ecs.cluster, name, &config.container))??;
        let image = found.image.clone().ok_or_else(|| {
            CommandError::user(format!(
                "{service}: task definition {} has no container {:?}; set `container` for it in ledger.toml",
                found.task_definition, config.container
            ))
        })?;
        let parsed = ImageRef::parse(&image)
            .map_err(|e| CommandError::user(format!("{service}: ECS runs {image}: {e}")))?;
        parsed.check_repository(&config.image_repository).map_err(|e| {
            CommandError::user(format!("{service}: ECS runs {image}, not an image of its repository: {e}"))
        })?;
        live.insert(service.clone(), (parsed, found));
    }

    // Each image is the service's latest release, or a new one (recorded as `register` does).
    let mut changes = BTreeMap::new();
    let mut outcomes = BTreeMap::new();
    for (service, (image, found)) in &live {
        let release = Release {
            service: service.clone(),
            image: image.name_and_tag(),
            digest: image.digest.clone(),
            revision: None,
            revision_at: None,
        };
        let latest = {
            let reader = store.read()?;
            match reader.ref_target(&refs::service(service))? {
                Some(id) => reader
                    .entry(&id)?
                    .filter(|e| e.entry.as_release().is_some_and(|r| same_image(r, &release))),
                None => None,
            }
        };
        let id = match latest {
            Some(existing) => existing.id,
            None => sharing::record_release(store, shared, stamp.clone(), Body::Release(release))?.id,
        };
        changes.insert(service.clone(), Change { from: None, to: id });
        outcomes.insert(service.clone(), imported(id, found));
    }
    let (deployment, outcome) = store.write(|writer| {
        let plan = Plan {
            env: env.to_string(),
            head: None,
            set: SetSource::None,
            trigger: Trigger::Import,
            changes,
        };
        let deployment = deploy::record_intent(writer, &stamp, &plan)?;
        let outcome = Outcome { result: DeployResult::Succeeded, services: outcomes };
        let outcome = writer.record_outcome(outcome_stamp(&stamp), deployment.id, outcome)?;
        Ok::<_, ledger::StoreError>((deployment, outcome))
    })?;
    report(workspace, store, env, None, &deployment, &outcome)
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
