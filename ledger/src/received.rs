//! An entry received from elsewhere (a remote), checked before anything believes it: its bytes
//! hash to the id it came under and decode to an entry in canonical form. The check is pure,
//! so a bulk receive (a clone) runs it on other threads while the store writes.

use crate::entry::{Entry, StoredEntry};
use crate::id::EntryId;
use crate::store::ReceiveError;

/// Bytes received as entry `id`, checked: made only by [`Received::check`], so whoever holds
/// one (the store's [`crate::store::Writer::receive_checked`]) need not hash or decode them again.
/// Boxed: a clone moves a million of them through its maps, a pointer each.
#[derive(Clone, Debug)]
pub struct Received(Box<Checked>);

#[derive(Clone, Debug)]
struct Checked {
    stored: StoredEntry,
    bytes: Vec<u8>,
}

impl Received {
    /// `bytes` as entry `id`, once they hash to `id` and decode canonically.
    pub fn check(id: EntryId, bytes: Vec<u8>) -> Result<Received, ReceiveError> {
        let entry = entry_of(id, &bytes)?;
        Ok(Received(Box::new(Checked { stored: StoredEntry { id, entry }, bytes })))
    }

    pub fn id(&self) -> EntryId {
        self.0.stored.id
    }

    pub fn entry(&self) -> &Entry {
        &self.0.stored.entry
    }

    /// The stored bytes, as received.
    pub fn bytes(&self) -> &[u8] {
        &self.0.bytes
    }

    pub(crate) fn stored(&self) -> &StoredEntry {
        &self.0.stored
    }
}

/// The entry `bytes` received as `id` are, once they hash to `id` and decode canonically.
pub fn entry_of(id: EntryId, bytes: &[u8]) -> Result<Entry, ReceiveError> {
    let actual = EntryId::of_stored_bytes(bytes);
    if actual != id {
        return Err(ReceiveError::HashMismatch { expected: id, actual });
    }
    Entry::decode(bytes).map_err(|source| ReceiveError::Undecodable { id, source })
}
