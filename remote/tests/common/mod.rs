//! A `file://` remote that a test watches: [`Watched`] passes every request through to a
//! [`FileRemote`], first awaiting a hook that is told which request it is. The tests build on it
//! what they watch for (requests noted or counted, another writer let in first) without each
//! restating the eleven primitives of [`Remote`]. `faults.rs` keeps its own wrapper: what its
//! faults do differs from primitive to primitive.

use std::fmt;
use std::ops::Range;

use ledger::EntryId;
use ledger_remote::file::FileRemote;
use ledger_remote::pack::{ListedPackFile, PackKey};
use ledger_remote::{Document, DocumentKey, ListedRef, Remote, RemoteError, Written, object_key};

/// A primitive of [`Remote`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    GetObject,
    PutObject,
    ListObjects,
    DeleteObject,
    GetPackFile,
    PutPackFile,
    ListPackFiles,
    DeletePackFile,
    GetDocument,
    PutDocument,
    ListRefs,
}

impl Call {
    /// The primitive's method name: `get_object`, `list_refs`, ...
    pub fn name(self) -> &'static str {
        match self {
            Call::GetObject => "get_object",
            Call::PutObject => "put_object",
            Call::ListObjects => "list_objects",
            Call::DeleteObject => "delete_object",
            Call::GetPackFile => "get_pack_file",
            Call::PutPackFile => "put_pack_file",
            Call::ListPackFiles => "list_pack_files",
            Call::DeletePackFile => "delete_pack_file",
            Call::GetDocument => "get_document",
            Call::PutDocument => "put_document",
            Call::ListRefs => "list_refs",
        }
    }

    /// What the primitive does to its key, the first word of its name: `get`, `put`, `list` or
    /// `delete`.
    pub fn verb(self) -> &'static str {
        let (verb, _) = self.name().split_once('_').expect("a primitive's name is a verb and a noun");
        verb
    }
}

/// A request made through a [`Watched`] remote.
#[derive(Debug)]
pub struct Request {
    pub call: Call,
    /// The key read, written or deleted (`objects/<id>`, `packs/<pack>.pack`, `refs/env/prod`);
    /// for a listing, the prefix listed: `objects/`, `packs/` or `refs/`.
    pub key: String,
}

/// The request as a line of a log: `get refs/env/prod`, `list refs/`.
impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.call.verb(), self.key)
    }
}

/// A [`FileRemote`] whose every request first awaits `hook`, then is passed through unchanged.
pub struct Watched<'a, F> {
    inner: &'a FileRemote,
    hook: F,
}

impl<'a, F: AsyncFn(&Request)> Watched<'a, F> {
    pub fn new(inner: &'a FileRemote, hook: F) -> Watched<'a, F> {
        Watched { inner, hook }
    }

    async fn watch(&self, call: Call, key: String) {
        (self.hook)(&Request { call, key }).await
    }
}

impl<F: AsyncFn(&Request)> Remote for Watched<'_, F> {
    fn url(&self) -> &str {
        self.inner.url()
    }
    async fn get_object(&self, id: EntryId) -> Result<Option<Vec<u8>>, RemoteError> {
        self.watch(Call::GetObject, object_key(id)).await;
        self.inner.get_object(id).await
    }
    async fn put_object(&self, id: EntryId, bytes: &[u8]) -> Result<Written, RemoteError> {
        self.watch(Call::PutObject, object_key(id)).await;
        self.inner.put_object(id, bytes).await
    }
    async fn list_objects(&self) -> Result<Vec<EntryId>, RemoteError> {
        self.watch(Call::ListObjects, "objects/".into()).await;
        self.inner.list_objects().await
    }
    async fn delete_object(&self, id: EntryId) -> Result<(), RemoteError> {
        self.watch(Call::DeleteObject, object_key(id)).await;
        self.inner.delete_object(id).await
    }
    async fn get_pack_file(
        &self,
        key: &PackKey,
        range: Option<Range<u64>>,
    ) -> Result<Option<Vec<u8>>, RemoteError> {
        self.watch(Call::GetPackFile, key.key()).await;
        self.inner.get_pack_file(key, range).await
    }
    async fn put_pack_file(&self, key: &PackKey, bytes: &[u8]) -> Result<Written, RemoteError> {
        self.watch(Call::PutPackFile, key.key()).await;
        self.inner.put_pack_file(key, bytes).await
    }
    async fn list_pack_files(&self) -> Result<Vec<ListedPackFile>, RemoteError> {
        self.watch(Call::ListPackFiles, "packs/".into()).await;
        self.inner.list_pack_files().await
    }
    async fn delete_pack_file(&self, key: &PackKey) -> Result<(), RemoteError> {
        self.watch(Call::DeletePackFile, key.key()).await;
        self.inner.delete_pack_file(key).await
    }
    async fn get_document(&self, key: &DocumentKey) -> Result<Option<Document>, RemoteError> {
        self.watch(Call::GetDocument, key.as_str().into()).await;
        self.inner.get_document(key).await
    }
    async fn put_document(
        &self,
        key: &DocumentKey,
        bytes: &[u8],
        expected: Option<&str>,
    ) -> Result<Written, RemoteError> {
        self.watch(Call::PutDocument, key.as_str().into()).await;
        self.inner.put_document(key, bytes, expected).await
    }
    async fn list_refs(&self) -> Result<Vec<ListedRef>, RemoteError> {
        self.watch(Call::ListRefs, "refs/".into()).await;
        self.inner.list_refs().await
    }
}
