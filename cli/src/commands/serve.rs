//! `ledger serve`: the dashboard, over HTTP.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use clap::Args;

use ledger_app::Error;
use ledger_web::hosts::AllowedHosts;
use ledger_web::{Follow, Limits};

use crate::cli::GlobalArgs;
use crate::error::{CommandResult, Finished};
use crate::output::{note, outln};
use crate::progress::Shown;

/// Serve a read-only web dashboard of the ledger
///
/// Pages: / (what runs where: services × environments), /env/<env> (its deployments),
/// /entry/<id> (any entry; a release's or set's page says where it runs), /diff?from=&to=
/// (what a promotion would change), /metrics (deployment frequency, change failure rate, time
/// to restore, lead time). The same data as JSON under /api/: /api/status, /api/log/<env>,
/// /api/entry/<id>, /api/diff?from=&to= (the fields of `--output json`).
///
/// It answers only to the names it is served on: localhost and IP addresses with its port,
/// and the names given with --allow-host (for a reverse proxy or a DNS name); any other
/// `Host` gets 421, so that a web page whose name was rebound to this machine cannot read
/// the ledger. A connection that sends no request for 10 s is closed.
///
/// It only reads: nothing is recorded, nothing is called on AWS. With --remote it pulls from
/// that remote every --refresh seconds, so any number of dashboards can follow one team's
/// shared ledger. Pages use no JavaScript and load nothing from elsewhere.
///
/// Examples:
///   ledger serve                                   http://127.0.0.1:8080
///   ledger serve --addr 127.0.0.1:0                any free port (printed)
///   ledger serve --remote origin --refresh 30
///   ledger serve --addr 0.0.0.0:8080 --allow-host ledger.internal.example.com
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

    /// Also answer to this host name (repeatable), e.g. a reverse proxy's
    #[arg(long = "allow-host", value_name = "NAME")]
    pub allow_hosts: Vec<String>,
}

pub fn run(globals: &GlobalArgs, args: &ServeArgs) -> CommandResult {
    let workspace = globals.workspace()?;
    let hosts = AllowedHosts::new(&args.allow_hosts).map_err(Error::usage)?;
    let progress = Shown::new(globals);
    let (dashboard, shared) = ledger_web::open(workspace, args.remote.as_deref(), &progress)?;
    let listener = TcpListener::bind(args.addr).map_err(|e| {
        Error::usage(format!("cannot listen on {}: {e}", args.addr))
            .hint("choose another address with --addr, e.g. --addr 127.0.0.1:0 for any free port")
    })?;
    let addr = listener.local_addr().map_err(|e| Error::failed(format!("cannot read the address: {e}")))?;
    if !addr.ip().is_loopback() {
        note(&format!("warning: listening on {addr}: anyone who can reach it can read this ledger"));
    }
    outln(&format!("ledger dashboard: http://{addr}/ (read-only; Ctrl-C stops it)"))?;
    let follow = shared.map(|shared| Follow {
        shared,
        interval: Duration::from_secs(args.refresh),
        progress: Box::new(progress),
    });
    ledger_web::serve(listener, dashboard, follow, hosts, Limits::default())?;
    Ok(Finished::Success)
}
