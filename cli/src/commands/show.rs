//! `ledger show`: one entry in full.

use clap::Args;
use ledger_app::ledger::signing::Judgement;
use ledger_app::ledger::{Body, EntryId, Source};
use ledger_app::log::{self, Shown};
use ledger_app::text::inert;
use ledger_app::views::{Releases, describe_trigger};

use crate::cli::GlobalArgs;
use crate::error::{CommandResult, Finished};
use crate::output::{Style, json_text, out, table};

/// Show one entry in full
///
/// TARGET is an id, a unique prefix of at least 4 hex digits, a ref (env/prod, set/frontend,
/// service/api), or the name of an environment (its latest deployment or outcome), a service
/// set (its latest release set) or a service (its latest release).
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct ShowArgs {
    /// An id, a prefix, a ref, or a name
    pub target: String,
}

pub fn run(globals: &GlobalArgs, args: &ShowArgs) -> CommandResult {
    let workspace = globals.workspace()?;
    let text = workspace.read(|releases| {
        let shown = log::show(&workspace, releases, &args.target)?;
        if globals.json() { Ok(json_text(&shown.json)) } else { render(releases, &shown) }
    })?;
    out(&text)?;
    Ok(Finished::Success)
}

/// The entry's fields, its message, and what it names.
fn render<S: Source>(releases: &Releases<'_, S>, shown: &Shown) -> ledger_app::Result<String> {
    let stored = &shown.entry;
    let mut out = String::new();
    let style = Style::detect();
    let entry = &stored.entry;
    let mut rows = vec![
        vec!["Kind:".to_string(), entry.kind().as_str().replace('_', " ")],
        vec!["When:".into(), entry.at.to_rfc3339()],
        vec!["Who:".into(), inert(&entry.actor).into_owned()],
        vec!["Parents:".into(), entry.parents.iter().map(EntryId::to_hex).collect::<Vec<_>>().join(" ")],
    ];
    let signature = releases.signature(stored)?;
    if signature.0 != Judgement::Unsigned {
        rows.insert(3, vec!["Signed:".into(), inert(&signature.text()).into_owned()]);
    }
    match &entry.body {
        Body::Release(release) => {
            rows.push(vec!["Service:".into(), inert(&release.service).into_owned()]);
            rows.push(vec!["Image:".into(), inert(&release.image_ref()).into_owned()]);
            rows.push(vec![
                "Revision:".into(),
                inert(release.revision.as_deref().unwrap_or("-")).into_owned(),
            ]);
        }
        Body::ReleaseSet(set) => {
            rows.push(vec![
                "Service set:".into(),
                inert(set.service_set.as_deref().unwrap_or("(all services)")).into_owned(),
            ]);
        }
        Body::Deployment(deployment) => {
            rows.push(vec!["Environment:".into(), inert(&deployment.env).into_owned()]);
            rows.push(vec!["How:".into(), describe_trigger(&deployment.trigger, deployment.release_set)]);
            let result = match &shown.outcome {
                Some(outcome) => {
                    let result = outcome.entry.as_outcome().map(|o| o.result);
                    format!("{} (outcome {})", style.result(result), outcome.id.short())
                }
                None => style.result(None),
            };
            rows.push(vec!["Result:".into(), result]);
        }
        Body::Outcome(outcome) => {
            rows.push(vec!["Deployment:".into(), entry.parents[0].to_hex()]);
            rows.push(vec!["Result:".into(), style.result(Some(outcome.result))]);
        }
        Body::Approval(approval) => {
            rows.push(vec!["Environment:".into(), inert(&approval.env).into_owned()]);
            rows.push(vec!["Release set:".into(), approval.release_set.to_hex()]);
        }
        Body::Freeze(freeze) => rows.push(vec!["Environment:".into(), inert(&freeze.env).into_owned()]),
        Body::Unfreeze(unfreeze) => rows.push(vec!["Environment:".into(), inert(&unfreeze.env).into_owned()]),
        Body::Quarantine(quarantine) => rows.push(vec!["Quarantined:".into(), quarantine.target.to_hex()]),
        Body::TaskRun(run) => {
            rows.push(vec!["Environment:".into(), inert(&run.env).into_owned()]);
            rows.push(vec!["Service:".into(), inert(&run.service).into_owned()]);
            let deployment =
                run.purpose.deployment().map_or(String::new(), |d| format!(" (deployment {})", d.to_hex()));
            rows.push(vec!["Purpose:".into(), format!("{}{deployment}", run.purpose.as_str())]);
            rows.push(vec!["Command:".into(), inert(&run.command.join(" ")).into_owned()]);
            let result = if run.succeeded { "succeeded" } else { "failed" };
            rows.push(vec!["Result:".into(), format!("{result}: {}", inert(&run.detail))]);
            rows.push(vec!["Task:".into(), inert(run.task.as_deref().unwrap_or("-")).into_owned()]);
            let definition = run.task_definition.as_deref().unwrap_or("-");
            rows.push(vec!["Definition:".into(), inert(definition).into_owned()]);
            rows.push(vec!["Logs:".into(), inert(&ledger_app::tasks::logs_line(run)).into_owned()]);
        }
    }
    out.push_str(&format!("{} {}\n", style.bold(entry.kind().as_str()), style.bold(&stored.id.to_hex())));
    out.push_str(&table(&rows));
    if !entry.message.is_empty() {
        out.push('\n');
        for line in entry.message.lines() {
            out.push_str(&format!("    {}\n", inert(line)));
        }
    }
    let mut detail = Vec::new();
    match &entry.body {
        Body::ReleaseSet(set) => {
            for (service, release) in &set.releases {
                detail.push(vec![
                    inert(service).into_owned(),
                    releases.view(*release)?.human(),
                    release.short(),
                ]);
            }
        }
        Body::Deployment(deployment) => {
            for (service, change) in &deployment.changes {
                detail.push(vec![
                    inert(service).into_owned(),
                    releases.human(change.from)?,
                    "->".into(),
                    releases.human(Some(change.to))?,
                ]);
            }
        }
        Body::Outcome(outcome) => {
            for (service, result) in &outcome.services {
                detail.push(vec![
                    inert(service).into_owned(),
                    style.result(Some(result.result)),
                    inert(result.said()).into_owned(),
                ]);
            }
        }
        Body::Release(_)
        | Body::Approval(_)
        | Body::Freeze(_)
        | Body::Unfreeze(_)
        | Body::Quarantine(_)
        | Body::TaskRun(_) => {}
    }
    if !detail.is_empty() {
        out.push('\n');
        out.push_str(&table(&detail));
    }
    Ok(out)
}
