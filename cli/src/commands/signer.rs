//! `ledger signer`: the key this machine signs entries with, and the `allowed_signers` line
//! that lets it.

use clap::Args;
use ledger_app::signing::describe;
use ledger_app::text::inert;

use crate::cli::GlobalArgs;
use crate::error::{CommandResult, Finished};
use crate::output::{outln, print_json};

/// Show the key this machine signs entries with, and the allowed_signers line for it
///
/// The key comes from LEDGER_SIGNING_KEY, else `[signing] key` in ledger.toml, else the
/// ssh-agent's first key that allowed_signers lists for you. Each takes a private key file,
/// a .pub file of a key held by ssh-agent, or kms:<key id, ARN or alias/name> (an AWS KMS
/// ECC_NIST_P256 key, for CI). Add the printed line to the project's allowed_signers file
/// (reviewed like code) to let the key sign as you; see docs/signing.md.
///
///   LEDGER_SIGNING_KEY=~/.ssh/id_ed25519 ledger signer
///   LEDGER_SIGNING_KEY=kms:alias/ledger-ci ledger signer --output json
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct SignerArgs {}

pub fn run(globals: &GlobalArgs, _args: &SignerArgs) -> CommandResult {
    let workspace = globals.workspace()?;
    let info = describe(&workspace)?;
    if globals.json() {
        print_json(&info.json)?;
        return Ok(Finished::Success);
    }
    outln(&format!("signs as {} with {}", inert(&info.principal), info.fingerprint))?;
    let state = match info.listed {
        true => "allowed_signers lists it:",
        false => "allowed_signers does not list it yet; add this line:",
    };
    outln(state)?;
    outln(&inert(&info.allowed_signers_line()))?;
    Ok(Finished::Success)
}
