//! The command line: global options and the command list. Each command's own options live in
//! its file under `commands/`.

use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, ValueEnum};
use ledger_app::{Settings, Workspace};

use crate::commands::Command;

const ABOUT: &str = "A release ledger for container services on AWS ECS: what runs where, since when, who put it there, why, and what changed.";

const AFTER_HELP: &str = "\
Everyday use:
  ledger register api 123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalogue/api:v1.4 --revision 3b18e51
  ledger release frontend -m \"frontend 1.4\"     a release set from the latest releases
  ledger apply frontend stage                   deploy it (shows the plan, asks first)
  ledger diff stage prod                        what a promotion would change in prod
  ledger promote stage prod -m \"ship 1.4\"
  ledger log prod                               who deployed what, when, why, and did it work
  ledger rollback prod                          undo the last successful deployment
  ledger serve                                  a web dashboard of it all: http://127.0.0.1:8080/

Sharing one ledger (see `ledger remote --help`):
  ledger clone s3://team-ledgers/catalogue      a copy of the team's ledger, checked
  ledger pull / ledger push                     take in / send what was recorded

Try it without AWS: `ledger demo` builds a sample project with a history and shows it.

Exit codes: 0 success, 1 differences (diff --exit-code), 2 bad input or refused confirmation,
3 an operation that did not succeed (or verify found damage), 70 an internal error (a bug).";

#[derive(Parser)]
#[command(name = "ledger", version, about = ABOUT, after_help = AFTER_HELP, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub globals: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// The global options that a variable can give, by id: an empty variable counts as unset.
const FROM_VARIABLES: [(&str, &str); 3] =
    [("manifest", "LEDGER_MANIFEST"), ("ledger_dir", "LEDGER_DIR"), ("actor", "LEDGER_ACTOR")];

impl Cli {
    /// The command line and the `LEDGER_*` variables, parsed; a variable set to nothing is
    /// not read (`LEDGER_MANIFEST= ledger status` looks for ledger.toml as usual).
    pub fn from_command_line() -> Result<Cli, clap::Error> {
        let mut command = Cli::command();
        for (id, variable) in FROM_VARIABLES {
            if std::env::var_os(variable).is_some_and(|value| value.is_empty()) {
                command = command.mut_arg(id, |arg| arg.env(None));
            }
        }
        Cli::from_arg_matches(&command.try_get_matches()?)
    }
}

#[derive(Args, Clone, Debug)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// The project's manifest [default: ledger.toml here or in the nearest parent directory]
    #[arg(long, global = true, env = "LEDGER_MANIFEST", hide_env_values = true, value_name = "PATH")]
    pub manifest: Option<PathBuf>,

    /// Where the ledger is stored [default: .ledger beside the manifest]
    #[arg(long, global = true, env = "LEDGER_DIR", hide_env_values = true, value_name = "DIR")]
    pub ledger_dir: Option<PathBuf>,

    /// Who is acting, recorded on new entries [default: git's user.name <user.email>, else user@host]
    #[arg(long, global = true, env = "LEDGER_ACTOR", hide_env_values = true, value_name = "NAME")]
    pub actor: Option<String>,

    /// The AWS profile to use [default: the standard chain: AWS_PROFILE, environment, SSO, instance role]
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// The AWS region, over the environment's own [default: ledger.toml's, else AWS_REGION]
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,

    /// Output format: tables for people, JSON for scripts
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Human,
    Json,
}

impl GlobalArgs {
    pub fn json(&self) -> bool {
        self.output == OutputFormat::Json
    }

    /// What the application layer is given: the settings as resolved from flags and variables.
    pub fn settings(&self) -> Settings {
        Settings {
            manifest: self.manifest.clone(),
            ledger_dir: self.ledger_dir.clone(),
            actor: self.actor.clone(),
            profile: self.profile.clone(),
            region: self.region.clone(),
        }
    }

    /// The workspace these options name.
    pub fn workspace(&self) -> Result<Workspace, ledger_app::Error> {
        Workspace::load(&self.settings())
    }
}
