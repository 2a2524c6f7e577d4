//! `ledger`: a release ledger for teams that ship container services to AWS ECS.

mod cli;
mod cloud;
mod commands;
mod conclude;
mod dashboard;
mod deploy;
mod error;
mod git;
mod lock;
mod output;
mod prompt;
mod sharing;
mod views;
mod workspace;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // A panic is a bug, or a ledger file damaged in a way the storage engine does not survive
    // (it may stop at a damaged page). Either way: a clear message and exit 3, not a crash.
    std::panic::set_hook(Box::new(|info| {
        *PANIC.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(info.to_string());
    }));
    let run =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| commands::run(&cli.globals, &cli.command)));
    match run {
        Ok(Ok(finished)) => finished.exit_code(),
        Ok(Err(error)) => {
            eprint!("{}", error.render());
            error.exit_code()
        }
        Err(_) => {
            let detail =
                PANIC.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take().unwrap_or_default();
            let error = error::CommandError::failed(format!("internal error: {detail}")).with_hint(
                "the ledger file may be damaged: `ledger verify` checks it. If it finds nothing, this is a bug in ledger; please report it with this message",
            );
            eprint!("{}", error.render());
            error.exit_code()
        }
    }
}

/// What the last panic said, for the error message.
static PANIC: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
