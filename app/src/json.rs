//! The JSON documents that several operations share (entries, deployment records, exchanges,
//! remote checks); a result that has a document of its own carries it (`Status::json`,
//! `Comparison::json`, `PlanView::json`, …). Either way the front ends never build one, so they
//! cannot drift. Field names are a contract (README, "JSON output").

use ledger::entry::TaskRun;
use ledger::history::DeploymentRecord;
use ledger::{Body, EntryId, Source, StoredEntry, Trigger};
use serde_json::{Map, Value, json};

use crate::error::Result;
use crate::views::Releases;

fn ids(ids: &[EntryId]) -> Value {
    Value::Array(ids.iter().map(|id| Value::String(id.to_hex())).collect())
}

/// An entry in the documented JSON shape: `id`, `kind`, `parents`, `at`, `actor`, `message`,
/// then the fields of its kind.
pub fn entry<S: Source>(releases: &Releases<'_, S>, stored: &StoredEntry) -> Result<Value> {
    let source = releases.source();
    let entry = &stored.entry;
    let mut object = Map::new();
    object.insert("id".into(), json!(stored.id.to_hex()));
    object.insert("kind".into(), json!(entry.kind().as_str()));
    object.insert("parents".into(), ids(&entry.parents));
    object.insert("at".into(), json!(entry.at.to_rfc3339()));
    object.insert("actor".into(), json!(entry.actor));
    object.insert("message".into(), json!(entry.message));
    object.insert("signature".into(), releases.signature(stored)?.json());
    match &entry.body {
        Body::Release(release) => {
            object.insert("service".into(), json!(release.service));
            object.insert("image".into(), json!(release.image_ref()));
            object.insert("digest".into(), json!(release.digest));
            object.insert("revision".into(), json!(release.revision));
            object.insert("revision_at".into(), json!(release.revision_at.map(|at| at.to_rfc3339())));
        }
        Body::ReleaseSet(set) => {
            object.insert("service_set".into(), json!(set.service_set));
            let releases: Map<String, Value> =
                set.releases.iter().map(|(service, id)| (service.clone(), json!(id.to_hex()))).collect();
            object.insert("releases".into(), Value::Object(releases));
        }
        Body::Deployment(deployment) => {
            object.insert("env".into(), json!(deployment.env));
            object.insert("release_set".into(), json!(deployment.release_set.map(|id| id.to_hex())));
            object.insert("trigger".into(), trigger(&deployment.trigger));
            let forced = deployment
                .trigger
                .forced_gates()
                .map(|gates| json!({"gates": gates, "reason": entry.message}));
            object.insert("forced".into(), json!(forced));
            let mut services = Map::new();
            for (service, change) in &deployment.changes {
                let sides =
                    json!({"from": releases.json(change.from)?, "to": releases.json(Some(change.to))?});
                services.insert(service.clone(), sides);
            }
            object.insert("services".into(), Value::Object(services));
            let outcome = source.outcome_of(stored)?;
            object.insert("outcome".into(), json!(outcome.map(|outcome| outcome.id.to_hex())));
        }
        Body::Outcome(outcome) => {
            object.insert("deployment".into(), json!(entry.parents[0].to_hex()));
            object.insert("result".into(), json!(outcome.result.as_str()));
            let mut services = Map::new();
            for (service, result) in &outcome.services {
                services.insert(
                    service.clone(),
                    json!({
                        "result": result.result.as_str(),
                        "running": releases.json(result.running)?,
                        "task_definition": result.task_definition,
                        "ecs_deployment": result.ecs_deployment,
                        "detail": result.said(),
                        "task_definition_digest": result.task_definition_digest(),
                    }),
                );
            }
            object.insert("services".into(), Value::Object(services));
        }
        Body::Approval(approval) => {
            object.insert("env".into(), json!(approval.env));
            object.insert("release_set".into(), json!(approval.release_set.to_hex()));
        }
        Body::Freeze(freeze) => {
            object.insert("env".into(), json!(freeze.env));
        }
        Body::Unfreeze(unfreeze) => {
            object.insert("env".into(), json!(unfreeze.env));
        }
        Body::Quarantine(quarantine) => {
            object.insert("target".into(), json!(quarantine.target.to_hex()));
        }
        Body::TaskRun(run) => {
            for (field, value) in task_run(run).as_object().into_iter().flatten() {
                object.insert(field.clone(), value.clone());
            }
        }
    }
    Ok(Value::Object(object))
}

/// A task run's own fields: `env`, `service`, `purpose`, `deployment`, `command`,
/// `task_definition`, `task`, `exit_code`, `succeeded`, `detail`, `logs`.
pub fn task_run(run: &TaskRun) -> Value {
    let logs = run
        .logs
        .as_ref()
        .map(|logs| json!({"group": logs.group, "stream": logs.stream, "region": logs.region}));
    json!({
        "env": run.env,
        "service": run.service,
        "purpose": run.purpose.as_str(),
        "deployment": run.purpose.deployment().map(|id| id.to_hex()),
        "command": run.command,
        "task_definition": run.task_definition,
        "task": run.task,
        "exit_code": run.exit_code,
        "succeeded": run.succeeded,
        "detail": run.detail,
        "logs": logs,
    })
}

/// A deployment with its outcome nested, as `log <env> --output json` shows it.
pub fn record<S: Source>(releases: &Releases<'_, S>, record: &DeploymentRecord) -> Result<Value> {
    let mut value = entry(releases, &record.deployment)?;
    let outcome = match &record.outcome {
        Some(outcome) => entry(releases, outcome)?,
        None => Value::Null,
    };
    value["result"] = json!(record.result().map(|r| r.as_str()));
    value["outcome"] = outcome;
    Ok(value)
}

/// What the deployment was asked to do (a forced one's force is in `forced`).
fn trigger(asked: &Trigger) -> Value {
    match asked {
        Trigger::Apply => json!({"kind": "apply"}),
        Trigger::Promote { from_env, from_head } => {
            json!({"kind": "promote", "from_env": from_env, "from_head": from_head.map(|id| id.to_hex())})
        }
        Trigger::Rollback { to } => json!({"kind": "rollback", "to": to.map(|id| id.to_hex())}),
        Trigger::Import => json!({"kind": "import"}),
        Trigger::Observed { started } => {
            let started: serde_json::Map<String, Value> =
                started.iter().map(|(service, at)| (service.clone(), json!(at.to_rfc3339()))).collect();
            json!({"kind": "observed", "started": started})
        }
        Trigger::Forced { trigger: unforced, .. } => trigger(unforced),
    }
}

/// A push's, pull's or clone's outcome: `{"remote", <count_field>: count, "moved", "refused"}`.
pub fn exchange(
    remote: &str,
    count_field: &str,
    count: usize,
    moved: &[(String, EntryId)],
    refused: &[ledger_remote::exchange::Refused],
) -> Value {
    let refused: Vec<Value> = refused.iter().map(|r| json!({"ref": r.name, "why": r.why})).collect();
    json!({"remote": remote, count_field: count, "moved": moved_refs(moved), "refused": refused})
}

/// Refs moved by an exchange or an unbundle: `[{"ref", "target"}]`.
pub fn moved_refs(moved: &[(String, EntryId)]) -> Value {
    Value::Array(moved.iter().map(|(name, id)| json!({"ref": name, "target": id.to_hex()})).collect())
}

/// `verify --remote`: `{"sound", "objects", "packs", "refs", "unreachable", "damage"}`.
pub fn remote_report(report: &ledger_remote::check::RemoteReport) -> Value {
    json!({
        "sound": report.is_sound(),
        "objects": report.objects,
        "packs": report.packs,
        "refs": report.refs,
        "unreachable": report.unreachable,
        "damage": report.damage,
    })
}
