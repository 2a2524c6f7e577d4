//! Where a command runs: the manifest it found, the ledger beside it, who is acting, and the
//! clock.

use std::path::{Path, PathBuf};

use ledger::manifest::{Environment, MANIFEST_FILE, Manifest, join_or_none};
use ledger::{Stamp, Store, Timestamp};

use crate::cli::GlobalArgs;
use crate::error::CommandError;
use crate::git;

/// The default ledger directory, beside `ledger.toml`.
pub const LEDGER_DIR: &str = ".ledger";

/// Longest accepted `-m` message.
const MAX_MESSAGE_LEN: usize = 10_000;
const MAX_ACTOR_LEN: usize = 200;

pub struct Workspace {
    pub manifest: Manifest,
    pub ledger_dir: PathBuf,
    pub globals: GlobalArgs,
}

impl Workspace {
    /// Finds and loads the manifest (`--manifest`, else `ledger.toml` here or in a parent).
    pub fn load(globals: &GlobalArgs) -> Result<Workspace, CommandError> {
        let path = manifest_path(globals)?;
        let manifest = Manifest::load(&path)?;
        let ledger_dir = match &globals.ledger_dir {
            Some(dir) => dir.clone(),
            None => manifest.project_dir().join(LEDGER_DIR),
        };
        Ok(Workspace { manifest, ledger_dir, globals: globals.clone() })
    }

    /// The ledger, for a command that records.
    pub fn open_store(&self) -> Result<Store, CommandError> {
        Store::open(&self.ledger_dir).map_err(CommandError::from)
    }

    /// The ledger, for a command that only reads.
    pub fn open_store_for_reading(&self) -> Result<Store, CommandError> {
        Store::open_for_reading(&self.ledger_dir).map_err(CommandError::from)
    }

    pub fn environment(&self, env: &str) -> Result<&Environment, CommandError> {
        self.manifest.environments.get(env).ok_or_else(|| {
            CommandError::user(format!(
                "unknown environment {env:?}; {} declares: {}",
                self.manifest.path.display(),
                join_or_none(self.manifest.environments.keys())
            ))
        })
    }

    pub fn check_service(&self, service: &str) -> Result<(), CommandError> {
        if self.manifest.services.contains_key(service) {
            return Ok(());
        }
        Err(CommandError::user(format!(
            "unknown service {service:?}; {} declares: {}",
            self.manifest.path.display(),
            join_or_none(self.manifest.services.keys())
        )))
    }

    /// The services of a service set, or all services.
    pub fn services_of(&self, service_set: Option<&str>) -> Result<Vec<String>, CommandError> {
        match service_set {
            None => Ok(self.manifest.services.keys().cloned().collect()),
            Some(set) => self.manifest.service_sets.get(set).cloned().ok_or_else(|| {
                CommandError::user(format!(
                    "unknown service set {set:?}; {} declares: {}",
                    self.manifest.path.display(),
                    join_or_none(self.manifest.service_sets.keys())
                ))
            }),
        }
    }

    /// The actor, time and message for a new entry.
    pub fn stamp(&self, message: Option<&str>) -> Result<Stamp, CommandError> {
        Ok(Stamp { at: clock()?, actor: self.actor()?, message: check_message(message.unwrap_or(""))? })
    }

    /// `--actor`, else `LEDGER_ACTOR`, else git's `user.name <user.email>`, else `user@host`.
    pub fn actor(&self) -> Result<String, CommandError> {
        let actor = match &self.globals.actor {
            Some(actor) => actor.clone(),
            None => git::identity(self.manifest.project_dir()).unwrap_or_else(user_at_host),
        };
        let actor = actor.trim().to_string();
        if actor.is_empty() || actor.len() > MAX_ACTOR_LEN || actor.chars().any(char::is_control) {
            return Err(CommandError::user(format!(
                "invalid actor {actor:?}: give 1 to {MAX_ACTOR_LEN} printable characters"
            )));
        }
        Ok(actor)
    }
}

fn manifest_path(globals: &GlobalArgs) -> Result<PathBuf, CommandError> {
    if let Some(path) = &globals.manifest {
        return if path.is_file() {
            Ok(path.clone())
        } else {
            Err(CommandError::user(format!("manifest {} does not exist", path.display())))
        };
    }
    let cwd = current_dir()?;
    Manifest::discover(&cwd).ok_or_else(|| {
        CommandError::user(format!("no {MANIFEST_FILE} in {} or any parent directory", cwd.display()))
            .with_hint("run `ledger init --example` to write a sample one, or point --manifest at yours")
    })
}

pub fn current_dir() -> Result<PathBuf, CommandError> {
    std::env::current_dir()
        .map_err(|e| CommandError::failed(format!("cannot read the current directory: {e}")))
}

/// Now, or `LEDGER_TIMESTAMP` (RFC 3339) for reproducible histories, as `GIT_COMMITTER_DATE` does for git.
pub fn clock() -> Result<Timestamp, CommandError> {
    match std::env::var("LEDGER_TIMESTAMP") {
        Ok(text) => {
            Timestamp::parse_rfc3339(&text).map_err(|e| CommandError::user(format!("LEDGER_TIMESTAMP: {e}")))
        }
        Err(_) => Ok(Timestamp::now()),
    }
}

pub fn check_message(message: &str) -> Result<String, CommandError> {
    if message.len() > MAX_MESSAGE_LEN {
        return Err(CommandError::user(format!("the message is longer than {MAX_MESSAGE_LEN} bytes")));
    }
    if message.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(CommandError::user("the message contains control characters"));
    }
    Ok(message.trim().to_string())
}

fn user_at_host() -> String {
    let user =
        std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    if host.is_empty() { user } else { format!("{user}@{host}") }
}

/// The directory git questions are asked in: where the command runs.
pub fn git_dir() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| Path::new(".").to_path_buf())
}
