//! `ledger completions`: shell completion scripts.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::cli::Cli;
use crate::error::{CommandResult, Finished};

/// Print a shell completion script
///
/// Example (bash): ledger completions bash > ~/.local/share/bash-completion/completions/ledger
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct CompletionsArgs {
    /// The shell to complete in
    pub shell: Shell,
}

pub fn run(args: &CompletionsArgs) -> CommandResult {
    clap_complete::generate(args.shell, &mut Cli::command(), "ledger", &mut std::io::stdout());
    Ok(Finished::Success)
}
