//! `ledger register`: record a release.

use clap::Args;
use ledger_app::register::{RegisterRequest, register};
use ledger_app::text::inert;

use crate::cli::GlobalArgs;
use crate::error::{CommandResult, Finished};
use crate::output::{note, outln, print_json};
use crate::progress::Shown;

/// Record a release: one service's image at a source revision
///
/// Prints the new release's id on stdout. The image must come from the service's
/// image_repository in ledger.toml; pin it with @sha256:<digest> whenever you can, or let
/// --resolve-digest look the digest of a tag up in ECR.
///
/// When ledger.toml has an [aws] table, the image is also written to the SSM parameter
/// /<project>/images/latest/<service> (turn that off with `write_latest = false`), and the
/// AWS principal is recorded beside the actor.
///
/// With a remote (see `ledger remote`), the release is recorded on the remote first; when
/// someone else registered a release of the service meanwhile, it follows theirs.
///
/// Examples:
///   ledger register api 123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalogue/api:v1.4 --revision 3b18e51
///   ledger register api 123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalogue/api:v1.4 --resolve-digest
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct RegisterArgs {
    /// The service, as declared in ledger.toml
    pub service: String,

    /// The image: <image_repository>[:tag][@sha256:<64 hex digits>]
    pub image: String,

    /// The git commit the image was built from (expanded to the full hash when the current
    /// repository has it)
    #[arg(long, value_name = "GIT-SHA")]
    pub revision: Option<String>,

    /// What this release is [default: the subject of the revision's commit, when known]
    #[arg(short, long)]
    pub message: Option<String>,

    /// Look the digest of the image's tag up in ECR and record it (calls AWS)
    #[arg(long)]
    pub resolve_digest: bool,
}

pub fn run(globals: &GlobalArgs, args: &RegisterArgs) -> CommandResult {
    let workspace = globals.workspace()?;
    let request = RegisterRequest {
        service: args.service.clone(),
        image: args.image.clone(),
        revision: args.revision.clone(),
        message: args.message.clone(),
        resolve_digest: args.resolve_digest,
    };
    let registered = register(&workspace, &request, &Shown::new(globals))?;
    if globals.json() {
        print_json(&registered.json)?;
    } else {
        outln(&registered.entry.id.to_string())?;
        if let Some(view) = &registered.release {
            note(&format!("registered {} {} ({})", args.service, view.human(), inert(&view.image)));
        }
    }
    Ok(Finished::Success)
}
