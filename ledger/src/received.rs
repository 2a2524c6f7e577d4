//! An entry received from elsewhere (a remote), checked before anything believes it: its bytes
//! hash to the id it came under and decode to an entry in canonical form. The check is pure,
//! so a bulk receive (a clone) runs it on other threads while the store writes.

use crate::entry::StoredEntry;
use crate::id::EntryId;
use crate::store::ReceiveError;

/// Bytes received as entry `id`, checked: made only by [`Received::check`], so whoever holds
/// one (the store's [`crate::store::Writer::receive_checked`]) need not hash them again. The
/// decoded entry is not kept (a clone holds a million of these at once), only the ids it names.
/// Boxed: a clone moves them through its maps, a pointer each.
#[derive(Clone, Debug)]
pub struct Received(Box<Checked>);

#[derive(Clone, Debug)]
struct Checked {
    id: EntryId,
    bytes: Vec<u8>,
    references: Vec<EntryId>,
}

impl Received {
    /// `bytes` as entry `id`, once they hash to `id` and decode canonically.
    pub fn check(id: EntryId, bytes: Vec<u8>) -> Result<Received, ReceiveError> {
        let references = entry_of(id, &bytes)?.entry.references();
        Ok(Received(Box::new(Checked { id, bytes, references })))
    }

    pub fn id(&self) -> EntryId {
        self.0.id
    }

    /// The stored bytes, as received.
    pub fn bytes(&self) -> &[u8] {
        &self.0.bytes
    }

    /// The entries it names (see [`Entry::references`]).
    pub fn references(&self) -> &[EntryId] {
        &self.0.references
    }
}

/// The entry `bytes` received as `id` are, once they hash to `id` and decode canonically.
pub fn entry_of(id: EntryId, bytes: &[u8]) -> Result<StoredEntry, ReceiveError> {
    let actual = EntryId::of_stored_bytes(bytes);
    if actual != id {
        return Err(ReceiveError::HashMismatch { expected: id, actual });
    }
    StoredEntry::decoded(id, bytes).map_err(|source| ReceiveError::Undecodable { id, source })
}
