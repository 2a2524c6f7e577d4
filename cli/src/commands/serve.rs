//! `ledger serve`: the dashboard, over HTTP.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use crate::cli::GlobalArgs;
use crate::dashboard::{self, Dashboard};
use crate::error::{CommandError, CommandResult, Finished};
use crate::sharing::Shared;
use crate::workspace::Workspace;

/// Serve a read-only web dashboard of the ledger
///
/// Pages: / (what runs where: services × environments), /env/<env> (its deployments),
/// /entry/<id> (any entry; a release's or set's page says where it runs), /diff?from=&to=
/// (what a promotion would change), /metrics (deployment frequency, change failure rate, time
/// to restore, lead time). The same data as JSON under /api/: /api/status, /api/log/<env>,
/// /api/entry/<id>, /api/diff?from=&to= (the fields of `--output json`).
///
/// It only reads: nothing is recorded, nothing is called on AWS. With --remote it pulls from
/// that remote every --refresh seconds, so any number of dashboards can follow one team's
/// shared ledger. Pages use no JavaScript and load nothing from elsewhere.
///
/// Examples:
///   ledger serve                                   http://127.0.0.1:8080
///   ledger serve --addr 127.0.0.1:0                any free port (printed)
///   ledger serve --remote origin --refresh 30
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct ServeArgs {
    /// Where to listen; a non-loopback address lets anyone who can reach it read the ledger
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "IP:PORT")]
    pub addr: SocketAddr,

    /// Pull from this remote on start and then every --refresh seconds
    #[arg(long, value_name = "NAME")]
    pub remote: Option<String>,

    /// With --remote: seconds between pulls
    #[arg(long, requires = "remote", default_value_t = 60, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub refresh: u64,
}

pub fn run(globals: &GlobalArgs, args: &ServeArgs) -> CommandResult {
    let workspace = Workspace::load(globals)?;
    let shared = match &args.remote {
        Some(name) => Some(Shared::chosen(&workspace, Some(name))?),
        None => None,
    };
    // Only pulling writes; without a remote the ledger is opened read-only.
    let store = match &shared {
        Some(_) => workspace.open_store()?,
        None => workspace.open_store_for_reading()?,
    };
    if let Some(shared) = &shared {
        shared.pull(&store)?;
    }
    let listener = TcpListener::bind(args.addr).map_err(|e| {
        CommandError::user(format!("cannot listen on {}: {e}", args.addr))
            .with_hint("choose another address with --addr, e.g. --addr 127.0.0.1:0 for any free port")
    })?;
    let addr =
        listener.local_addr().map_err(|e| CommandError::failed(format!("cannot read the address: {e}")))?;
    let dashboard = Arc::new(Dashboard { workspace, store });
    if let Some(shared) = shared {
        follow(dashboard.clone(), shared, Duration::from_secs(args.refresh));
    }
    if !addr.ip().is_loopback() {
        eprintln!("warning: listening on {addr}: anyone who can reach it can read this ledger");
    }
    println!("ledger dashboard: http://{addr}/ (read-only; Ctrl-C stops it)");
    serve(listener, dashboard)?;
    Ok(Finished::Success)
}

/// Pulls from `shared` every `interval`, for as long as the server runs. A failed pull is
/// reported and the pages keep showing what was pulled before.
fn follow(dashboard: Arc<Dashboard>, shared: Shared, interval: Duration) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(interval);
            if let Err(error) = shared.pull(&dashboard.store) {
                eprint!("{}", error.render().replacen("error:", "warning: pull failed:", 1));
            }
        }
    });
}

fn serve(listener: TcpListener, dashboard: Arc<Dashboard>) -> Result<(), CommandError> {
    let failed = |e: std::io::Error| CommandError::failed(format!("the dashboard server stopped: {e}"));
    listener.set_nonblocking(true).map_err(failed)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(failed)?;
    runtime
        .block_on(async {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            axum::serve(listener, dashboard::router(dashboard)).await
        })
        .map_err(failed)
}
