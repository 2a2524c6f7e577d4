//! An environment's one-off task runs (`before`, `verify`, `ledger run`), read by walking ref
//! `tasks/<env>` back from its head.

use crate::entry::StoredEntry;
use crate::governance::walk;
use crate::refs::RefName;
use crate::store::{Source, StoreError};

/// The newest `limit` task runs of `env` (for `service`, when given), newest first; at most
/// [`SCANNED`] entries are read to find them.
pub fn newest(
    source: &impl Source,
    env: &str,
    service: Option<&str>,
    limit: usize,
) -> Result<Vec<StoredEntry>, StoreError> {
    let mut found = Vec::new();
    let mut scanned = 0;
    walk(source, &RefName::tasks(env), |stored| {
        scanned += 1;
        let wanted = stored.entry.as_task_run().is_some_and(|run| service.is_none_or(|s| run.service == s));
        if wanted {
            found.push(stored.clone());
        }
        found.len() < limit && scanned < SCANNED
    })?;
    Ok(found)
}

/// The most entries of `tasks/<env>` one look reads.
pub const SCANNED: usize = 4096;
