//! The shared remote as commands see it: which remotes are configured (`[remote]` in
//! ledger.toml, and those `ledger remote add` keeps in `.ledger/remotes.toml`), connecting to
//! one, progress on stderr, and remote errors as command errors.

use std::cell::Cell;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use ledger::manifest::RemoteSettings;
use ledger::store::{Writer, ref_of, refs};
use ledger::{Body, EntryId, Source, Stamp, Store, StoredEntry, Timestamp};
use ledger_sync::remote::exchange::{self, ExchangeError, Progress, Refused};
use ledger_sync::remote::file::FileRemote;
use ledger_sync::remote::lease::{self, Lease, LeaseError, Taken};
use ledger_sync::remote::s3::{Encryption, S3Location, S3Remote};
use ledger_sync::remote::{AnyRemote, RemoteError, get_ref};
use ledger_sync::{AwsSettings, Cloud};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::cli::GlobalArgs;
use crate::cloud;
use crate::error::{CommandError, CommandResult};
use crate::lock;
use crate::workspace::Workspace;

/// Where `ledger remote add` keeps remotes, in the ledger directory.
pub const REMOTES_FILE: &str = "remotes.toml";

#[derive(Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RemotesFile {
    #[serde(default)]
    remote: Vec<RemoteSettings>,
}

/// A configured remote and where it is configured.
pub struct Configured {
    pub settings: RemoteSettings,
    /// In ledger.toml (shared with the team) rather than in the ledger directory.
    pub in_manifest: bool,
}

/// The remotes `ledger remote add` keeps in `ledger_dir`.
pub fn read_added(ledger_dir: &Path) -> Result<Vec<RemoteSettings>, CommandError> {
    let path = ledger_dir.join(REMOTES_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(CommandError::failed(format!("cannot read {}: {error}", path.display()))),
    };
    let file: RemotesFile = toml::from_str(&text)
        .map_err(|error| CommandError::user(format!("{}: {}", path.display(), error.message().trim())))?;
    for remote in &file.remote {
        remote.check().map_err(|message| CommandError::user(format!("{}: {message}", path.display())))?;
    }
    Ok(file.remote)
}

/// Replaces the remotes kept in `ledger_dir` (written whole, then renamed into place).
pub fn write_added(ledger_dir: &Path, remotes: Vec<RemoteSettings>) -> Result<(), CommandError> {
    let path = ledger_dir.join(REMOTES_FILE);
    let text = toml::to_string(&RemotesFile { remote: remotes }).expect("remote settings always serialise");
    let temporary = ledger_dir.join(format!(".{REMOTES_FILE}.{}", std::process::id()));
    std::fs::write(&temporary, text)
        .and_then(|()| std::fs::rename(&temporary, &path))
        .map_err(|error| CommandError::failed(format!("cannot write {}: {error}", path.display())))
}

/// Every remote: ledger.toml's `[remote]` first, then those added here.
pub fn configured(workspace: &Workspace) -> Result<Vec<Configured>, CommandError> {
    let mut remotes: Vec<Configured> = workspace
        .manifest
        .remote
        .iter()
        .map(|settings| Configured { settings: settings.clone(), in_manifest: true })
        .collect();
    for settings in read_added(&workspace.ledger_dir)? {
        if !remotes.iter().any(|r| r.settings.name == settings.name) {
            remotes.push(Configured { settings, in_manifest: false });
        }
    }
    Ok(remotes)
}

/// The remote `register`, `release` and `apply` keep in step with: ledger.toml's `[remote]`,
/// else the one named `origin`, else the only one; `None` when there is none.
pub fn default_remote(workspace: &Workspace) -> Result<Option<RemoteSettings>, CommandError> {
    let mut remotes = configured(workspace)?;
    let chosen = match remotes.iter().position(|r| r.in_manifest || r.settings.name == "origin") {
        Some(index) => Some(remotes.swap_remove(index)),
        None if remotes.len() == 1 => remotes.pop(),
        None => None,
    };
    Ok(chosen.map(|r| r.settings))
}

/// The remote named `name`, or the default one.
pub fn choose(workspace: &Workspace, name: Option<&str>) -> Result<RemoteSettings, CommandError> {
    let Some(name) = name else {
        return default_remote(workspace)?.ok_or_else(|| {
            CommandError::user(
                "no remote given, and no default one (ledger.toml's [remote], or one named origin)",
            )
            .with_hint("name one, or add one: `ledger remote add origin s3://bucket/prefix`")
        });
    };
    let remotes = configured(workspace)?;
    let names: Vec<&str> = remotes.iter().map(|r| r.settings.name.as_str()).collect();
    remotes.iter().find(|r| r.settings.name == name).map(|r| r.settings.clone()).ok_or_else(|| {
        let known = if names.is_empty() { "none".to_string() } else { names.join(", ") };
        CommandError::user(format!("unknown remote {name:?}; configured: {known}"))
            .with_hint("add it with `ledger remote add <name> <url>`")
    })
}

/// Connects to a remote. S3 uses the standard AWS chain with `--profile`, and `--region` or
/// `region` (ledger.toml's `[aws] region` when there is a manifest).
pub fn connect(
    settings: &RemoteSettings,
    globals: &GlobalArgs,
    region: Option<String>,
) -> Result<AnyRemote, CommandError> {
    settings.check().map_err(CommandError::user)?;
    if settings.url.starts_with("file://") {
        let remote = FileRemote::new(&settings.url).ok_or_else(|| {
            CommandError::user(format!("{:?} is not a file:///absolute/path URL", settings.url))
        })?;
        return Ok(AnyRemote::File(remote));
    }
    let location = S3Location::parse(&settings.url).map_err(CommandError::user)?;
    let encryption = match settings.sse.as_deref() {
        None => Encryption::BucketDefault,
        Some("aws:kms") => Encryption::Kms(settings.kms_key_id.clone()),
        Some(_) => Encryption::S3,
    };
    let aws = AwsSettings {
        profile: globals.profile.clone(),
        region: globals.region.clone().or(region),
        role_arn: None,
    };
    let cloud = cloud::run(Cloud::connect(&aws))?.map_err(|error| CommandError::user(error.to_string()))?;
    Ok(AnyRemote::S3(S3Remote::new(&settings.url, location, cloud.s3(), encryption)))
}

/// A remote, connected: for the commands that keep in step with it.
pub struct Shared {
    pub name: String,
    pub remote: AnyRemote,
    globals: GlobalArgs,
}

impl Shared {
    /// The default remote of `workspace`; `None` when there is none.
    pub fn connect(workspace: &Workspace) -> Result<Option<Shared>, CommandError> {
        let Some(settings) = default_remote(workspace)? else { return Ok(None) };
        Ok(Some(Shared::with(workspace, settings)?))
    }

    /// The remote `name` of `workspace`, or its default one.
    pub fn chosen(workspace: &Workspace, name: Option<&str>) -> Result<Shared, CommandError> {
        Shared::with(workspace, choose(workspace, name)?)
    }

    fn with(workspace: &Workspace, settings: RemoteSettings) -> Result<Shared, CommandError> {
        let remote = connect(&settings, &workspace.globals, project_region(workspace))?;
        Ok(Shared { name: settings.name, remote, globals: workspace.globals.clone() })
    }

    /// Takes in what the remote has; a refused ref is an error.
    pub fn pull(&self, store: &Store) -> Result<(), CommandError> {
        let report =
            cloud::run(exchange::pull(store, &self.remote, &self.name, &Shown::new(&self.globals)))??;
        accepted("pull from", &self.name, &report.refused)
    }

    /// Sends what was recorded here (to ref `only`, when given); a refused ref is an error.
    pub fn push(&self, store: &Store, only: Option<&str>) -> Result<(), CommandError> {
        let report =
            cloud::run(exchange::push(store, &self.remote, &self.name, only, &Shown::new(&self.globals)))??;
        accepted("push to", &self.name, &report.refused)
    }

    /// Takes `env`'s lease on the remote for `holder` until `expires_at`, then checks that the
    /// remote's history of `env` is this ledger's (pushing what this ledger has beyond it).
    /// Nothing has been planned or called yet when this refuses.
    pub fn take_lease(
        &self,
        store: &Store,
        env: &str,
        holder: &str,
        expires_at: Timestamp,
    ) -> Result<Lease, CommandError> {
        let now = Timestamp::now();
        let taken = cloud::run(lease::take(
            &self.remote,
            env,
            holder,
            now.unix_seconds(),
            expires_at.unix_seconds(),
        ))??;
        let lease = match taken {
            Taken::Held(lease) => lease,
            Taken::Busy { holder, expires_at } => {
                let until = Timestamp::from_unix_seconds(expires_at).to_human();
                return Err(CommandError::failed(format!("environment {env} is being deployed from another ledger: {holder} holds its lease on {} until {until}", self.name))
                    .with_hint("try again when that deployment has finished (a lease left by a killed apply runs out at the time shown)"));
            }
        };
        let name = refs::env(env);
        let checked = (|| {
            let remote_head = cloud::run(get_ref(&self.remote, &name))??.map(|state| state.doc.target);
            let local_head = store.read()?.ref_target(&name)?;
            if remote_head == local_head {
                return Ok(());
            }
            // A remote head this ledger has is one it pulled: what was recorded here since
            // goes up first (push moves the ref only as a fast-forward).
            let known = match remote_head {
                Some(head) => store.read()?.seq_of(&head)?.is_some(),
                None => true,
            };
            if known {
                return self.push(store, Some(&name));
            }
            Err(CommandError::failed(format!(
                "the remote's history of {env} moved since this ledger pulled it (someone deployed there)"
            ))
            .with_hint("run the command again: it pulls and plans against what runs there now"))
        })();
        match checked {
            Ok(()) => Ok(lease),
            Err(error) => {
                self.release(lease);
                Err(error)
            }
        }
    }

    /// Runs `work` (which records to `env`) holding `env`'s lease on the remote, for at most
    /// `timeout` and a margin; then pushes what was recorded and gives the lease back, also
    /// when `work` failed. If the push fails, the lease is kept until it runs out, so no one
    /// deploys on top of a history they cannot see.
    pub fn under_lease(
        &self,
        store: &Store,
        env: &str,
        actor: &str,
        timeout: Duration,
        work: impl FnOnce() -> CommandResult,
    ) -> CommandResult {
        let ttl = timeout + LEASE_MARGIN;
        let expires_at = Timestamp(Timestamp::now().0.saturating_add(ttl.as_micros() as i64));
        let lease = self.take_lease(store, env, &lock::holder(actor), expires_at)?;
        let worked = work();
        match self.push(store, Some(&refs::env(env))) {
            Ok(()) => {
                self.release(lease);
                worked
            }
            Err(error) => {
                let error = error.with_hint(format!(
                    "it is recorded in this ledger; `ledger push` sends it. The lease of {env} on {} stays until {}",
                    self.name,
                    expires_at.to_human()
                ));
                match worked {
                    Ok(_) => Err(error),
                    Err(work_error) => {
                        eprint!("{}", error.render());
                        Err(work_error)
                    }
                }
            }
        }
    }

    /// Gives the lease back; a failure to is reported, not fatal (the lease runs out).
    fn release(&self, lease: Lease) {
        match cloud::run(lease::release(&self.remote, lease)) {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => {
                eprintln!("warning: the environment's lease had run out and was taken over meanwhile")
            }
            Ok(Err(error)) => eprintln!(
                "warning: the environment's lease was not given back ({error}); it runs out by itself"
            ),
            Err(error) => {
                eprintln!("warning: the environment's lease was not given back ({})", error.render().trim())
            }
        }
    }
}

/// Records a new release or release set: with a remote, on the remote first and then here,
/// sealed again on top of whatever others appended meanwhile (see [`exchange::append`]).
pub fn record_release(
    store: &Store,
    shared: Option<&Shared>,
    stamp: Stamp,
    body: Body,
) -> Result<StoredEntry, CommandError> {
    let seal = |w: &Writer<'_>| w.seal_new(stamp.clone(), body.clone());
    let Some(shared) = shared else {
        return Ok(store.write(|w| {
            let (stored, bytes) = seal(w)?;
            w.receive(stored.id, &bytes)
        })?);
    };
    let name = ref_of(&body)
        .ok_or_else(|| CommandError::failed("internal error: only releases and release sets are appended"))?;
    let appended = cloud::run(exchange::append(store, &shared.remote, &shared.name, &name, seal))?;
    appended.map_err(|error| {
        CommandError::from(error)
            .with_hint(format!("nothing was recorded; it is recorded once {} has it", shared.name))
    })
}

pub fn project_region(workspace: &Workspace) -> Option<String> {
    workspace.manifest.aws.as_ref().and_then(|aws| aws.region.clone())
}

/// The refusals of a push or pull as an error that says what to do.
/// `Ok` when no ref was refused; otherwise an error listing each refused ref and why.
pub fn accepted(what: &str, remote: &str, refused: &[Refused]) -> Result<(), CommandError> {
    if refused.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = refused.iter().map(|r| format!("  {}: {}", r.name, r.why)).collect();
    Err(CommandError::failed(format!(
        "{what} {remote}: {} ref(s) refused:\n{}",
        refused.len(),
        lines.join("\n")
    )))
}

/// An exchange's outcome for scripts: `{"remote", <count_field>: count, "moved", "refused"}`.
pub fn exchange_json(
    remote: &str,
    count_field: &str,
    count: usize,
    moved: &[(String, EntryId)],
    refused: &[Refused],
) -> Value {
    let moved: Vec<Value> =
        moved.iter().map(|(name, id)| json!({"ref": name, "target": id.to_hex()})).collect();
    let refused: Vec<Value> = refused.iter().map(|r| json!({"ref": r.name, "why": r.why})).collect();
    json!({"remote": remote, count_field: count, "moved": moved, "refused": refused})
}

/// Prints each moved ref and its new target, one per line.
pub fn print_moved(moved: &[(String, EntryId)]) {
    for (name, target) in moved {
        println!("{name} -> {}", target.short());
    }
}

impl From<ExchangeError> for CommandError {
    fn from(error: ExchangeError) -> CommandError {
        match error {
            ExchangeError::Store(error) => error.into(),
            ExchangeError::Remote(error) => error.into(),
            ExchangeError::BadObject { .. } | ExchangeError::MissingObject { .. } => {
                CommandError::failed(error.to_string())
                    .with_hint("`ledger verify --remote <name>` checks the whole remote")
            }
            other => CommandError::failed(other.to_string()),
        }
    }
}

impl From<RemoteError> for CommandError {
    fn from(error: RemoteError) -> CommandError {
        CommandError::failed(error.to_string()).with_hint(
            "check the network and the credentials (AWS_PROFILE, --profile), and that the bucket exists",
        )
    }
}

impl From<LeaseError> for CommandError {
    fn from(error: LeaseError) -> CommandError {
        match error {
            LeaseError::Remote(error) => error.into(),
            other => CommandError::failed(other.to_string()),
        }
    }
}

/// Progress on stderr: a bar redrawn in place on a terminal, once something has taken more
/// than a moment; otherwise (CI) one plain line per step when it ends.
pub struct Shown {
    terminal: bool,
    step: Cell<&'static str>,
    total: Cell<usize>,
    done: Cell<usize>,
    started: Cell<Option<Instant>>,
    drawn: Cell<bool>,
}

/// How long a lease outlives the rollout timeout of its environment.
const LEASE_MARGIN: Duration = Duration::from_secs(10 * 60);

/// How long a step runs before a bar appears.
const MOMENT: Duration = Duration::from_millis(300);

impl Shown {
    pub fn new(globals: &GlobalArgs) -> Shown {
        Shown {
            terminal: std::io::stderr().is_terminal() && !globals.json(),
            step: Cell::new(""),
            total: Cell::new(0),
            done: Cell::new(0),
            started: Cell::new(None),
            drawn: Cell::new(false),
        }
    }

    fn draw(&self) {
        const WIDTH: usize = 30;
        let (done, total) = (self.done.get(), self.total.get());
        let line = match (done * WIDTH).checked_div(total) {
            Some(filled) => {
                let filled = filled.min(WIDTH);
                let bar = format!("{}{}", "#".repeat(filled), " ".repeat(WIDTH - filled));
                format!("{} [{bar}] {done}/{total}", self.step.get())
            }
            None => format!("{} {done}", self.step.get()),
        };
        eprint!("\r{line}\x1b[K");
        std::io::stderr().flush().ok();
        self.drawn.set(true);
    }
}

impl Progress for Shown {
    fn start(&self, step: &'static str, total: usize) {
        self.step.set(step);
        self.total.set(total);
        self.done.set(0);
        self.started.set(Some(Instant::now()));
        self.drawn.set(false);
    }

    fn advance(&self, items: usize) {
        self.done.set(self.done.get() + items);
        let long = self.started.get().is_some_and(|started| started.elapsed() >= MOMENT);
        if self.terminal
            && long
            && (self.done.get().is_multiple_of(64) || self.done.get() == self.total.get())
        {
            self.draw();
        }
    }

    fn finish(&self) {
        if self.terminal {
            if self.drawn.get() {
                self.draw();
                eprintln!();
            }
        } else if self.done.get() > 0 {
            eprintln!("{} {} objects", self.step.get(), self.done.get());
        }
    }
}
