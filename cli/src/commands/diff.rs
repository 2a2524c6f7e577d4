//! `ledger diff`: compare two environments, release sets or deployments, service by service.

use clap::Args;
use ledger_app::configuration::{self, Configurations, ServiceConfiguration};
use ledger_app::ledger::Source;
use ledger_app::ledger::diff::differs;
use ledger_app::text::inert;
use ledger_app::views::{Comparison, Releases};

use crate::cli::GlobalArgs;
use crate::error::{CommandResult, Finished};
use crate::output::{json_text, out, table};

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
///   ledger diff stage prod --task-definitions
///                                           and how the task definitions they run differ
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

    /// Also compare the task definitions the two environments run, service by service, beyond
    /// the image: environment variables, secrets (by name and source), cpu, memory, ports, log
    /// configuration… (both sides must be environments on ECS; asks ECS)
    #[arg(long)]
    pub task_definitions: bool,
}

pub fn run(globals: &GlobalArgs, args: &DiffArgs) -> CommandResult {
    let workspace = globals.workspace()?;
    let configurations = if args.task_definitions {
        Some(configuration::compare(&workspace, &args.a, &args.b)?)
    } else {
        None
    };
    let (text, differs) = workspace.read(|releases| {
        let comparison = Comparison::load(&workspace, releases, &args.a, &args.b, args.commits)?;
        let text = if globals.json() {
            let mut document = comparison.json(releases)?;
            if let Some(configurations) = &configurations {
                document["task_definitions"] = configurations.json();
            }
            json_text(&document)
        } else {
            let mut text = render(releases, &comparison, args)?;
            if let Some(configurations) = &configurations {
                text.push_str(&render_configurations(configurations, args));
            }
            text
        };
        let configured = configurations.as_ref().is_some_and(Configurations::differs);
        Ok((text, differs(&comparison.diffs) || configured))
    })?;
    out(&text)?;
    Ok(if args.exit_code && differs { Finished::Differences } else { Finished::Success })
}

/// A table of every service, then the commits of each changed one when asked for.
fn render<S: Source>(
    releases: &Releases<'_, S>,
    comparison: &Comparison,
    args: &DiffArgs,
) -> ledger_app::Result<String> {
    if comparison.diffs.is_empty() {
        return Ok("neither side runs any service\n".to_string());
    }
    let mut rows = vec![vec!["SERVICE".to_string(), "CHANGE".into(), args.a.clone(), args.b.clone()]];
    for diff in &comparison.diffs {
        rows.push(vec![
            inert(&diff.service).into_owned(),
            diff.change.as_str().into(),
            releases.human(diff.from)?,
            releases.human(diff.to)?,
        ]);
    }
    let mut text = table(&rows);
    for (service, commits) in &comparison.commits {
        let service = inert(service);
        match commits {
            Some(commits) if commits.is_empty() => {
                text.push_str(&format!("\n{service}: no commits between the two revisions\n"))
            }
            Some(commits) => {
                text.push_str(&format!("\n{service}:\n"));
                for commit in commits {
                    text.push_str(&format!("    {}\n", inert(commit)));
                }
            }
            None => text.push_str(&format!(
                "\n{service}: commits unknown (no revision, or not in this git repository)\n"
            )),
        }
    }
    Ok(text)
}

/// Per service, the fields in which the two environments' task definitions differ beyond the
/// image, or that they do not.
fn render_configurations(configurations: &Configurations, args: &DiffArgs) -> String {
    let mut text = String::from("\ntask definitions, beyond the image:\n");
    for service in &configurations.services {
        let (a, b) = (ServiceConfiguration::shown(&service.a), ServiceConfiguration::shown(&service.b));
        let name = inert(&service.service);
        let sides = format!("{} {}, {} {}", inert(&args.a), inert(&a), inert(&args.b), inert(&b));
        if service.a.is_err() || service.b.is_err() {
            text.push_str(&format!("  {name}: not compared ({sides})\n"));
        } else if service.changes.is_empty() {
            text.push_str(&format!("  {name}: the same ({sides})\n"));
        } else {
            text.push_str(&format!("  {name}: {} field(s) differ ({sides}):\n", service.changes.len()));
            for change in &service.changes {
                text.push_str(&format!("    {}\n", inert(&change.human())));
            }
        }
    }
    text
}
