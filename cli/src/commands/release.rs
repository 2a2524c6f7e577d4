//! `ledger release`: make a release set from the latest release of each service.

use clap::Args;
use ledger::store::refs;
use ledger::{ReleaseSet, Source};

use crate::cli::GlobalArgs;
use crate::error::{CommandError, CommandResult, Finished};
use crate::output::{Releases, entry_json, print_json};
use crate::workspace::Workspace;

/// Make a release set: the latest release of each service of a service set
///
/// Without a service set, the release set covers every service in ledger.toml. Refuses, naming
/// them, when a service has no release yet. If nothing changed since the set's latest release
/// set, that one is printed and nothing new is recorded. Prints the release set's id.
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
    let (stored, is_new) = store.write(|writer| {
        let mut releases = std::collections::BTreeMap::new();
        let mut missing = Vec::new();
        for service in &services {
            match writer.ref_target(&refs::service(service))? {
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
        let service_set = args.service_set.clone();
        if let Some(latest) = writer.ref_target(&refs::set(service_set.as_deref()))? {
            let latest = writer.entry(&latest)?;
            if let Some(latest) =
                latest.filter(|l| l.entry.as_release_set().is_some_and(|s| s.releases == releases))
            {
                return Ok((latest, false));
            }
        }
        Ok((writer.record_release_set(stamp, ReleaseSet { service_set, releases })?, true))
    })?;
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
