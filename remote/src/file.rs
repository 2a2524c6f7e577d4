//! The remote protocol on a local directory (`file:///path`): objects and pack files created by
//! hard-linking a finished temporary file (which fails if the name exists), refs moved under an exclusive
//! file lock by renaming a finished document over the old one. Readers never see half a file;
//! files are synced before they are linked or renamed, and their directory after.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ledger::EntryId;

use crate::pack::{ListedPackFile, PackKey};
use crate::{Document, DocumentKey, ListedRef, Remote, RemoteError, Written, object_key, ref_name_of_key};

pub struct FileRemote {
    url: String,
    root: PathBuf,
}

impl FileRemote {
    /// The remote at `url`, `file:///absolute/path`.
    pub fn new(url: &str) -> Option<FileRemote> {
        let path = url.strip_prefix("file://")?;
        path.starts_with('/').then(|| FileRemote { url: url.to_string(), root: PathBuf::from(path) })
    }

    fn error(&self, operation: &'static str, key: &str, error: std::io::Error) -> RemoteError {
        RemoteError::Io { url: self.url.clone(), operation, key: key.to_string(), message: error.to_string() }
    }

    /// A document as stored, tagged with the hash of its bytes (a document's content never
    /// repeats, so neither does its tag).
    fn read_document(&self, key: &DocumentKey) -> Result<Option<Document>, RemoteError> {
        match std::fs::read(self.root.join(key.as_str())) {
            Ok(bytes) => Ok(Some(Document { etag: etag_of(&bytes), bytes })),
            Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
            Err(error) => Err(self.error("read", key.as_str(), error)),
        }
    }

    /// Creates `dir` (a key's directory) if it is missing, and syncs the directories that
    /// gained an entry, so that a new directory survives a power loss.
    fn create_dir(&self, key: &str, dir: &Path) -> Result<(), RemoteError> {
        if dir.is_dir() {
            return Ok(());
        }
        std::fs::create_dir_all(dir).map_err(|e| self.error("create", key, e))?;
        let stop = self.root.parent();
        for ancestor in dir.ancestors().skip(1) {
            self.sync_dir(key, ancestor)?;
            if Some(ancestor) == stop {
                break;
            }
        }
        Ok(())
    }

    /// Syncs directory `dir`, so that a name linked or renamed into it survives a power loss.
    fn sync_dir(&self, key: &str, dir: &Path) -> Result<(), RemoteError> {
        File::open(dir).and_then(|dir| dir.sync_all()).map_err(|e| self.error("sync", key, e))
    }

    /// Writes `bytes` to a new temporary file beside `path`, flushed to disk.
    fn write_temporary(&self, key: &str, path: &Path, bytes: &[u8]) -> Result<PathBuf, RemoteError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = path.parent().expect("keys have a directory");
        self.create_dir(key, dir)?;
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temporary = dir.join(format!(".tmp-{}-{n}", std::process::id()));
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)
            .and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all()));
        written.map_err(|e| self.error("write", key, e))?;
        Ok(temporary)
    }
}

impl Remote for FileRemote {
    fn url(&self) -> &str {
        &self.url
    }

    async fn get_object(&self, id: EntryId) -> Result<Option<Vec<u8>>, RemoteError> {
        self.read_file(&object_key(id), None)
    }

    async fn put_object(&self, id: EntryId, bytes: &[u8]) -> Result<Written, RemoteError> {
        self.create_once(&object_key(id), bytes)
    }

    async fn list_objects(&self) -> Result<Vec<EntryId>, RemoteError> {
        let dir = self.root.join("objects");
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(self.error("list", "objects", error)),
        };
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| self.error("list", "objects", e))?;
            ids.extend(EntryId::from_hex(&entry.file_name().to_string_lossy()));
        }
        Ok(ids)
    }

    async fn delete_object(&self, id: EntryId) -> Result<(), RemoteError> {
        self.delete(&object_key(id))
    }

    async fn get_pack_file(
        &self,
        key: &PackKey,
        range: Option<Range<u64>>,
    ) -> Result<Option<Vec<u8>>, RemoteError> {
        self.read_file(&key.key(), range)
    }

    async fn put_pack_file(&self, key: &PackKey, bytes: &[u8]) -> Result<Written, RemoteError> {
        self.create_once(&key.key(), bytes)
    }

    async fn list_pack_files(&self) -> Result<Vec<ListedPackFile>, RemoteError> {
        let entries = match std::fs::read_dir(self.root.join("packs")) {
            Ok(entries) => entries,
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(self.error("list", "packs", error)),
        };
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| self.error("list", "packs", e))?;
            let Some(key) = PackKey::parse(&format!("packs/{}", entry.file_name().to_string_lossy())) else {
                continue;
            };
            let modified = entry.metadata().and_then(|metadata| metadata.modified());
            let modified = modified.map_err(|e| self.error("list", &key.key(), e))?;
            let seconds = match modified.duration_since(std::time::UNIX_EPOCH) {
                Ok(since) => since.as_secs() as i64,
                Err(before) => -(before.duration().as_secs() as i64),
            };
            files.push(ListedPackFile { key, modified: seconds });
        }
        Ok(files)
    }

    async fn delete_pack_file(&self, key: &PackKey) -> Result<(), RemoteError> {
        self.delete(&key.key())
    }

    async fn get_document(&self, key: &DocumentKey) -> Result<Option<Document>, RemoteError> {
        self.read_document(key)
    }

    async fn put_document(
        &self,
        key: &DocumentKey,
        bytes: &[u8],
        expected: Option<&str>,
    ) -> Result<Written, RemoteError> {
        let path = self.root.join(key.as_str());
        let dir = path.parent().expect("keys have a directory");
        self.create_dir(key.as_str(), dir)?;
        // One writer at a time; the lock goes with the file handle, even if the process dies.
        let lock_path = path.with_extension("lock");
        let lock = File::create(&lock_path).and_then(|file| file.lock().map(|()| file));
        let _lock = lock.map_err(|e| self.error("lock", key.as_str(), e))?;
        let current = self.read_document(key)?;
        if current.as_ref().map(|document| document.etag.as_str()) != expected {
            return Ok(Written::Refused);
        }
        let temporary = self.write_temporary(key.as_str(), &path, bytes)?;
        std::fs::rename(&temporary, &path).map_err(|e| self.error("replace", key.as_str(), e))?;
        self.sync_dir(key.as_str(), dir)?;
        Ok(Written::Done(etag_of(bytes)))
    }

    /// Every ref, tagged as [`Remote::get_document`] tags it: each document is read and hashed.
    /// Refs are files under `refs/`, directly (`refs/quarantine`) or one level down
    /// (`refs/env/prod`); anything else there is no ref.
    async fn list_refs(&self) -> Result<Vec<ListedRef>, RemoteError> {
        let mut keys = Vec::new();
        for (key, is_dir) in self.list_dir("refs")? {
            if is_dir {
                keys.extend(
                    self.list_dir(&key)?.into_iter().filter(|(_, is_dir)| !is_dir).map(|(key, _)| key),
                );
            } else {
                keys.push(key);
            }
        }
        let mut listed = Vec::new();
        for key in keys {
            let Some(name) = ref_name_of_key(&key) else { continue };
            // Gone since the directory was read: not listed.
            let Some(document) = self.read_document(&DocumentKey(key))? else { continue };
            listed.push(ListedRef { name, etag: document.etag });
        }
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(listed)
    }
}

impl FileRemote {
    /// The keys directly under `key` (a directory), each with whether it is a directory; none
    /// when there is no such directory.
    fn list_dir(&self, key: &str) -> Result<Vec<(String, bool)>, RemoteError> {
        let entries = match std::fs::read_dir(self.root.join(key)) {
            Ok(entries) => entries,
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(self.error("list", key, error)),
        };
        let mut listed = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| self.error("list", key, e))?;
            let is_dir = entry.file_type().map_err(|e| self.error("list", key, e))?.is_dir();
            listed.push((format!("{key}/{}", entry.file_name().to_string_lossy()), is_dir));
        }
        Ok(listed)
    }

    /// The file at `key` (all of it, or `range`); `None` when there is none.
    fn read_file(&self, key: &str, range: Option<Range<u64>>) -> Result<Option<Vec<u8>>, RemoteError> {
        let path = self.root.join(key);
        let read = match range {
            None => std::fs::read(&path),
            Some(range) => File::open(&path).and_then(|mut file| {
                file.seek(SeekFrom::Start(range.start))?;
                let mut bytes = Vec::new();
                file.take(range.end.saturating_sub(range.start)).read_to_end(&mut bytes)?;
                Ok(bytes)
            }),
        };
        match read {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
            Err(error) => Err(self.error("read", key, error)),
        }
    }

    /// Creates the file at `key` with `bytes` unless it exists (`Refused`), by hard-linking a
    /// finished temporary file to it.
    fn create_once(&self, key: &str, bytes: &[u8]) -> Result<Written, RemoteError> {
        let path = self.root.join(key);
        let temporary = self.write_temporary(key, &path, bytes)?;
        let linked = std::fs::hard_link(&temporary, &path);
        let _ = std::fs::remove_file(&temporary);
        match linked {
            Ok(()) => {
                self.sync_dir(key, path.parent().expect("keys have a directory"))?;
                Ok(Written::Done(blake3::hash(bytes).to_hex()[..32].to_string()))
            }
            Err(error) if error.kind() == ErrorKind::AlreadyExists => Ok(Written::Refused),
            Err(error) => Err(self.error("create", key, error)),
        }
    }

    /// Removes the file at `key` (gone already is fine), durably.
    fn delete(&self, key: &str) -> Result<(), RemoteError> {
        let path = self.root.join(key);
        match std::fs::remove_file(&path) {
            Ok(()) => self.sync_dir(key, path.parent().expect("keys have a directory")),
            Err(error) if error.kind() == ErrorKind::NotFound => Ok(()),
            Err(error) => Err(self.error("delete", key, error)),
        }
    }
}

fn etag_of(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex()[..32].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RefDoc, get_ref, put_ref};
    use ledger::refs::RefName;
    use ledger_testutil::block_on;

    fn remote() -> (tempfile::TempDir, FileRemote) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().display());
        let remote = FileRemote::new(&url).unwrap();
        (dir, remote)
    }

    #[test]
    fn objects_are_written_once() {
        let (_dir, remote) = remote();
        let id = EntryId([1; 32]);
        block_on(async {
            assert_eq!(remote.get_object(id).await.unwrap(), None);
            assert!(matches!(remote.put_object(id, b"first").await.unwrap(), Written::Done(_)));
            assert_eq!(remote.put_object(id, b"second").await.unwrap(), Written::Refused);
            assert_eq!(remote.get_object(id).await.unwrap().as_deref(), Some(&b"first"[..]));
        });
    }

    #[test]
    fn refs_move_only_from_the_version_read() {
        let (_dir, remote) = remote();
        let doc = |n: u8| RefDoc { target: EntryId([n; 32]), version: u64::from(n) };
        block_on(async {
            assert_eq!(get_ref(&remote, &RefName::env("stage")).await.unwrap(), None);
            assert_eq!(
                put_ref(&remote, &RefName::env("stage"), doc(1), Some("0")).await.unwrap(),
                Written::Refused
            );
            let Written::Done(tag) = put_ref(&remote, &RefName::env("stage"), doc(1), None).await.unwrap()
            else {
                panic!()
            };
            assert_eq!(
                put_ref(&remote, &RefName::env("stage"), doc(2), None).await.unwrap(),
                Written::Refused
            );
            assert!(matches!(
                put_ref(&remote, &RefName::env("stage"), doc(2), Some(&tag)).await.unwrap(),
                Written::Done(_)
            ));
            assert_eq!(
                put_ref(&remote, &RefName::env("stage"), doc(3), Some(&tag)).await.unwrap(),
                Written::Refused
            );
            assert_eq!(get_ref(&remote, &RefName::env("stage")).await.unwrap().unwrap().doc, doc(2));
            put_ref(&remote, &RefName::service("api"), doc(5), None).await.unwrap();
            put_ref(&remote, &RefName::gates("stage"), doc(6), None).await.unwrap();
            put_ref(&remote, &RefName::quarantine(), doc(7), None).await.unwrap();
            let listed = remote.list_refs().await.unwrap();
            let names: Vec<&RefName> = listed.iter().map(|listed| &listed.name).collect();
            assert_eq!(
                names,
                [
                    &RefName::env("stage"),
                    &RefName::service("api"),
                    &RefName::gates("stage"),
                    &RefName::quarantine()
                ]
            );
            // A listing tags each ref as reading it does.
            let read = get_ref(&remote, &RefName::env("stage")).await.unwrap().unwrap();
            assert_eq!(listed[0].etag, read.etag);
            // A name that would leave the remote's directory is not a ref name at all.
            assert_eq!(RefName::parse("env/../../etc"), None);
        });
    }

    #[test]
    fn racing_movers_never_lose_a_move() {
        let (dir, _) = remote();
        let url = format!("file://{}", dir.path().display());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let url = url.clone();
                std::thread::spawn(move || {
                    let remote = FileRemote::new(&url).unwrap();
                    block_on(async {
                        let mut moved = 0;
                        while moved < 25 {
                            let current = get_ref(&remote, &RefName::env("stage")).await.unwrap();
                            let version = current.as_ref().map_or(0, |state| state.doc.version) + 1;
                            let doc = RefDoc { target: EntryId([0; 32]), version };
                            let tag = current.as_ref().map(|state| state.etag.as_str());
                            if let Written::Done(_) =
                                put_ref(&remote, &RefName::env("stage"), doc, tag).await.unwrap()
                            {
                                moved += 1;
                            }
                        }
                    });
                })
            })
            .collect();
        threads.into_iter().for_each(|thread| thread.join().unwrap());
        let remote = FileRemote::new(&url).unwrap();
        let last = block_on(get_ref(&remote, &RefName::env("stage"))).unwrap().unwrap();
        assert_eq!(last.doc.version, 8 * 25, "every acknowledged move is counted once");
    }
}
