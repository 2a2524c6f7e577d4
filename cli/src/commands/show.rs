//! `ledger show`: one entry in full.

use clap::Args;
use ledger::resolve::{looks_like_id, resolve};
use ledger::store::refs;
use ledger::{Body, EntryId, Source};

use crate::cli::GlobalArgs;
use crate::error::{CommandError, CommandResult, Finished};
use crate::output::{Releases, Style, entry_json, print_json, table, trigger_human};
use crate::workspace::Workspace;

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
    let workspace = Workspace::load(globals)?;
    let store = workspace.open_store_for_reading()?;
    let reader = store.read()?;
    let id = resolve_target(&workspace, &reader, &args.target)?;
    let releases = Releases::new(&reader);
    let stored = reader.entry(&id)?.ok_or_else(|| CommandError::failed(format!("entry {id} is missing")))?;
    if globals.json() {
        print_json(&entry_json(&releases, &stored)?);
        return Ok(Finished::Success);
    }
    let style = Style::detect();
    let entry = &stored.entry;
    let mut rows = vec![
        vec!["Kind:".to_string(), entry.kind().as_str().replace('_', " ")],
        vec!["When:".into(), entry.at.to_rfc3339()],
        vec!["Who:".into(), entry.actor.clone()],
        vec!["Parents:".into(), entry.parents.iter().map(EntryId::to_hex).collect::<Vec<_>>().join(" ")],
    ];
    match &entry.body {
        Body::Release(release) => {
            rows.push(vec!["Service:".into(), release.service.clone()]);
            rows.push(vec!["Image:".into(), release.image_ref()]);
            rows.push(vec!["Revision:".into(), release.revision.clone().unwrap_or_else(|| "-".into())]);
        }
        Body::ReleaseSet(set) => {
            rows.push(vec![
                "Service set:".into(),
                set.service_set.clone().unwrap_or_else(|| "(all services)".into()),
            ]);
        }
        Body::Deployment(deployment) => {
            rows.push(vec!["Environment:".into(), deployment.env.clone()]);
            rows.push(vec!["How:".into(), trigger_human(&deployment.trigger, deployment.release_set)]);
            let outcome = reader.outcome_of(&stored)?;
            let result = match outcome {
                Some(outcome_id) => {
                    let result =
                        reader.entry(&outcome_id)?.and_then(|o| o.entry.as_outcome().map(|o| o.result));
                    format!("{} (outcome {})", style.result(result), outcome_id.short())
                }
                None => style.result(None),
            };
            rows.push(vec!["Result:".into(), result]);
        }
        Body::Outcome(outcome) => {
            rows.push(vec!["Deployment:".into(), entry.parents[0].to_hex()]);
            rows.push(vec!["Result:".into(), style.result(Some(outcome.result))]);
        }
    }
    println!("{} {}", style.bold(entry.kind().as_str()), style.bold(&stored.id.to_hex()));
    print!("{}", table(&rows));
    if !entry.message.is_empty() {
        println!();
        for line in entry.message.lines() {
            println!("    {line}");
        }
    }
    let mut detail = Vec::new();
    match &entry.body {
        Body::ReleaseSet(set) => {
            for (service, release) in &set.releases {
                detail.push(vec![service.clone(), releases.view(*release)?.human(), release.short()]);
            }
        }
        Body::Deployment(deployment) => {
            for (service, change) in &deployment.changes {
                detail.push(vec![
                    service.clone(),
                    releases.human(change.from)?,
                    "->".into(),
                    releases.human(Some(change.to))?,
                ]);
            }
        }
        Body::Outcome(outcome) => {
            for (service, result) in &outcome.services {
                detail.push(vec![service.clone(), style.result(Some(result.result)), result.detail.clone()]);
            }
        }
        Body::Release(_) => {}
    }
    if !detail.is_empty() {
        println!();
        print!("{}", table(&detail));
    }
    Ok(Finished::Success)
}

/// Names from the manifest first, then refs and id prefixes.
pub fn resolve_target(
    workspace: &Workspace,
    reader: &impl Source,
    text: &str,
) -> Result<EntryId, CommandError> {
    let manifest = &workspace.manifest;
    let by_name = if manifest.environments.contains_key(text) {
        Some((refs::env(text), format!("{text} has no deployments yet")))
    } else if manifest.service_sets.contains_key(text) {
        Some((refs::set(Some(text)), format!("service set {text} has no release set yet")))
    } else if manifest.services.contains_key(text) {
        Some((refs::service(text), format!("service {text} has no release yet")))
    } else {
        None
    };
    if let Some((name, empty)) = by_name {
        match reader.ref_target(&name)? {
            Some(target) => return Ok(target),
            None if !looks_like_id(text) => return Err(CommandError::user(empty)),
            // A hex-looking name with no history yet may still be an id prefix.
            None => {}
        }
    }
    Ok(resolve(reader, text)?)
}
