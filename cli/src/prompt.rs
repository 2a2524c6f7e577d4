//! Confirmations. Only on a terminal: without one, a command that needs a confirmation fails
//! at once unless `--yes` was given. It never waits for input that cannot come.

use std::io::{BufRead, IsTerminal, Write};

use ledger_app::{Confirm, Error, Result};

/// The CLI's [`Confirm`] hook: `--yes`, else a question on the terminal.
pub struct Prompt {
    pub yes: bool,
}

impl Confirm for Prompt {
    /// Asks before changing `env`. A protected environment asks the user to type its name.
    fn confirm_deploy(&self, env: &str, protected: bool) -> Result<()> {
        if self.yes {
            return Ok(());
        }
        if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
            return Err(Error::usage(format!(
                "deploying to {env} needs a confirmation, and there is no terminal to ask on"
            ))
            .hint("review the plan with --dry-run, then pass --yes to confirm"));
        }
        let question = if protected {
            format!("{env} is protected. Type its name to confirm: ")
        } else {
            format!("Deploy this to {env}? [y/N] ")
        };
        eprint!("{question}");
        std::io::stderr().flush().ok();
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|e| Error::failed(format!("reading the answer: {e}")))?;
        let answer = answer.trim();
        let confirmed = if protected { answer == env } else { matches!(answer, "y" | "Y" | "yes") };
        if confirmed {
            Ok(())
        } else {
            Err(Error::usage(format!("not confirmed; nothing was deployed to {env}")))
        }
    }
}
