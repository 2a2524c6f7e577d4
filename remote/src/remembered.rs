//! What this ledger last saw of a remote's documents, kept in its store per remote and URL: each
//! ref's document and tag (so that a listing of `refs/` is followed by reads of the changed refs
//! only), the lease document this ledger last wrote (so that taking the lease again is one
//! compare-and-swap), and the marker it checked. Derived facts: a ledger without them reads the
//! remote once more, nothing else. See docs/remote.md, "Remembered documents".

use std::collections::BTreeMap;

use ledger::refs::RefName;
use ledger::store::RemoteDocument;
use ledger::{Store, StoreError};

use crate::{Document, DocumentKey, RefDoc, RefState, Remote, ref_key, ref_name_of_key};

/// The remote's refs as this ledger last saw them. A row that does not parse is left out (the
/// ref is then read).
pub fn refs(
    store: &Store,
    remote_name: &str,
    remote: &impl Remote,
) -> Result<BTreeMap<RefName, RefState>, StoreError> {
    let mut refs = BTreeMap::new();
    for (key, document) in store.remembered(remote_name, remote.url())? {
        let Some(name) = ref_name_of_key(&key) else { continue };
        if let Ok(doc) = serde_json::from_slice::<RefDoc>(&document.bytes) {
            refs.insert(name, RefState { doc, etag: document.etag });
        }
    }
    Ok(refs)
}

/// Remembers `states` as the remote's refs now, once this ledger holds what each names (a
/// state without a tag, which a remote may fail to give, is not remembered).
pub fn remember_refs<'a>(
    store: &Store,
    remote_name: &str,
    remote: &impl Remote,
    states: impl IntoIterator<Item = (&'a RefName, &'a RefState)>,
) -> Result<(), StoreError> {
    let documents = states
        .into_iter()
        .filter(|(_, state)| !state.etag.is_empty())
        .filter_map(|(name, state)| {
            let key = ref_key(name)?;
            let bytes = serde_json::to_vec(&state.doc).expect("a ref document always serialises");
            Some((key.0, RemoteDocument { etag: state.etag.clone(), bytes }))
        })
        .collect();
    store.remember(remote_name, remote.url(), &documents)
}

/// Document `key` (a lease, the marker) as this ledger last saw it on the remote.
pub fn document(
    store: &Store,
    remote_name: &str,
    remote: &impl Remote,
    key: &DocumentKey,
) -> Result<Option<Document>, StoreError> {
    let mut remembered = store.remembered(remote_name, remote.url())?;
    Ok(remembered.remove(key.as_str()).map(|found| Document { bytes: found.bytes, etag: found.etag }))
}

/// Remembers `document` as document `key` of the remote now.
pub fn remember_document(
    store: &Store,
    remote_name: &str,
    remote: &impl Remote,
    key: &DocumentKey,
    document: &Document,
) -> Result<(), StoreError> {
    let remembered = RemoteDocument { etag: document.etag.clone(), bytes: document.bytes.clone() };
    store.remember(remote_name, remote.url(), &BTreeMap::from([(key.as_str().to_string(), remembered)]))
}
