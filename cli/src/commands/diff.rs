//! `ledger diff`: compare two environments, release sets or deployments, service by service.

use clap::Args;
use ledger::diff::{ChangeKind, diff_states, differs};
use ledger::history::{self, State};
use ledger::{Body, EntryId, Source};
use serde_json::json;

use crate::cli::GlobalArgs;
use crate::error::{CommandError, CommandResult, Finished};
use crate::git;
use crate::output::{Releases, print_json, table};
use crate::workspace::{Workspace, git_dir};

/// Most commit subjects listed per service with --commits.
const MAX_COMMITS: usize = 50;

/// Compare two environments, release sets or deployments, service by service
///
/// Each side is an environment (what it runs now), a service set's name (its latest release
/// set), or the id or prefix of a release set or of a deployment (the state right after it).
/// Every service of either side is listed: added, removed, changed or unchanged, going from A
/// to B.
///
/// Examples:
///   ledger diff stage prod                  what would a promotion change in prod?
///   ledger diff stage prod --commits        with the commits between the two revisions
///   ledger diff stage prod --exit-code      exit 1 when they differ (for CI)
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct DiffArgs {
    /// The first side
    pub a: String,

    /// The second side
    pub b: String,

    /// Exit 1 when the two sides differ, 0 when they do not
    #[arg(long)]
    pub exit_code: bool,

    /// List the commit subjects between the two revisions of each changed service (needs the
    /// current directory's git repository to have them)
    #[arg(long)]
    pub commits: bool,
}

pub fn run(globals: &GlobalArgs, args: &DiffArgs) -> CommandResult {
    let workspace = Workspace::load(globals)?;
    let store = workspace.open_store_for_reading()?;
    let reader = store.read()?;
    let releases = Releases::new(&reader);
    let from = side_state(&workspace, &releases, &args.a)?;
    let to = side_state(&workspace, &releases, &args.b)?;
    let diffs = diff_states(&from, &to);

    let mut changes = Vec::new();
    let mut rows = vec![vec!["SERVICE".to_string(), "CHANGE".into(), args.a.clone(), args.b.clone()]];
    let mut commit_lines: Vec<(String, Option<Vec<String>>)> = Vec::new();
    for diff in &diffs {
        let mut change = json!({
            "service": diff.service,
            "change": diff.change.as_str(),
            "from": releases.json(diff.from)?,
            "to": releases.json(diff.to)?,
        });
        rows.push(vec![
            diff.service.clone(),
            diff.change.as_str().into(),
            releases.human(diff.from)?,
            releases.human(diff.to)?,
        ]);
        if args.commits && diff.change == ChangeKind::Changed {
            let commits = commits_between(&releases, diff.from, diff.to)?;
            change["commits"] = json!(commits);
            commit_lines.push((diff.service.clone(), commits));
        }
        changes.push(change);
    }
    if globals.json() {
        print_json(&json!({"from": args.a, "to": args.b, "changes": changes}));
    } else if diffs.is_empty() {
        println!("neither side runs any service");
    } else {
        print!("{}", table(&rows));
        for (service, commits) in commit_lines {
            match commits {
                Some(commits) if commits.is_empty() => {
                    println!("\n{service}: no commits between the two revisions")
                }
                Some(commits) => {
                    println!("\n{service}:");
                    for commit in commits {
                        println!("    {commit}");
                    }
                }
                None => println!("\n{service}: commits unknown (no revision, or not in this git repository)"),
            }
        }
    }
    if args.exit_code && differs(&diffs) { Ok(Finished::Differences) } else { Ok(Finished::Success) }
}

/// The commits between two releases' revisions, whichever way they lie.
fn commits_between<S: Source>(
    releases: &Releases<'_, S>,
    from: Option<EntryId>,
    to: Option<EntryId>,
) -> Result<Option<Vec<String>>, CommandError> {
    let revision = |id: Option<EntryId>| -> Result<Option<String>, CommandError> {
        Ok(match id {
            Some(id) => releases.view(id)?.revision.clone(),
            None => None,
        })
    };
    let (Some(from), Some(to)) = (revision(from)?, revision(to)?) else {
        return Ok(None);
    };
    let dir = git_dir();
    let forward = git::commits_between(&dir, &from, &to, MAX_COMMITS);
    Ok(match forward {
        Some(commits) if commits.is_empty() => git::commits_between(&dir, &to, &from, MAX_COMMITS),
        other => other,
    })
}

/// The state a diff side names.
fn side_state<S: Source>(
    workspace: &Workspace,
    releases: &Releases<'_, S>,
    text: &str,
) -> Result<State, CommandError> {
    let reader = releases.source();
    if workspace.manifest.environments.contains_key(text) {
        let placed = reader.env_state_placed(text)?;
        releases.learn_placed(&placed)?;
        return Ok(placed.into_iter().map(|(service, (id, _))| (service, id)).collect());
    }
    let id = super::show::resolve_target(workspace, reader, text).map_err(|e| {
        e.with_hint("each side is an environment, a service set, or a release set or deployment id")
    })?;
    let stored = reader.entry(&id)?.ok_or_else(|| CommandError::failed(format!("entry {id} is missing")))?;
    match &stored.entry.body {
        Body::ReleaseSet(set) => Ok(set.releases.clone()),
        Body::Deployment(deployment) => Ok(history::state_after(reader, &deployment.env, Some(id))?),
        Body::Outcome(_) => {
            let deployment = stored.entry.parents[0];
            let env = reader
                .entry(&deployment)?
                .and_then(|d| d.entry.as_deployment().map(|d| d.env.clone()))
                .ok_or_else(|| CommandError::failed(format!("deployment {deployment} is missing")))?;
            Ok(history::state_after(reader, &env, Some(deployment))?)
        }
        Body::Release(_) => Err(CommandError::user(format!(
            "{text} is a release; diff compares environments, release sets or deployments"
        ))),
    }
}
