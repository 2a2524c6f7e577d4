//! The embedded store: one redb file holding the entries, refs, and the indexes that keep the
//! common questions cheap. See `docs/store.md` for the tables and the crash model.
//!
//! Every command makes at most one write transaction, committed with
//! `Durability::Immediate`. Parents are read inside that transaction, so two processes that
//! record at once are serialised by redb (`ConcurrencyMode::MultiWriter`) and never lose an
//! update.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::{
    ConcurrencyMode, Database, DatabaseError, Durability, ReadOnlyDatabase, ReadOnlyTable, ReadableDatabase,
    ReadableTable, ReadableTableMetadata, Table, TableDefinition, TransactionError,
};

use crate::admission::{Admitting, Refusal, Rules};
use crate::entry::{Body, DecodeError, DeployResult, Entry, StoredEntry};
use crate::id::{EntryId, HexPrefix};
use crate::notify::Sink;
use crate::packing;
use crate::received::Received;
use crate::refs::RefName;
use crate::signing::{EntrySigner, SignError};
use crate::timestamp::{TimeError, Timestamp};

pub const STORE_FILE: &str = "ledger.redb";

/// How long a command waits for another process's write transaction before giving up.
pub const WRITE_WAIT: Duration = Duration::from_secs(30);

/// The page cache: bounded so that memory stays flat however long the history grows.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// The page cache of a ledger being filled by a clone (see [`Store::init_for_clone`]): each of
/// its write transactions holds a whole history of a ref, which then stays in memory rather than
/// being written out and read back page by page. redb takes only what it uses.
const CLONE_CACHE_BYTES: usize = 512 * 1024 * 1024;

/// The page cache of the handle that checks every page once (see [`Store::check_pages`]).
const CHECK_CACHE_BYTES: usize = 1024 * 1024;

/// The layout version of the tables below, kept in `meta`. Layouts 1 (before entries were
/// packed and timelines keyed by scope number) and 2 (before the id index was keyed by a
/// prefix of the id) are upgraded in place when first opened.
const SCHEMA_VERSION: u8 = 3;

type Id = [u8; 32];
/// seq → the entry's stored bytes in their packed form (see [`crate::packing`]): every entry,
/// in the order it was recorded. Entries recorded together share pages, so recent history
/// reads few of them.
pub(crate) const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");
/// (the id's key: its first 8 bytes, see [`id_key`], seq) → (): the id index. A row places an
/// entry whose id begins so at that seq; the full id is confirmed against the entry stored
/// there (see [`Source::seq_of`]), so ids that share a key are told apart. 16 bytes a row.
pub(crate) const IDS: TableDefinition<(u64, u64), ()> = TableDefinition::new("id_keys");
/// Layout 2's id index, id → seq: read only to upgrade a ledger to layout 3.
const OLD_IDS: TableDefinition<Id, u64> = TableDefinition::new("ids");
pub(crate) const REFS: TableDefinition<&str, Id> = TableDefinition::new("refs");
/// (environment, service) → the release running there, and its seq (so that showing the state
/// reads the releases where they are, without the id index).
pub(crate) const STATE: TableDefinition<(&str, &str), (Id, u64)> = TableDefinition::new("state");
/// Scope name (see [`Scope`]) → its number in `scope_timeline`.
pub(crate) const SCOPES: TableDefinition<&str, u32> = TableDefinition::new("scopes");
/// (scope number, at, seq) → (): entries by time within a scope, fixed-width rows.
pub(crate) const SCOPE_TIMELINE: TableDefinition<(u32, i64, u64), ()> =
    TableDefinition::new("scope_timeline");
/// Layout 1's timelines, (scope, at, id) → seq: read only to upgrade a ledger to layout 2.
const OLD_TIMELINE: TableDefinition<(&str, i64, Id), u64> = TableDefinition::new("timeline");
/// (environment, seq of a deployment) → seq of its outcome (0: none yet): the environment's
/// history in order, without walking parent links.
pub(crate) const ENV_LOG: TableDefinition<(&str, u64), u64> = TableDefinition::new("env_log");
/// (environment, week start) → (deployments, concluded, failures): see [`crate::metrics`].
pub(crate) const METRIC_WEEKS: TableDefinition<(&str, i64), (u64, u64, u64)> =
    TableDefinition::new("metric_weeks");
/// (environment, kind, week start, seconds) → how many times: times to restore and lead times.
pub(crate) const METRIC_DURATIONS: TableDefinition<(&str, u8, i64, i64), u64> =
    TableDefinition::new("metric_durations");
/// (environment, seq of a failed deployment) → its `at`: failures not recovered from yet.
pub(crate) const METRIC_PENDING: TableDefinition<(&str, u64), i64> = TableDefinition::new("metric_pending");
/// (environment, ordinal: 1 for its first deployment) → seq of the deployment: page k of a log
/// is a range read, however deep.
pub(crate) const ENV_ORDER: TableDefinition<(&str, u64), u64> = TableDefinition::new("env_order");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// (remote name, document key) → (the remote's URL, the document's tag, its bytes): each remote
/// document (ref, lease, marker) as this ledger last saw it there. Derived: a missing row costs
/// one read of the remote. Kept out of [`View`]: written in its own transactions.
const REMOTE_DOCUMENTS: TableDefinition<(&str, &str), (&str, &str, &[u8])> =
    TableDefinition::new("remote_documents");
/// The key in `meta` of the last seq the derived tables above (metrics and `env_order`) count:
/// entries after it were written by an earlier version, which kept none of them.
const DERIVED_THROUGH_KEY: &str = "derived_through";
/// The key in `meta` of the `[project] id` the ledger belongs to.
const PROJECT_KEY: &str = "project";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no ledger at {}; run `ledger init` first", .0.display())]
    NotInitialized(PathBuf),
    #[error("cannot create the ledger directory {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("another ledger process kept the ledger busy for {} s; try again when it has finished", WRITE_WAIT.as_secs())]
    Busy,
    #[error("the ledger at {} uses table layout {found}, this ledger understands {SCHEMA_VERSION}; upgrade ledger", path.display())]
    Schema { path: PathBuf, found: u8 },
    #[error("the ledger at {} uses an older table layout and cannot be written here to upgrade it; open it once where it can be written", path.display())]
    NotUpgraded { path: PathBuf },
    #[error("entry {id} is stored but cannot be decoded: {source}")]
    Corrupt { id: EntryId, source: DecodeError },
    #[error("{0}")]
    Damaged(#[from] Damaged),
    #[error("{0}")]
    Conflict(#[from] ConflictError),
    #[error("cannot open the ledger file {}: {source}", path.display())]
    Open { path: PathBuf, source: redb::Error },
    #[error("ledger database error: {0}")]
    Database(#[from] redb::Error),
    #[error("internal error: a write on a ledger opened for reading")]
    OpenedForReading,
    #[error("{0}")]
    Received(#[from] ReceiveError),
    #[error("{0}")]
    Time(#[from] TimeError),
    #[error("{0}")]
    Refused(#[from] Box<Refusal>),
    #[error("cannot sign the entry: {0}")]
    Sign(#[from] SignError),
}

impl From<Refusal> for StoreError {
    fn from(refusal: Refusal) -> StoreError {
        StoreError::Refused(Box::new(refusal))
    }
}

/// An entry received from elsewhere (a remote) and refused: nothing of it was stored.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReceiveError {
    #[error("object {expected}: its bytes hash to {actual}, so they are corrupted or forged")]
    HashMismatch { expected: EntryId, actual: EntryId },
    #[error("object {id}: cannot be decoded: {source}")]
    Undecodable { id: EntryId, source: DecodeError },
    #[error("object {id} names {missing}, which is not in the ledger")]
    MissingReference { id: EntryId, missing: EntryId },
    #[error("object {id} does not follow {head} (ref {name}): the histories have diverged")]
    Diverged { id: EntryId, name: String, head: String },
}

/// What a read found that does not match what leads to it: an entry whose bytes are not those
/// of the id that names it, or an index row that names an entry it does not describe. The
/// ledger file was damaged or altered; nothing read from it is believed.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "the ledger file is damaged: {row} {problem}; run `ledger verify` to see all the damage, then restore .ledger from a backup or clone the remote again"
)]
pub struct Damaged {
    /// What named the entry: an index row, a ref, or another entry.
    pub row: String,
    /// What was found instead.
    pub problem: String,
}

impl Damaged {
    pub fn new(row: impl Into<String>, problem: impl Into<String>) -> Damaged {
        Damaged { row: row.into(), problem: problem.into() }
    }
}

/// A write refused because the history moved since the caller looked at it.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConflictError {
    #[error(
        "environment {env} changed since this plan was made (now at {now}); run the command again to plan against what it runs now"
    )]
    EnvMoved { env: String, now: String },
    #[error(
        "a deployment to {env} is in flight or was interrupted ({deployment}); resolve it before deploying again"
    )]
    InFlight { env: String, deployment: EntryId },
    #[error(
        "a deployment to {env} was submitted without waiting ({deployment}) and how it ended is not recorded yet"
    )]
    Unobserved { env: String, deployment: EntryId },
    #[error("outcome for {0}: that entry is not a deployment")]
    NotADeployment(EntryId),
    #[error("deployment {0} already has an outcome")]
    AlreadyConcluded(EntryId),
    #[error("release {0} is not in the ledger")]
    UnknownRelease(EntryId),
}

pub(crate) fn db_error(error: impl Into<redb::Error>) -> StoreError {
    StoreError::Database(error.into())
}

/// Where a timeline row belongs: releases and deployments are listed per service, and
/// deployments per environment and service. (Every entry, newest first, is the `entries`
/// table read backwards.)
pub enum Scope<'a> {
    Service(&'a str),
    EnvService(&'a str, &'a str),
}

impl Scope<'_> {
    /// Its name in the `scopes` table.
    fn key(&self) -> String {
        match self {
            Scope::Service(service) => format!("s/{service}"),
            Scope::EnvService(env, service) => format!("e/{env}/{service}"),
        }
    }

    /// The name layout 2 gives a scope that layout 1 named `old`.
    fn upgraded_key(old: &str) -> Option<String> {
        if let Some(service) = old.strip_prefix("service/") {
            return Some(Scope::Service(service).key());
        }
        let (env, service) = old.strip_prefix("env/")?.split_once("/service/")?;
        Some(Scope::EnvService(env, service).key())
    }
}

/// The ref whose history `entry` is part of: its service's, its service set's, or its
/// environment's (an outcome's is its deployment's environment). Each such history is linear,
/// so an entry is an ancestor of a ref's target exactly when it comes no later in recording order.
pub fn history_ref(source: &impl Source, entry: &Entry) -> Result<RefName, StoreError> {
    if let Some(name) = ref_of(&entry.body) {
        return Ok(name);
    }
    let deployment = entry.parents.first().copied().unwrap_or(EntryId([0; 32]));
    let env = source.entry(&deployment)?.and_then(|d| d.entry.as_deployment().map(|d| d.env.clone()));
    env.map(|env| RefName::env(&env)).ok_or_else(|| ConflictError::NotADeployment(deployment).into())
}

/// redb's page size, which the ledger leaves at its default.
const PAGE_BYTES: u64 = 4096;

/// The bytes one table takes in the file, as redb accounts for them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSize {
    pub name: String,
    pub rows: u64,
    /// Whole pages (leaves and branches) the table's B-tree holds.
    pub page_bytes: u64,
    /// The keys and values themselves.
    pub stored_bytes: u64,
    /// Branch keys and other metadata.
    pub metadata_bytes: u64,
    /// Unused space inside the table's pages (slack).
    pub fragmented_bytes: u64,
}

/// What redb's page check found of a ledger file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageCheck {
    /// Every page matches its checksum.
    Sound,
    /// The file cannot be written here (a read-only file system, or no permission), and redb's
    /// page check needs to write (it repairs as it checks): the pages were not checked.
    Unchecked,
    /// A page does not match its checksum, or cannot be read.
    Damaged(String),
}

pub struct Store {
    handle: Handle,
    path: PathBuf,
    /// What every entry a write adds is held to (see [`Store::admitting`]).
    rules: Option<Rules>,
    /// What signs every entry a write records here (see [`Store::signing`]).
    signer: Option<Arc<dyn EntrySigner>>,
    /// Where events of the entries a write records here go (see [`Store::announcing`]).
    pub(crate) sinks: Option<Arc<[Sink]>>,
}

/// Read commands open the file read-only: no lock is taken for writing, nothing is written.
enum Handle {
    Writable(Database),
    ReadOnly(ReadOnlyDatabase),
}

impl Store {
    /// Creates the ledger in `dir` (or opens the one already there, unchanged).
    pub fn init(dir: &Path) -> Result<Store, StoreError> {
        Store::init_with_cache(dir, CACHE_BYTES)
    }

    /// [`Store::init`] for a clone, which fills the new ledger in a few big transactions: with
    /// a page cache of [`CLONE_CACHE_BYTES`] rather than [`CACHE_BYTES`].
    pub fn init_for_clone(dir: &Path) -> Result<Store, StoreError> {
        Store::init_with_cache(dir, CLONE_CACHE_BYTES)
    }

    fn init_with_cache(dir: &Path, cache_bytes: usize) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|source| StoreError::CreateDir { path: dir.to_path_buf(), source })?;
        let path = dir.join(STORE_FILE);
        let db = builder_with_cache(cache_bytes).create(&path).map_err(|e| open_error(&path, e))?;
        let store = Store { handle: Handle::Writable(db), path, rules: None, signer: None, sinks: None };
        match store.layout() {
            Err(StoreError::NotInitialized(_)) => {
                store.write(|_| Ok::<(), StoreError>(()))?;
                Ok(store)
            }
            Ok(_) => store.checked_layout(),
            Err(error) => Err(error),
        }
    }

    /// Opens the ledger in `dir` for reading and writing; it must exist.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = existing_store_file(dir)?;
        let db = builder().open(&path).map_err(|e| open_error(&path, e))?;
        Store { handle: Handle::Writable(db), path, rules: None, signer: None, sinks: None }.checked_layout()
    }

    /// Opens the ledger in `dir` for reading only. A file left unclean by a crash needs a
    /// repair, which only a writer can make: then it is opened for writing instead.
    pub fn open_for_reading(dir: &Path) -> Result<Store, StoreError> {
        match Store::open_read_only(dir)? {
            Some(store) => Ok(store),
            None => Store::open(dir),
        }
    }

    /// Opens the ledger in `dir` read-only, or `None` when the file needs a repair first (a
    /// crash left it unclean), which only a writer can make.
    pub fn open_read_only(dir: &Path) -> Result<Option<Store>, StoreError> {
        let path = existing_store_file(dir)?;
        let db = match builder().open_read_only(&path) {
            Ok(db) => db,
            Err(DatabaseError::RepairAborted) => return Ok(None),
            Err(error) => return Err(open_error(&path, error)),
        };
        let store = Store { handle: Handle::ReadOnly(db), path, rules: None, signer: None, sinks: None }
            .checked_layout()?;
        Ok(Some(store))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This store, holding every entry a write adds, recorded here or received, to `rules`:
    /// a write that adds one breaking them stores nothing.
    pub fn admitting(self, rules: Rules) -> Store {
        Store { rules: Some(rules), ..self }
    }

    /// This store, signing every entry a write records here with `signer` (entries received
    /// from elsewhere keep the signatures they came with).
    pub fn signing(self, signer: Arc<dyn EntrySigner>) -> Store {
        Store { signer: Some(signer), ..self }
    }

    /// The rules writes are held to, when set with [`Store::admitting`].
    pub fn rules(&self) -> Option<&Rules> {
        self.rules.as_ref()
    }

    /// Checks every page of the ledger file in `dir` against its checksum (redb's integrity
    /// check, which repairs a file left unclean by a crash), as `verify` must: a damaged file is
    /// reported, not stumbled on. Readers of the file may go on meanwhile.
    pub fn check_pages(dir: &Path) -> Result<PageCheck, StoreError> {
        let path = existing_store_file(dir)?;
        let mut checking = Database::builder();
        // The check reads each page once: a small cache does.
        checking
            .set_concurrency_mode(ConcurrencyMode::MultiWriter)
            .set_cache_size(CHECK_CACHE_BYTES)
            .set_check_integrity_on_open(true);
        // redb reports most damage as `Corrupted`, but some page damage makes it panic.
        // Either way the answer is the same: the file is damaged.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| checking.open(&path))) {
            Ok(Ok(_)) => Ok(PageCheck::Sound),
            Ok(Err(DatabaseError::Storage(redb::StorageError::Corrupted(detail)))) => {
                Ok(PageCheck::Damaged(detail))
            }
            Ok(Err(DatabaseError::Storage(redb::StorageError::Io(error)))) if cannot_write(&error) => {
                Ok(PageCheck::Unchecked)
            }
            Ok(Err(error)) => Err(open_error(&path, error)),
            Err(panic) => {
                let detail = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "an unreadable page".into());
                Ok(PageCheck::Damaged(detail))
            }
        }
    }

    pub(crate) fn begin_read(&self) -> Result<redb::ReadTransaction, StoreError> {
        match &self.handle {
            Handle::Writable(db) => db.begin_read(),
            Handle::ReadOnly(db) => db.begin_read(),
        }
        .map_err(db_error)
    }

    /// This store once its file's layout is known to be this ledger's: a file of layout 1 is
    /// upgraded in place first, for which a store opened for reading is reopened for writing.
    fn checked_layout(self) -> Result<Store, StoreError> {
        match self.layout()? {
            SCHEMA_VERSION => Ok(self),
            1 | 2 => {
                let mut store = self.writable()?;
                store.upgrade()?;
                Ok(store)
            }
            found => Err(StoreError::Schema { path: self.path, found }),
        }
    }

    /// This store with its file opened for writing.
    fn writable(self) -> Result<Store, StoreError> {
        let Store { handle, path, rules, signer, sinks } = self;
        if let Handle::Writable(db) = handle {
            return Ok(Store { handle: Handle::Writable(db), path, rules, signer, sinks });
        }
        drop(handle);
        match builder().open(&path) {
            Ok(db) => Ok(Store { handle: Handle::Writable(db), path, rules, signer, sinks }),
            Err(DatabaseError::Storage(redb::StorageError::Io(error))) if cannot_write(&error) => {
                Err(StoreError::NotUpgraded { path })
            }
            Err(error) => Err(open_error(&path, error)),
        }
    }

    /// Upgrades a file of layout 1 or 2 to this layout in one transaction, losing nothing: from
    /// layout 1, every entry is packed and the timelines are renumbered by scope; from layout 2
    /// on, the id index is keyed anew (see docs/store.md).
    fn upgrade(&mut self) -> Result<(), StoreError> {
        let mut txn = self.begin_write_waiting()?;
        txn.set_durability(Durability::Immediate).map_err(db_error)?;
        let mut meta = txn.open_table(META).map_err(db_error)?;
        // Another process may have upgraded it since this one looked.
        let layout = meta.get("schema").map_err(db_error)?.and_then(|v| v.value().first().copied());
        if layout == Some(1) {
            upgrade_timelines(&txn)?;
            pack_entries(&mut txn.open_table(ENTRIES).map_err(db_error)?)?;
        }
        if matches!(layout, Some(1 | 2)) {
            upgrade_id_index(&txn)?;
            meta.insert("schema", [SCHEMA_VERSION].as_slice()).map_err(db_error)?;
        }
        drop(meta);
        txn.commit().map_err(db_error)?;
        // The upgrade wrote every entry anew: give the old copies' space back to the file
        // system. Compaction only moves pages; when it cannot run now (a transaction of another
        // process is live), the space is reused by later writes instead, so it is not an error.
        if let Handle::Writable(db) = &mut self.handle {
            while let Ok(true) = db.compact() {}
        }
        Ok(())
    }

    /// The layout version recorded in the file.
    fn layout(&self) -> Result<u8, StoreError> {
        let txn = self.begin_read()?;
        let meta = match txn.open_table(META) {
            Ok(meta) => meta,
            Err(redb::TableError::TableDoesNotExist(_)) => {
                return Err(StoreError::NotInitialized(self.path.clone()));
            }
            Err(error) => return Err(db_error(error)),
        };
        let found = meta.get("schema").map_err(db_error)?.and_then(|v| v.value().first().copied());
        found.ok_or_else(|| StoreError::NotInitialized(self.path.clone()))
    }

    /// The `[project] id` this ledger belongs to, when one was recorded.
    pub fn project(&self) -> Result<Option<String>, StoreError> {
        let txn = self.begin_read()?;
        let meta = txn.open_table(META).map_err(db_error)?;
        let found = meta.get(PROJECT_KEY).map_err(db_error)?;
        Ok(found.map(|value| String::from_utf8_lossy(value.value()).into_owned()))
    }

    /// Records `project` as the project this ledger belongs to, unless one is recorded already;
    /// returns the one recorded (which the caller compares with its own).
    pub fn claim_project(&self, project: &str) -> Result<String, StoreError> {
        let mut txn = self.begin_write_waiting()?;
        txn.set_durability(Durability::Immediate).map_err(db_error)?;
        let recorded = {
            let mut meta = txn.open_table(META).map_err(db_error)?;
            let found = meta.get(PROJECT_KEY).map_err(db_error)?;
            let found = found.map(|value| String::from_utf8_lossy(value.value()).into_owned());
            match found {
                Some(recorded) => recorded,
                None => {
                    meta.insert(PROJECT_KEY, project.as_bytes()).map_err(db_error)?;
                    project.to_string()
                }
            }
        };
        txn.commit().map_err(db_error)?;
        Ok(recorded)
    }

    /// The documents of remote `remote` (at `url`) as this ledger last saw them, by key: rows
    /// remembered at another URL do not count. A ledger made before the table has none.
    pub fn remembered(
        &self,
        remote: &str,
        url: &str,
    ) -> Result<BTreeMap<String, RemoteDocument>, StoreError> {
        let txn = self.begin_read()?;
        let table = match txn.open_table(REMOTE_DOCUMENTS) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(BTreeMap::new()),
            Err(error) => return Err(db_error(error)),
        };
        let mut found = BTreeMap::new();
        for row in table.range((remote, "")..).map_err(db_error)? {
            let (key, value) = row.map_err(db_error)?;
            let (row_remote, document_key) = key.value();
            if row_remote != remote {
                break;
            }
            let (row_url, etag, bytes) = value.value();
            if row_url == url {
                let document = RemoteDocument { etag: etag.to_string(), bytes: bytes.to_vec() };
                found.insert(document_key.to_string(), document);
            }
        }
        Ok(found)
    }

    /// Remembers `documents` (key → document) as seen on remote `remote` at `url`, in one
    /// transaction. Callers remember a document only once this ledger holds what it names.
    pub fn remember(
        &self,
        remote: &str,
        url: &str,
        documents: &BTreeMap<String, RemoteDocument>,
    ) -> Result<(), StoreError> {
        if documents.is_empty() {
            return Ok(());
        }
        self.write_table(REMOTE_DOCUMENTS, |table| {
            for (key, document) in documents {
                let value = (url, document.etag.as_str(), document.bytes.as_slice());
                table.insert((remote, key.as_str()), value).map_err(db_error)?;
            }
            Ok(())
        })
    }

    /// Forgets every document remembered of remote `remote`.
    pub fn forget_remote_documents(&self, remote: &str) -> Result<(), StoreError> {
        self.write_table(REMOTE_DOCUMENTS, |table| {
            let mut keys = Vec::new();
            for row in table.range((remote, "")..).map_err(db_error)? {
                let (key, _) = row.map_err(db_error)?;
                let (row_remote, document_key) = key.value();
                if row_remote != remote {
                    break;
                }
                keys.push(document_key.to_string());
            }
            for key in keys {
                table.remove((remote, key.as_str())).map_err(db_error)?;
            }
            Ok(())
        })
    }

    /// Runs `work` on table `definition` in a durable write transaction of its own.
    pub(crate) fn write_table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        definition: TableDefinition<'_, K, V>,
        work: impl FnOnce(&mut Table<'_, K, V>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut txn = self.begin_write_waiting()?;
        txn.set_durability(Durability::Immediate).map_err(db_error)?;
        {
            let mut table = txn.open_table(definition).map_err(db_error)?;
            work(&mut table)?;
        }
        txn.commit().map_err(db_error)
    }

    /// Where the file's bytes go: every table's rows, pages and redb's account of them.
    pub fn table_sizes(&self) -> Result<Vec<TableSize>, StoreError> {
        let txn = self.begin_read()?;
        let mut sizes = Vec::new();
        for handle in txn.list_tables().map_err(db_error)? {
            let table = txn.open_untyped_table(handle).map_err(db_error)?;
            let stats = table.stats().map_err(db_error)?;
            sizes.push(TableSize {
                name: redb::TableHandle::name(&table).to_string(),
                rows: table.len().map_err(db_error)?,
                page_bytes: (stats.leaf_pages() + stats.branch_pages()) * PAGE_BYTES,
                stored_bytes: stats.stored_bytes(),
                metadata_bytes: stats.metadata_bytes(),
                fragmented_bytes: stats.fragmented_bytes(),
            });
        }
        Ok(sizes)
    }

    /// A consistent snapshot for reading.
    pub fn read(&self) -> Result<Reader, StoreError> {
        let txn = self.begin_read()?;
        let meta = txn.open_table(META).map_err(db_error)?;
        let derived = match derived_through(&meta)? {
            Some(through) => Some(Derived {
                weeks: txn.open_table(METRIC_WEEKS).map_err(db_error)?,
                durations: txn.open_table(METRIC_DURATIONS).map_err(db_error)?,
                pending: txn.open_table(METRIC_PENDING).map_err(db_error)?,
                order: txn.open_table(ENV_ORDER).map_err(db_error)?,
                through,
            }),
            None => None,
        };
        Ok(View {
            entries: txn.open_table(ENTRIES).map_err(db_error)?,
            ids: txn.open_table(IDS).map_err(db_error)?,
            refs: txn.open_table(REFS).map_err(db_error)?,
            state: txn.open_table(STATE).map_err(db_error)?,
            scopes: txn.open_table(SCOPES).map_err(db_error)?,
            timeline: txn.open_table(SCOPE_TIMELINE).map_err(db_error)?,
            env_log: txn.open_table(ENV_LOG).map_err(db_error)?,
            admission: None,
            signer: None,
            derived,
            just_stored: JustStored::default(),
            outbox: (),
        })
    }

    /// Runs `work` in one write transaction and commits it durably if `work` succeeds.
    /// Waits up to [`WRITE_WAIT`] for another process's transaction.
    pub fn write<T, E>(&self, work: impl FnOnce(&mut Writer<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut txn = self.begin_write_waiting()?;
        txn.set_durability(Durability::Immediate).map_err(db_error)?;
        let (result, through) = {
            let mut meta = txn.open_table(META).map_err(db_error)?;
            meta.insert("schema", [SCHEMA_VERSION].as_slice()).map_err(db_error)?;
            let through = derived_through(&meta)?.unwrap_or(0);
            drop(meta);
            let mut writer = View {
                entries: txn.open_table(ENTRIES).map_err(db_error)?,
                ids: txn.open_table(IDS).map_err(db_error)?,
                refs: txn.open_table(REFS).map_err(db_error)?,
                state: txn.open_table(STATE).map_err(db_error)?,
                scopes: txn.open_table(SCOPES).map_err(db_error)?,
                timeline: txn.open_table(SCOPE_TIMELINE).map_err(db_error)?,
                env_log: txn.open_table(ENV_LOG).map_err(db_error)?,
                admission: self.rules.clone().map(Admitting::new),
                signer: self.signer.clone(),
                derived: Derived {
                    weeks: txn.open_table(METRIC_WEEKS).map_err(db_error)?,
                    durations: txn.open_table(METRIC_DURATIONS).map_err(db_error)?,
                    pending: txn.open_table(METRIC_PENDING).map_err(db_error)?,
                    order: txn.open_table(ENV_ORDER).map_err(db_error)?,
                    through,
                },
                just_stored: JustStored::default(),
                outbox: match &self.sinks {
                    Some(sinks) => Some(crate::outbox::Queue::open(&txn, sinks.clone())?),
                    None => None,
                },
            };
            let first_new = writer.newest(1)?.first().map_or(1, |last| last + 1);
            writer.derive_from(through + 1, first_new)?;
            let result = work(&mut writer)?;
            // Each entry was held to the rules as it was stored; one refused stores nothing,
            // even when `work` went on without it.
            if let Some(refusal) = writer.admission.as_ref().and_then(Admitting::refused) {
                return Err(StoreError::from(refusal.clone()).into());
            }
            (result, writer.derived.through)
        };
        let mut meta = txn.open_table(META).map_err(db_error)?;
        meta.insert(DERIVED_THROUGH_KEY, through.to_le_bytes().as_slice()).map_err(db_error)?;
        drop(meta);
        txn.commit().map_err(db_error)?;
        Ok(result)
    }

    fn begin_write_waiting(&self) -> Result<redb::WriteTransaction, StoreError> {
        let Handle::Writable(db) = &self.handle else {
            return Err(StoreError::OpenedForReading);
        };
        let deadline = Instant::now() + WRITE_WAIT;
        let mut pause = Duration::from_millis(1);
        loop {
            match db.try_begin_write() {
                Ok(txn) => return Ok(txn),
                Err(TransactionError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(TransactionError::WouldBlock) => return Err(StoreError::Busy),
                Err(error) => return Err(db_error(error)),
            }
        }
    }
}

/// The last seq the derived tables count (`None`: this ledger has none yet).
fn derived_through(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<Option<u64>, StoreError> {
    let Some(value) = meta.get(DERIVED_THROUGH_KEY).map_err(db_error)? else { return Ok(None) };
    let bytes: [u8; 8] = value
        .value()
        .try_into()
        .map_err(|_| Damaged::new(format!("the meta row {DERIVED_THROUGH_KEY}"), "is not a position"))?;
    Ok(Some(u64::from_le_bytes(bytes)))
}

/// Layout 1's timelines, moved to `scopes` and `scope_timeline` (the id in each key becomes
/// the seq its row held, which orders rows of one time in recording order). A service's
/// deployments are kept only in their environment's scope (see [`Source::newest_in`]).
fn upgrade_timelines(txn: &redb::WriteTransaction) -> Result<(), StoreError> {
    let old = match txn.open_table(OLD_TIMELINE) {
        Ok(old) => old,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
        Err(error) => return Err(db_error(error)),
    };
    let entries = txn.open_table(ENTRIES).map_err(db_error)?;
    let mut scopes = txn.open_table(SCOPES).map_err(db_error)?;
    let mut timeline = txn.open_table(SCOPE_TIMELINE).map_err(db_error)?;
    for row in old.iter().map_err(db_error)? {
        let (key, seq) = row.map_err(db_error)?;
        let (old_scope, at, _) = key.value();
        let seq = seq.value();
        if old_scope.starts_with("service/") {
            let stored = entries.get(seq).map_err(db_error)?;
            let canonical = stored.map(|row| packing::unpack(row.value())).transpose();
            let canonical = canonical.map_err(|error| unpack_damage(seq, error))?;
            if canonical.as_deref().and_then(Entry::peek_kind) != Some(crate::entry::EntryKind::Release) {
                continue;
            }
        }
        let scope = Scope::upgraded_key(old_scope).ok_or_else(|| {
            Damaged::new(format!("the timeline row of {old_scope:?}"), "names no scope this ledger knows")
        })?;
        let number = scope_number(&mut scopes, &scope)?;
        timeline.insert((number, at, seq), ()).map_err(db_error)?;
    }
    drop(old);
    txn.delete_table(OLD_TIMELINE).map_err(db_error)?;
    Ok(())
}

/// Layouts 1 and 2's id index (id → seq), moved to the index keyed by [`id_key`].
fn upgrade_id_index(txn: &redb::WriteTransaction) -> Result<(), StoreError> {
    let old = match txn.open_table(OLD_IDS) {
        Ok(old) => old,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
        Err(error) => return Err(db_error(error)),
    };
    let mut index = txn.open_table(IDS).map_err(db_error)?;
    for row in old.iter().map_err(db_error)? {
        let (id, seq) = row.map_err(db_error)?;
        index.insert((id_key(&EntryId(id.value())), seq.value()), ()).map_err(db_error)?;
    }
    drop(old);
    txn.delete_table(OLD_IDS).map_err(db_error)?;
    Ok(())
}

/// Packs every entry still stored in its canonical form, a bounded batch at a time.
fn pack_entries(entries: &mut Table<'_, u64, &'static [u8]>) -> Result<(), StoreError> {
    const BATCH: usize = 10_000;
    let mut next = 1;
    loop {
        let mut batch = Vec::with_capacity(BATCH);
        for row in entries.range(next..).map_err(db_error)?.take(BATCH) {
            let (seq, bytes) = row.map_err(db_error)?;
            batch.push((seq.value(), packing::pack(bytes.value())));
        }
        let Some(&(last, _)) = batch.last() else { return Ok(()) };
        for (seq, packed) in batch {
            entries.insert(seq, packed.as_slice()).map_err(db_error)?;
        }
        next = last + 1;
    }
}

/// The number of scope `key`, given it now if it has none.
fn scope_number(scopes: &mut Table<'_, &'static str, u32>, key: &str) -> Result<u32, StoreError> {
    if let Some(number) = scopes.get(key).map_err(db_error)? {
        return Ok(number.value());
    }
    let count = scopes.len().map_err(db_error)?;
    let number = u32::try_from(count + 1).map_err(|_| {
        Damaged::new("the scopes table", format!("holds {count} scopes, more than it can number"))
    })?;
    scopes.insert(key, number).map_err(db_error)?;
    Ok(number)
}

/// Whether opening for writing failed only because the file or its file system is read-only.
fn cannot_write(error: &std::io::Error) -> bool {
    matches!(error.kind(), std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem)
}

fn open_error(path: &Path, error: DatabaseError) -> StoreError {
    StoreError::Open { path: path.to_path_buf(), source: error.into() }
}

fn existing_store_file(dir: &Path) -> Result<PathBuf, StoreError> {
    let path = dir.join(STORE_FILE);
    if path.is_file() { Ok(path) } else { Err(StoreError::NotInitialized(dir.to_path_buf())) }
}

/// The key of `id` in the id index: its first 8 bytes, big-endian, so that the index is in id
/// order and a hex prefix is a range of it.
pub fn id_key(id: &EntryId) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&id.0[..8]);
    let key = u64::from_be_bytes(first);
    // The unit tests key by the first 6 bits only, so that ids sharing a key are common there.
    #[cfg(test)]
    let key = key & (0xfc << 56);
    key
}

fn builder() -> redb::Builder {
    builder_with_cache(CACHE_BYTES)
}

fn builder_with_cache(cache_bytes: usize) -> redb::Builder {
    let mut builder = Database::builder();
    builder.set_concurrency_mode(ConcurrencyMode::MultiWriter).set_cache_size(cache_bytes);
    builder
}

/// The tables seen through one transaction: read-only ([`Reader`]) or writable ([`Writer`]).
pub struct View<E, I, R, S, C, T, L, D, A> {
    entries: E,
    ids: I,
    refs: R,
    state: S,
    scopes: C,
    timeline: T,
    env_log: L,
    /// In a write of a store holding entries to rules: those rules, applied as each is stored.
    admission: Option<Admitting>,
    /// In a write of a signing store: what signs the entries it records.
    signer: Option<Arc<dyn EntrySigner>>,
    derived: D,
    /// In a write: the entries it stored last.
    just_stored: JustStored,
    /// In a write of a store with sinks: the outbox that entries recorded here are queued in.
    pub(crate) outbox: A,
}

/// The last [`JUST_STORED`] entries a write stored, with their seqs: what storing the next one
/// reads back of them (an outcome's deployment: for its parents, its index rows, the rules,
/// the metrics; a deployment's previous head) is taken from here instead of being looked up,
/// unpacked, re-hashed and decoded each time. They are the entries as this write stored them.
#[derive(Default)]
struct JustStored(std::collections::VecDeque<(u64, StoredEntry)>);

const JUST_STORED: usize = 32;

impl JustStored {
    fn find(&self, id: &EntryId) -> Option<&(u64, StoredEntry)> {
        self.0.iter().rev().find(|(_, stored)| stored.id == *id)
    }

    fn add(&mut self, seq: u64, stored: &StoredEntry) {
        if self.0.len() == JUST_STORED {
            self.0.pop_front();
        }
        self.0.push_back((seq, stored.clone()));
    }
}

/// The tables kept beside the history so that metrics and deep pages of a log are read, not
/// computed ([`crate::metrics`] adds to them): they count entries 1 to `through`.
pub struct Derived<W, D, P, O> {
    pub(crate) weeks: W,
    pub(crate) durations: D,
    pub(crate) pending: P,
    pub(crate) order: O,
    pub(crate) through: u64,
}

pub type Reader = View<
    ReadOnlyTable<u64, &'static [u8]>,
    ReadOnlyTable<(u64, u64), ()>,
    ReadOnlyTable<&'static str, Id>,
    ReadOnlyTable<(&'static str, &'static str), (Id, u64)>,
    ReadOnlyTable<&'static str, u32>,
    ReadOnlyTable<(u32, i64, u64), ()>,
    ReadOnlyTable<(&'static str, u64), u64>,
    Option<crate::metrics::ReadDerived>,
    (),
>;

pub type Writer<'t> = View<
    Table<'t, u64, &'static [u8]>,
    Table<'t, (u64, u64), ()>,
    Table<'t, &'static str, Id>,
    Table<'t, (&'static str, &'static str), (Id, u64)>,
    Table<'t, &'static str, u32>,
    Table<'t, (u32, i64, u64), ()>,
    Table<'t, (&'static str, u64), u64>,
    crate::metrics::WriteDerived<'t>,
    Option<crate::outbox::Queue<'t>>,
>;

/// The ordinal index of environments' logs (`env_order`), as either kind of transaction sees it.
pub trait LogOrder {
    /// How many deployments `env` has and the position of its `ordinal`-th, when the index
    /// counts every entry up to `last`.
    fn numbered(&self, env: &str, ordinal: u64, last: u64) -> Result<Option<(u64, Option<u64>)>, StoreError>;
}

impl<W, D, P, O: ReadableTable<(&'static str, u64), u64>> LogOrder for Derived<W, D, P, O> {
    fn numbered(&self, env: &str, ordinal: u64, last: u64) -> Result<Option<(u64, Option<u64>)>, StoreError> {
        if self.through != last {
            return Ok(None);
        }
        let count = match self.order.range((env, 0)..=(env, u64::MAX)).map_err(db_error)?.next_back() {
            Some(row) => row.map_err(db_error)?.0.value().1,
            None => 0,
        };
        let seq = self.order.get((env, ordinal)).map_err(db_error)?.map(|seq| seq.value());
        Ok(Some((count, seq)))
    }
}

impl<T: LogOrder> LogOrder for Option<T> {
    fn numbered(&self, env: &str, ordinal: u64, last: u64) -> Result<Option<(u64, Option<u64>)>, StoreError> {
        match self {
            Some(order) => order.numbered(env, ordinal, last),
            None => Ok(None),
        }
    }
}

/// One row of an environment's log: a deployment and, once it ended, its outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnvLogRow {
    pub deployment: u64,
    pub outcome: Option<u64>,
}

/// An environment's log, read row by row, oldest first (see [`Reader::env_log_rows`]).
pub type EnvLog<'r> = Box<dyn Iterator<Item = Result<EnvLogRow, StoreError>> + 'r>;

/// Read access to the history, the same through either kind of transaction.
pub trait Source {
    /// The position of an entry in recording order: the index row of its id's key whose entry
    /// hashes to it. A row of that key whose entry is not stored or does not unpack is taken
    /// to be its (reading it reports the damage), unless another row holds it.
    fn seq_of(&self, id: &EntryId) -> Result<Option<u64>, StoreError>;
    /// Whether the id index places `id` at `seq` (one lookup: the caller holds bytes at `seq`
    /// that hash to `id`).
    fn places(&self, id: &EntryId, seq: u64) -> Result<bool, StoreError>;
    /// The stored bytes at a position, unchecked: read entries through [`Source::entry`],
    /// [`Source::entry_at`] or [`Source::load`], which check them.
    fn raw_at(&self, seq: u64) -> Result<Option<Vec<u8>>, StoreError>;
    fn ref_target(&self, name: &str) -> Result<Option<EntryId>, StoreError>;
    /// Every ref, by name.
    fn all_refs(&self) -> Result<Vec<(String, EntryId)>, StoreError>;
    /// Where this ledger saw the refs of remote `remote` (its tracking refs), by remote name.
    fn tracking_refs(&self, remote: &str) -> Result<BTreeMap<RefName, EntryId>, StoreError> {
        let prefix = RefName::tracking_prefix(remote);
        Ok(self
            .all_refs()?
            .into_iter()
            .filter_map(|(name, id)| Some((RefName::parse(name.strip_prefix(&prefix)?)?, id)))
            .collect())
    }
    /// The materialised state of `env`: service → release.
    fn env_state(&self, env: &str) -> Result<BTreeMap<String, EntryId>, StoreError> {
        Ok(self.env_releases(env)?.into_iter().map(|(service, release)| (service, release.id)).collect())
    }
    /// The materialised state of `env`: service → the release running there, read where its
    /// row places it and checked against the row (the id it names, and that it is a release of
    /// that service).
    fn env_releases(&self, env: &str) -> Result<BTreeMap<String, StoredEntry>, StoreError> {
        let mut releases = BTreeMap::new();
        for (service, (id, seq)) in self.state_rows(env)? {
            let row = || format!("the state row of {env}/{service}");
            let release = self.load(seq, Some(id), &row)?;
            if release.entry.as_release().is_none_or(|r| r.service != service) {
                return Err(
                    Damaged::new(row(), format!("names {id}, which is not a release of {service}")).into()
                );
            }
            releases.insert(service, release);
        }
        Ok(releases)
    }
    /// The rows of `env`'s materialised state as stored: service → (release, its seq). Read
    /// through [`Source::env_releases`], which checks them.
    fn state_rows(&self, env: &str) -> Result<BTreeMap<String, (EntryId, u64)>, StoreError>;
    /// Visits `env`'s log newest first while `visit` returns true.
    fn visit_env_log(
        &self,
        env: &str,
        visit: &mut dyn FnMut(EnvLogRow) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        self.visit_env_log_before(env, u64::MAX, visit)
    }
    /// Visits the rows of `env`'s log of deployments recorded before position `before`,
    /// newest first, while `visit` returns true.
    fn visit_env_log_before(
        &self,
        env: &str,
        before: u64,
        visit: &mut dyn FnMut(EnvLogRow) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError>;
    /// The positions of up to `limit` deployments of `env` recorded after position `after`,
    /// oldest first.
    fn env_log_after(&self, env: &str, after: u64, limit: usize) -> Result<Vec<u64>, StoreError>;
    /// How many deployments `env` has, and the position of its `ordinal`-th (1: its first),
    /// read from the ordinal index; `None` when the ledger has no index that counts every entry.
    fn numbered_deployment(&self, env: &str, ordinal: u64) -> Result<Option<(u64, Option<u64>)>, StoreError>;
    /// The outcome seq recorded for the deployment at `seq` of `env`, if the row exists.
    fn env_log_row(&self, env: &str, deployment: u64) -> Result<Option<EnvLogRow>, StoreError>;
    /// Up to `limit` positions in `scope`, newest first.
    fn newest_in(&self, scope: &Scope, limit: usize) -> Result<Vec<u64>, StoreError>;
    /// Up to `limit` positions of the whole history, newest first.
    fn newest(&self, limit: usize) -> Result<Vec<u64>, StoreError>;
    /// Up to `limit` ids within `prefix`.
    fn ids_in(&self, prefix: &HexPrefix, limit: usize) -> Result<Vec<EntryId>, StoreError>;
    /// The releases among `wanted` recorded at the positions `seqs`, oldest first: a
    /// sequential read that hashes the releases it passes and decodes only the wanted ones.
    fn releases_in(
        &self,
        seqs: Range<u64>,
        wanted: &BTreeSet<EntryId>,
    ) -> Result<Vec<StoredEntry>, StoreError>;

    /// The entry `id` names and where the id index places it, read and checked once.
    fn located(&self, id: &EntryId) -> Result<Option<(u64, StoredEntry)>, StoreError>;

    /// The entry `id` names, where the id index places it.
    fn entry(&self, id: &EntryId) -> Result<Option<StoredEntry>, StoreError> {
        Ok(self.located(id)?.map(|(_, stored)| stored))
    }

    /// The entry at a position (`None`: nothing is stored there), checked against the id index.
    fn entry_at(&self, seq: u64) -> Result<Option<StoredEntry>, StoreError> {
        Ok(self.entry_and_bytes_at(seq)?.map(|(stored, _)| stored))
    }

    /// [`Source::entry_at`], with the entry's stored bytes (those its id is the hash of).
    fn entry_and_bytes_at(&self, seq: u64) -> Result<Option<(StoredEntry, Vec<u8>)>, StoreError> {
        let Some(bytes) = self.raw_at(seq)? else { return Ok(None) };
        let stored = check(self, seq, &bytes, None, &|| format!("entry #{seq}"))?;
        Ok(Some((stored, bytes)))
    }

    /// The entry at `seq`, which `row` leads to and names as `named` (`None`: names no id, and
    /// the id index must place the entry there). Nothing stored there is damage too.
    fn load(
        &self,
        seq: u64,
        named: Option<EntryId>,
        row: &dyn Fn() -> String,
    ) -> Result<StoredEntry, StoreError> {
        let Some(bytes) = self.raw_at(seq)? else {
            return Err(Damaged::new(row(), format!("leads to entry #{seq}, which is not stored")).into());
        };
        check(self, seq, &bytes, named, row)
    }

    /// The deployment and outcome that row `row` of `env`'s log places, checked: the row's
    /// newest entry (its outcome, else its deployment) against `newest` when the caller knows
    /// the id that names it (the ref, or the next deployment's parent), else against the id
    /// index; the deployment against its outcome's parent; and both against the row (a
    /// deployment to `env`, an outcome of that deployment).
    fn log_entries(
        &self,
        env: &str,
        row: EnvLogRow,
        newest: Option<EntryId>,
    ) -> Result<(StoredEntry, Option<StoredEntry>), StoreError> {
        let described = || format!("the log row of {env} at #{}", row.deployment);
        let outcome = match row.outcome {
            Some(seq) => Some(self.load(seq, newest, &described)?),
            None => None,
        };
        let deployment_id = match &outcome {
            Some(outcome) => match (&outcome.entry.body, outcome.entry.parents.first()) {
                (Body::Outcome(_), Some(deployment)) => Some(*deployment),
                _ => {
                    return Err(
                        Damaged::new(described(), format!("names {} as an outcome", outcome.id)).into()
                    );
                }
            },
            None => newest,
        };
        let deployment = self.load(row.deployment, deployment_id, &described)?;
        if deployment.entry.as_deployment().is_none_or(|d| d.env != env) {
            let problem = format!("names {} as a deployment to {env}", deployment.id);
            return Err(Damaged::new(described(), problem).into());
        }
        Ok((deployment, outcome))
    }

    /// The outcome of `deployment`, if it has one.
    fn outcome_of(&self, deployment: &StoredEntry) -> Result<Option<StoredEntry>, StoreError> {
        let (Some(seq), Some(d)) = (self.seq_of(&deployment.id)?, deployment.entry.as_deployment()) else {
            return Ok(None);
        };
        let Some(row) = self.env_log_row(&d.env, seq)?.filter(|row| row.outcome.is_some()) else {
            return Ok(None);
        };
        let (logged, outcome) = self.log_entries(&d.env, row, None)?;
        if logged.id != deployment.id {
            let problem = format!("names {}, not {}", logged.id, deployment.id);
            return Err(Damaged::new(format!("the log row of {} at #{seq}", d.env), problem).into());
        }
        Ok(outcome)
    }
}

/// A stored row that does not unpack to an entry's bytes.
fn unpack_damage(seq: u64, error: packing::UnpackError) -> StoreError {
    Damaged::new(format!("entry #{seq}"), format!("cannot be unpacked: {error}")).into()
}

/// The one check of stored bytes read from the ledger: they must hash to `named`, the id that
/// `row` (what led to them) names, or, when it names none, to an id that the id index places
/// at `seq`. Only then are they decoded.
fn check(
    source: &(impl Source + ?Sized),
    seq: u64,
    bytes: &[u8],
    named: Option<EntryId>,
    row: &dyn Fn() -> String,
) -> Result<StoredEntry, StoreError> {
    let id = EntryId::of_stored_bytes(bytes);
    match named {
        Some(named) if named != id => {
            let problem = format!("names {named} at #{seq}, but the bytes stored there hash to {id}");
            return Err(Damaged::new(row(), problem).into());
        }
        None if !source.places(&id, seq)? => {
            let problem = format!("holds bytes that hash to {id}, which the id index does not place there");
            return Err(Damaged::new(row(), problem).into());
        }
        _ => {}
    }
    StoredEntry::decoded(id, bytes).map_err(|source| StoreError::Corrupt { id, source })
}

impl<E, I, R, S, C, T, L, D, A> Source for View<E, I, R, S, C, T, L, D, A>
where
    E: ReadableTable<u64, &'static [u8]>,
    I: ReadableTable<(u64, u64), ()>,
    R: ReadableTable<&'static str, Id>,
    S: ReadableTable<(&'static str, &'static str), (Id, u64)>,
    C: ReadableTable<&'static str, u32>,
    T: ReadableTable<(u32, i64, u64), ()>,
    L: ReadableTable<(&'static str, u64), u64>,
    D: LogOrder,
{
    fn seq_of(&self, id: &EntryId) -> Result<Option<u64>, StoreError> {
        if let Some((seq, _)) = self.just_stored.find(id) {
            return Ok(Some(*seq));
        }
        Ok(self.find(id)?.map(|(seq, _)| seq))
    }

    fn located(&self, id: &EntryId) -> Result<Option<(u64, StoredEntry)>, StoreError> {
        if let Some((seq, stored)) = self.just_stored.find(id) {
            return Ok(Some((*seq, stored.clone())));
        }
        match self.find(id)? {
            Some((seq, Some(bytes))) => {
                let stored = StoredEntry::decoded(*id, &bytes)
                    .map_err(|source| StoreError::Corrupt { id: *id, source })?;
                Ok(Some((seq, stored)))
            }
            // Reading it again reports the damage.
            Some((seq, None)) => {
                let stored = self.load(seq, Some(*id), &|| format!("the id index row of {id}"))?;
                Ok(Some((seq, stored)))
            }
            None => Ok(None),
        }
    }

    fn places(&self, id: &EntryId, seq: u64) -> Result<bool, StoreError> {
        Ok(self.ids.get((id_key(id), seq)).map_err(db_error)?.is_some())
    }

    fn raw_at(&self, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(row) = self.entries.get(seq).map_err(db_error)? else { return Ok(None) };
        packing::unpack(row.value()).map(Some).map_err(|error| unpack_damage(seq, error))
    }

    fn ref_target(&self, name: &str) -> Result<Option<EntryId>, StoreError> {
        Ok(self.refs.get(name).map_err(db_error)?.map(|id| EntryId(id.value())))
    }

    fn all_refs(&self) -> Result<Vec<(String, EntryId)>, StoreError> {
        let mut all = Vec::new();
        for row in self.refs.iter().map_err(db_error)? {
            let (name, id) = row.map_err(db_error)?;
            all.push((name.value().to_string(), EntryId(id.value())));
        }
        Ok(all)
    }

    fn state_rows(&self, env: &str) -> Result<BTreeMap<String, (EntryId, u64)>, StoreError> {
        let mut state = BTreeMap::new();
        for row in self.state.range((env, "")..).map_err(db_error)? {
            let (key, value) = row.map_err(db_error)?;
            let (row_env, service) = key.value();
            if row_env != env {
                break;
            }
            let (id, seq) = value.value();
            state.insert(service.to_string(), (EntryId(id), seq));
        }
        Ok(state)
    }

    fn visit_env_log_before(
        &self,
        env: &str,
        before: u64,
        visit: &mut dyn FnMut(EnvLogRow) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        for row in self.env_log.range((env, 0)..(env, before)).map_err(db_error)?.rev() {
            let (key, outcome) = row.map_err(db_error)?;
            let row = EnvLogRow {
                deployment: key.value().1,
                outcome: Some(outcome.value()).filter(|seq| *seq != 0),
            };
            if !visit(row)? {
                break;
            }
        }
        Ok(())
    }

    fn env_log_after(&self, env: &str, after: u64, limit: usize) -> Result<Vec<u64>, StoreError> {
        let mut seqs = Vec::new();
        if after < u64::MAX {
            for row in self.env_log.range((env, after + 1)..=(env, u64::MAX)).map_err(db_error)?.take(limit) {
                seqs.push(row.map_err(db_error)?.0.value().1);
            }
        }
        Ok(seqs)
    }

    fn numbered_deployment(&self, env: &str, ordinal: u64) -> Result<Option<(u64, Option<u64>)>, StoreError> {
        let last = self.entries.last().map_err(db_error)?.map_or(0, |(seq, _)| seq.value());
        self.derived.numbered(env, ordinal, last)
    }

    fn env_log_row(&self, env: &str, deployment: u64) -> Result<Option<EnvLogRow>, StoreError> {
        let outcome = self.env_log.get((env, deployment)).map_err(db_error)?.map(|seq| seq.value());
        Ok(outcome.map(|outcome| EnvLogRow { deployment, outcome: Some(outcome).filter(|seq| *seq != 0) }))
    }

    fn newest_in(&self, scope: &Scope, limit: usize) -> Result<Vec<u64>, StoreError> {
        // A service's deployments are listed per environment: its listing merges those with
        // its releases, by time and then recording order.
        let mut numbers = Vec::new();
        if let Scope::Service(service) = scope {
            for row in self.scopes.range("e/".."e0").map_err(db_error)? {
                let (key, number) = row.map_err(db_error)?;
                let in_env = key.value()[2..].split_once('/').is_some_and(|(_, named)| named == *service);
                if in_env {
                    numbers.push(number.value());
                }
            }
        }
        numbers.extend(self.scopes.get(scope.key().as_str()).map_err(db_error)?.map(|number| number.value()));
        let mut rows = Vec::new();
        for number in numbers {
            let (low, high) = ((number, i64::MIN, 0), (number, i64::MAX, u64::MAX));
            for row in self.timeline.range(low..=high).map_err(db_error)?.rev().take(limit) {
                let (_, at, seq) = row.map_err(db_error)?.0.value();
                rows.push((at, seq));
            }
        }
        rows.sort_unstable_by(|a, b| b.cmp(a));
        Ok(rows.into_iter().take(limit).map(|(_, seq)| seq).collect())
    }

    fn newest(&self, limit: usize) -> Result<Vec<u64>, StoreError> {
        let mut seqs = Vec::new();
        for row in self.entries.iter().map_err(db_error)?.rev().take(limit) {
            seqs.push(row.map_err(db_error)?.0.value());
        }
        Ok(seqs)
    }

    fn releases_in(
        &self,
        seqs: Range<u64>,
        wanted: &BTreeSet<EntryId>,
    ) -> Result<Vec<StoredEntry>, StoreError> {
        let mut releases = Vec::new();
        let mut bytes = Vec::new();
        for row in self.entries.range(seqs).map_err(db_error)? {
            let (seq, packed) = row.map_err(db_error)?;
            if packing::peek_kind(packed.value()) != Some(crate::entry::EntryKind::Release) {
                continue;
            }
            let seq = seq.value();
            packing::unpack_into(packed.value(), &mut bytes).map_err(|error| unpack_damage(seq, error))?;
            let bytes = bytes.as_slice();
            // Found by its hash: a wanted id names exactly these bytes, so they are checked.
            let id = EntryId::of_stored_bytes(bytes);
            if wanted.contains(&id) {
                let stored =
                    StoredEntry::decoded(id, bytes).map_err(|source| StoreError::Corrupt { id, source })?;
                releases.push(stored);
            }
        }
        Ok(releases)
    }

    fn ids_in(&self, prefix: &HexPrefix, limit: usize) -> Result<Vec<EntryId>, StoreError> {
        let (low, high) = (id_key(&EntryId(prefix.low)), id_key(&EntryId(prefix.high)));
        let mut ids = Vec::new();
        for row in self.ids.range((low, 0)..=(high, u64::MAX)).map_err(db_error)? {
            if ids.len() == limit {
                break;
            }
            let (key, seq) = row.map_err(db_error)?.0.value();
            let described = || format!("the id index row {key:016x} at #{seq}");
            let Some(bytes) = self.raw_at(seq)? else {
                return Err(
                    Damaged::new(described(), format!("leads to entry #{seq}, which is not stored")).into()
                );
            };
            let id = EntryId::of_stored_bytes(&bytes);
            if id_key(&id) != key {
                return Err(Damaged::new(described(), format!("leads to bytes that hash to {id}")).into());
            }
            if (prefix.low..=prefix.high).contains(&id.0) {
                ids.push(id);
            }
        }
        Ok(ids)
    }
}

/// Where an id is stored, and the bytes there that hash to it (`None`: the row of its key
/// leads to an entry that is not stored or does not unpack).
type Found = (u64, Option<Vec<u8>>);

impl<E, I, R, S, C, T, L, D, A> View<E, I, R, S, C, T, L, D, A>
where
    E: ReadableTable<u64, &'static [u8]>,
    I: ReadableTable<(u64, u64), ()>,
{
    /// Where `id` is stored and its bytes: the row of its key whose entry hashes to it (rows
    /// of the same key holding other entries are passed over). When none does, a row of that
    /// key whose entry is not stored or does not unpack is taken to be its, without bytes:
    /// reading it then reports the damage.
    fn find(&self, id: &EntryId) -> Result<Option<Found>, StoreError> {
        let key = id_key(id);
        let mut unreadable = None;
        for row in self.ids.range((key, 0)..=(key, u64::MAX)).map_err(db_error)? {
            let seq = row.map_err(db_error)?.0.value().1;
            let stored = self.entries.get(seq).map_err(db_error)?;
            if let Some(Ok(bytes)) = stored.map(|row| packing::unpack(row.value())) {
                let found = EntryId::of_stored_bytes(&bytes);
                if found == *id {
                    return Ok(Some((seq, Some(bytes))));
                }
                if id_key(&found) == key {
                    // Another entry whose id begins the same.
                    continue;
                }
            }
            unreadable.get_or_insert((seq, None));
        }
        Ok(unreadable)
    }
}

impl Reader {
    /// The derived tables, when this ledger has them.
    pub(crate) fn derived(&self) -> Option<&crate::metrics::ReadDerived> {
        self.derived.as_ref()
    }

    /// The derived tables, when they count every entry (an earlier version kept none, or did
    /// not keep them up to date; the next write brings them up to date).
    pub(crate) fn current_derived(&self) -> Result<Option<&crate::metrics::ReadDerived>, StoreError> {
        let last = self.newest(1)?.first().copied().unwrap_or(0);
        Ok(self.derived.as_ref().filter(|derived| derived.through == last))
    }

    /// Every entry in recording order: `(seq, stored bytes)`.
    /// A row that does not unpack is given as it is stored: its bytes hash to no id the index
    /// holds, so they are reported as damage where they are met.
    pub fn for_each_entry(
        &self,
        mut visit: impl FnMut(u64, &[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.for_each_entry_while(|seq, bytes| visit(seq, bytes).map(|()| true))
    }

    /// Every entry in recording order while `visit` returns true. A row that does not unpack is
    /// handed over as stored, so that its re-hash reports it.
    pub fn for_each_entry_while(
        &self,
        mut visit: impl FnMut(u64, &[u8]) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let mut bytes = Vec::new();
        for row in self.entries.iter().map_err(db_error)? {
            let (seq, packed) = row.map_err(db_error)?;
            let going_on = match packing::unpack_into(packed.value(), &mut bytes) {
                Ok(()) => visit(seq.value(), &bytes)?,
                Err(_) => visit(seq.value(), packed.value())?,
            };
            if !going_on {
                break;
            }
        }
        Ok(())
    }

    /// Every row of the id index in key order: `(the id's key (see [`id_key`]), seq)`.
    pub fn for_each_id_row(&self, mut visit: impl FnMut(u64, u64)) -> Result<(), StoreError> {
        for row in self.ids.iter().map_err(db_error)? {
            let (key, seq) = row.map_err(db_error)?.0.value();
            visit(key, seq);
        }
        Ok(())
    }

    /// Every environment with a log, and every (environment, deployment seq, outcome seq) row
    /// of it in recording order.
    pub fn for_each_env_log_row(&self, mut visit: impl FnMut(&str, EnvLogRow)) -> Result<(), StoreError> {
        for row in self.env_log.iter().map_err(db_error)? {
            let (key, outcome) = row.map_err(db_error)?;
            let (env, deployment) = key.value();
            visit(env, EnvLogRow { deployment, outcome: Some(outcome.value()).filter(|seq| *seq != 0) });
        }
        Ok(())
    }

    /// `env`'s log, oldest first.
    pub fn env_log_rows<'r>(&'r self, env: &str) -> Result<EnvLog<'r>, StoreError> {
        let rows = self.env_log.range((env, 0)..=(env, u64::MAX)).map_err(db_error)?;
        Ok(Box::new(rows.map(|row| {
            let (key, outcome) = row.map_err(db_error)?;
            Ok(EnvLogRow {
                deployment: key.value().1,
                outcome: Some(outcome.value()).filter(|seq| *seq != 0),
            })
        })))
    }

    /// Every materialised state row: (env, service, release, its seq).
    pub fn all_state_rows(&self) -> Result<Vec<(String, String, EntryId, u64)>, StoreError> {
        let mut rows = Vec::new();
        for row in self.state.iter().map_err(db_error)? {
            let (key, value) = row.map_err(db_error)?;
            let (env, service) = key.value();
            let (id, seq) = value.value();
            rows.push((env.to_string(), service.to_string(), EntryId(id), seq));
        }
        Ok(rows)
    }
}

/// A remote document as this ledger last saw it (see [`Store::remembered`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteDocument {
    /// The tag the remote gave it (S3: its ETag).
    pub etag: String,
    pub bytes: Vec<u8>,
}

/// A deployment at the head of its environment without a final outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unfinished {
    pub deployment: EntryId,
    /// Its `submitted` outcome (`--no-wait`), if one was recorded; `None`: in flight or
    /// interrupted.
    pub submitted: Option<EntryId>,
}

/// Whether the environment head `head` is a deployment without a final outcome.
pub(crate) fn unfinished_at(source: &impl Source, head: EntryId) -> Result<Option<Unfinished>, StoreError> {
    let Some(stored) = source.entry(&head)? else { return Ok(None) };
    Ok(match &stored.entry.body {
        Body::Deployment(_) => Some(Unfinished { deployment: head, submitted: None }),
        Body::Outcome(outcome) if outcome.result == DeployResult::Submitted => {
            Some(Unfinished { deployment: stored.entry.parents[0], submitted: Some(head) })
        }
        _ => None,
    })
}

/// The ref an entry of this body moves (an outcome moves its deployment's: `None`).
pub fn ref_of(body: &Body) -> Option<RefName> {
    match body {
        Body::Release(release) => Some(RefName::service(&release.service)),
        Body::ReleaseSet(set) => Some(RefName::set(set.service_set.as_deref())),
        Body::Deployment(deployment) => Some(RefName::env(&deployment.env)),
        Body::Outcome(_) => None,
        Body::Approval(approval) => Some(RefName::gates(&approval.env)),
        Body::Freeze(freeze) => Some(RefName::gates(&freeze.env)),
        Body::Unfreeze(unfreeze) => Some(RefName::gates(&unfreeze.env)),
        Body::Quarantine(_) => Some(RefName::quarantine()),
        Body::TaskRun(run) => Some(RefName::tasks(&run.env)),
    }
}

/// What every new entry carries besides its body.
#[derive(Clone, Debug)]
pub struct Stamp {
    pub at: Timestamp,
    pub actor: String,
    pub message: String,
}

impl Writer<'_> {
    /// Records a release; its parent is the service's previous release.
    pub fn record_release(
        &mut self,
        stamp: Stamp,
        release: crate::entry::Release,
    ) -> Result<StoredEntry, StoreError> {
        self.record(stamp, Body::Release(release))
    }

    /// Records a release set; its parent is the previous set of the same service set.
    pub fn record_release_set(
        &mut self,
        stamp: Stamp,
        set: crate::entry::ReleaseSet,
    ) -> Result<StoredEntry, StoreError> {
        self.record(stamp, Body::ReleaseSet(set))
    }

    /// Records the intent to deploy. `planned_head` is the environment head the plan was made
    /// against: if another process moved it since, nothing is written.
    pub fn record_deployment(
        &mut self,
        stamp: Stamp,
        planned_head: Option<EntryId>,
        deployment: crate::entry::Deployment,
    ) -> Result<StoredEntry, StoreError> {
        let body = Body::Deployment(deployment);
        let parents = self.parents_for(&body)?;
        if parents.first() != planned_head.as_ref() {
            let now = parents.first().map_or_else(|| "no deployments".to_string(), EntryId::short);
            let Body::Deployment(deployment) = body else { unreachable!("built above") };
            return Err(ConflictError::EnvMoved { env: deployment.env, now }.into());
        }
        self.insert(stamp, parents, body)
    }

    /// Records how `deployment` ended, and moves the environment's state to what runs now. A
    /// deployment whose outcome so far is `submitted` may get its final outcome; its parents are
    /// then the deployment and that `submitted` outcome.
    pub fn record_outcome(
        &mut self,
        stamp: Stamp,
        deployment: EntryId,
        outcome: crate::entry::Outcome,
    ) -> Result<StoredEntry, StoreError> {
        let parents = self.outcome_parents(deployment)?;
        self.insert(stamp, parents, Body::Outcome(outcome))
    }

    /// Stores an entry received as `bytes` from elsewhere (a remote), once they hash to `id`,
    /// decode, name only entries already here, and follow the history of their ref (as if
    /// recorded here now). It is then indexed and its ref moved as a recorded one would be.
    /// An entry already here is returned as it is.
    pub fn receive(&mut self, id: EntryId, bytes: &[u8]) -> Result<StoredEntry, StoreError> {
        let actual = EntryId::of_stored_bytes(bytes);
        if actual != id {
            return Err(ReceiveError::HashMismatch { expected: id, actual }.into());
        }
        if let Some(existing) = self.entry(&id)? {
            return Ok(existing);
        }
        let stored =
            StoredEntry::decoded(id, bytes).map_err(|source| ReceiveError::Undecodable { id, source })?;
        self.take_in(stored, bytes)
    }

    /// [`Writer::receive`] of an entry whose bytes were checked already against its id (on
    /// whatever thread made `received`): they are not hashed again; the rest is the same.
    pub fn receive_checked(&mut self, received: &Received) -> Result<StoredEntry, StoreError> {
        let id = received.id();
        if let Some(existing) = self.entry(&id)? {
            return Ok(existing);
        }
        let stored = StoredEntry::decoded(id, received.bytes())
            .map_err(|source| ReceiveError::Undecodable { id, source })?;
        self.take_in(stored, received.bytes())
    }

    /// Stores `stored` (checked against `bytes`), once it names only entries already here and
    /// follows the history of its ref.
    fn take_in(&mut self, stored: StoredEntry, bytes: &[u8]) -> Result<StoredEntry, StoreError> {
        let (id, entry) = (stored.id, &stored.entry);
        for named in entry.references() {
            if self.seq_of(&named)?.is_none() {
                return Err(ReceiveError::MissingReference { id, missing: named }.into());
            }
        }
        let (expected, name) = match (&entry.body, entry.parents.first()) {
            (Body::Outcome(_), Some(deployment)) => {
                (self.outcome_parents(*deployment)?, format!("the outcomes of {}", deployment.short()))
            }
            (Body::Outcome(_), None) => {
                let source = DecodeError::Malformed("an outcome that names no deployment".into());
                return Err(ReceiveError::Undecodable { id, source }.into());
            }
            (body, _) => {
                (self.parents_for(body)?, ref_of(body).map(|name| name.to_string()).unwrap_or_default())
            }
        };
        if entry.parents != expected {
            let head = expected.last().map_or_else(|| "nothing".to_string(), EntryId::short);
            return Err(ReceiveError::Diverged { id, name, head }.into());
        }
        self.index(stored, bytes)
    }

    /// The parents a new release, release set or deployment gets: the head of its ref. A
    /// deployment is refused while the environment's last one has no final outcome.
    fn parents_for(&self, body: &Body) -> Result<Vec<EntryId>, StoreError> {
        let head = match ref_of(body) {
            Some(name) => self.ref_target(&name)?,
            None => None,
        };
        if let (Body::Deployment(deployment), Some(head)) = (body, head)
            && let Some(unfinished) = unfinished_at(self, head)?
        {
            let (env, deployment) = (deployment.env.clone(), unfinished.deployment);
            return Err(match unfinished.submitted {
                None => ConflictError::InFlight { env, deployment },
                Some(_) => ConflictError::Unobserved { env, deployment },
            }
            .into());
        }
        Ok(head.into_iter().collect())
    }

    /// An outcome's parents: its deployment, and the `submitted` outcome it follows if any.
    fn outcome_parents(&self, deployment: EntryId) -> Result<Vec<EntryId>, StoreError> {
        let stored = self.entry(&deployment)?.filter(|d| d.entry.as_deployment().is_some());
        let Some(stored) = stored else { return Err(ConflictError::NotADeployment(deployment).into()) };
        let mut parents = vec![deployment];
        if let Some(earlier) = self.outcome_of(&stored)? {
            let submitted = earlier.entry.as_outcome().is_some_and(|o| o.result == DeployResult::Submitted);
            if !submitted {
                return Err(ConflictError::AlreadyConcluded(deployment).into());
            }
            parents.push(earlier.id);
        }
        Ok(parents)
    }

    /// Notes where ref `name` of remote `remote` is (see [`RefName::tracking`]).
    pub fn set_tracking_ref(&mut self, remote: &str, name: &RefName, id: EntryId) -> Result<(), StoreError> {
        self.set_ref(&RefName::tracking(remote, name), id)
    }

    /// Forgets where remote `remote`'s refs were: its tracking refs are removed.
    pub fn forget_remote(&mut self, remote: &str) -> Result<(), StoreError> {
        let prefix = RefName::tracking_prefix(remote);
        let names: Vec<String> = self
            .all_refs()?
            .into_iter()
            .map(|(name, _)| name)
            .filter(|name| name.starts_with(&prefix))
            .collect();
        for name in names {
            self.refs.remove(name.as_str()).map_err(db_error)?;
        }
        Ok(())
    }

    fn record(&mut self, stamp: Stamp, body: Body) -> Result<StoredEntry, StoreError> {
        let parents = self.parents_for(&body)?;
        self.insert(stamp, parents, body)
    }

    /// The release or release set `record_release`/`record_release_set` would store now, and
    /// its bytes, without storing it: a shared remote takes it first (see `receive`).
    pub fn seal_new(&self, stamp: Stamp, body: Body) -> Result<(StoredEntry, Vec<u8>), StoreError> {
        let parents = self.parents_for(&body)?;
        self.seal_with(stamp, parents, body)
    }

    fn insert(&mut self, stamp: Stamp, parents: Vec<EntryId>, body: Body) -> Result<StoredEntry, StoreError> {
        let (stored, bytes) = self.seal_with(stamp, parents, body)?;
        if self.seq_of(&stored.id)?.is_some() {
            // Content-addressed: the very same entry is already recorded.
            return Ok(stored);
        }
        let stored = self.index(stored, &bytes)?;
        self.announce(&stored)?;
        Ok(stored)
    }

    fn seal_with(
        &self,
        stamp: Stamp,
        parents: Vec<EntryId>,
        body: Body,
    ) -> Result<(StoredEntry, Vec<u8>), StoreError> {
        // An entry is never older than its parents (nor than what it follows, see Body::follows), so
        // time order agrees with history even when clocks disagree or two entries are recorded
        // in the same microsecond.
        // A time outside the ledger's range, or a parent's time with no later one left, is
        // refused rather than wrapped.
        let mut at = stamp.at.check_range()?;
        let follows = body.follows();
        for earlier in parents.iter().chain(&follows) {
            if let Some(parent) = self.entry(earlier)? {
                at = at.max(parent.entry.at.next_after()?);
            }
        }
        let entry = Entry { parents, at, actor: stamp.actor, message: stamp.message, body };
        let signature = match &self.signer {
            Some(signer) => Some(crate::signing::sign(signer.as_ref(), &entry)?),
            None => None,
        };
        Ok(StoredEntry::seal_with(entry, signature))
    }

    /// Stores a new entry under the next seq, indexes it, moves its ref, and holds it to the
    /// store's rules (from what this write already stored and read, without reading it back).
    fn index(&mut self, stored: StoredEntry, bytes: &[u8]) -> Result<StoredEntry, StoreError> {
        let id = stored.id;
        let seq = match self.entries.last().map_err(db_error)? {
            Some((last, _)) => last.value() + 1,
            None => 1,
        };
        self.entries.insert(seq, packing::pack(bytes).as_slice()).map_err(db_error)?;
        self.ids.insert((id_key(&id), seq), ()).map_err(db_error)?;
        self.just_stored.add(seq, &stored);
        let at = stored.entry.at.0;
        let on = match &stored.entry.body {
            Body::Release(release) => {
                self.add_to_timeline(&Scope::Service(&release.service), at, seq)?;
                RefName::service(&release.service)
            }
            Body::ReleaseSet(set) => RefName::set(set.service_set.as_deref()),
            Body::Deployment(deployment) => {
                for service in deployment.changes.keys() {
                    self.add_to_timeline(&Scope::EnvService(&deployment.env, service), at, seq)?;
                }
                self.env_log.insert((deployment.env.as_str(), seq), 0).map_err(db_error)?;
                RefName::env(&deployment.env)
            }
            Body::Outcome(outcome) => {
                let deployment_id = stored.entry.parents[0];
                let not_a_deployment = ConflictError::NotADeployment(deployment_id);
                let (deployment_seq, deployment) =
                    self.located(&deployment_id)?.ok_or(not_a_deployment.clone())?;
                let env = deployment.entry.as_deployment().map(|d| d.env.clone()).ok_or(not_a_deployment)?;
                if let Some(admission) = &mut self.admission {
                    admission.saw(&deployment);
                }
                for (service, result) in &outcome.services {
                    if let Some(running) = result.running {
                        let running_seq =
                            self.seq_of(&running)?.ok_or(ConflictError::UnknownRelease(running))?;
                        let value = (running.0, running_seq);
                        self.state.insert((env.as_str(), service.as_str()), value).map_err(db_error)?;
                    }
                }
                self.env_log.insert((env.as_str(), deployment_seq), seq).map_err(db_error)?;
                RefName::env(&env)
            }
            body @ (Body::Approval(_)
            | Body::Freeze(_)
            | Body::Unfreeze(_)
            | Body::Quarantine(_)
            | Body::TaskRun(_)) => ref_of(body).expect("every gate entry and task run moves a ref"),
        };
        self.set_ref(&on, id)?;
        if let Some(mut admission) = self.admission.take() {
            let admitted = admission.admit(self, &on, &stored);
            self.admission = Some(admission);
            admitted?;
        }
        crate::metrics::Folding::of(self, &stored)?.add_to(&mut self.derived, seq)?;
        Ok(stored)
    }

    /// Counts the entries from `first` to before `end` in the derived tables: those an
    /// earlier version recorded without them (all of a ledger it created).
    fn derive_from(&mut self, first: u64, end: u64) -> Result<(), StoreError> {
        for seq in first..end {
            let stored = self.entry_at(seq)?.ok_or_else(|| {
                Damaged::new(format!("entry #{seq}"), "is not stored, and later entries are")
            })?;
            crate::metrics::Folding::of(self, &stored)?.add_to(&mut self.derived, seq)?;
        }
        Ok(())
    }

    fn add_to_timeline(&mut self, scope: &Scope, at: i64, seq: u64) -> Result<(), StoreError> {
        let number = scope_number(&mut self.scopes, &scope.key())?;
        self.timeline.insert((number, at, seq), ()).map_err(db_error)?;
        Ok(())
    }

    fn set_ref(&mut self, name: &str, id: EntryId) -> Result<(), StoreError> {
        self.refs.insert(name, &id.0).map_err(db_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! The id index with ids that share a key: in unit tests [`id_key`] keeps 6 bits of an
    //! id, so a few dozen entries are sure to collide.

    use std::collections::BTreeMap;

    use super::*;
    use crate::admission::Rules;
    use crate::entry::Release;
    use crate::id::HexPrefix;

    fn stamp(second: i64) -> Stamp {
        Stamp {
            at: Timestamp::from_unix_seconds(1_800_000_000 + second),
            actor: "t".into(),
            message: String::new(),
        }
    }

    fn release(n: i64) -> Release {
        let service = format!("svc-{}", n % 5);
        let image = format!("registry.local/{service}:{n}");
        Release { service, image, digest: None, revision: None, revision_at: None }
    }

    #[test]
    fn ids_that_share_a_key_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let ids: Vec<EntryId> =
            (0..100).map(|n| store.write(|w| w.record_release(stamp(n), release(n))).unwrap().id).collect();
        let mut by_key: BTreeMap<u64, Vec<EntryId>> = BTreeMap::new();
        for id in &ids {
            by_key.entry(id_key(id)).or_default().push(*id);
        }
        assert!(by_key.values().any(|shared| shared.len() > 1), "100 ids in 64 keys: some share one");

        let reader = store.read().unwrap();
        for (position, id) in ids.iter().enumerate() {
            let seq = position as u64 + 1;
            assert_eq!(reader.seq_of(id).unwrap(), Some(seq));
            assert!(reader.places(id, seq).unwrap());
            assert_eq!(reader.entry(id).unwrap().unwrap().id, *id);
            // A full-length prefix names it alone, although others share its key.
            let prefix = HexPrefix::parse(&id.to_hex()).unwrap();
            assert_eq!(reader.ids_in(&prefix, 10).unwrap(), [*id]);
        }
        // An id nobody recorded, with a key that recorded ids have, is not here.
        let (key, shared) = by_key.iter().find(|(_, shared)| shared.len() > 1).unwrap();
        let mut absent = shared[0];
        absent.0[31] ^= 1;
        assert_eq!(id_key(&absent), *key);
        assert_eq!(reader.seq_of(&absent).unwrap(), None);
        assert!(reader.entry(&absent).unwrap().is_none());
        // An entry received again, whose key others share, is found and not stored twice.
        let bytes = reader.raw_at(100).unwrap().unwrap();
        drop(reader);
        let again = store.write(|w| w.receive(ids[99], &bytes)).unwrap();
        assert_eq!(again.id, ids[99]);
        let reader = store.read().unwrap();
        assert_eq!(reader.newest(1).unwrap(), [100]);
        let report = crate::verify::verify(&reader, &Rules::without_manifest()).unwrap();
        assert!(report.is_sound(), "{:?}", report.damage);
    }
}
