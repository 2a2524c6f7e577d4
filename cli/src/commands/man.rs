//! `ledger man`: the manual page, generated from the same definitions as `--help`.

use clap::{Args, CommandFactory};

use crate::cli::Cli;
use ledger_app::Error;

use crate::error::{CommandResult, Finished};
use crate::output::out;

/// Print the manual page (roff)
///
/// Example: ledger man > /usr/local/share/man/man1/ledger.1
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct ManArgs {}

pub fn run(_args: &ManArgs) -> CommandResult {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .map_err(|e| Error::internal(format!("rendering the manual page: {e}")))?;
    out(&String::from_utf8_lossy(&page))?;
    Ok(Finished::Success)
}
