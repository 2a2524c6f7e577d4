//! Where an operation runs: the settings a front end resolved (from flags, variables and
//! defaults), the manifest they lead to, the ledger beside it, who is acting, and the clock.

use std::path::{Path, PathBuf};

use ledger::admission::{self, Rules};
use ledger::manifest::{Environment, MANIFEST_FILE, Manifest, join_or_none};
use ledger::signing::Trust;
use ledger::{Stamp, Store, Timestamp};

use crate::error::{Error, Result};
use crate::git;
use crate::views::Releases;

/// The default ledger directory, beside `ledger.toml`.
pub const LEDGER_DIR: &str = ".ledger";

/// Longest accepted actor, as given (the cloud principal may be added to it when recorded).
const MAX_ACTOR_LEN: usize = 200;

/// What a front end resolved before calling: every `None` means "the default".
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// The manifest; default: `ledger.toml` in the current directory or the nearest parent.
    pub manifest: Option<PathBuf>,
    /// Where the ledger is; default: `.ledger` beside the manifest.
    pub ledger_dir: Option<PathBuf>,
    /// Who is acting; default: git's `user.name <user.email>`, else `user@host`.
    pub actor: Option<String>,
    /// The AWS profile; default: the standard credential chain.
    pub profile: Option<String>,
    /// The AWS region, over the environment's and the project's.
    pub region: Option<String>,
}

/// A loaded project: its manifest, its ledger directory and the settings it was loaded with.
pub struct Workspace {
    pub manifest: Manifest,
    /// What judges entries' signatures: the manifest's `[signing]` and `[teams]`.
    pub trust: Trust,
    pub ledger_dir: PathBuf,
    pub settings: Settings,
}

impl Workspace {
    /// Finds and loads the manifest (`settings.manifest`, else `ledger.toml` here or in a parent).
    pub fn load(settings: &Settings) -> Result<Workspace> {
        let path = manifest_path(settings)?;
        let manifest = Manifest::load(&path)?;
        let ledger_dir = match &settings.ledger_dir {
            Some(dir) => dir.clone(),
            None => manifest.project_dir().join(LEDGER_DIR),
        };
        let trust = manifest.trust();
        Ok(Workspace { manifest, trust, ledger_dir, settings: settings.clone() })
    }

    /// Creates the ledger (or opens the one there), recording this project as its own.
    pub fn init_store(&self) -> Result<Store> {
        self.owned(self.recording(Store::init(&self.ledger_dir)?), true)
    }

    /// The ledger, for an operation that records. A ledger with no project recorded (made
    /// before ledgers recorded theirs) adopts this manifest's.
    pub fn open_store(&self) -> Result<Store> {
        self.owned(self.recording(Store::open(&self.ledger_dir)?), true)
    }

    /// `store`, holding what it records to the manifest's rules and queueing its events for the
    /// manifest's sinks.
    fn recording(&self, store: Store) -> Store {
        store.admitting(Rules::of(&self.manifest)).announcing(&self.manifest.notify)
    }

    /// The ledger, for an operation that only reads (which records nothing, not even a project).
    pub fn open_store_for_reading(&self) -> Result<Store> {
        self.owned(Store::open_for_reading(&self.ledger_dir)?, false)
    }

    /// `store`, once it is known to be this project's ledger; with `claim`, a ledger that has
    /// no project recorded is given this one.
    fn owned(&self, store: Store, claim: bool) -> Result<Store> {
        let id = &self.manifest.project.id;
        let recorded = match store.project()? {
            Some(recorded) => recorded,
            None if claim => store.claim_project(id)?,
            None => return Ok(store),
        };
        if recorded != *id {
            return Err(Error::usage(format!(
                "the ledger in {} is project {:?}'s, but {} says [project] id = {id:?}",
                self.ledger_dir.display(),
                crate::text::inert(&recorded),
                self.manifest.path.display()
            ))
            .hint("use that project's ledger.toml (--manifest), or give this project its own ledger (--ledger-dir)"));
        }
        Ok(store)
    }

    pub fn environment(&self, env: &str) -> Result<&Environment> {
        self.manifest.environments.get(env).ok_or_else(|| {
            Error::not_found(format!(
                "unknown environment {env:?}; {} declares: {}",
                self.manifest.path.display(),
                join_or_none(self.manifest.environments.keys())
            ))
        })
    }

    pub fn check_service(&self, service: &str) -> Result<()> {
        if self.manifest.services.contains_key(service) {
            return Ok(());
        }
        Err(Error::not_found(format!(
            "unknown service {service:?}; {} declares: {}",
            self.manifest.path.display(),
            join_or_none(self.manifest.services.keys())
        )))
    }

    /// The services of a service set, or all services.
    pub fn services_of(&self, service_set: Option<&str>) -> Result<Vec<String>> {
        match service_set {
            None => Ok(self.manifest.services.keys().cloned().collect()),
            Some(set) => self.manifest.service_sets.get(set).cloned().ok_or_else(|| {
                Error::not_found(format!(
                    "unknown service set {set:?}; {} declares: {}",
                    self.manifest.path.display(),
                    join_or_none(self.manifest.service_sets.keys())
                ))
            }),
        }
    }

    /// The actor, time and message for a new entry.
    pub fn stamp(&self, message: Option<&str>) -> Result<Stamp> {
        Ok(Stamp { at: clock()?, actor: self.actor()?, message: check_message(message.unwrap_or(""))? })
    }

    /// The settings' actor, else git's `user.name <user.email>`, else `user@host`.
    pub fn actor(&self) -> Result<String> {
        let actor = match &self.settings.actor {
            Some(actor) => actor.clone(),
            None => git::identity(self.manifest.project_dir()).unwrap_or_else(user_at_host),
        };
        let actor = actor.trim().to_string();
        if actor.len() > MAX_ACTOR_LEN || admission::check_actor(&actor).is_err() {
            return Err(Error::usage(format!(
                "invalid actor {actor:?}: give 1 to {MAX_ACTOR_LEN} printable characters"
            )));
        }
        Ok(actor)
    }

    /// Runs `work` on one read snapshot of the ledger, opened read-only, with a release cache.
    pub fn read<T>(&self, work: impl FnOnce(&Releases<'_, ledger::store::Reader>) -> Result<T>) -> Result<T> {
        let store = self.open_store_for_reading()?;
        let reader = store.read()?;
        work(&Releases::new(&reader, &self.trust))
    }

    /// The project's AWS region, from `[aws] region`.
    pub fn project_region(&self) -> Option<String> {
        self.manifest.aws.as_ref().and_then(|aws| aws.region.clone())
    }
}

fn manifest_path(settings: &Settings) -> Result<PathBuf> {
    if let Some(path) = &settings.manifest {
        return match not_a_file(path) {
            None => Ok(path.clone()),
            Some(what) => Err(Error::usage(format!("manifest {} {what}", path.display()))
                .hint("point --manifest (or LEDGER_MANIFEST) at the project's ledger.toml")),
        };
    }
    let cwd = current_dir()?;
    Manifest::discover(&cwd).ok_or_else(|| {
        Error::usage(format!("no {MANIFEST_FILE} in {} or any parent directory", cwd.display()))
            .hint("run `ledger init --example` to write a sample one, or point --manifest at yours")
    })
}

/// What `path` is when it is not a regular file (following links), said without opening it:
/// a FIFO is never read, so it cannot block.
fn not_a_file(path: &Path) -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Some("does not exist".into()),
        Err(error) => return Some(format!("cannot be read: {error}")),
    };
    let kind = metadata.file_type();
    let what = if kind.is_file() {
        return None;
    } else if kind.is_dir() {
        "is a directory, not a file"
    } else if kind.is_fifo() {
        "is a FIFO (named pipe), not a file"
    } else if kind.is_char_device() || kind.is_block_device() {
        "is a device, not a file"
    } else if kind.is_socket() {
        "is a socket, not a file"
    } else {
        "is not a regular file"
    };
    Some(what.into())
}

pub fn current_dir() -> Result<PathBuf> {
    std::env::current_dir().map_err(|e| Error::failed(format!("cannot read the current directory: {e}")))
}

/// Now, or `LEDGER_TIMESTAMP` (RFC 3339) for reproducible histories, as `GIT_COMMITTER_DATE`
/// does for git; set to nothing, it counts as unset.
pub fn clock() -> Result<Timestamp> {
    match std::env::var("LEDGER_TIMESTAMP") {
        Ok(text) if !text.is_empty() => {
            Timestamp::parse_rfc3339(&text).map_err(|e| Error::usage(format!("LEDGER_TIMESTAMP: {e}")))
        }
        _ => Ok(Timestamp::now()),
    }
}

/// A message as recorded, trimmed, once it passes the rule every entry's message is held to
/// ([`admission::check_message`]).
pub fn check_message(message: &str) -> Result<String> {
    admission::check_message(message)?;
    Ok(message.trim().to_string())
}

fn user_at_host() -> String {
    let user =
        std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
    let host = crate::lock::host_name();
    if host.is_empty() { user } else { format!("{user}@{host}") }
}

/// The directory git questions are asked in: where the command runs.
pub fn git_dir() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| Path::new(".").to_path_buf())
}
