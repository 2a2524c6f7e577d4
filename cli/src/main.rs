//! `ledger`: a release ledger for teams that ship container services to AWS ECS.
//!
//! This crate parses arguments, calls the application layer (`ledger-app`) and renders what it
//! returns; one file per command under `commands/`.

mod cli;
mod commands;
mod deploying;
mod error;
mod output;
mod progress;
mod prompt;

use std::process::ExitCode;

use clap::Parser;
use ledger_app::Error;

use crate::error::CommandError;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // A panic is a bug, or a ledger file damaged in a way the storage engine does not survive
    // (it may stop at a damaged page). Either way: a clear message and an exit code, not a crash.
    std::panic::set_hook(Box::new(|info| {
        let from_storage = info.location().is_some_and(|at| at.file().contains("redb"));
        let panic = Panic { message: info.to_string(), from_storage };
        *PANIC.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(panic);
    }));
    let run =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| commands::run(&cli.globals, &cli.command)));
    let error = match run {
        Ok(Ok(finished)) => return finished.exit_code(),
        Ok(Err(error)) => error,
        Err(_) => {
            let panic = PANIC.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
            panic_error(panic)
        }
    };
    let text = error.render();
    if !text.is_empty() {
        output::note(text.trim_end_matches('\n'));
    }
    error.exit_code()
}

/// What the last panic said, and whether the storage engine raised it.
struct Panic {
    message: String,
    from_storage: bool,
}

static PANIC: std::sync::Mutex<Option<Panic>> = std::sync::Mutex::new(None);

/// A panic as an error: the storage engine's means a damaged file (exit 3); a write to a
/// closed stdout, a reader that has gone (exit 0); any other is a bug.
fn panic_error(panic: Option<Panic>) -> CommandError {
    let error = match panic {
        Some(Panic { message, .. }) if message.contains("failed printing to stdout") => {
            return CommandError::ClosedPipe;
        }
        Some(Panic { message, from_storage: true }) => {
            Error::failed(format!("the ledger file could not be read: {message}"))
                .hint("the ledger file may be damaged: `ledger verify` checks it")
        }
        Some(Panic { message, from_storage: false }) => {
            Error::internal(message).hint("if `ledger verify` finds damage, the ledger file is the cause")
        }
        None => Error::internal("a panic without a message"),
    };
    CommandError::App(error)
}
