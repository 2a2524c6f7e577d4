//! How a command ends: its exit code and, for an error, the lines printed on stderr (what went
//! wrong and what to do).
//!
//! Exit codes (documented in the README): 0 success; 1 differences (`diff --exit-code`);
//! 2 a user error (bad input, unknown name, refused confirmation); 3 an operation that did not
//! succeed, or `verify` found damage; 70 an internal error (a bug in ledger).

use std::process::ExitCode;

use ledger_app::{Error, ErrorKind};

/// The exit code of an internal error (a bug), as sysexits' EX_SOFTWARE.
pub const INTERNAL_ERROR_CODE: u8 = 70;

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

/// Why a command stopped early.
#[derive(Debug)]
pub enum CommandError {
    /// The operation's error, with its kind, hints and cause.
    App(Error),
    /// Whoever read our output stopped reading (`ledger log | head -1`): not an error.
    ClosedPipe,
}

pub type CommandResult = Result<Finished, CommandError>;

impl From<Error> for CommandError {
    fn from(error: Error) -> CommandError {
        CommandError::App(error)
    }
}

impl CommandError {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            CommandError::ClosedPipe => 0,
            CommandError::App(error) => match error.kind {
                ErrorKind::Usage | ErrorKind::NotFound => 2,
                ErrorKind::Failed => 3,
                ErrorKind::Internal => INTERNAL_ERROR_CODE,
            },
        })
    }

    /// The lines printed on stderr: the error, then each hint in order.
    pub fn render(&self) -> String {
        let CommandError::App(error) = self else { return String::new() };
        let mut lines = match error.kind {
            ErrorKind::Internal => format!("error: internal error: {}\n", error.message),
            _ => format!("error: {}\n", error.message),
        };
        for hint in &error.hints {
            lines.push_str(&format!("hint: {hint}\n"));
        }
        if error.kind == ErrorKind::Internal {
            lines.push_str("hint: this is a bug in ledger; please report it with this message\n");
        }
        lines
    }
}
