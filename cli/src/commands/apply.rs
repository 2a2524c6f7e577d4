//! `ledger apply`: deploy a release set to an environment.

use clap::Args;
use ledger::deploy::SetSource;
use ledger::history::State;
use ledger::resolve::resolve;
use ledger::store::refs;
use ledger::{ReleaseSet, Source, Trigger};

use crate::cli::GlobalArgs;
use crate::deploy::{self, DeployOptions, Request, select_services};
use crate::error::{CommandError, CommandResult};
use crate::workspace::Workspace;

/// Deploy a release set to an environment
///
/// Shows the plan (what changes against what the environment runs now), asks for a
/// confirmation on a terminal, then records the deployment and its outcome. On a record-only
/// environment (no cluster), nothing is called: the deployment is recorded as done.
///
/// RELEASE_SET is one of:
///   an id or a unique prefix (at least 4 hex digits) of a release set;
///   a service set's name: its latest release set (see `ledger release`);
///   latest: a new release set from the latest release of each service (or of each --service),
///   recorded together with the deployment: the single-step deploy.
///
/// Examples:
///   ledger apply frontend stage
///   ledger apply latest stage --service api -m "hotfix for #123"
///   ledger apply 5b1c2d3e prod --dry-run
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct ApplyArgs {
    /// A release set id or prefix, a service set's name, or `latest`
    pub release_set: String,

    /// The environment to deploy to
    pub env: String,

    /// Deploy only this service of the set (repeatable)
    #[arg(long = "service", value_name = "SERVICE")]
    pub services: Vec<String>,

    #[command(flatten)]
    pub options: DeployOptions,
}

pub fn run(globals: &GlobalArgs, args: &ApplyArgs) -> CommandResult {
    let workspace = Workspace::load(globals)?;
    workspace.environment(&args.env)?;
    for service in &args.services {
        workspace.check_service(service)?;
    }
    let (store, shared) = deploy::open_synced(&workspace)?;
    let (set, target) = {
        let reader = store.read()?;
        resolve_target(&workspace, &reader, args)?
    };
    let request = Request { env: args.env.clone(), set, trigger: Trigger::Apply, target, notes: Vec::new() };
    deploy::run(&workspace, &store, shared.as_ref(), request, &args.options)
}

fn resolve_target(
    workspace: &Workspace,
    reader: &impl Source,
    args: &ApplyArgs,
) -> Result<(SetSource, State), CommandError> {
    if args.release_set == "latest" {
        let services =
            if args.services.is_empty() { workspace.services_of(None)? } else { args.services.clone() };
        let mut releases = State::new();
        let mut missing = Vec::new();
        for service in services {
            match reader.ref_target(&refs::service(&service))? {
                Some(release) => {
                    releases.insert(service, release);
                }
                None => missing.push(service),
            }
        }
        if !missing.is_empty() {
            return Err(CommandError::user(format!("no release yet for: {}", missing.join(", "))).with_hint(
                "record one with `ledger register <service> <image>`, or name others with --service",
            ));
        }
        let set = ReleaseSet { service_set: None, releases: releases.clone() };
        return Ok((SetSource::New(set), releases));
    }
    let id = if workspace.manifest.service_sets.contains_key(&args.release_set) {
        reader.ref_target(&refs::set(Some(&args.release_set)))?.ok_or_else(|| {
            CommandError::user(format!("service set {} has no release set yet", args.release_set))
                .with_hint(format!("make one with `ledger release {}`", args.release_set))
        })?
    } else {
        resolve(reader, &args.release_set).map_err(|e| {
            CommandError::from(e)
                .with_hint("give a release set id or prefix, a service set's name, or `latest`")
        })?
    };
    let stored = reader.entry(&id)?.ok_or_else(|| CommandError::failed(format!("entry {id} is missing")))?;
    let set = stored.entry.as_release_set().ok_or_else(|| {
        CommandError::user(format!(
            "{} is a {}, not a release set",
            id.short(),
            stored.entry.kind().as_str().replace('_', " ")
        ))
        .with_hint(
            "make a release set with `ledger release`, or use `ledger apply latest <env> --service <s>`",
        )
    })?;
    let what = format!("release set {}", id.short());
    let target = select_services(set.releases.clone(), &args.services, &what)?;
    Ok((SetSource::Existing(id), target))
}
