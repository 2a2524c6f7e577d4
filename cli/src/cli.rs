//! The command line: global options and the command list. Each command's own options live in
//! its file under `commands/`.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Subcommand, ValueEnum};
use ledger_app::{Settings, Workspace};

use crate::commands::{self, Command};

const ABOUT: &str = "A release ledger for container services on AWS ECS: what runs where, since when, who put it there, why, and what changed.";

const AFTER_HELP: &str = "\
Everyday use:
  ledger register api 123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalogue/api:v1.4 --revision 3b18e51
  ledger release frontend -m \"frontend 1.4\"     a release set from the latest releases
  ledger apply frontend stage                   deploy it (shows the plan, asks first)
  ledger diff stage prod                        what a promotion would change in prod
  ledger promote stage prod -m \"ship 1.4\"
  ledger log prod                               who deployed what, when, why, and did it work
  ledger rollback prod                          back to the last good state (the plan says which)
  ledger serve                                  a web dashboard of it all: http://127.0.0.1:8080/

Sharing one ledger (see `ledger remote --help`):
  ledger clone s3://team-ledgers/catalogue      a copy of the team's ledger, checked
  ledger pull / ledger push                     take in / send what was recorded

Signed history ([signing] in ledger.toml, LEDGER_SIGNING_KEY):
  ledger signer                                 the key you sign with, and its allowed_signers line

Try it without AWS: `ledger demo` builds a sample project with a history and shows it.

Exit codes: 0 success, 1 differences (diff --exit-code), 2 bad input or refused confirmation,
3 an operation that did not succeed (or verify found damage), 4 refused by policy (a gate of the
environment, or the signing policy), 70 an internal error (a bug).";

/// A parsed command line: the global options and the command.
pub struct Cli {
    pub globals: GlobalArgs,
    pub command: Command,
}

/// The whole command tree (for `--help`, completions and the man page).
impl CommandFactory for Cli {
    fn command() -> clap::Command {
        Command::augment_subcommands(top_level())
    }

    fn command_for_update() -> clap::Command {
        Command::augment_subcommands_for_update(top_level())
    }
}

/// `ledger` and its global options, without the commands.
fn top_level() -> clap::Command {
    GlobalArgs::augment_args(clap::Command::new("ledger"))
        .subcommand_required(true)
        .arg_required_else_help(true)
        .version(env!("CARGO_PKG_VERSION"))
        .about(ABOUT)
        .after_help(AFTER_HELP)
        .max_term_width(100)
}

/// The global options that a variable can give, by id: an empty variable counts as unset.
const FROM_VARIABLES: [(&str, &str); 3] =
    [("manifest", "LEDGER_MANIFEST"), ("ledger_dir", "LEDGER_DIR"), ("actor", "LEDGER_ACTOR")];

impl Cli {
    /// The command line and the `LEDGER_*` variables, parsed; a variable set to nothing is
    /// not read (`LEDGER_MANIFEST= ledger status` looks for ledger.toml as usual).
    ///
    /// Only the part of the command tree the command line needs is built: the command it names
    /// (with its own subcommands), or for `--version` none at all. Building every command, with
    /// the global options copied into each, was most of the work a short command did before
    /// reaching its own (see benches/README.md, "Start-up").
    pub fn from_command_line() -> Result<Cli, clap::Error> {
        Cli::parse_from(std::env::args_os().collect())
    }

    fn parse_from(args: Vec<OsString>) -> Result<Cli, clap::Error> {
        let mut command = match needed_tree(args.get(1..).unwrap_or_default()) {
            Tree::Named(name) => match commands::one_command(name) {
                Some(one) => top_level().subcommand(one),
                None => Cli::command(),
            },
            Tree::TopLevel => top_level(),
            Tree::Whole => Cli::command(),
        };
        for (id, variable) in FROM_VARIABLES {
            if std::env::var_os(variable).is_some_and(|value| value.is_empty()) {
                command = command.mut_arg(id, |arg| arg.env(None));
            }
        }
        let matches = command.try_get_matches_from(args)?;
        Ok(Cli {
            globals: GlobalArgs::from_arg_matches(&matches)?,
            command: Command::from_arg_matches(&matches)?,
        })
    }
}

/// How much of the command tree a command line needs.
#[derive(Debug, PartialEq, Eq)]
enum Tree<'a> {
    /// The command of this name (after any global options), if it is one.
    Named(&'a str),
    /// No command: `--version`.
    TopLevel,
    /// All of it: `--help`, a mistake to suggest a command for, anything unusual.
    Whole,
}

/// The global options that take a value as the next argument (`--output json`).
const GLOBALS_WITH_A_VALUE: [&str; 7] =
    ["--manifest", "--ledger-dir", "--actor", "--profile", "--region", "--output", "-o"];

/// What `args` (the command line after the program's name) needs of the tree. Global options
/// before the command are stepped over; any other option there needs the whole tree, so that
/// clap sees everything it would see for a mistake.
fn needed_tree(args: &[OsString]) -> Tree<'_> {
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let Some(arg) = arg.to_str() else { return Tree::Whole };
        if GLOBALS_WITH_A_VALUE.contains(&arg) {
            if args.next().is_none() {
                return Tree::Whole;
            }
        } else if arg == "--version" || arg == "-V" {
            return Tree::TopLevel;
        } else if arg.starts_with('-') {
            let attached_value = GLOBALS_WITH_A_VALUE.iter().any(|global| {
                arg.strip_prefix(global)
                    .is_some_and(|rest| rest.starts_with('=') || (*global == "-o" && !rest.is_empty()))
            });
            if !attached_value {
                return Tree::Whole;
            }
        } else {
            return Tree::Named(arg);
        }
    }
    Tree::Whole
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
    /// One JSON object per line: `ledger export`'s format, and only its.
    #[value(hide = true)]
    Ndjson,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<OsString> {
        line.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn the_command_named_is_found_after_the_global_options() {
        for (line, tree) in [
            ("log prod -n 5", Tree::Named("log")),
            ("--manifest ledger.toml -o json log", Tree::Named("log")),
            ("--output=json --actor=me diff a b", Tree::Named("diff")),
            ("-ojson status", Tree::Named("status")),
            ("--region eu-west-1 lgo", Tree::Named("lgo")),
            ("--version", Tree::TopLevel),
            ("-o json -V", Tree::TopLevel),
            ("--help", Tree::Whole),
            ("-h log", Tree::Whole),
            ("--bogus log", Tree::Whole),
            ("--outputs json log", Tree::Whole),
            ("--manifest", Tree::Whole),
            ("-- log", Tree::Whole),
            ("", Tree::Whole),
        ] {
            assert_eq!(needed_tree(&args(line)), tree, "{line:?}");
        }
    }

    /// Every command, built alone under the top level, is what the whole tree holds.
    #[test]
    fn each_command_alone_is_built_as_in_the_whole_tree() {
        let mut whole = Cli::command();
        whole.build();
        let names: Vec<String> =
            whole.get_subcommands().map(|c| c.get_name().to_string()).filter(|name| name != "help").collect();
        assert!(names.len() >= 20, "{names:?}");
        for name in names {
            let one = commands::one_command(&name).unwrap_or_else(|| panic!("{name} cannot be built alone"));
            let mut alone = top_level().subcommand(one);
            alone.build();
            let built = |tree: &mut clap::Command| {
                let command = tree.find_subcommand_mut(&name).expect("the command");
                // (Its place in the list of commands, which only the whole tree's help shows, aside.)
                (
                    format!("{:?}", command.clone().display_order(0)),
                    command.render_long_help().to_string(),
                    command.render_usage().to_string(),
                )
            };
            assert_eq!(built(&mut alone), built(&mut whole), "{name}");
        }
        assert!(commands::one_command("help").is_none() && commands::one_command("lgo").is_none());
    }

    /// A command line gives the same result (or the same error) through the part of the tree
    /// it needs as through the whole tree.
    #[test]
    fn a_command_line_parses_as_with_the_whole_tree() {
        for line in [
            "ledger log prod -n 5 -o json",
            "ledger -o json diff stage prod --exit-code",
            "ledger --actor me register api img:1",
            "ledger log --limt 5",
            "ledger log -n many",
            "ledger remote ad origin s3://bucket",
            "ledger remote add",
            "ledger lgo",
            "ledger --version",
            "ledger -V",
            "ledger diff stage",
        ] {
            let through_part = match Cli::parse_from(args(line)) {
                Ok(cli) => Ok(format!("{:?} {:?}", cli.globals, cli.command)),
                Err(error) => Err((error.kind(), error.render().to_string())),
            };
            let through_whole = match Cli::command().try_get_matches_from(args(line)) {
                Ok(matches) => Ok(format!(
                    "{:?} {:?}",
                    GlobalArgs::from_arg_matches(&matches).unwrap(),
                    Command::from_arg_matches(&matches).unwrap()
                )),
                Err(error) => Err((error.kind(), error.render().to_string())),
            };
            assert_eq!(through_part, through_whole, "{line}");
        }
    }
}
