//! `ledger man`: the manual page, generated from the same definitions as `--help`.

use clap::{Args, CommandFactory};

use crate::cli::Cli;
use crate::error::{CommandError, CommandResult, Finished};

/// Print the manual page (roff)
///
/// Example: ledger man > /usr/local/share/man/man1/ledger.1
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct ManArgs {}

pub fn run(_args: &ManArgs) -> CommandResult {
    clap_mangen::Man::new(Cli::command())
        .render(&mut std::io::stdout())
        .map_err(|e| CommandError::failed(format!("writing the manual page: {e}")))?;
    Ok(Finished::Success)
}
