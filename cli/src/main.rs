//! `ledger`: a release ledger for teams that ship container services to AWS ECS.
//!
//! This crate parses arguments, calls the application layer (`ledger-app`) and renders what it
//! returns; one file per command under `commands/`.

mod cli;
mod commands;
mod deploying;
mod error;
mod output;
mod progress;
mod prompt;

use std::ffi::OsString;
use std::process::ExitCode;

use ledger_app::Error;

use crate::error::{CommandError, error_json};

fn main() -> ExitCode {
    let cli = match cli::Cli::from_command_line() {
        Ok(cli) => cli,
        Err(error) if error.use_stderr() && asks_for_json(std::env::args_os().skip(1)) => {
            let code = u8::try_from(error.exit_code()).unwrap_or(2);
            let (message, hints) = usage_error_parts(&error.to_string());
            output::note(&error_json(&message, &hints, code).to_string());
            return ExitCode::from(code);
        }
        Err(error) => error.exit(),
    };
    // A panic is a bug, or a ledger file damaged in a way the storage engine does not survive
    // (it may stop at a damaged page). Either way: a clear message and an exit code, not a crash.
    std::panic::set_hook(Box::new(|info| {
        let from_storage = info.location().is_some_and(|at| at.file().contains("redb"));
        let panic = Panic { message: info.to_string(), from_storage };
        *PANIC.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(panic);
    }));
    let run =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| commands::run(&cli.globals, &cli.command)));
    let error = match run {
        Ok(Ok(finished)) => return finished.exit_code(),
        Ok(Err(error)) => error,
        Err(_) => {
            let panic = PANIC.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
            panic_error(panic)
        }
    };
    if cli.globals.json() {
        if let Some(json) = error.render_json() {
            output::note(&json.to_string());
        }
    } else {
        let text = error.render();
        if !text.is_empty() {
            output::note(text.trim_end_matches('\n'));
        }
    }
    error.exit_code()
}

/// Whether the arguments (before any `--`) ask for `--output json`, for an error met while
/// parsing them.
fn asks_for_json(args: impl Iterator<Item = OsString>) -> bool {
    let args: Vec<String> =
        args.map(|arg| arg.to_string_lossy().into_owned()).take_while(|arg| arg != "--").collect();
    args.iter().enumerate().any(|(i, arg)| {
        let value = match arg.as_str() {
            "--output" | "-o" => args.get(i + 1).map(String::as_str),
            _ => arg
                .strip_prefix("--output=")
                .or_else(|| arg.strip_prefix("-o="))
                .or_else(|| arg.strip_prefix("-o")),
        };
        value == Some("json")
    })
}

/// clap's rendering of a usage error as a message (its first line) and hints (the others).
fn usage_error_parts(rendered: &str) -> (String, Vec<String>) {
    let mut lines = rendered.lines().map(str::trim).filter(|line| !line.is_empty());
    let first = lines.next().unwrap_or("invalid arguments");
    let message = first.strip_prefix("error: ").unwrap_or(first).to_string();
    (message, lines.map(str::to_string).collect())
}

/// What the last panic said, and whether the storage engine raised it.
struct Panic {
    message: String,
    from_storage: bool,
}

static PANIC: std::sync::Mutex<Option<Panic>> = std::sync::Mutex::new(None);

/// A panic as an error: the storage engine's means a damaged file (exit 3); a write to a
/// closed stdout, a reader that has gone (exit 0); any other is a bug.
fn panic_error(panic: Option<Panic>) -> CommandError {
    let error = match panic {
        Some(Panic { message, .. }) if message.contains("failed printing to stdout") => {
            return CommandError::ClosedPipe;
        }
        Some(Panic { message, from_storage: true }) => {
            Error::failed(format!("the ledger file could not be read: {message}"))
                .hint("the ledger file may be damaged: `ledger verify` checks it")
        }
        Some(Panic { message, from_storage: false }) => {
            Error::internal(message).hint("if `ledger verify` finds damage, the ledger file is the cause")
        }
        None => Error::internal("a panic without a message"),
    };
    CommandError::App(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(error: &CommandError) -> ExitCode {
        error.exit_code()
    }

    #[test]
    fn each_kind_of_error_has_its_exit_code() {
        assert_eq!(code(&CommandError::App(Error::usage("bad"))), ExitCode::from(2));
        assert_eq!(code(&CommandError::App(Error::not_found("none"))), ExitCode::from(2));
        assert_eq!(code(&CommandError::App(Error::failed("broke"))), ExitCode::from(3));
        assert_eq!(code(&CommandError::App(Error::internal("bug"))), ExitCode::from(70));
        assert_eq!(code(&CommandError::ClosedPipe), ExitCode::SUCCESS);
        assert_eq!(CommandError::ClosedPipe.render(), "", "a reader that went away is not told anything");
    }

    #[test]
    fn an_error_is_shown_with_every_hint_in_order() {
        let error = CommandError::App(Error::failed("it broke").hint("first").hint("second"));
        assert_eq!(error.render(), "error: it broke\nhint: first\nhint: second\n");
        let bug = CommandError::App(Error::internal("an invariant"));
        assert_eq!(
            bug.render(),
            "error: internal error: an invariant\nhint: this is a bug in ledger; please report it with this message\n"
        );
    }

    #[test]
    fn with_output_json_an_error_is_one_object() {
        let error = CommandError::App(Error::failed("it broke").hint("first"));
        let json = error.render_json().unwrap();
        assert_eq!(
            json,
            serde_json::json!({"error": {"message": "it broke", "hints": ["first"], "exit_code": 3}})
        );
        let bug = CommandError::App(Error::internal("an invariant")).render_json().unwrap();
        assert_eq!(bug["error"]["exit_code"], 70);
        assert_eq!(bug["error"]["message"], "internal error: an invariant");
        assert_eq!(CommandError::ClosedPipe.render_json(), None);
    }

    #[test]
    fn json_is_asked_for_however_the_option_is_spelled() {
        let asks = |args: &[&str]| asks_for_json(args.iter().map(OsString::from));
        for yes in [
            &["log", "--output", "json"][..],
            &["-o", "json", "x"],
            &["--output=json"],
            &["-ojson"],
            &["-o=json"],
        ] {
            assert!(asks(yes), "{yes:?}");
        }
        for no in [
            &["log"][..],
            &["--output", "human"],
            &["-o"],
            &["register", "--", "-o", "json"],
            &["-m", "json"],
        ] {
            assert!(!asks(no), "{no:?}");
        }
    }

    #[test]
    fn a_usage_error_is_its_first_line_and_hints() {
        let rendered = "error: unexpected argument '--foo' found\n\n  tip: use '-- --foo'\n\nUsage: ledger log [ENV]\n\nFor more information, try '--help'.\n";
        let (message, hints) = usage_error_parts(rendered);
        assert_eq!(message, "unexpected argument '--foo' found");
        assert_eq!(
            hints,
            ["tip: use '-- --foo'", "Usage: ledger log [ENV]", "For more information, try '--help'."]
        );
    }

    #[test]
    fn a_panic_is_a_damaged_file_a_closed_pipe_or_a_bug() {
        let panic = |message: &str, from_storage| Some(Panic { message: message.into(), from_storage });
        let storage = panic_error(panic("page checksum mismatch", true));
        assert_eq!(storage.exit_code(), ExitCode::from(3));
        assert!(storage.render().contains("`ledger verify`"), "{}", storage.render());
        let pipe = panic_error(panic("failed printing to stdout: Broken pipe (os error 32)", false));
        assert_eq!(pipe.exit_code(), ExitCode::SUCCESS);
        let bug = panic_error(panic("index out of bounds", false));
        assert_eq!(bug.exit_code(), ExitCode::from(70));
        assert!(bug.render().starts_with("error: internal error: index out of bounds\n"), "{}", bug.render());
    }
}
