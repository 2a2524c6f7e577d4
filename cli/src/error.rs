//! Command errors and exit codes: what went wrong, whose fault it was, and what to do.
//!
//! Exit codes (documented in the README): 0 success; 1 differences (`diff --exit-code`);
//! 2 a user error (bad input, unknown name, refused confirmation); 3 an operation that did not
//! succeed, or `verify` found damage.

use std::process::ExitCode;

use ledger::StoreError;
use ledger::history::HistoryError;
use ledger::image::InvalidImage;
use ledger::manifest::ManifestError;
use ledger::name::InvalidName;
use ledger::resolve::ResolveError;
use ledger::store::ConflictError;

/// How a command that ran to its end finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finished {
    Success,
    /// `diff --exit-code` found differences.
    Differences,
    /// The command ran to its end and reports a failure: a deployment that did not succeed,
    /// damage found by `verify`, drift found by `status --live --exit-code`.
    Failed,
}

impl Finished {
    pub fn exit_code(self) -> ExitCode {
        ExitCode::from(match self {
            Finished::Success => 0,
            Finished::Differences => 1,
            Finished::Failed => 3,
        })
    }
}

#[derive(Debug)]
pub enum CommandError {
    /// The user asked for something that cannot be done as asked: exit 2.
    User { message: String, hint: Option<String> },
    /// The operation was attempted and did not succeed: exit 3.
    Failed { message: String, hint: Option<String> },
}

pub type CommandResult = Result<Finished, CommandError>;

impl CommandError {
    pub fn user(message: impl Into<String>) -> CommandError {
        CommandError::User { message: message.into(), hint: None }
    }

    pub fn failed(message: impl Into<String>) -> CommandError {
        CommandError::Failed { message: message.into(), hint: None }
    }

    pub fn with_hint(self, hint: impl Into<String>) -> CommandError {
        match self {
            CommandError::User { message, .. } => CommandError::User { message, hint: Some(hint.into()) },
            CommandError::Failed { message, .. } => CommandError::Failed { message, hint: Some(hint.into()) },
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            CommandError::User { .. } => 2,
            CommandError::Failed { .. } => 3,
        })
    }

    /// The lines printed on stderr.
    pub fn render(&self) -> String {
        let (message, hint) = match self {
            CommandError::User { message, hint } | CommandError::Failed { message, hint } => (message, hint),
        };
        match hint {
            Some(hint) => format!("error: {message}\nhint: {hint}\n"),
            None => format!("error: {message}\n"),
        }
    }
}

impl From<StoreError> for CommandError {
    fn from(error: StoreError) -> CommandError {
        match error {
            StoreError::NotInitialized(_) => CommandError::user(error.to_string()),
            StoreError::Conflict(conflict) => conflict.into(),
            StoreError::Open { .. } => CommandError::failed(error.to_string()).with_hint(
                "if the file is damaged, restore it from a backup; if another program holds it, try again when it has finished",
            ),
            other => CommandError::failed(other.to_string()),
        }
    }
}

impl From<ConflictError> for CommandError {
    fn from(error: ConflictError) -> CommandError {
        match error {
            ConflictError::InFlight { ref env, .. } => {
                let hint = format!(
                    "`ledger reconcile {env}` reads what ECS runs and records how it ended; `ledger status {env}` shows it"
                );
                CommandError::failed(error.to_string()).with_hint(hint)
            }
            ConflictError::Unobserved { ref env, .. } => {
                let hint = format!("`ledger wait {env}` waits for it and records how it ended");
                CommandError::failed(error.to_string()).with_hint(hint)
            }
            other => CommandError::failed(other.to_string()),
        }
    }
}

impl From<HistoryError> for CommandError {
    fn from(error: HistoryError) -> CommandError {
        match error {
            HistoryError::Store(store) => store.into(),
            HistoryError::NotInHistory { .. } => CommandError::user(error.to_string()),
            HistoryError::Missing { .. } => CommandError::failed(error.to_string()),
        }
    }
}

impl From<ResolveError> for CommandError {
    fn from(error: ResolveError) -> CommandError {
        match error {
            ResolveError::Store(store) => store.into(),
            other => CommandError::user(other.to_string()),
        }
    }
}

impl From<ManifestError> for CommandError {
    fn from(error: ManifestError) -> CommandError {
        CommandError::user(error.to_string())
    }
}

impl From<InvalidName> for CommandError {
    fn from(error: InvalidName) -> CommandError {
        CommandError::user(error.to_string())
    }
}

impl From<InvalidImage> for CommandError {
    fn from(error: InvalidImage) -> CommandError {
        CommandError::user(error.to_string())
    }
}
