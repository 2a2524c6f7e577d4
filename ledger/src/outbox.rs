//! The outbox: the events this ledger still owes its sinks. An entry recorded here is queued,
//! once per sink whose filter takes it, in the transaction that records it, so an event is never
//! lost between the entry and its delivery (a crash, a `kill -9`, a receiver that is down). A
//! row leaves the outbox only when its sink took the event; a failed attempt stays, with when to
//! try again and why it failed. Entries taken in from elsewhere (pull, clone, unbundle) were
//! announced by the ledger that recorded them, and are not queued here.

use std::sync::Arc;

use redb::{ReadableTable, Table, TableDefinition};

use crate::notify::{Facts, Sink};
use crate::store::{Source, Store, StoreError, Writer, db_error};
use crate::{Body, EntryId, StoredEntry, Timestamp};

/// (sink, seq of the entry) → (failed attempts, not before (µs since the epoch), last error).
const OUTBOX: TableDefinition<(&str, u64), (u32, i64, &str)> = TableDefinition::new("outbox");

/// The outbox as a write sees it, with the sinks it queues for.
pub struct Queue<'t> {
    table: Table<'t, (&'static str, u64), (u32, i64, &'static str)>,
    sinks: Arc<[Sink]>,
}

impl<'t> Queue<'t> {
    pub(crate) fn open(txn: &'t redb::WriteTransaction, sinks: Arc<[Sink]>) -> Result<Queue<'t>, StoreError> {
        Ok(Queue { table: txn.open_table(OUTBOX).map_err(db_error)?, sinks })
    }
}

/// One event a sink is still owed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Queued {
    pub sink: String,
    /// Where the entry is stored: the outbox is in recording order.
    pub seq: u64,
    /// Attempts that failed so far.
    pub attempts: u32,
    /// The next attempt is not made before this (after a command; `notify --flush` tries now).
    pub not_before: Timestamp,
    /// Why the last attempt failed (empty before the first).
    pub error: String,
}

/// How an attempt to deliver a queued event went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    Delivered,
    Failed { error: String, retry_at: Timestamp },
}

impl Store {
    /// Events of the entries a write records here are queued for `sinks` (each as its filter
    /// says). Without sinks nothing is queued.
    pub fn announcing(mut self, sinks: &[Sink]) -> Store {
        self.sinks = (!sinks.is_empty()).then(|| sinks.into());
        self
    }

    /// What the outbox holds, in recording order within each sink (a ledger made before the
    /// outbox holds nothing).
    pub fn queued(&self) -> Result<Vec<Queued>, StoreError> {
        let txn = self.begin_read()?;
        let table = match txn.open_table(OUTBOX) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(error) => return Err(db_error(error)),
        };
        let mut queued = Vec::new();
        for row in table.iter().map_err(db_error)? {
            let (key, value) = row.map_err(db_error)?;
            let ((sink, seq), (attempts, not_before, error)) = (key.value(), value.value());
            let not_before = Timestamp(not_before);
            queued.push(Queued {
                sink: sink.to_string(),
                seq,
                attempts,
                not_before,
                error: error.to_string(),
            });
        }
        Ok(queued)
    }

    /// Notes how attempts went, in one transaction: a delivered event leaves the outbox; a failed
    /// one stays, counted, until `retry_at`. An event another process delivered meanwhile is
    /// left gone.
    pub fn settle(&self, attempts: &[(Queued, Attempt)]) -> Result<(), StoreError> {
        if attempts.is_empty() {
            return Ok(());
        }
        self.write_table(OUTBOX, |table| {
            for (queued, attempt) in attempts {
                let key = (queued.sink.as_str(), queued.seq);
                let still_owed = table.get(key).map_err(db_error)?.map(|row| row.value().0);
                match (attempt, still_owed) {
                    (_, None) => {}
                    (Attempt::Delivered, Some(_)) => {
                        table.remove(key).map_err(db_error)?;
                    }
                    (Attempt::Failed { error, retry_at }, Some(attempts)) => {
                        let row = (attempts.saturating_add(1), retry_at.0, error.as_str());
                        table.insert(key, row).map_err(db_error)?;
                    }
                }
            }
            Ok(())
        })
    }
}

impl Writer<'_> {
    /// Stores an entry this ledger recorded and a shared remote took first (see `receive`), and
    /// queues its events, as if it had been recorded here directly.
    pub fn receive_own(&mut self, id: EntryId, bytes: &[u8]) -> Result<StoredEntry, StoreError> {
        let new = self.seq_of(&id)?.is_none();
        let stored = self.receive(id, bytes)?;
        if new {
            self.announce(&stored)?;
        }
        Ok(stored)
    }

    /// Queues the events of `stored`, just stored here, for every sink whose filter takes it.
    pub(crate) fn announce(&mut self, stored: &StoredEntry) -> Result<(), StoreError> {
        if self.outbox.is_none() {
            return Ok(());
        }
        let seq = self.seq_of(&stored.id)?.ok_or_else(|| {
            crate::store::Damaged::new(format!("the entry {}", stored.id.short()), "was not stored")
        })?;
        let deployment_env = match (&stored.entry.body, stored.entry.parents.first()) {
            (Body::Outcome(_), Some(deployment)) => {
                self.entry(deployment)?.and_then(|d| d.entry.as_deployment().map(|d| d.env.clone()))
            }
            _ => None,
        };
        let facts = Facts::of(&stored.entry, deployment_env.as_deref());
        let Some(queue) = &mut self.outbox else { return Ok(()) };
        for sink in queue.sinks.iter().filter(|sink| sink.filter.matches(&facts)) {
            queue.table.insert((sink.name.as_str(), seq), (0, 0, "")).map_err(db_error)?;
        }
        Ok(())
    }
}
