//! `/`: services × environments, each cell the release running there. A cell that differs
//! from the environment before it (in ledger.toml's order) stands out; services that an
//! unfinished or failed deployment touched are marked, and a last deployment forced past its
//! gates. Under the matrix, each environment's freeze and the promotions waiting to reach it,
//! with their gates (see [`ledger_app::gates::waiting`]).

use std::collections::BTreeSet;

use askama::Template;
use ledger_app::ledger::{Body, DeployResult, Source, Timestamp};

use super::governance::{EnvGates, Forced};
use super::{Dashboard, Nav, PageError, ReleaseLink, age};
use ledger_app::status;
use ledger_app::views::EnvStatus;
use ledger_app::views::Releases;

#[derive(Template)]
#[template(path = "overview.html")]
struct Overview {
    nav: Nav,
    columns: Vec<Column>,
    rows: Vec<Row>,
}

impl Overview {
    /// Whether any environment is frozen or has a promotion waiting.
    fn governed(&self) -> bool {
        self.columns.iter().any(|column| column.gates.frozen.is_some() || !column.gates.waiting.is_empty())
    }
}

/// An environment's header.
struct Column {
    env: String,
    title: String,
    last_result: Option<&'static str>,
    /// The short id of a deployment without a final outcome, and what it is waiting for.
    unfinished: Option<(String, &'static str)>,
    /// How the last deployment was forced, when it was.
    forced: Option<Forced>,
    /// Its freeze now, and the promotions waiting to reach it.
    gates: EnvGates,
}

struct Row {
    service: String,
    cells: Vec<Cell>,
}

struct Cell {
    env: String,
    release: Option<ReleaseLink>,
    age: String,
    /// The environment before this one, when this cell runs something else.
    differs_from: Option<String>,
    /// What an unfinished deployment is putting here.
    in_flight: Option<String>,
    /// What the last deployment failed to put here, and how it ended.
    failed: Option<(String, &'static str)>,
}

impl Cell {
    fn classes(&self) -> String {
        let mut classes = vec!["cell"];
        if self.differs_from.is_some() {
            classes.push("differs");
        }
        if self.in_flight.is_some() {
            classes.push("in-flight");
        }
        if self.failed.is_some() {
            classes.push("failed");
        }
        classes.join(" ")
    }
}

pub fn page(dashboard: &Dashboard, now: Timestamp) -> Result<String, PageError> {
    let reader = dashboard.store.read()?;
    let releases = Releases::new(&reader, &dashboard.workspace.trust);
    let manifest = &dashboard.workspace.manifest;
    let envs = &manifest.environment_order;
    let reports = status::governed(&dashboard.workspace, &releases, envs, now)?.environments;
    let statuses: Vec<&EnvStatus> = reports.iter().map(|report| &report.status).collect();

    let mut services: BTreeSet<String> = manifest.services.keys().cloned().collect();
    services.extend(statuses.iter().flat_map(|status| status.state.keys().cloned()));
    let mut columns = Vec::new();
    let mut marks = Vec::new();
    for report in &reports {
        let status = &report.status;
        let config = &manifest.environments[&status.env];
        columns.push(Column {
            env: status.env.clone(),
            title: config.name.clone(),
            last_result: status.last.as_ref().and_then(|r| r.result()).map(DeployResult::as_str),
            unfinished: status.unfinished.map(|u| {
                (u.deployment.short(), if u.submitted.is_some() { "submitted" } else { "in flight" })
            }),
            forced: status.last.as_ref().and_then(|record| Forced::of(&record.deployment.entry)),
            gates: EnvGates::of(&report.waiting),
        });
        marks.push(Marks::load(&releases, status)?);
    }

    let mut rows = Vec::new();
    for service in services {
        let mut cells = Vec::new();
        for (index, status) in statuses.iter().enumerate() {
            let running = status.state.get(&service);
            let previous = index.checked_sub(1).map(|i| &statuses[i]);
            let differs_from = previous
                .filter(|before| before.state.get(&service).map(|v| v.id) != running.map(|v| v.id))
                .map(|before| before.env.clone());
            cells.push(Cell {
                env: status.env.clone(),
                release: running.map(|view| ReleaseLink::of(view)),
                age: running.map(|view| age(view.at, now)).unwrap_or_default(),
                differs_from,
                in_flight: marks[index]
                    .in_flight
                    .iter()
                    .find(|(s, _)| *s == service)
                    .map(|(_, to)| to.clone()),
                failed: marks[index]
                    .failed
                    .iter()
                    .find(|(s, _, _)| *s == service)
                    .map(|(_, to, how)| (to.clone(), *how)),
            });
        }
        rows.push(Row { service, cells });
    }
    Ok(Overview { nav: dashboard.nav("overview"), columns, rows }.render()?)
}

/// The services an environment's unfinished or failed deployment touched, with the release it
/// was putting there.
struct Marks {
    in_flight: Vec<(String, String)>,
    failed: Vec<(String, String, &'static str)>,
}

impl Marks {
    fn load<S: Source>(releases: &Releases<'_, S>, status: &EnvStatus) -> Result<Marks, PageError> {
        let reader = releases.source();
        let mut marks = Marks { in_flight: Vec::new(), failed: Vec::new() };
        if let Some(unfinished) = status.unfinished
            && let Some(stored) = reader.entry(&unfinished.deployment)?
            && let Body::Deployment(deployment) = &stored.entry.body
        {
            for (service, change) in &deployment.changes {
                marks.in_flight.push((service.clone(), releases.view(change.to)?.human()));
            }
        }
        if let Some(record) = &status.last
            && let Some(result @ (DeployResult::Failed | DeployResult::RolledBack)) = record.result()
            && let Body::Deployment(deployment) = &record.deployment.entry.body
        {
            for (service, change) in &deployment.changes {
                marks.failed.push((service.clone(), releases.view(change.to)?.human(), result.as_str()));
            }
        }
        Ok(marks)
    }
}
