//! `ledger lease`: show who holds an environment's lease on the remote, or break a stale one.

use clap::Args;
use ledger_app::lease::{self, LeaseView};
use ledger_app::ledger::Timestamp;
use ledger_app::text::inert;

use crate::cli::GlobalArgs;
use crate::error::{CommandResult, Finished};
use crate::output::{note, outln, print_json};

/// Show who holds an environment's lease on the remote, or break a stale one
///
/// With a remote, `apply`, `promote`, `rollback`, `wait`, `reconcile` and `import` take the
/// environment's lease there, so that one ledger at a time deploys to it, and give it back when
/// they end — also on Ctrl-C. A lease whose holder was killed (kill -9, a crashed CI runner)
/// stays until it runs out (the environment's timeout and 10 minutes). From the machine it was
/// killed on, the next deployment takes it over at once; from any other machine, break it:
///
///   ledger lease prod                              # who holds it, since when, until when
///   ledger lease prod --break -m "CI runner 7 was killed mid-apply"
///   ledger reconcile prod                          # record how the interrupted deployment ended
///
/// Break a lease only when its holder is gone: two deployments at once to one environment
/// are what the lease prevents. The break (who, when, why, whose lease) is written into the
/// lease document, where `ledger lease <env>` shows it to everyone. A lease held by a process
/// of this machine that still runs is never broken.
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct LeaseArgs {
    /// The environment whose lease to show
    pub env: String,
    /// Break the lease: release it on behalf of its holder, who is gone
    #[arg(long = "break", requires = "message")]
    pub break_it: bool,
    /// Why the lease is broken (required with --break; the team sees it)
    #[arg(short, long, requires = "break_it")]
    pub message: Option<String>,
}

pub fn run(globals: &GlobalArgs, args: &LeaseArgs) -> CommandResult {
    let workspace = globals.workspace()?;
    let (view, broken, json) = match (&args.break_it, &args.message) {
        (true, Some(reason)) => {
            let result = lease::break_lease(&workspace, &args.env, reason)?;
            (result.lease, Some(result.broken), result.json)
        }
        _ => {
            let view = lease::show(&workspace, &args.env)?;
            let json = view.json.clone();
            (view, None, json)
        }
    };
    if globals.json() {
        print_json(&json)?;
    } else {
        print_view(&view)?;
        match broken {
            Some(true) => note(&format!(
                "warning: broke the lease of {} on {}; the break is recorded in the lease document. If a deployment was interrupted, `ledger reconcile {}` records how it ended",
                view.env, view.remote, view.env
            )),
            Some(false) => note(&format!("nothing to break: nobody holds the lease of {}", view.env)),
            None => {}
        }
    }
    Ok(Finished::Success)
}

fn print_view(view: &LeaseView) -> CommandResult {
    let time = |seconds: i64| Timestamp::from_unix_seconds(seconds).to_human();
    let Some(doc) = &view.doc else {
        outln(&format!("no lease: no ledger has held {} on {}", view.env, view.remote))?;
        return Ok(Finished::Success);
    };
    if view.held {
        outln(&format!("lease of {} on {}: held", view.env, view.remote))?;
        outln(&format!("  holder:  {}", inert(&doc.holder)))?;
        if let (Some(host), Some(pid)) = (&doc.host, doc.pid) {
            outln(&format!("  host:    {}", inert(host)))?;
            outln(&format!("  pid:     {pid}"))?;
        }
        if let Some(since) = doc.since {
            outln(&format!("  since:   {}", time(since)))?;
        }
        outln(&format!("  expires: {}", time(doc.expires_at)))?;
        if view.holder_gone {
            outln("  its process has ended: the next deployment from this machine takes it over at once")?;
        }
    } else {
        let how = if doc.released { "was given back" } else { "ran out" };
        outln(&format!("no lease: nobody holds {} on {} (the last one {how})", view.env, view.remote))?;
        outln(&format!("  last holder: {}", inert(&doc.holder)))?;
    }
    if let Some(broken) = &doc.broken {
        outln(&format!(
            "  last broken: {} by {}: {} (it was held by {})",
            time(broken.at),
            inert(&broken.by),
            inert(&broken.reason),
            inert(&broken.holder)
        ))?;
    }
    Ok(Finished::Success)
}
