//! `ledger unfreeze`: lift an environment's manual freeze.

use clap::Args;
use ledger_app::governance::unfreeze;
use ledger_app::text::inert;

use crate::cli::GlobalArgs;
use crate::error::{CommandResult, Finished};
use crate::output::recorded;
use crate::progress::Shown;

/// Lift the freeze that `ledger freeze` put on an environment
///
/// Recurring freeze windows from ledger.toml are not lifted: they end when their window does.
///
///   ledger unfreeze prod -m "incident 4711 resolved"
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct UnfreezeArgs {
    /// The environment to unfreeze
    pub env: String,
    /// Why
    #[arg(short, long)]
    pub message: Option<String>,
}

pub fn run(globals: &GlobalArgs, args: &UnfreezeArgs) -> CommandResult {
    let workspace = globals.workspace()?;
    let governed = unfreeze(&workspace, &args.env, args.message.as_deref(), &Shown::new(globals))?;
    let done = format!("unfroze {}", inert(&args.env));
    recorded(globals.json(), &governed.json, &governed.entry.id, &done)?;
    Ok(Finished::Success)
}
