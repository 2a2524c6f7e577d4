//! One module per command. Each defines its arguments and a `run`.

mod apply;
mod clone;
mod completions;
pub mod demo;
mod diff;
mod fetch;
mod import;
mod init;
mod lease;
mod log;
mod man;
mod metrics;
mod promote;
mod pull;
mod push;
mod reconcile;
mod register;
mod release;
mod remote;
mod rollback;
mod serve;
mod show;
mod status;
mod verify;
mod wait;

use clap::Subcommand;

use crate::cli::GlobalArgs;
use crate::error::CommandResult;

#[derive(Subcommand)]
pub enum Command {
    Init(init::InitArgs),
    Register(register::RegisterArgs),
    Release(release::ReleaseArgs),
    Apply(apply::ApplyArgs),
    Promote(promote::PromoteArgs),
    Rollback(rollback::RollbackArgs),
    Wait(wait::WaitArgs),
    Reconcile(reconcile::ReconcileArgs),
    Import(import::ImportArgs),
    Lease(lease::LeaseArgs),
    Log(log::LogArgs),
    Show(show::ShowArgs),
    Diff(diff::DiffArgs),
    Status(status::StatusArgs),
    Metrics(metrics::MetricsArgs),
    Verify(verify::VerifyArgs),
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

pub fn run(globals: &GlobalArgs, command: &Command) -> CommandResult {
    match command {
        Command::Init(args) => init::run(globals, args),
        Command::Register(args) => register::run(globals, args),
        Command::Release(args) => release::run(globals, args),
        Command::Apply(args) => apply::run(globals, args),
        Command::Promote(args) => promote::run(globals, args),
        Command::Rollback(args) => rollback::run(globals, args),
        Command::Wait(args) => wait::run(globals, args),
        Command::Reconcile(args) => reconcile::run(globals, args),
        Command::Import(args) => import::run(globals, args),
        Command::Lease(args) => lease::run(globals, args),
        Command::Log(args) => log::run(globals, args),
        Command::Show(args) => show::run(globals, args),
        Command::Diff(args) => diff::run(globals, args),
        Command::Status(args) => status::run(globals, args),
        Command::Metrics(args) => metrics::run(globals, args),
        Command::Verify(args) => verify::run(globals, args),
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
