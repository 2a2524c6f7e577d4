//! `ledger completions`: shell completion scripts.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::cli::Cli;
use crate::error::{CommandResult, Finished};
use crate::output::out;

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
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "ledger", &mut script);
    out(&String::from_utf8_lossy(&script))?;
    Ok(Finished::Success)
}
