//! The shared remote as operations see it: which remotes are configured (`[remote]` in
//! ledger.toml, and those `ledger remote add` keeps in `.ledger/remotes.toml`), connecting to
//! one by its URL, exchanging with it, holding an environment's lease on it, and remote errors
//! as application errors.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use ledger::manifest::RemoteSettings;
use ledger::refs::RefName;
use ledger::store::{Writer, ref_of};
use ledger::{Body, EntryId, Source, Stamp, Store, StoreError, StoredEntry, Timestamp};
use ledger_remote::exchange::{self, ExchangeError, Refused};
use ledger_remote::file::FileRemote;
use ledger_remote::lease::{self, Holder, Lease, LeaseError, Taken};
use ledger_remote::marker::{self, Marker, MarkerError};
use ledger_remote::pack::{ListedPackFile, PackKey};
use ledger_remote::{
    Document, DocumentKey, ListedRef, Remote, RemoteError, Written, get_ref, lease_key, remembered,
};
use ledger_sync::AwsSettings;
use ledger_sync::s3::{Encryption, S3Location, S3Remote};
use serde::{Deserialize, Serialize};

use crate::cloud;
use crate::error::{Error, ErrorKind, Result};
use crate::hooks::Progress;
use crate::interrupt;
use crate::lock;
use crate::runtime::block_on;
use crate::text;
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
pub fn read_added(ledger_dir: &Path) -> Result<Vec<RemoteSettings>> {
    let path = ledger_dir.join(REMOTES_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(Error::failed(format!("cannot read {}: {error}", path.display()))),
    };
    let file: RemotesFile = toml::from_str(&text)
        .map_err(|error| Error::usage(format!("{}: {}", path.display(), error.message().trim())))?;
    for remote in &file.remote {
        remote.check().map_err(|message| Error::usage(format!("{}: {message}", path.display())))?;
    }
    Ok(file.remote)
}

/// Replaces the remotes kept in `ledger_dir` (written whole, then renamed into place).
pub fn write_added(ledger_dir: &Path, remotes: Vec<RemoteSettings>) -> Result<()> {
    let path = ledger_dir.join(REMOTES_FILE);
    let text = toml::to_string(&RemotesFile { remote: remotes }).expect("remote settings always serialise");
    let temporary = ledger_dir.join(format!(".{REMOTES_FILE}.{}", std::process::id()));
    std::fs::write(&temporary, text)
        .and_then(|()| std::fs::rename(&temporary, &path))
        .map_err(|error| Error::failed(format!("cannot write {}: {error}", path.display())))
}

/// Every remote: ledger.toml's `[remote]` first, then those added here.
pub fn configured(workspace: &Workspace) -> Result<Vec<Configured>> {
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
pub fn default_remote(workspace: &Workspace) -> Result<Option<RemoteSettings>> {
    let mut remotes = configured(workspace)?;
    let chosen = match remotes.iter().position(|r| r.in_manifest || r.settings.name == "origin") {
        Some(index) => Some(remotes.swap_remove(index)),
        None if remotes.len() == 1 => remotes.pop(),
        None => None,
    };
    Ok(chosen.map(|r| r.settings))
}

/// The remote named `name`, or the default one.
pub fn choose(workspace: &Workspace, name: Option<&str>) -> Result<RemoteSettings> {
    let Some(name) = name else {
        return default_remote(workspace)?.ok_or_else(|| {
            Error::usage("no remote given, and no default one (ledger.toml's [remote], or one named origin)")
                .hint("name one, or add one: `ledger remote add origin s3://bucket/prefix`")
        });
    };
    let remotes = configured(workspace)?;
    let names: Vec<&str> = remotes.iter().map(|r| r.settings.name.as_str()).collect();
    remotes.iter().find(|r| r.settings.name == name).map(|r| r.settings.clone()).ok_or_else(|| {
        let known = if names.is_empty() { "none".to_string() } else { names.join(", ") };
        Error::usage(format!("unknown remote {name:?}; configured: {known}"))
            .hint("add it with `ledger remote add <name> <url>`")
    })
}

/// Connects to a remote by its URL. S3 uses the standard AWS chain with the settings' profile,
/// and their region, else `region` (the project's `[aws] region` when there is a manifest).
pub fn connect(
    settings: &RemoteSettings,
    aws: &crate::workspace::Settings,
    region: Option<String>,
) -> Result<AnyRemote> {
    settings.check().map_err(Error::usage)?;
    if settings.url.starts_with("file://") {
        let remote = FileRemote::new(&settings.url)
            .ok_or_else(|| Error::usage(format!("{:?} is not a file:///absolute/path URL", settings.url)))?;
        return Ok(AnyRemote::File(remote));
    }
    let location = S3Location::parse(&settings.url).map_err(Error::usage)?;
    let encryption = match settings.sse.as_deref() {
        None => Encryption::BucketDefault,
        Some("aws:kms") => Encryption::Kms(settings.kms_key_id.clone()),
        Some(_) => Encryption::S3,
    };
    let aws =
        AwsSettings { profile: aws.profile.clone(), region: aws.region.clone().or(region), role_arn: None };
    let cloud = cloud::connect_with(&aws)?;
    Ok(AnyRemote::S3(S3Remote::new(&settings.url, location, cloud.s3(), encryption)))
}

/// A remote of any kind, chosen by its URL.
pub enum AnyRemote {
    File(FileRemote),
    S3(S3Remote),
}

impl Remote for AnyRemote {
    fn url(&self) -> &str {
        match self {
            AnyRemote::File(remote) => remote.url(),
            AnyRemote::S3(remote) => remote.url(),
        }
    }

    async fn get_object(&self, id: EntryId) -> Result<Option<Vec<u8>>, RemoteError> {
        match self {
            AnyRemote::File(remote) => remote.get_object(id).await,
            AnyRemote::S3(remote) => remote.get_object(id).await,
        }
    }

    async fn put_object(&self, id: EntryId, bytes: &[u8]) -> Result<Written, RemoteError> {
        match self {
            AnyRemote::File(remote) => remote.put_object(id, bytes).await,
            AnyRemote::S3(remote) => remote.put_object(id, bytes).await,
        }
    }

    async fn list_objects(&self) -> Result<Vec<EntryId>, RemoteError> {
        match self {
            AnyRemote::File(remote) => remote.list_objects().await,
            AnyRemote::S3(remote) => remote.list_objects().await,
        }
    }

    async fn delete_object(&self, id: EntryId) -> Result<(), RemoteError> {
        match self {
            AnyRemote::File(remote) => remote.delete_object(id).await,
            AnyRemote::S3(remote) => remote.delete_object(id).await,
        }
    }

    async fn get_pack_file(
        &self,
        key: &PackKey,
        range: Option<Range<u64>>,
    ) -> Result<Option<Vec<u8>>, RemoteError> {
        match self {
            AnyRemote::File(remote) => remote.get_pack_file(key, range).await,
            AnyRemote::S3(remote) => remote.get_pack_file(key, range).await,
        }
    }

    async fn put_pack_file(&self, key: &PackKey, bytes: &[u8]) -> Result<Written, RemoteError> {
        match self {
            AnyRemote::File(remote) => remote.put_pack_file(key, bytes).await,
            AnyRemote::S3(remote) => remote.put_pack_file(key, bytes).await,
        }
    }

    async fn list_pack_files(&self) -> Result<Vec<ListedPackFile>, RemoteError> {
        match self {
            AnyRemote::File(remote) => remote.list_pack_files().await,
            AnyRemote::S3(remote) => remote.list_pack_files().await,
        }
    }

    async fn delete_pack_file(&self, key: &PackKey) -> Result<(), RemoteError> {
        match self {
            AnyRemote::File(remote) => remote.delete_pack_file(key).await,
            AnyRemote::S3(remote) => remote.delete_pack_file(key).await,
        }
    }

    async fn get_document(&self, key: &DocumentKey) -> Result<Option<Document>, RemoteError> {
        match self {
            AnyRemote::File(remote) => remote.get_document(key).await,
            AnyRemote::S3(remote) => remote.get_document(key).await,
        }
    }

    async fn put_document(
        &self,
        key: &DocumentKey,
        bytes: &[u8],
        expected: Option<&str>,
    ) -> Result<Written, RemoteError> {
        match self {
            AnyRemote::File(remote) => remote.put_document(key, bytes, expected).await,
            AnyRemote::S3(remote) => remote.put_document(key, bytes, expected).await,
        }
    }

    async fn list_refs(&self) -> Result<Vec<ListedRef>, RemoteError> {
        match self {
            AnyRemote::File(remote) => remote.list_refs().await,
            AnyRemote::S3(remote) => remote.list_refs().await,
        }
    }
}

/// A remote, connected: for the operations that keep in step with it.
pub struct Shared {
    pub name: String,
    pub remote: AnyRemote,
    /// This process pulled: the remote's refs as the store remembers them are as listed then.
    listed: Cell<bool>,
}

impl Shared {
    /// The default remote of `workspace`; `None` when there is none. `store`, when given, is
    /// the ledger that remembers the remote's marker (see [`Shared::chosen`]).
    pub fn connect(workspace: &Workspace, store: Option<&Store>) -> Result<Option<Shared>> {
        let Some(settings) = default_remote(workspace)? else { return Ok(None) };
        Ok(Some(Shared::with(workspace, settings, store)?))
    }

    /// The remote `name` of `workspace`, or its default one, once its marker says it is this
    /// project's remote: read and checked, unless `store` remembers it checked at this URL.
    pub fn chosen(workspace: &Workspace, name: Option<&str>, store: Option<&Store>) -> Result<Shared> {
        Shared::with(workspace, choose(workspace, name)?, store)
    }

    /// The remote `name` of `workspace`, or its default one, for a push: a location that
    /// holds nothing at all becomes this project's remote (its marker is written).
    pub fn chosen_for_push(workspace: &Workspace, name: Option<&str>, store: &Store) -> Result<Shared> {
        let settings = choose(workspace, name)?;
        let shared = Shared::unchecked(workspace, settings)?;
        let project = &workspace.manifest.project.id;
        if !shared.marker_remembered(Some(store), project)? {
            block_on(marker::check_or_create(&shared.remote, project))??;
            shared.remember_marker(Some(store), project)?;
        }
        Ok(shared)
    }

    /// Connects, and checks that the location is a remote of this project (its marker).
    fn with(workspace: &Workspace, settings: RemoteSettings, store: Option<&Store>) -> Result<Shared> {
        let shared = Shared::unchecked(workspace, settings)?;
        let project = &workspace.manifest.project.id;
        if !shared.marker_remembered(store, project)? {
            block_on(marker::check(&shared.remote, Some(project)))??;
            shared.remember_marker(store, project)?;
        }
        Ok(shared)
    }

    fn unchecked(workspace: &Workspace, settings: RemoteSettings) -> Result<Shared> {
        let remote = connect(&settings, &workspace.settings, workspace.project_region())?;
        Ok(Shared { name: settings.name, remote, listed: Cell::new(false) })
    }

    /// Whether `store` remembers this remote's marker, at this URL, as one of `project`.
    fn marker_remembered(&self, store: Option<&Store>, project: &str) -> Result<bool> {
        let Some(store) = store else { return Ok(false) };
        let found = remembered::document(store, &self.name, &self.remote, &marker::marker_key())?;
        Ok(found.is_some_and(|document| document.bytes == Marker::new(project).to_bytes()))
    }

    /// Remembers in `store` that this remote's marker, at this URL, is `project`'s (a ledger
    /// opened for reading remembers nothing).
    fn remember_marker(&self, store: Option<&Store>, project: &str) -> Result<()> {
        let Some(store) = store else { return Ok(()) };
        let document = Document { bytes: Marker::new(project).to_bytes(), etag: String::new() };
        match remembered::remember_document(store, &self.name, &self.remote, &marker::marker_key(), &document)
        {
            Err(StoreError::OpenedForReading) => Ok(()),
            remembered => Ok(remembered?),
        }
    }

    /// Takes in what the remote has, whatever each ref's fate.
    pub fn pull_report(&self, store: &Store, progress: &dyn Progress) -> Result<exchange::PullReport> {
        let report = block_on(exchange::pull(store, &self.remote, &self.name, progress))??;
        self.listed.set(true);
        Ok(report)
    }

    /// Takes in what the remote has; a refused ref is an error.
    pub fn pull(&self, store: &Store, progress: &dyn Progress) -> Result<()> {
        let report = self.pull_report(store, progress)?;
        let refused = accepted("pull from", &self.name, &report.refused);
        match self.diverged_hint(store, &report) {
            Some(hint) => refused.map_err(|error| error.hint(hint)),
            None => refused,
        }
    }

    /// When a pull found refs on which this ledger and the remote both recorded: the commands
    /// that make this ledger follow the remote again, keeping what only it has aside.
    pub fn diverged_hint(&self, store: &Store, report: &exchange::PullReport) -> Option<String> {
        if report.diverged.is_empty() {
            return None;
        }
        let dir = store.path().parent().unwrap_or(Path::new(".")).display().to_string();
        Some(format!(
            "{} diverged: this ledger and {} both recorded there, and such histories never merge. To follow {} again, set this ledger aside and clone: `mv {dir} {dir}.diverged && ledger clone {} {dir}`; `ledger --ledger-dir {dir}.diverged log` still shows what only this ledger recorded (register again any release only it has)",
            report.diverged.join(", "),
            self.name,
            self.name,
            self.remote.url(),
        ))
    }

    /// Sends what was recorded here (to ref `only`, when given), whatever each ref's fate. A
    /// remote ref found behind where this ledger saw it is a warning: the push moves it
    /// forward again.
    pub fn push_report(
        &self,
        store: &Store,
        only: Option<&RefName>,
        progress: &dyn Progress,
    ) -> Result<exchange::PushReport> {
        let report = block_on(exchange::push(store, &self.remote, &self.name, only, progress))??;
        for went_back in &report.went_back {
            progress.warning(&format!("warning: {went_back}; this push moves it forward again"));
        }
        Ok(report)
    }

    /// Sends what was recorded here (to ref `only`, when given); a refused ref is an error.
    pub fn push(&self, store: &Store, only: Option<&RefName>, progress: &dyn Progress) -> Result<()> {
        let report = self.push_report(store, only, progress)?;
        accepted("push to", &self.name, &report.refused)
    }

    /// Takes `env`'s lease on the remote for `holder` until `expires_at`, then checks that the
    /// remote's history of `env` is this ledger's (pushing what this ledger has beyond it).
    /// Nothing has been planned or called yet when this refuses. A lease held by a process of
    /// this machine that has ended (a killed apply) is taken over at once.
    fn take_lease(
        &self,
        store: &Store,
        env: &str,
        holder: &Holder,
        expires_at: Timestamp,
        progress: &dyn Progress,
    ) -> Result<Lease> {
        let (now, until) = (Timestamp::now().unix_seconds(), expires_at.unix_seconds());
        let key =
            lease_key(env).ok_or_else(|| Error::usage(format!("{env:?} is not an environment name")))?;
        let last_seen = remembered::document(store, &self.name, &self.remote, &key)?;
        let taking = lease::take_from(&self.remote, env, holder, now, until, lock::holder_gone, last_seen);
        let taken = block_on(taking)??;
        let lease = match taken {
            Taken::Held(lease) => lease,
            Taken::Busy { holder, expires_at } => {
                let until = Timestamp::from_unix_seconds(expires_at).to_human();
                return Err(Error::failed(format!(
                    "environment {env} is being deployed from another ledger: {} holds its lease on {} until {until}",
                    text::inert(&holder),
                    self.name
                ))
                .hint("try again when that deployment has finished")
                .hint(format!("`ledger lease {env}` shows the holder; if it is gone (a killed apply on another machine), `ledger lease {env} --break -m <why>` frees the environment")));
            }
        };
        let name = RefName::env(env);
        let checked = (|| {
            let remote_state = block_on(get_ref(&self.remote, &name))??;
            let remote_head = remote_state.as_ref().map(|state| state.doc.target);
            let local_head = store.read()?.ref_target(&name)?;
            if remote_head == local_head {
                // Read under the lease: the push that ends the deployment starts from it.
                let seen = remote_state.iter().map(|state| (&name, state));
                return Ok(remembered::remember_refs(store, &self.name, &self.remote, seen)?);
            }
            // A remote head this ledger has is one it pulled: what was recorded here since
            // goes up first (push moves the ref only as a fast-forward).
            let known = match remote_head {
                Some(head) => store.read()?.seq_of(&head)?.is_some(),
                None => true,
            };
            if known {
                return self.push(store, Some(&name), progress);
            }
            Err(Error::failed(format!(
                "the remote's history of {env} moved since this ledger pulled it (someone deployed there)"
            ))
            .hint("run the command again: it pulls and plans against what runs there now"))
        })();
        match checked {
            Ok(()) => Ok(lease),
            Err(error) => {
                self.release(store, lease, progress);
                Err(error)
            }
        }
    }

    /// Runs `work` (which records to `env`) holding `env`'s lease on the remote, for at most
    /// `timeout` and a margin; then pushes what was recorded and gives the lease back, also
    /// when `work` failed. If the push fails, the lease is kept until it runs out, so no one
    /// deploys on top of a history they cannot see.
    pub fn under_lease<T>(
        &self,
        store: &Store,
        env: &str,
        actor: &str,
        timeout: Duration,
        progress: &dyn Progress,
        work: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let ttl = timeout + LEASE_MARGIN;
        let expires_at = Timestamp(Timestamp::now().0.saturating_add(ttl.as_micros() as i64));
        let lease = self.take_lease(store, env, &lock::holder(actor), expires_at, progress)?;
        let worked = work();
        match self.push(store, Some(&RefName::env(env)), progress) {
            Ok(()) => {
                self.release(store, lease, progress);
                worked.map_err(|error| match interrupt::interrupted() {
                    true => error.hint(format!(
                        "what was recorded is on {}, and the lease of {env} there was given back",
                        self.name
                    )),
                    false => error,
                })
            }
            Err(error) => {
                let error = error.hint(format!(
                    "it is recorded in this ledger; `ledger push` sends it. The lease of {env} on {} stays until {}",
                    self.name,
                    expires_at.to_human()
                ));
                match worked {
                    Ok(_) => Err(error),
                    Err(work_error) => {
                        progress.warning(&error_lines(&error));
                        Err(work_error)
                    }
                }
            }
        }
    }

    /// Gives the lease back, remembering the document written (the next take starts from it);
    /// a failure to is reported, not fatal (the lease runs out).
    fn release(&self, store: &Store, lease: Lease, progress: &dyn Progress) {
        let key = lease.key().clone();
        match block_on(lease::release(&self.remote, lease)) {
            Ok(Ok(Some(document))) => {
                if let Err(error) =
                    remembered::remember_document(store, &self.name, &self.remote, &key, &document)
                {
                    progress.warning(&format!("warning: the lease given back was not remembered ({error})"));
                }
            }
            Ok(Ok(None)) => {
                progress.warning("warning: the environment's lease had run out and was taken over meanwhile")
            }
            Ok(Err(error)) => progress.warning(&format!(
                "warning: the environment's lease was not given back ({error}); it runs out by itself"
            )),
            Err(error) => progress.warning(&format!(
                "warning: the environment's lease was not given back ({})",
                error_lines(&error).trim()
            )),
        }
    }
}

/// An error as the lines `error: …` and `hint: …`, for a warning about a second failure.
pub fn error_lines(error: &Error) -> String {
    let mut lines = format!("error: {}\n", error.message);
    for hint in &error.hints {
        lines.push_str(&format!("hint: {hint}\n"));
    }
    lines
}

/// Records a new release, release set, approval, freeze, unfreeze or quarantine: with a remote,
/// on the remote first and then here, sealed again on top of whatever others appended meanwhile
/// (see [`exchange::append`]).
pub fn append(store: &Store, shared: Option<&Shared>, stamp: Stamp, body: Body) -> Result<StoredEntry> {
    let name = ref_of(&body).ok_or_else(|| Error::internal("outcomes are not appended"))?;
    let Some(shared) = shared else {
        // The store's write holds it to the store's rules.
        return Ok(store.write(|w| {
            let (stored, bytes) = w.seal_new(stamp, body)?;
            w.receive_own(stored.id, &bytes)
        })?);
    };
    // Held to the store's rules before it is sent to the remote.
    let seal = |w: &Writer<'_>| {
        let (stored, bytes) = w.seal_new(stamp.clone(), body.clone())?;
        if let Some(rules) = store.rules() {
            rules.admit(w, &name, &stored)?;
        }
        Ok((stored, bytes))
    };
    let listed = shared.listed.get();
    let appended = block_on(exchange::append(store, &shared.remote, &shared.name, &name, listed, seal))?;
    appended.map_err(|error| match error {
        ExchangeError::Unanswered { .. } => Error::from(error).hint(format!(
            "it is recorded if {} took it: `ledger log` shows it after `ledger pull`; record it again only if it is not there",
            shared.name
        )),
        error => {
            Error::from(error).hint(format!("nothing was recorded; it is recorded once {} has it", shared.name))
        }
    })
}

/// Where this ledger saw the refs of remote `remote` (its tracking refs).
pub fn tracked(store: &Store, remote: &str) -> Result<BTreeMap<RefName, EntryId>> {
    Ok(store.read()?.tracking_refs(remote)?)
}

/// `Ok` when no ref was refused; otherwise an error listing each refused ref and why.
pub fn accepted(what: &str, remote: &str, refused: &[Refused]) -> Result<()> {
    if refused.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = refused.iter().map(|r| format!("  {}: {}", r.name, r.why)).collect();
    Err(Error::failed(format!("{what} {remote}: {} ref(s) refused:\n{}", refused.len(), lines.join("\n"))))
}

/// How long a lease outlives the rollout timeout of its environment.
const LEASE_MARGIN: Duration = Duration::from_secs(10 * 60);

impl From<ExchangeError> for Error {
    fn from(error: ExchangeError) -> Error {
        match error {
            ExchangeError::Store(error) => error.into(),
            ExchangeError::Remote(error) => error.into(),
            ExchangeError::BadObject { .. } | ExchangeError::MissingObject { .. } => {
                Error::from_source(ErrorKind::Failed, error)
                    .hint("`ledger verify --remote <name>` checks the whole remote")
            }
            ExchangeError::WentBack { .. } => Error::from_source(ErrorKind::Failed, error).hint(
                "`ledger push` from a ledger that has the newer history moves each ref forward again; `ledger verify --remote <name>` checks the rest",
            ),
            other => Error::from_source(ErrorKind::Failed, other),
        }
    }
}

impl From<RemoteError> for Error {
    fn from(error: RemoteError) -> Error {
        let hint = match &error {
            RemoteError::BadDocument { key, .. } => repair_hint(key),
            _ => "check the network and the credentials (AWS_PROFILE, --profile), and that the bucket exists"
                .to_string(),
        };
        Error::from_source(ErrorKind::Failed, error).hint(hint)
    }
}

/// How to repair the remote's document `key` when it cannot be read.
fn repair_hint(key: &str) -> String {
    match key.strip_prefix("refs/") {
        Some(name) => format!(
            "a ref document is {{\"target\":\"<64 hex digits>\",\"version\":<n>}}: replace {key} with one naming the entry `ledger show {name}` gives in a ledger that has the history, with a version above any it had; or remove {key} and run `ledger push` from that ledger. Then `ledger verify --remote <name>`"
        ),
        None => format!(
            "{key} only says who is deploying: remove it (no deployment must be running there), and the next deployment writes it again"
        ),
    }
}

impl From<LeaseError> for Error {
    fn from(error: LeaseError) -> Error {
        match error {
            LeaseError::Remote(error) => error.into(),
            other => Error::from_source(ErrorKind::Failed, other),
        }
    }
}

impl From<MarkerError> for Error {
    fn from(error: MarkerError) -> Error {
        let hint = match error {
            MarkerError::Remote(error) => return error.into(),
            MarkerError::Format { .. } => return Error::from_source(ErrorKind::Failed, error),
            MarkerError::Missing { holds_refs: false, .. } => {
                "check the URL (`ledger remote list` shows the configured ones); to make a new remote there, run `ledger remote init <name>` for a configured remote, or a first `ledger push` to it"
            }
            MarkerError::Missing { holds_refs: true, .. } | MarkerError::NotEmpty { .. } => {
                "if it is this project's remote from before markers, `ledger remote init` checks that its refs are this project's and writes the marker"
            }
            MarkerError::OtherProject { .. } => {
                "check the remote's URL, and that ledger.toml (--manifest) is the project's you meant"
            }
        };
        Error::from_source(ErrorKind::Usage, error).hint(hint)
    }
}
