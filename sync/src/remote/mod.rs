//! A shared remote: write-once objects (entries, by id) and refs moved by compare-and-swap, on
//! S3 or, with the same protocol, a local directory (`file://`). See DESIGN.md, "Remote (S3)".
//!
//! Layout under the remote's root:
//! - `objects/<id>`: an entry's stored bytes, written once;
//! - `refs/<ref>`: a [`RefDoc`], moved only from the version the mover last read.

pub mod exchange;
pub mod file;

use std::future::Future;

use ledger::EntryId;
use serde::{Deserialize, Serialize};

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

/// How a conditional write ended, when the remote answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Written {
    /// Written; for a ref, its new tag.
    Done(String),
    /// Not written: the object was already there, or the ref is no longer at the tag given.
    Refused,
}

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("remote {url}: {operation} {key}: {message}")]
    Io { url: String, operation: &'static str, key: String, message: String },
    #[error("remote {url}: {key} is not a ref document: {message}")]
    BadRef { url: String, key: String, message: String },
}

pub trait Remote {
    /// `url` as the user gave it, for messages.
    fn url(&self) -> &str;

    /// An object's bytes, as stored; `None` when the remote does not have it.
    fn get_object(&self, id: EntryId) -> impl Future<Output = Result<Option<Vec<u8>>, RemoteError>>;

    /// Writes an object unless it is there already (`Refused`: it was, and is left as it was).
    fn put_object(&self, id: EntryId, bytes: &[u8]) -> impl Future<Output = Result<Written, RemoteError>>;

    fn get_ref(&self, name: &str) -> impl Future<Output = Result<Option<RefState>, RemoteError>>;

    /// Moves ref `name` to `doc` if it is still at tag `expected` (`None`: if it does not exist).
    fn put_ref(
        &self,
        name: &str,
        doc: RefDoc,
        expected: Option<&str>,
    ) -> impl Future<Output = Result<Written, RemoteError>>;

    /// The names of every ref (never the objects: a remote may hold millions).
    fn list_refs(&self) -> impl Future<Output = Result<Vec<String>, RemoteError>>;
}

/// The key of an object: only hex reaches a path or an S3 key.
pub fn object_key(id: EntryId) -> String {
    format!("objects/{}", id.to_hex())
}

/// The key of a ref. Ref names are built from validated names (`env/stage`, `service/api`,
/// `set/@all`), checked again here so that nothing else can reach a path or a key.
pub fn ref_key(name: &str) -> Option<String> {
    let (kind, rest) = name.split_once('/')?;
    let plain = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let ok = match kind {
        "env" | "service" => plain(rest),
        "set" => rest == "@all" || plain(rest),
        _ => false,
    };
    ok.then(|| format!("refs/{name}"))
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
        assert_eq!(ref_key("env/prod").as_deref(), Some("refs/env/prod"));
        assert_eq!(ref_key("set/@all").as_deref(), Some("refs/set/@all"));
        for bad in ["env/../x", "env/", "env/a/b", "other/x", "service/API", "set/@x", "env"] {
            assert_eq!(ref_key(bad), None, "{bad}");
        }
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
