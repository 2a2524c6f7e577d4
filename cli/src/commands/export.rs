//! `ledger export`: every entry, with its exact bytes, one JSON object per line.

use std::io::{BufWriter, Write};

use clap::Args;
use ledger_app::export;

use crate::cli::GlobalArgs;
use crate::error::{CommandResult, Finished};
use crate::output::written;

/// Write every entry, with its exact bytes, as one JSON object per line (NDJSON)
///
/// In recording order, one line per entry:
///   {"id": "<64 hex digits>", "kind": "release", "fields": {...}, "bytes": "<base64>"}
/// `fields` is the entry as `ledger show <id> --output json` prints it; `bytes` its stored
/// bytes (signature included), whose BLAKE3 hash is its id. Importing believes only the bytes:
/// `ledger bundle unbundle` takes an export in, checked as `ledger pull` checks a remote.
/// The output is streamed, so a history of any length can be exported; it is NDJSON whatever
/// --output says (`--output ndjson` names it).
///
/// Examples:
///   ledger export > ledger.ndjson
///   ledger export --since 5b1c2d3e              what was recorded after that entry
///   ledger export --since 2026-12-01T00:00:00Z  what was recorded at or after that time
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct ExportArgs {
    /// Only the entries recorded after this entry (an id, a unique prefix, a ref or a name), or
    /// at or after this time (RFC 3339)
    #[arg(long, value_name = "ID|TIME")]
    pub since: Option<String>,
}

pub fn run(globals: &GlobalArgs, args: &ExportArgs) -> CommandResult {
    let workspace = globals.workspace()?;
    let mut stdout = BufWriter::new(std::io::stdout().lock());
    export::export(&workspace, args.since.as_deref(), |line| written(stdout.write_all(line.as_bytes())))?;
    written(stdout.flush())?;
    Ok(Finished::Success)
}
