//! `ledger demo`: a sample project with a realistic history, on the embedded store.

use std::path::PathBuf;

use clap::Args;

use crate::cli::GlobalArgs;
use crate::error::{CommandResult, Finished};
use crate::output::outln;

/// Create a sample project with a history, and show it
///
/// Writes ledger.toml into DIR and records two weeks of history for three services: releases,
/// deployments to stage, promotions to prod, and a rollback. Then prints `ledger log prod` and
/// `ledger diff stage prod`. Nothing is called: the environments are record-only.
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct DemoArgs {
    /// Where to create the project (must not hold a ledger.toml yet)
    #[arg(default_value = "ledger-demo")]
    pub dir: PathBuf,
}

pub fn run(globals: &GlobalArgs, args: &DemoArgs) -> CommandResult {
    let manifest = ledger_app::demo::create(&args.dir)?;
    outln(&format!("A sample project with two weeks of history is in {}/\n", args.dir.display()))?;
    let demo_globals = GlobalArgs { manifest: Some(manifest), ledger_dir: None, ..globals.clone() };
    outln("$ ledger log prod -n 4\n")?;
    super::log::run(
        &demo_globals,
        &super::log::LogArgs { env: Some("prod".into()), limit: 4, service: None },
    )?;
    outln("$ ledger diff stage prod\n")?;
    let diff = super::diff::DiffArgs {
        a: "stage".into(),
        b: "prod".into(),
        exit_code: false,
        commits: false,
        task_definitions: false,
    };
    super::diff::run(&demo_globals, &diff)?;
    outln(&format!(
        "\nTry, in {}: ledger status, ledger log, ledger promote stage prod --dry-run,\nor ledger serve: a web dashboard of it on http://127.0.0.1:8080/",
        args.dir.display()
    ))?;
    Ok(Finished::Success)
}
