//! `ledger register`: record a release.

use clap::Args;
use ledger::image::ImageRef;
use ledger::name::{self, NameKind};
use ledger::{Release, Timestamp};

use crate::cli::GlobalArgs;
use crate::error::{CommandError, CommandResult, Finished};
use crate::git;
use crate::output::{Releases, entry_json, print_json};
use crate::workspace::{Workspace, git_dir};

/// Record a release: one service's image at a source revision
///
/// Prints the new release's id on stdout. The image must come from the service's
/// image_repository in ledger.toml; pin it with @sha256:<digest> whenever you can.
///
/// Example:
///   ledger register api 123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalogue/api:v1.4 --revision 3b18e51
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
}

pub fn run(globals: &GlobalArgs, args: &RegisterArgs) -> CommandResult {
    let workspace = Workspace::load(globals)?;
    name::validate(NameKind::Service, &args.service)?;
    workspace.check_service(&args.service)?;
    let image = ImageRef::parse(&args.image)?;
    image.check_repository(&workspace.manifest.services[&args.service].image_repository)?;

    let commit = match &args.revision {
        Some(revision) => {
            check_revision(revision)?;
            git::commit(&git_dir(), revision)
        }
        None => None,
    };
    let revision =
        commit.as_ref().map(|c| c.hash.clone()).or_else(|| args.revision.as_ref().map(|r| r.to_lowercase()));
    let message = args.message.clone().or_else(|| commit.as_ref().map(|c| c.subject.clone()));
    let release = Release {
        service: args.service.clone(),
        image: image.name_and_tag(),
        digest: image.digest.clone(),
        revision,
        revision_at: commit.as_ref().map(|c| Timestamp::from_unix_seconds(c.time)),
    };
    let stamp = workspace.stamp(message.as_deref())?;
    let store = workspace.open_store()?;
    let stored = store.write(|writer| writer.record_release(stamp, release))?;
    let reader = store.read()?;
    let releases = Releases::new(&reader);
    if globals.json() {
        print_json(&entry_json(&releases, &stored)?);
    } else {
        let view = releases.view(stored.id)?;
        println!("{}", stored.id);
        eprintln!("registered {} {} ({})", args.service, view.human(), view.image);
    }
    Ok(Finished::Success)
}

fn check_revision(revision: &str) -> Result<(), CommandError> {
    let is_hash = (4..=64).contains(&revision.len()) && revision.bytes().all(|b| b.is_ascii_hexdigit());
    if is_hash {
        Ok(())
    } else {
        Err(CommandError::user(format!(
            "--revision {revision:?} is not a git commit hash: give 4 to 64 hex digits, e.g. $(git rev-parse HEAD)"
        )))
    }
}
