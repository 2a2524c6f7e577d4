//! `ledger release`: make a release set from the latest release of each service.

use clap::Args;
use ledger::store::refs;
use ledger::{Body, ReleaseSet, Source};

use crate::cli::GlobalArgs;
use crate::error::{CommandError, CommandResult, Finished};
use crate::output::{Releases, entry_json, print_json};
use crate::sharing::{self, Shared};
use crate::workspace::Workspace;

/// Make a release set: the latest release of each service of a service set
///
/// Without a service set, the release set covers every service in ledger.toml. Refuses, naming
/// them, when a service has no release yet. If nothing changed since the set's latest release
/// set, that one is printed and nothing new is recorded. Prints the release set's id.
///
/// With a remote (see `ledger remote`), it pulls first, so the latest releases are the team's,
/// and records the set on the remote first.
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct ReleaseArgs {
    /// A service set from ledger.toml [default: all services]
    pub service_set: Option<String>,

    /// What this release set is, e.g. "frontend 1.4"
    #[arg(short, long)]
    pub message: Option<String>,
}

pub fn run(globals: &GlobalArgs, args: &ReleaseArgs) -> CommandResult {
    let workspace = Workspace::load(globals)?;
    let services = workspace.services_of(args.service_set.as_deref())?;
    let stamp = workspace.stamp(args.message.as_deref())?;
    let store = workspace.open_store()?;
    let shared = Shared::connect(&workspace)?;
    if let Some(shared) = &shared {
        // The latest releases are the team's, not only this ledger's.
        shared.pull(&store)?;
    }
    let service_set = args.service_set.clone();
    let (releases, unchanged) = {
        let reader = store.read()?;
        let mut releases = std::collections::BTreeMap::new();
        let mut missing = Vec::new();
        for service in &services {
            match reader.ref_target(&refs::service(service))? {
                Some(release) => {
                    releases.insert(service.clone(), release);
                }
                None => missing.push(service.as_str()),
            }
        }
        if !missing.is_empty() {
            return Err(CommandError::user(format!("no release yet for: {}", missing.join(", ")))
                .with_hint("record one with `ledger register <service> <image>`"));
        }
        let latest = match reader.ref_target(&refs::set(service_set.as_deref()))? {
            Some(latest) => reader.entry(&latest)?,
            None => None,
        };
        let unchanged = latest.filter(|l| l.entry.as_release_set().is_some_and(|s| s.releases == releases));
        (releases, unchanged)
    };
    let (stored, is_new) = match unchanged {
        Some(latest) => (latest, false),
        None => {
            let body = Body::ReleaseSet(ReleaseSet { service_set, releases });
            (sharing::record_release(&store, shared.as_ref(), stamp, body)?, true)
        }
    };
    if globals.json() {
        let reader = store.read()?;
        print_json(&entry_json(&Releases::new(&reader), &stored)?);
    } else {
        println!("{}", stored.id);
        let scope = args.service_set.as_deref().unwrap_or("all services");
        if is_new {
            eprintln!("recorded release set {} for {scope}", stored.id.short());
        } else {
            eprintln!(
                "nothing changed since release set {} for {scope}; nothing recorded",
                stored.id.short()
            );
        }
    }
    Ok(Finished::Success)
}
