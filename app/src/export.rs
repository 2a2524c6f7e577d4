//! `export`: the ledger's entries in recording order, one JSON object per line (NDJSON), each
//! with its exact stored bytes, written as they are read so that a history of any size streams.
//! A bundle ([`crate::bundle`]) is this format after a header line; [`read_line`] reads a line
//! back, believing only its bytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ledger::received::Received;
use ledger::store::Reader;
use ledger::{EntryId, Source, StoredEntry, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::json;
use crate::views::{Releases, resolve_target};
use crate::workspace::Workspace;

/// Entries whose releases one release cache serves: the cache is started again after them, so
/// that an export holds a bounded number of release views, whatever the history's length.
const RELEASE_CACHE_SPAN: u64 = 4096;

/// One line of an export: the entry's id and kind, its fields as `show --output json` gives
/// them (for people and scripts reading the file: never read back), and its stored bytes in
/// base64 (the bytes its id is the hash of, signature included: what an import believes).
#[derive(Serialize, Deserialize)]
pub struct Line {
    pub id: String,
    pub kind: String,
    #[serde(default)]
    pub fields: Value,
    pub bytes: String,
}

/// Which entries `--since` keeps.
enum Since {
    /// Those recorded after the entry at this position.
    After(u64),
    /// Those whose time is this one or later.
    At(Timestamp),
}

/// Writes every entry (with `since`: those recorded after that entry, or at or after that
/// time) to `emit` as an export line, in recording order; returns how many.
///
/// `since` is an RFC 3339 time, or an entry as `show` takes it (an id, a unique prefix, a ref,
/// or the name of an environment, service set or service).
pub fn export<E: From<Error>>(
    workspace: &Workspace,
    since: Option<&str>,
    emit: impl FnMut(&str) -> Result<(), E>,
) -> Result<u64, E> {
    let store = workspace.open_store_for_reading()?;
    let reader = store.read().map_err(Error::from)?;
    let since = since.map(|text| parse_since(workspace, &reader, text)).transpose()?;
    let first = match since {
        Some(Since::After(seq)) => seq + 1,
        _ => 0,
    };
    let last = reader.newest(1).map_err(Error::from)?.first().copied().unwrap_or(0);
    let keep = |stored: &StoredEntry| match since {
        Some(Since::At(at)) => stored.entry.at >= at,
        _ => true,
    };
    write_lines(workspace, &reader, first..=last, keep, emit)
}

fn parse_since(workspace: &Workspace, reader: &Reader, text: &str) -> Result<Since> {
    if let Ok(at) = Timestamp::parse_rfc3339(text) {
        return Ok(Since::At(at));
    }
    let id = resolve_target(workspace, reader, text).map_err(|error| {
        error.hint("--since takes an entry (id, prefix, ref or name) or an RFC 3339 time")
    })?;
    let seq = reader.seq_of(&id)?.ok_or_else(|| Error::failed(format!("entry {id} is missing")))?;
    Ok(Since::After(seq))
}

/// Writes the entries at positions `seqs` (in the order given; a position that holds nothing
/// is passed over) that `keep` keeps, each read and checked against the id index, to `emit` as
/// export lines; returns how many.
pub(crate) fn write_lines<E: From<Error>>(
    workspace: &Workspace,
    reader: &Reader,
    seqs: impl IntoIterator<Item = u64>,
    keep: impl Fn(&StoredEntry) -> bool,
    mut emit: impl FnMut(&str) -> Result<(), E>,
) -> Result<u64, E> {
    let mut releases = Releases::new(reader, &workspace.trust);
    let mut written = 0;
    for seq in seqs {
        if seq % RELEASE_CACHE_SPAN == 0 {
            releases = Releases::new(reader, &workspace.trust);
        }
        let Some((stored, bytes)) = reader.entry_and_bytes_at(seq).map_err(Error::from)? else { continue };
        if keep(&stored) {
            emit(&line(&releases, &stored, &bytes)?)?;
            written += 1;
        }
    }
    Ok(written)
}

/// `stored` as an export line, newline included.
fn line(releases: &Releases<'_, Reader>, stored: &StoredEntry, bytes: &[u8]) -> Result<String> {
    let line = Line {
        id: stored.id.to_hex(),
        kind: stored.entry.kind().as_str().to_string(),
        fields: json::entry(releases, stored)?,
        bytes: BASE64.encode(bytes),
    };
    let text = serde_json::to_string(&line).map_err(|error| Error::internal(error.to_string()))?;
    Ok(format!("{text}\n"))
}

/// An export line read back: its bytes, once they hash to its id and decode (the same check a
/// pull makes of an object), and the kind it claims. Its `fields` are not read: only the bytes
/// are believed. `Err`: why the line is not one.
pub fn read_line(text: &str) -> Result<(Received, String), String> {
    let line: Line = serde_json::from_str(text).map_err(|error| format!("not an export line ({error})"))?;
    let id = EntryId::from_hex(&line.id).ok_or_else(|| format!("{:?} is not an entry id", line.id))?;
    let bytes = BASE64.decode(&line.bytes).map_err(|error| format!("its bytes are not base64 ({error})"))?;
    let received =
        Received::check(id, bytes).map_err(|error| format!("{error}; it is corrupted or forged"))?;
    Ok((received, line.kind))
}
