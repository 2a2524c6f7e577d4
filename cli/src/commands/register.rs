//! `ledger register`: record a release.

use clap::Args;
use ledger::image::ImageRef;
use ledger::name::{self, NameKind};
use ledger::{Body, Release, Timestamp};

use ledger_sync::Backoff;
use ledger_sync::ecr;
use ledger_sync::ssm::{Parameters, parameter_name};

use crate::cli::GlobalArgs;
use crate::cloud;
use crate::error::{CommandError, CommandResult, Finished};
use crate::git;
use crate::output::{Releases, entry_json, print_json};
use crate::sharing::{self, Shared};
use crate::workspace::{Workspace, git_dir};

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
    let workspace = Workspace::load(globals)?;
    name::validate(NameKind::Service, &args.service)?;
    workspace.check_service(&args.service)?;
    let mut image = ImageRef::parse(&args.image)?;
    image.check_repository(&workspace.manifest.services[&args.service].image_repository)?;
    let aws = workspace.manifest.aws.clone();
    let cloud =
        if args.resolve_digest || aws.is_some() { Some(cloud::connect(&workspace, None)?) } else { None };
    if let (true, Some(cloud)) = (args.resolve_digest, &cloud) {
        let Some(tag) = image.tag.clone().filter(|_| image.digest.is_none()) else {
            return Err(CommandError::user("--resolve-digest needs an image given by tag, without a digest"));
        };
        let digest = cloud::run(ecr::resolve_digest(&cloud.ecr(), &image.repository, &tag))??;
        // What ECR answered is checked like any image given on the command line.
        image = ImageRef::parse(&format!("{}:{tag}@{digest}", image.repository))?;
    }

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
    let mut stamp = workspace.stamp(message.as_deref())?;
    if let Some(cloud) = &cloud {
        stamp = cloud::with_principal(stamp, cloud)?;
    }
    let store = workspace.open_store()?;
    let shared = Shared::connect(&workspace)?;
    let image_ref = release.image_ref();
    let stored = sharing::record_release(&store, shared.as_ref(), stamp, Body::Release(release))?;
    if let (Some(cloud), Some(aws)) = (&cloud, &aws)
        && aws.write_latest
    {
        let name =
            parameter_name(&format!("/{}/images/latest", workspace.manifest.project.id), &args.service);
        let written =
            cloud::run(Backoff::default().retry(async || cloud.parameters().put(&name, &image_ref).await))?;
        written.map_err(|error| {
            CommandError::failed(format!(
                "release {} was recorded, but {name} was not written: {error}",
                stored.id.short()
            ))
            .with_hint(
                "set `write_latest = false` under [aws] in ledger.toml if nothing reads that parameter",
            )
        })?;
    }
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
