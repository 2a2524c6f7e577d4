//! `ledger lease <env>`: who holds an environment's lease on the default remote, and breaking a
//! lease whose holder is gone. A break is written into the lease document, where every ledger of
//! the team sees it (`ledger lease <env>`), and kept there by later takers.

use ledger::Timestamp;
use ledger_remote::lease::{self, Broken, LeaseDoc};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::lock;
use crate::remotes::Shared;
use crate::runtime::block_on;
use crate::workspace::{Workspace, check_message};

/// An environment's lease as read from the remote.
pub struct LeaseView {
    pub env: String,
    pub remote: String,
    /// The document; `None` when no ledger ever took the lease.
    pub doc: Option<LeaseDoc>,
    /// Someone holds it now: not released and not run out.
    pub held: bool,
    /// Its holder is a process of this machine that has ended (the next deployment from here
    /// takes it over at once).
    pub holder_gone: bool,
    /// The operation's `--output json` document.
    pub json: Value,
}

/// What `--break` did.
pub struct BreakResult {
    /// The lease as it is now.
    pub lease: LeaseView,
    /// It was held and is broken now; otherwise there was nothing to break.
    pub broken: bool,
    /// The lease's `--output json` document with `"broken_now"`.
    pub json: Value,
}

/// The lease of `env` on the default remote.
pub fn show(workspace: &Workspace, env: &str) -> Result<LeaseView> {
    let shared = remote_of(workspace, env)?;
    let doc = block_on(lease::read(&shared.remote, env))??;
    Ok(view(env, &shared.name, doc, Timestamp::now().unix_seconds()))
}

/// Breaks the lease of `env` on the default remote, for `reason`. Refused while its holder is
/// a process of this machine that still runs; a lease nobody holds is left as it is.
pub fn break_lease(workspace: &Workspace, env: &str, reason: &str) -> Result<BreakResult> {
    let reason = check_message(reason)?;
    if reason.trim().is_empty() {
        return Err(Error::usage("say why the lease is broken with -m <reason>; the team sees it"));
    }
    let shared = remote_of(workspace, env)?;
    let actor = workspace.actor()?;
    let now = Timestamp::now().unix_seconds();
    let still_running = |doc: &LeaseDoc| match (&doc.host, doc.pid) {
        (Some(host), Some(pid)) if *host == lock::host_name() && !lock::holder_gone(doc) => {
            Err(Error::usage(format!(
                "the lease of {env} is held by pid {pid} on this machine, which still runs: {}",
                doc.holder
            ))
            .hint("let it finish, or stop it (Ctrl-C gives the lease back)"))
        }
        _ => Ok(()),
    };
    let broken = block_on(lease::break_lease(&shared.remote, env, &actor, &reason, now, still_running))??;
    let (doc, broken) = match broken? {
        Broken::Broken(doc) => (Some(doc), true),
        Broken::Free(doc) => (doc, false),
    };
    let lease = view(env, &shared.name, doc, now);
    let mut json = lease.json.clone();
    json["broken_now"] = broken.into();
    Ok(BreakResult { lease, broken, json })
}

fn remote_of(workspace: &Workspace, env: &str) -> Result<Shared> {
    workspace.environment(env)?;
    Shared::connect(workspace, None)?.ok_or_else(|| {
        Error::usage("this ledger has no remote: leases exist only on a remote")
            .hint("without a remote, an environment is held by a local lock that ends with its process")
    })
}

fn view(env: &str, remote: &str, doc: Option<LeaseDoc>, now: i64) -> LeaseView {
    let held = doc.as_ref().is_some_and(|doc| !doc.released && doc.expires_at > now);
    let holder_gone = held && doc.as_ref().is_some_and(lock::holder_gone);
    let time = |seconds: i64| Timestamp::from_unix_seconds(seconds).to_rfc3339();
    let json = json!({
        "env": env,
        "remote": remote,
        "held": held,
        "holder_gone": holder_gone,
        "lease": doc.as_ref().map(|doc| json!({
            "holder": doc.holder,
            "host": doc.host,
            "pid": doc.pid,
            "since": doc.since.map(time),
            "expires_at": time(doc.expires_at),
            "released": doc.released,
            "broken": doc.broken.as_ref().map(|broken| json!({
                "by": broken.by,
                "at": time(broken.at),
                "reason": broken.reason,
                "holder": broken.holder,
            })),
        })),
    });
    LeaseView { env: env.to_string(), remote: remote.to_string(), doc, held, holder_gone, json }
}
