//! How a command ends: its exit code and, for an error, what is printed on stderr (what went
//! wrong and what to do): lines for people, or with `--output json` one JSON object,
//! `{"error": {"message", "hints", "exit_code"}}`.
//!
//! Exit codes (documented in the README): 0 success; 1 differences (`diff --exit-code`);
//! 2 a user error (bad input, unknown name, refused confirmation); 3 an operation that did not
//! succeed, or `verify` found damage; 70 an internal error (a bug in ledger).

use std::process::ExitCode;

use ledger_app::{Error, ErrorKind};
use serde_json::{Value, json};

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
        ExitCode::from(self.code())
    }

    fn code(&self) -> u8 {
        match self {
            CommandError::ClosedPipe => 0,
            CommandError::App(error) => match error.kind {
                ErrorKind::Usage | ErrorKind::NotFound => 2,
                ErrorKind::Failed => 3,
                ErrorKind::Refused => 4,
                ErrorKind::Internal => INTERNAL_ERROR_CODE,
            },
        }
    }

    /// What is said: the message and the hints in order; nothing for a reader that went away.
    fn said(&self) -> Option<(String, Vec<String>)> {
        let CommandError::App(error) = self else { return None };
        let mut hints = error.hints.clone();
        let message = match error.kind {
            ErrorKind::Internal => {
                hints.push("this is a bug in ledger; please report it with this message".into());
                format!("internal error: {}", error.message)
            }
            _ => error.message.clone(),
        };
        Some((message, hints))
    }

    /// The lines printed on stderr: the error, then each hint in order.
    pub fn render(&self) -> String {
        let Some((message, hints)) = self.said() else { return String::new() };
        let mut lines = format!("error: {message}\n");
        for hint in hints {
            lines.push_str(&format!("hint: {hint}\n"));
        }
        lines
    }

    /// What is printed on stderr with `--output json`: one object (none for a closed pipe);
    /// a refusal by policy carries its `gates`.
    pub fn render_json(&self) -> Option<Value> {
        let (message, hints) = self.said()?;
        let mut json = error_json(&message, &hints, self.code());
        if let CommandError::App(error) = self
            && !error.gates.is_empty()
        {
            json["error"]["gates"] = serde_json::to_value(&error.gates).unwrap_or_default();
        }
        Some(json)
    }
}

/// `{"error": {"message", "hints", "exit_code"}}`.
pub fn error_json(message: &str, hints: &[String], exit_code: u8) -> Value {
    json!({"error": {"message": message, "hints": hints, "exit_code": exit_code}})
}
