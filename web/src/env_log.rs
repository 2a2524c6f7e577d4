//! `/env/<env>`: an environment's deployments, newest first (a forced one marked with the gates
//! it was forced past, each deployment and outcome with its signature's mark), a page at a
//! time, optionally only those that changed one service (`?service=api`). A page starts at a
//! cursor (`?before=<seq>`: the deployments recorded before that position), which its newer/older
//! links carry, or at a number (`?page=N`); either is a range read at any depth. Pages of one
//! service are numbered. The newest page also lists the environment's newest one-off task runs
//! (`before`, `verify`, `ledger run`).

use askama::Template;
use ledger_app::ledger::history::{Cursor, DeploymentRecord};
use ledger_app::ledger::{Body, Source, StoredEntry, task_runs};
use ledger_app::log::{self, PageAt};

use super::governance::Forced;
use super::signature::SignatureMark;
use super::{Dashboard, Nav, PageError, Params, ReleaseLink};
use ledger_app::views::{Releases, describe_trigger};

/// Deployments per page.
pub const PAGE_SIZE: usize = 20;
/// The last page that can be asked for.
const MAX_PAGE: usize = 1_000_000;

#[derive(Template)]
#[template(path = "env.html")]
struct EnvPage {
    nav: Nav,
    env: String,
    title: String,
    services: Vec<String>,
    service: Option<String>,
    /// "Page 3" or "Before #1234".
    position: String,
    deployments: Vec<DeploymentView>,
    /// On the newest page: the newest task runs.
    tasks: Vec<TaskRunView>,
    newer: Option<String>,
    older: Option<String>,
}

/// One task run as the page shows it.
pub struct TaskRunView {
    pub id: String,
    pub short: String,
    pub at: String,
    pub actor: String,
    /// `before`, `verify` or `manual`.
    pub purpose: &'static str,
    pub deployment: Option<(String, String)>,
    pub service: String,
    pub command: String,
    /// `succeeded` or `failed`.
    pub result: &'static str,
    pub detail: String,
    pub task: String,
    pub logs: String,
}

impl TaskRunView {
    fn of(stored: &StoredEntry) -> Option<TaskRunView> {
        let run = stored.entry.as_task_run()?;
        Some(TaskRunView {
            id: stored.id.to_hex(),
            short: stored.id.short(),
            at: stored.entry.at.to_human(),
            actor: stored.entry.actor.clone(),
            purpose: run.purpose.as_str(),
            deployment: run.purpose.deployment().map(|d| (d.to_hex(), d.short())),
            service: run.service.clone(),
            command: run.command.join(" "),
            result: if run.succeeded { "succeeded" } else { "failed" },
            detail: run.detail.clone(),
            task: run.task.clone().unwrap_or_default(),
            logs: ledger_app::tasks::logs_line(run),
        })
    }
}

/// One deployment as the page shows it.
pub struct DeploymentView {
    pub id: String,
    pub short: String,
    pub at: String,
    pub actor: String,
    pub how: String,
    /// Its message: a forced deployment's reason.
    pub message: String,
    /// The gates it was forced past, and why, when it was forced.
    pub forced: Option<Forced>,
    pub signature: SignatureMark,
    /// `succeeded`, `failed`, `rolled_back`, `submitted`, or `in-flight`.
    pub result: &'static str,
    pub changes: Vec<ChangeView>,
    pub outcomes: Vec<OutcomeView>,
    /// The entry that recorded how it ended, when it has ended.
    pub outcome_entry: Option<OutcomeEntry>,
}

/// A deployment's outcome entry: linked, with its signature's mark.
pub struct OutcomeEntry {
    pub id: String,
    pub short: String,
    pub signature: SignatureMark,
}

pub struct ChangeView {
    pub service: String,
    pub from: Option<ReleaseLink>,
    pub to: ReleaseLink,
}

pub struct OutcomeView {
    pub service: String,
    pub result: &'static str,
    pub task_definition: String,
    pub detail: String,
}

impl DeploymentView {
    pub fn of<S: Source>(
        releases: &Releases<'_, S>,
        record: &DeploymentRecord,
    ) -> Result<DeploymentView, PageError> {
        let entry = &record.deployment.entry;
        let Body::Deployment(deployment) = &entry.body else {
            return Err(PageError::damaged(format!(
                "log entry {} is not a deployment",
                record.deployment.id
            )));
        };
        let mut changes = Vec::new();
        for (service, change) in &deployment.changes {
            changes.push(ChangeView {
                service: service.clone(),
                from: ReleaseLink::maybe(releases, change.from)?,
                to: ReleaseLink::load(releases, change.to)?,
            });
        }
        let outcomes = record
            .outcome
            .as_ref()
            .and_then(|o| o.entry.as_outcome())
            .map(|outcome| {
                outcome
                    .services
                    .iter()
                    .map(|(service, result)| OutcomeView {
                        service: service.clone(),
                        result: result.result.as_str(),
                        task_definition: result.task_definition.clone().unwrap_or_default(),
                        detail: result.said().to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let outcome_entry = match &record.outcome {
            Some(outcome) => Some(OutcomeEntry {
                id: outcome.id.to_hex(),
                short: outcome.id.short(),
                signature: SignatureMark::of(releases, outcome)?,
            }),
            None => None,
        };
        Ok(DeploymentView {
            id: record.deployment.id.to_hex(),
            short: record.deployment.id.short(),
            at: entry.at.to_human(),
            actor: entry.actor.clone(),
            how: describe_trigger(&deployment.trigger, deployment.release_set),
            message: entry.message.clone(),
            forced: Forced::of(entry),
            signature: SignatureMark::of(releases, &record.deployment)?,
            result: record.result().map_or("in-flight", |r| r.as_str()),
            changes,
            outcomes,
            outcome_entry,
        })
    }
}

pub fn page(dashboard: &Dashboard, env: &str, params: &Params) -> Result<String, PageError> {
    dashboard.known_env(env)?;
    let service = params.text("service").map(str::to_string);
    if let Some(service) = &service {
        dashboard.workspace.check_service(service).map_err(|e| PageError::bad_request(e.message))?;
    }
    let at = match (params.text("before"), params.text("page")) {
        (Some(_), Some(_)) => return Err(PageError::bad_request("give ?before= or ?page=, not both")),
        (Some(_), None) => {
            let before = params.number("before", 1..=usize::MAX, 1)?;
            PageAt::Cursor(Cursor::Before(u64::try_from(before).unwrap_or(u64::MAX)))
        }
        (None, _) => PageAt::Number(params.number("page", 1..=MAX_PAGE, 1)?),
    };
    let reader = dashboard.store.read()?;
    let releases = Releases::new(&reader, &dashboard.workspace.trust);
    let page = log::env_log_page(&dashboard.workspace, &releases, env, service.as_deref(), at, PAGE_SIZE)?;
    let records = &page.log.records;
    let position = match at {
        PageAt::Number(1) | PageAt::Cursor(Cursor::Newest) => "Newest".to_string(),
        PageAt::Number(number) => format!("Page {number}"),
        PageAt::Cursor(Cursor::Before(seq)) => format!("Recorded before #{seq}"),
    };
    if records.is_empty() && at != PageAt::Number(1) {
        return Err(PageError::not_found(format!("{env} has no deployments there ({position})")));
    }
    let deployments =
        records.iter().map(|record| DeploymentView::of(&releases, record)).collect::<Result<Vec<_>, _>>()?;
    let newest = matches!(at, PageAt::Number(1) | PageAt::Cursor(Cursor::Newest));
    let tasks = match newest {
        true => task_runs::newest(&reader, env, service.as_deref(), PAGE_SIZE)?,
        false => Vec::new(),
    };
    let tasks = tasks.iter().filter_map(TaskRunView::of).collect();
    let (newer, older) = match (&service, at) {
        (Some(service), PageAt::Number(number)) => {
            let link = |page: usize| format!("/env/{env}?service={service}&page={page}");
            ((number > 1).then(|| link(number - 1)), page.log.more.then(|| link(number + 1)))
        }
        _ => {
            let link = |cursor: Cursor| match cursor {
                Cursor::Newest => format!("/env/{env}"),
                Cursor::Before(seq) => format!("/env/{env}?before={seq}"),
            };
            (page.newer.map(link), page.older.map(link))
        }
    };
    let manifest = &dashboard.workspace.manifest;
    Ok(EnvPage {
        nav: dashboard.nav(env),
        env: env.to_string(),
        title: manifest.environments[env].name.clone(),
        services: manifest.services.keys().cloned().collect(),
        newer,
        older,
        service,
        position,
        deployments,
        tasks,
    }
    .render()?)
}
