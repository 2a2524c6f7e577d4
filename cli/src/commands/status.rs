//! `ledger status`: what runs in each environment, its last outcome, anything in flight; with
//! `--live`, beside what ECS runs and what SSM holds.

use std::collections::{BTreeMap, BTreeSet};

use clap::Args;
use ledger::manifest::EcsEnvironment;
use ledger_sync::live::read_live;
use ledger_sync::ssm::{Parameters, parameter_name};
use ledger_sync::{Backoff, ErrorKind};
use serde_json::{Map, Value, json};

use crate::cli::GlobalArgs;
use crate::cloud;
use crate::error::{CommandError, CommandResult, Finished};
use crate::output::{Releases, Style, print_json, table};
use crate::views::EnvStatus;
use crate::workspace::Workspace;

/// Show what runs in each environment, its last outcome, and whether a deployment is in flight
///
/// A deployment "in flight" was recorded without an outcome: it is still running or was
/// interrupted (`ledger reconcile` resolves it); one "submitted" was applied with --no-wait
/// (`ledger wait` records how it ended). The next apply to that environment refuses until then.
///
/// With --live, each environment on ECS is compared with what runs there: the image of each
/// service's container in the task definition of its PRIMARY deployment, and the SSM parameter
/// <ssm_prefix>/<service>. Any difference from the ledger is drift: a change made behind the
/// ledger's back, or a deployment that did not end as recorded.
///
/// Examples:
///   ledger status
///   ledger status prod --live --exit-code     exit 3 when prod has drifted
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct StatusArgs {
    /// One environment [default: all of ledger.toml's]
    pub env: Option<String>,

    /// Compare with what ECS runs and SSM holds (environments on ECS; calls AWS)
    #[arg(long)]
    pub live: bool,

    /// With --live: exit 3 when any environment has drifted
    #[arg(long, requires = "live")]
    pub exit_code: bool,
}

pub fn run(globals: &GlobalArgs, args: &StatusArgs) -> CommandResult {
    let workspace = Workspace::load(globals)?;
    let envs: Vec<String> = match &args.env {
        Some(env) => {
            workspace.environment(env)?;
            vec![env.clone()]
        }
        None => workspace.manifest.environments.keys().cloned().collect(),
    };
    let store = workspace.open_store_for_reading()?;
    let reader = store.read()?;
    let releases = Releases::new(&reader);
    let style = Style::detect();
    let mut environments: Vec<Value> = Vec::new();
    let mut human = String::new();
    let mut drift = false;
    for env in &envs {
        let status = EnvStatus::load(&releases, env)?;
        let unfinished = status.unfinished;
        let last = &status.last;
        let mut rows = Vec::new();
        for (service, view) in &status.state {
            rows.push(vec![format!("  {service}"), view.human(), view.id.short()]);
        }
        environments.push(status.json());

        let config = &workspace.manifest.environments[env];
        let protected = if config.protected { ", protected" } else { "" };
        human.push_str(&format!("{} ({}{protected})\n", style.bold(env), config.name));
        match last {
            Some(record) => human.push_str(&format!(
                "  last deployment {}: {}, {} by {}\n",
                record.deployment.id.short(),
                style.result(record.result()),
                record.deployment.entry.at.to_human(),
                record.deployment.entry.actor
            )),
            None => human.push_str("  no deployments yet\n"),
        }
        if let Some(unfinished) = unfinished {
            let (what, next) = match unfinished.submitted {
                None => ("is in flight: recorded without an outcome", "reconcile"),
                Some(_) => ("was submitted without waiting", "wait"),
            };
            let line = format!("deployment {} {what} (`ledger {next} {env}`)", unfinished.deployment.short());
            human.push_str(&format!("  {}\n", style.warn(&line)));
        }
        match (&config.ecs, args.live) {
            (Some(ecs), true) => {
                let images = status
                    .state
                    .iter()
                    .map(|(service, view)| (service.clone(), view.image.clone()))
                    .collect();
                let live = compare_live(&workspace, env, ecs, &images)?;
                drift |= live.drifted;
                human.push_str(&live.human);
                if let Some(object) = environments.last_mut() {
                    object["live"] = live.json;
                    object["drift"] = json!(live.drifted);
                }
            }
            (None, true) => human.push_str("  record-only: nothing live to compare\n"),
            _ => human.push_str(&table(&rows)),
        }
    }
    if globals.json() {
        print_json(&json!({"environments": environments}));
    } else {
        print!("{human}");
    }
    Ok(if args.exit_code && drift { Finished::Failed } else { Finished::Success })
}

/// An environment compared with what runs on ECS and what SSM holds.
struct LiveComparison {
    human: String,
    json: Value,
    drifted: bool,
}

/// Compares the ledger's image of each service with ECS's and SSM's.
fn compare_live(
    workspace: &Workspace,
    env: &str,
    ecs: &EcsEnvironment,
    ledger_images: &BTreeMap<String, String>,
) -> Result<LiveComparison, CommandError> {
    let cloud = cloud::connect(workspace, Some(ecs))?;
    let (ecs_client, parameters) = (cloud.ecs(), cloud.parameters());
    let backoff = Backoff::default();
    let services: BTreeSet<&String> =
        workspace.manifest.services.keys().chain(ledger_images.keys()).collect();
    let mut rows =
        vec![vec!["  SERVICE".to_string(), "LEDGER".into(), "ECS".into(), "SSM".into(), String::new()]];
    let mut json = Map::new();
    let (mut any_ecs_drift, mut any_ssm_drift) = (false, false);
    for service in services {
        let ledger = ledger_images.get(service).cloned();
        // What ECS runs, and how to show it when it runs nothing of the service.
        let (running, task_definition, ecs_shown) = match workspace.manifest.services.get(service) {
            Some(config) => {
                let name = config.ecs_service_in(service, env);
                match cloud::run(read_live(&ecs_client, &backoff, &ecs.cluster, name, &config.container))? {
                    Ok(live) => {
                        let shown = live
                            .image
                            .clone()
                            .unwrap_or_else(|| format!("no container {:?}", config.container));
                        (live.image, Some(live.task_definition), shown)
                    }
                    // The service is not there (a missing cluster is an error: a wrong manifest).
                    Err(error) if error.kind == ErrorKind::NotFound && !error.is_cluster_not_found() => {
                        (None, None, format!("no ECS service {name:?}"))
                    }
                    Err(error) => return Err(error.into()),
                }
            }
            None => (None, None, "not in ledger.toml".to_string()),
        };
        let parameter = parameter_name(&ecs.ssm_prefix, service);
        let stored = cloud::run(backoff.retry(async || parameters.get(&parameter).await))??;
        let (ecs_drift, ssm_drift) = (ledger != running, ledger != stored);
        let drift = ecs_drift || ssm_drift;
        any_ecs_drift |= ecs_drift;
        any_ssm_drift |= ssm_drift;
        let show = |image: &Option<String>| image.clone().unwrap_or_else(|| "-".into());
        let mark = match (ecs_drift, ssm_drift) {
            (true, true) => "DRIFT: ECS, SSM",
            (true, false) => "DRIFT: ECS",
            (false, true) => "DRIFT: SSM",
            (false, false) => "",
        };
        rows.push(vec![format!("  {service}"), show(&ledger), ecs_shown, show(&stored), mark.into()]);
        json.insert(
            service.clone(),
            json!({
                "ledger": ledger,
                "ecs": running,
                "task_definition": task_definition,
                "ssm": stored,
                "ssm_parameter": parameter,
                "drift": drift,
            }),
        );
    }
    let mut human = table(&rows);
    if any_ecs_drift {
        human.push_str(&format!(
            "  drift: ECS does not run what the ledger recorded in {env}; `ledger log {env}` shows what was deployed\n"
        ));
    }
    if any_ssm_drift {
        human.push_str(&format!(
            "  drift: SSM under {} does not name what the ledger recorded; an apply of a service writes its parameter\n",
            ecs.ssm_prefix
        ));
    }
    let drifted = any_ecs_drift || any_ssm_drift;
    Ok(LiveComparison { human, json: Value::Object(json), drifted })
}
