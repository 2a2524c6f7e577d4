//! One module per command. Each defines its arguments and a `run`.

mod apply;
mod approvals;
mod approve;
mod bundle;
mod clone;
mod completions;
pub mod demo;
mod diff;
mod export;
mod fetch;
mod freeze;
mod import;
mod init;
mod lease;
mod log;
mod man;
mod metrics;
mod notify;
mod observe;
mod promote;
mod pull;
mod push;
mod quarantine;
mod reconcile;
mod register;
mod release;
mod remote;
mod rollback;
mod run;
mod serve;
mod show;
mod signer;
mod status;
mod unfreeze;
mod verify;
mod wait;

use clap::{Args, Subcommand};

use crate::cli::{GlobalArgs, OutputFormat};
use crate::error::CommandResult;

#[derive(Subcommand, Debug)]
pub enum Command {
    Init(init::InitArgs),
    Register(register::RegisterArgs),
    Release(release::ReleaseArgs),
    Apply(apply::ApplyArgs),
    Promote(promote::PromoteArgs),
    Rollback(rollback::RollbackArgs),
    Wait(wait::WaitArgs),
    Reconcile(reconcile::ReconcileArgs),
    Run(run::RunArgs),
    Import(import::ImportArgs),
    Observe(observe::ObserveArgs),
    Lease(lease::LeaseArgs),
    Approve(approve::ApproveArgs),
    Approvals(approvals::ApprovalsArgs),
    Freeze(freeze::FreezeArgs),
    Unfreeze(unfreeze::UnfreezeArgs),
    Quarantine(quarantine::QuarantineArgs),
    Log(log::LogArgs),
    Show(show::ShowArgs),
    Diff(diff::DiffArgs),
    Status(status::StatusArgs),
    Metrics(metrics::MetricsArgs),
    Notify(notify::NotifyArgs),
    Verify(verify::VerifyArgs),
    Export(export::ExportArgs),
    Bundle(bundle::BundleArgs),
    Signer(signer::SignerArgs),
    Serve(serve::ServeArgs),
    Remote(remote::RemoteArgs),
    Push(push::PushArgs),
    Pull(pull::PullArgs),
    Fetch(fetch::FetchArgs),
    Clone(clone::CloneArgs),
    Demo(demo::DemoArgs),
    Completions(completions::CompletionsArgs),
    Man(man::ManArgs),
}

/// Each command's name and how its arguments are added, as [`Command`]'s derived tree does.
type Augment = fn(clap::Command) -> clap::Command;
const EACH_COMMAND: [(&str, Augment); 36] = [
    ("init", init::InitArgs::augment_args),
    ("register", register::RegisterArgs::augment_args),
    ("release", release::ReleaseArgs::augment_args),
    ("apply", apply::ApplyArgs::augment_args),
    ("promote", promote::PromoteArgs::augment_args),
    ("rollback", rollback::RollbackArgs::augment_args),
    ("wait", wait::WaitArgs::augment_args),
    ("reconcile", reconcile::ReconcileArgs::augment_args),
    ("run", run::RunArgs::augment_args),
    ("import", import::ImportArgs::augment_args),
    ("observe", observe::ObserveArgs::augment_args),
    ("lease", lease::LeaseArgs::augment_args),
    ("approve", approve::ApproveArgs::augment_args),
    ("approvals", approvals::ApprovalsArgs::augment_args),
    ("freeze", freeze::FreezeArgs::augment_args),
    ("unfreeze", unfreeze::UnfreezeArgs::augment_args),
    ("quarantine", quarantine::QuarantineArgs::augment_args),
    ("log", log::LogArgs::augment_args),
    ("show", show::ShowArgs::augment_args),
    ("diff", diff::DiffArgs::augment_args),
    ("status", status::StatusArgs::augment_args),
    ("metrics", metrics::MetricsArgs::augment_args),
    ("notify", notify::NotifyArgs::augment_args),
    ("verify", verify::VerifyArgs::augment_args),
    ("export", export::ExportArgs::augment_args),
    ("bundle", bundle::BundleArgs::augment_args),
    ("signer", signer::SignerArgs::augment_args),
    ("serve", serve::ServeArgs::augment_args),
    ("remote", remote::RemoteArgs::augment_args),
    ("push", push::PushArgs::augment_args),
    ("pull", pull::PullArgs::augment_args),
    ("fetch", fetch::FetchArgs::augment_args),
    ("clone", clone::CloneArgs::augment_args),
    ("demo", demo::DemoArgs::augment_args),
    ("completions", completions::CompletionsArgs::augment_args),
    ("man", man::ManArgs::augment_args),
];

/// The command called `name` alone, as in [`Command`]'s derived tree: what parsing a command
/// line that names it needs. `None` for a name that is no command's.
pub fn one_command(name: &str) -> Option<clap::Command> {
    let (name, augment) = EACH_COMMAND.iter().find(|(command, _)| *command == name)?;
    Some(augment(clap::Command::new(*name)))
}

pub fn run(globals: &GlobalArgs, command: &Command) -> CommandResult {
    if globals.output == OutputFormat::Ndjson && !matches!(command, Command::Export(_)) {
        let error = ledger_app::Error::usage("--output ndjson is `ledger export`'s format only")
            .hint("other commands print one JSON document with --output json");
        return Err(error.into());
    }
    match command {
        Command::Init(args) => init::run(globals, args),
        Command::Register(args) => register::run(globals, args),
        Command::Release(args) => release::run(globals, args),
        Command::Apply(args) => apply::run(globals, args),
        Command::Promote(args) => promote::run(globals, args),
        Command::Rollback(args) => rollback::run(globals, args),
        Command::Wait(args) => wait::run(globals, args),
        Command::Reconcile(args) => reconcile::run(globals, args),
        Command::Run(args) => run::run(globals, args),
        Command::Import(args) => import::run(globals, args),
        Command::Observe(args) => observe::run(globals, args),
        Command::Lease(args) => lease::run(globals, args),
        Command::Approve(args) => approve::run(globals, args),
        Command::Approvals(args) => approvals::run(globals, args),
        Command::Freeze(args) => freeze::run(globals, args),
        Command::Unfreeze(args) => unfreeze::run(globals, args),
        Command::Quarantine(args) => quarantine::run(globals, args),
        Command::Log(args) => log::run(globals, args),
        Command::Show(args) => show::run(globals, args),
        Command::Diff(args) => diff::run(globals, args),
        Command::Status(args) => status::run(globals, args),
        Command::Metrics(args) => metrics::run(globals, args),
        Command::Notify(args) => notify::run(globals, args),
        Command::Verify(args) => verify::run(globals, args),
        Command::Export(args) => export::run(globals, args),
        Command::Bundle(args) => bundle::run(globals, args),
        Command::Signer(args) => signer::run(globals, args),
        Command::Serve(args) => serve::run(globals, args),
        Command::Remote(args) => remote::run(globals, args),
        Command::Push(args) => push::run(globals, args),
        Command::Pull(args) => pull::run(globals, args),
        Command::Fetch(args) => fetch::run(globals, args),
        Command::Clone(args) => clone::run(globals, args),
        Command::Demo(args) => demo::run(globals, args),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
    }
}
