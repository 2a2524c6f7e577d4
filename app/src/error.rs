//! The application's error: what went wrong, what kind of failure it is (which decides the
//! CLI's exit code and the dashboard's HTTP status), what to do about it, and the error it
//! came from.

use std::fmt;

use ledger::StoreError;
use ledger::admission::{Broken, Rule};
use ledger::history::HistoryError;
use ledger::image::InvalidImage;
use ledger::manifest::ManifestError;
use ledger::name::InvalidName;
use ledger::policy::Gate;
use ledger::resolve::ResolveError;
use ledger::store::ConflictError;

/// What kind of failure an [`Error`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request cannot be done as asked (bad input, refused confirmation); nothing changed.
    Usage,
    /// The request names something that does not exist (an environment, an entry, a remote).
    NotFound,
    /// The operation was attempted and did not succeed: AWS or the remote failed, another
    /// process holds the environment, the ledger is damaged.
    Failed,
    /// A bug in ledger: something its own code should have made impossible.
    Internal,
    /// The environment's policy refuses the deployment (a gate it does not pass); nothing
    /// changed.
    Refused,
}

/// An error with its kind, hints (what to do, in order) and the error it came from.
#[derive(Debug)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    pub hints: Vec<String>,
    /// With [`ErrorKind::Refused`]: every gate of the policy, passed or not.
    pub gates: Vec<Gate>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, message: message.into(), hints: Vec::new(), gates: Vec::new(), source: None }
    }

    pub fn usage(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Usage, message)
    }

    pub fn not_found(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::NotFound, message)
    }

    pub fn failed(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Failed, message)
    }

    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Internal, message)
    }

    pub fn refused(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Refused, message)
    }

    /// The gates a refusal was decided by.
    pub fn with_gates(self, gates: Vec<Gate>) -> Error {
        Error { gates, ..self }
    }

    /// `error`'s message, with `error` kept as the source.
    pub fn from_source(kind: ErrorKind, error: impl std::error::Error + Send + Sync + 'static) -> Error {
        let message = error.to_string();
        Error { source: Some(Box::new(error)), ..Error::new(kind, message) }
    }

    /// Adds a hint after those already given.
    pub fn hint(mut self, hint: impl Into<String>) -> Error {
        self.hints.push(hint.into());
        self
    }

    /// The same error, its message prefixed with `context`.
    pub fn context(self, context: &str) -> Error {
        Error { message: format!("{context}{}", self.message), ..self }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|source| source as &(dyn std::error::Error + 'static))
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Error {
        match error {
            StoreError::NotInitialized(_) => Error::from_source(ErrorKind::Usage, error),
            StoreError::Conflict(conflict) => conflict.into(),
            StoreError::Refused(refusal) if refusal.broken.rule == Rule::Signature => {
                Error::from_source(ErrorKind::Refused, StoreError::Refused(refusal)).hint(format!(
                    "entries are signed with the key {} names (or [signing] key, or the ssh-agent's key that allowed_signers lists for you); the policy is [signing] in ledger.toml",
                    crate::signing::SIGNING_KEY_VAR
                ))
            }
            StoreError::Open { .. } => Error::from_source(ErrorKind::Failed, error).hint(
                "if the file is damaged, restore it from a backup; if another program holds it, try again when it has finished",
            ),
            other => Error::from_source(ErrorKind::Failed, other),
        }
    }
}

impl From<ConflictError> for Error {
    fn from(error: ConflictError) -> Error {
        let hint = match &error {
            ConflictError::InFlight { env, .. } => Some(format!(
                "`ledger reconcile {env}` reads what ECS runs and records how it ended; `ledger status {env}` shows it"
            )),
            ConflictError::Unobserved { env, .. } => {
                Some(format!("`ledger wait {env}` waits for it and records how it ended"))
            }
            _ => None,
        };
        let error = Error::from_source(ErrorKind::Failed, error);
        match hint {
            Some(hint) => error.hint(hint),
            None => error,
        }
    }
}

impl From<HistoryError> for Error {
    fn from(error: HistoryError) -> Error {
        match error {
            HistoryError::Store(store) => store.into(),
            HistoryError::NotInHistory { .. } => Error::from_source(ErrorKind::Usage, error),
            HistoryError::Missing { .. } => Error::from_source(ErrorKind::Failed, error),
        }
    }
}

impl From<ResolveError> for Error {
    fn from(error: ResolveError) -> Error {
        match error {
            ResolveError::Store(store) => store.into(),
            ResolveError::NotFound(_) => Error::from_source(ErrorKind::NotFound, error),
            other => Error::from_source(ErrorKind::Usage, other),
        }
    }
}

impl From<ManifestError> for Error {
    fn from(error: ManifestError) -> Error {
        Error::from_source(ErrorKind::Usage, error)
    }
}

impl From<InvalidName> for Error {
    fn from(error: InvalidName) -> Error {
        Error::from_source(ErrorKind::Usage, error)
    }
}

/// A rule of the manifest broken by what was asked: a name it does not declare is not found,
/// anything else cannot be done as asked.
impl From<Broken> for Error {
    fn from(broken: Broken) -> Error {
        let kind = if broken.rule == Rule::KnownName { ErrorKind::NotFound } else { ErrorKind::Usage };
        Error::from_source(kind, broken)
    }
}

impl From<InvalidImage> for Error {
    fn from(error: InvalidImage) -> Error {
        Error::from_source(ErrorKind::Usage, error)
    }
}
