//! `/entry/<id or prefix>`: one entry in full, its parents linked, its signature judged (the
//! signer and key fingerprint in full, or why it is not believed or unsigned). A release's or
//! release set's page also says where it runs now and where it was deployed before (forced
//! deployments and signatures marked); a release set's, the gates a deployment of it would meet
//! in each environment now and the approvals recorded for it there, each with its signature's
//! mark.

use askama::Template;
use ledger_app::ledger::deploy::SetSource;
use ledger_app::ledger::history::{self, DeploymentRecord};
use ledger_app::ledger::store::Scope;
use ledger_app::ledger::{Body, EntryId, Source, StoredEntry, Timestamp, Trigger, governance};

use super::env_log::DeploymentView;
use super::governance::{ApprovalView, Forced, GateView};
use super::signature::SignatureMark;
use super::{Dashboard, Nav, PageError, ReleaseLink, find_entry};
use ledger_app::views::Releases;
use ledger_app::workspace::git_dir;
use ledger_app::{gates, git};

/// How many of an environment's newest deployments are searched for a release or set.
const SEARCHED: usize = 500;

#[derive(Template)]
#[template(path = "entry.html")]
struct EntryPage {
    nav: Nav,
    id: String,
    kind: &'static str,
    at: String,
    actor: String,
    signature: SignatureMark,
    message: String,
    parents: Vec<String>,
    fields: Vec<Field>,
    releases: Vec<(String, ReleaseLink)>,
    deployment: Option<DeploymentView>,
    placement: Option<Placement>,
    /// A release set's gates and approvals, per environment.
    governed: Vec<Governed>,
}

/// What a deployment of a release set to an environment would meet now, and who approved it
/// for there.
struct Governed {
    env: String,
    /// Whether the environment runs every release of the set already (nothing to deploy).
    runs_it: bool,
    gates: Vec<GateView>,
    approvals: Vec<ApprovalView>,
}

/// A labelled value, linked when it names a page.
struct Field {
    name: &'static str,
    value: String,
    link: Option<String>,
}

impl Field {
    fn text(name: &'static str, value: impl Into<String>) -> Field {
        Field { name, value: value.into(), link: None }
    }

    fn link(name: &'static str, value: impl Into<String>, link: String) -> Field {
        Field { name, value: value.into(), link: Some(link) }
    }
}

/// Where a release or release set runs now and was deployed before.
struct Placement {
    now: Vec<String>,
    before: Vec<Deployed>,
    /// Environments whose older deployments were not searched.
    unsearched: Vec<String>,
}

struct Deployed {
    env: String,
    id: String,
    short: String,
    at: String,
    result: &'static str,
    forced: Option<Forced>,
    signature: SignatureMark,
}

pub fn page(dashboard: &Dashboard, text: &str, now: Timestamp) -> Result<String, PageError> {
    let reader = dashboard.store.read()?;
    let releases = Releases::new(&reader, &dashboard.workspace.trust);
    let stored = find_entry(dashboard, &releases, text)?;
    let id = stored.id;
    let entry = &stored.entry;
    let mut page = EntryPage {
        nav: dashboard.nav("entry"),
        id: id.to_hex(),
        kind: entry.kind().as_str(),
        at: entry.at.to_rfc3339(),
        actor: entry.actor.clone(),
        signature: SignatureMark::of(&releases, &stored)?,
        message: entry.message.clone(),
        parents: entry.parents.iter().map(EntryId::to_hex).collect(),
        fields: Vec::new(),
        releases: Vec::new(),
        deployment: None,
        placement: None,
        governed: Vec::new(),
    };
    let envs = &dashboard.workspace.manifest.environment_order;
    match &entry.body {
        Body::Release(release) => {
            page.fields.push(Field::text("service", &release.service));
            page.fields.push(Field::text("image", release.image_ref()));
            if let Some(revision) = &release.revision {
                page.fields.push(Field::text("revision", revision));
                if let Some(commit) = git::commit(&git_dir(), revision) {
                    page.fields.push(Field::text("commit", commit.subject));
                }
            }
            if let Some(at) = release.revision_at {
                page.fields.push(Field::text("committed", at.to_rfc3339()));
            }
            let seq = reader.seq_of(&id)?.unwrap_or(0);
            let mut placement = Placement { now: Vec::new(), before: Vec::new(), unsearched: Vec::new() };
            for env in envs {
                if reader.env_state(env)?.get(&release.service) == Some(&id) {
                    placement.now.push(env.clone());
                }
                let scope = Scope::EnvService(env, &release.service);
                let (records, complete) = deployments_since(&reader, env, Some(&scope), seq)?;
                for record in records.iter().filter(|r| changes_to(r, &release.service, id)) {
                    placement.before.push(deployed(&releases, env, record)?);
                }
                if !complete {
                    placement.unsearched.push(env.clone());
                }
            }
            page.placement = Some(placement);
        }
        Body::ReleaseSet(set) => {
            let name = set.service_set.clone().unwrap_or_else(|| "all services".into());
            page.fields.push(Field::text("service set", name));
            for (service, release) in &set.releases {
                page.releases.push((service.clone(), ReleaseLink::load(&releases, *release)?));
            }
            let seq = reader.seq_of(&id)?.unwrap_or(0);
            let mut placement = Placement { now: Vec::new(), before: Vec::new(), unsearched: Vec::new() };
            for env in envs {
                let state = reader.env_state(env)?;
                if set.releases.iter().all(|(service, release)| state.get(service) == Some(release)) {
                    placement.now.push(env.clone());
                }
                let (records, complete) = deployments_since(&reader, env, None, seq)?;
                let of_set = |r: &&DeploymentRecord| {
                    r.deployment.entry.as_deployment().is_some_and(|d| d.release_set == Some(id))
                };
                for record in records.iter().filter(of_set) {
                    placement.before.push(deployed(&releases, env, record)?);
                }
                if !complete {
                    placement.unsearched.push(env.clone());
                }
            }
            page.placement = Some(placement);
            for env in envs {
                let set_source = SetSource::Existing(id);
                let (plan, gates) = gates::for_target(
                    &dashboard.workspace,
                    &releases,
                    env,
                    set_source,
                    Trigger::Apply,
                    &set.releases,
                    now,
                )?;
                let approvals = governance::approvals(&reader, env, id, entry.at)?;
                page.governed.push(Governed {
                    env: env.clone(),
                    runs_it: plan.is_empty(),
                    gates: GateView::all(&gates),
                    approvals: approvals
                        .iter()
                        .map(|approval| ApprovalView::of(&releases, approval))
                        .collect::<Result<_, _>>()?,
                });
            }
        }
        Body::Deployment(deployment) => {
            page.fields.push(Field::link("environment", &deployment.env, format!("/env/{}", deployment.env)));
            if let Some(set) = deployment.release_set {
                page.fields.push(Field::link("release set", set.short(), format!("/entry/{}", set.to_hex())));
            }
            page.deployment =
                Some(DeploymentView::of(&releases, &record(&reader, &deployment.env, &stored)?)?);
        }
        Body::Outcome(outcome) => {
            let deployment_id = entry.parents[0];
            page.fields.push(Field::text("result", outcome.result.as_str()));
            page.fields.push(Field::link(
                "deployment",
                deployment_id.short(),
                format!("/entry/{}", deployment_id.to_hex()),
            ));
            let deployment = reader
                .entry(&deployment_id)?
                .ok_or_else(|| PageError::damaged(format!("deployment {deployment_id} is missing")))?;
            if let Some(env) = deployment.entry.as_deployment().map(|d| d.env.clone()) {
                page.deployment = Some(DeploymentView::of(&releases, &record(&reader, &env, &deployment)?)?);
            }
        }
        Body::Approval(approval) => {
            page.fields.push(Field::link("environment", &approval.env, format!("/env/{}", approval.env)));
            let set = approval.release_set;
            page.fields.push(Field::link("release set", set.short(), format!("/entry/{}", set.to_hex())));
        }
        Body::Freeze(freeze) => {
            page.fields.push(Field::link("environment", &freeze.env, format!("/env/{}", freeze.env)));
        }
        Body::Unfreeze(unfreeze) => {
            page.fields.push(Field::link("environment", &unfreeze.env, format!("/env/{}", unfreeze.env)));
        }
        Body::Quarantine(quarantine) => {
            let target = quarantine.target;
            page.fields.push(Field::link(
                "quarantined",
                target.short(),
                format!("/entry/{}", target.to_hex()),
            ));
        }
        Body::TaskRun(run) => {
            page.fields.push(Field::link("environment", &run.env, format!("/env/{}", run.env)));
            page.fields.push(Field::text("service", &run.service));
            page.fields.push(Field::text("purpose", run.purpose.as_str()));
            if let Some(deployment) = run.purpose.deployment() {
                let link = format!("/entry/{}", deployment.to_hex());
                page.fields.push(Field::link("deployment", deployment.short(), link));
            }
            page.fields.push(Field::text("command", run.command.join(" ")));
            page.fields.push(Field::text("result", if run.succeeded { "succeeded" } else { "failed" }));
            page.fields.push(Field::text("detail", &run.detail));
            if let Some(task) = &run.task {
                page.fields.push(Field::text("task", task));
            }
            if let Some(definition) = &run.task_definition {
                page.fields.push(Field::text("task definition", definition));
            }
            page.fields.push(Field::text("logs", ledger_app::tasks::logs_line(run)));
        }
    }
    Ok(page.render()?)
}

/// The log record of a deployment to `env`.
fn record(reader: &impl Source, env: &str, deployment: &StoredEntry) -> Result<DeploymentRecord, PageError> {
    let missing = || PageError::damaged(format!("deployment {} is not in the log of {env}", deployment.id));
    let seq = reader.seq_of(&deployment.id)?.ok_or_else(missing)?;
    let row = reader.env_log_row(env, seq)?.ok_or_else(missing)?;
    Ok(history::record_of(reader, env, row)?)
}

/// `env`'s deployments recorded after position `since` (those that changed a service, with
/// `scope`), newest first, up to [`SEARCHED`]; and whether that reached back to `since`.
fn deployments_since(
    reader: &impl Source,
    env: &str,
    scope: Option<&Scope>,
    since: u64,
) -> Result<(Vec<DeploymentRecord>, bool), PageError> {
    let mut rows = Vec::new();
    let mut complete = true;
    match scope {
        Some(scope) => {
            let seqs = reader.newest_in(scope, SEARCHED + 1)?;
            complete = seqs.len() <= SEARCHED || seqs[SEARCHED] < since;
            for seq in seqs.into_iter().take(SEARCHED).take_while(|seq| *seq > since) {
                rows.extend(reader.env_log_row(env, seq)?);
            }
        }
        None => reader.visit_env_log(env, &mut |row| {
            if row.deployment < since {
                return Ok(false);
            }
            if rows.len() == SEARCHED {
                complete = false;
                return Ok(false);
            }
            rows.push(row);
            Ok(true)
        })?,
    }
    let records =
        rows.into_iter().map(|row| history::record_of(reader, env, row)).collect::<Result<_, _>>()?;
    Ok((records, complete))
}

fn changes_to(record: &DeploymentRecord, service: &str, release: EntryId) -> bool {
    let deployment = record.deployment.entry.as_deployment();
    deployment.and_then(|d| d.changes.get(service)).is_some_and(|change| change.to == release)
}

fn deployed<S: Source>(
    releases: &Releases<'_, S>,
    env: &str,
    record: &DeploymentRecord,
) -> Result<Deployed, PageError> {
    Ok(Deployed {
        env: env.to_string(),
        id: record.deployment.id.to_hex(),
        short: record.deployment.id.short(),
        at: record.deployment.entry.at.to_human(),
        result: record.result().map_or("in-flight", |r| r.as_str()),
        forced: Forced::of(&record.deployment.entry),
        signature: SignatureMark::of(releases, &record.deployment)?,
    })
}
