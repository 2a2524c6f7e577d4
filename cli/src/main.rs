//! `ledger`: a release ledger for teams that ship container services to AWS ECS.

mod cli;
mod commands;
mod deploy;
mod error;
mod git;
mod output;
mod prompt;
mod workspace;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(&cli.globals, &cli.command) {
        Ok(finished) => finished.exit_code(),
        Err(error) => {
            eprint!("{}", error.render());
            error.exit_code()
        }
    }
}
