//! The sharing protocol: write-once objects (entries, by id) and refs moved by compare-and-swap,
//! over any [`Remote`]: a local directory here (`file://`), S3 in `ledger-sync`. No AWS SDK, so a
//! change to the protocol compiles and tests without it. See docs/remote.md.
//!
//! Layout under the remote's root:
//! - `objects/<id>`: an entry's stored bytes, written once;
//! - `packs/<pack>.pack`, `packs/<pack>.idx`: many entries in one object, and its index (see
//!   [`pack`]); merged by [`repack`];
//! - `refs/<ref>`: a [`RefDoc`], moved only from the version the mover last read;
//! - `locks/env/<env>`: an environment's apply lease (see [`lease`]);
//! - `ledger-remote.json`: the marker that makes the location a remote (see [`marker`]).

pub mod check;
pub mod exchange;
pub mod file;
pub mod lease;
pub mod marker;
pub mod pack;
pub mod remembered;
pub mod repack;

use std::future::Future;
use std::ops::Range;

use ledger::EntryId;
use ledger::name::NameKind;
use ledger::refs::RefName;
use serde::{Deserialize, Serialize};

use crate::pack::{ListedPackFile, PackKey};

/// What a ref says: its target, and a version that grows with every move, so that a document's
/// content (and so its ETag) never repeats and compare-and-swap cannot be fooled by A-B-A.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefDoc {
    #[serde(with = "hex_id")]
    pub target: EntryId,
    pub version: u64,
}

/// A ref as read: the document and the tag a compare-and-swap must name to move it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefState {
    pub doc: RefDoc,
    pub etag: String,
}

/// A small document as stored (a ref or a lease), with the tag that names this version of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    pub bytes: Vec<u8>,
    pub etag: String,
}

/// A ref as a listing of `refs/` names it: with the tag its document has, the same tag
/// [`Remote::get_document`] gives, so an unchanged ref need not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedRef {
    pub name: RefName,
    pub etag: String,
}

/// How a conditional write ended, when the remote answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Written {
    /// Written; for a document, its new tag.
    Done(String),
    /// Not written: the object was already there, or the document is no longer at the tag given.
    Refused,
}

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("remote {url}: {operation} {key}: {message}")]
    Io { url: String, operation: &'static str, key: String, message: String },
    #[error("remote {url}: {key} is not a valid document: {message}")]
    BadDocument { url: String, key: String, message: String },
    #[error("remote {url}: {name:?} is not a ref name")]
    BadRefName { url: String, name: String },
}

/// The key of a document (a ref or a lease), built only from validated names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentKey(String);

impl DocumentKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The primitives every remote offers; refs and leases are built on them.
pub trait Remote {
    /// `url` as the user gave it, for messages.
    fn url(&self) -> &str;

    /// An object's bytes, as stored; `None` when the remote does not have it.
    fn get_object(&self, id: EntryId) -> impl Future<Output = Result<Option<Vec<u8>>, RemoteError>>;

    /// Writes an object unless it is there already (`Refused`: it was, and is left as it was).
    fn put_object(&self, id: EntryId, bytes: &[u8]) -> impl Future<Output = Result<Written, RemoteError>>;

    /// The ids of every loose object. Only `verify --remote`, `repack`, and a first push (to see
    /// that a location without a marker or a ref is empty) list them; a clone lists packs.
    fn list_objects(&self) -> impl Future<Output = Result<Vec<EntryId>, RemoteError>>;

    /// Deletes a loose object. Only `repack` does, once a pack has held it for the grace period.
    fn delete_object(&self, id: EntryId) -> impl Future<Output = Result<(), RemoteError>>;

    /// A pack file's bytes (all of them, or `range`); `None` when the remote does not have it.
    fn get_pack_file(
        &self,
        key: &PackKey,
        range: Option<Range<u64>>,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, RemoteError>>;

    /// Writes a pack file unless it is there already (`Refused`: it was; its name is the hash
    /// of the pack, so it holds the same).
    fn put_pack_file(
        &self,
        key: &PackKey,
        bytes: &[u8],
    ) -> impl Future<Output = Result<Written, RemoteError>>;

    /// Every pack file under `packs/`, with when it was written (a few dozen for a million
    /// entries: one listing page).
    fn list_pack_files(&self) -> impl Future<Output = Result<Vec<ListedPackFile>, RemoteError>>;

    /// Deletes a pack file. Only `repack` does, once the pack was superseded for the grace period.
    fn delete_pack_file(&self, key: &PackKey) -> impl Future<Output = Result<(), RemoteError>>;

    fn get_document(&self, key: &DocumentKey) -> impl Future<Output = Result<Option<Document>, RemoteError>>;

    /// Writes document `key` if it is still at tag `expected` (`None`: if it does not exist).
    fn put_document(
        &self,
        key: &DocumentKey,
        bytes: &[u8],
        expected: Option<&str>,
    ) -> impl Future<Output = Result<Written, RemoteError>>;

    /// Every ref with its document's tag, sorted by name, in one listing (never the objects: a
    /// remote may hold millions).
    fn list_refs(&self) -> impl Future<Output = Result<Vec<ListedRef>, RemoteError>>;
}

/// The key of an object: only hex reaches a path or an S3 key.
pub fn object_key(id: EntryId) -> String {
    format!("objects/{}", id.to_hex())
}

/// The key of a ref: `refs/<name>` for the ledger's own refs (a tracking ref is never stored
/// on a remote). Only names that [`RefName`] built or parsed reach a path or a key.
pub fn ref_key(name: &RefName) -> Option<DocumentKey> {
    (!name.is_tracking()).then(|| DocumentKey(format!("refs/{name}")))
}

/// The key of an environment's apply lease.
pub fn lease_key(env: &str) -> Option<DocumentKey> {
    plain_name(env).then(|| DocumentKey(format!("locks/env/{env}")))
}

/// The ref name a listed key under `refs/` stands for, if it is one.
pub fn ref_name_of_key(key: &str) -> Option<RefName> {
    RefName::parse(key.strip_prefix("refs/")?).filter(|name| !name.is_tracking())
}

/// The id an object key names, if it is one.
pub fn id_of_object_key(key: &str) -> Option<EntryId> {
    EntryId::from_hex(key.strip_prefix("objects/")?)
}

/// A name ledger accepts for an environment, a service or a set.
fn plain_name(name: &str) -> bool {
    ledger::name::validate(NameKind::Environment, name).is_ok()
}

/// Parses ref document `bytes`, stored under `key`.
fn parse_ref(remote: &impl Remote, key: &DocumentKey, bytes: &[u8]) -> Result<RefDoc, RemoteError> {
    serde_json::from_slice(bytes).map_err(|error| RemoteError::BadDocument {
        url: remote.url().into(),
        key: key.as_str().into(),
        message: error.to_string(),
    })
}

/// Reads ref `name`.
pub async fn get_ref(remote: &impl Remote, name: &RefName) -> Result<Option<RefState>, RemoteError> {
    let key = checked_ref_key(remote, name)?;
    let Some(document) = remote.get_document(&key).await? else { return Ok(None) };
    let doc = parse_ref(remote, &key, &document.bytes)?;
    Ok(Some(RefState { doc, etag: document.etag }))
}

/// Moves ref `name` to `doc` if it is still at tag `expected` (`None`: if it does not exist).
pub async fn put_ref(
    remote: &impl Remote,
    name: &RefName,
    doc: RefDoc,
    expected: Option<&str>,
) -> Result<Written, RemoteError> {
    let key = checked_ref_key(remote, name)?;
    let bytes = serde_json::to_vec(&doc).expect("a ref document always serialises");
    remote.put_document(&key, &bytes, expected).await
}

fn checked_ref_key(remote: &impl Remote, name: &RefName) -> Result<DocumentKey, RemoteError> {
    ref_key(name).ok_or_else(|| RemoteError::BadRefName { url: remote.url().into(), name: name.to_string() })
}

mod hex_id {
    use ledger::EntryId;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(id: &EntryId, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&id.to_hex())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<EntryId, D::Error> {
        let text = String::deserialize(deserializer)?;
        EntryId::from_hex(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not an entry id")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_validated_names_become_keys() {
        assert_eq!(ref_key(&RefName::env("prod")).unwrap().as_str(), "refs/env/prod");
        assert_eq!(ref_key(&RefName::set(None)).unwrap().as_str(), "refs/set/@all");
        assert_eq!(ref_key(&RefName::tracking("origin", &RefName::env("prod"))), None);
        for bad in
            ["refs/env/../x", "refs/env/", "refs/env/a/b", "refs/other/x", "refs/service/API", "refs/set/@x"]
        {
            assert_eq!(ref_name_of_key(bad), None, "{bad}");
        }
        assert_eq!(lease_key("prod").unwrap().as_str(), "locks/env/prod");
        assert_eq!(lease_key("../prod"), None);
        assert_eq!(ref_name_of_key("refs/env/prod"), Some(RefName::env("prod")));
        assert_eq!(ref_name_of_key("refs/remote/origin/env/prod"), None);
        assert_eq!(ref_name_of_key("refs/env/x.lock"), None);
        assert_eq!(object_key(EntryId([0xab; 32])), format!("objects/{}", "ab".repeat(32)));
    }

    #[test]
    fn ref_documents_round_trip_and_bad_ones_are_refused() {
        let doc = RefDoc { target: EntryId([7; 32]), version: 3 };
        let text = serde_json::to_string(&doc).unwrap();
        assert_eq!(text, format!("{{\"target\":\"{}\",\"version\":3}}", "07".repeat(32)));
        assert_eq!(serde_json::from_str::<RefDoc>(&text).unwrap(), doc);
        assert!(serde_json::from_str::<RefDoc>("{\"target\":\"zz\",\"version\":1}").is_err());
    }
}
