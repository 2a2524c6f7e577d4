//! The remote protocol on a local directory (`file:///path`): objects created by hard-linking a
//! finished temporary file (which fails if the object exists), refs moved under an exclusive
//! file lock by renaming a finished document over the old one. Readers never see half a file.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ledger::EntryId;

use super::{RefDoc, RefState, Remote, RemoteError, Written, object_key, ref_key};

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

    fn ref_path(&self, name: &str) -> Result<(String, PathBuf), RemoteError> {
        let key = ref_key(name).ok_or_else(|| RemoteError::BadRef {
            url: self.url.clone(),
            key: name.to_string(),
            message: "not a ref name".into(),
        })?;
        let path = self.root.join(&key);
        Ok((key, path))
    }

    fn read_ref(&self, key: &str, path: &Path) -> Result<Option<RefState>, RemoteError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(self.error("read", key, error)),
        };
        let doc: RefDoc = serde_json::from_str(&text).map_err(|error| RemoteError::BadRef {
            url: self.url.clone(),
            key: key.to_string(),
            message: error.to_string(),
        })?;
        Ok(Some(RefState { doc, etag: doc.version.to_string() }))
    }

    /// Writes `bytes` to a new temporary file beside `path`, flushed to disk.
    fn write_temporary(&self, key: &str, path: &Path, bytes: &[u8]) -> Result<PathBuf, RemoteError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = path.parent().expect("keys have a directory");
        std::fs::create_dir_all(dir).map_err(|e| self.error("create", key, e))?;
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
        let key = object_key(id);
        match std::fs::read(self.root.join(&key)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
            Err(error) => Err(self.error("read", &key, error)),
        }
    }

    async fn put_object(&self, id: EntryId, bytes: &[u8]) -> Result<Written, RemoteError> {
        let key = object_key(id);
        let path = self.root.join(&key);
        let temporary = self.write_temporary(&key, &path, bytes)?;
        let linked = std::fs::hard_link(&temporary, &path);
        let _ = std::fs::remove_file(&temporary);
        match linked {
            Ok(()) => Ok(Written::Done(id.to_hex())),
            Err(error) if error.kind() == ErrorKind::AlreadyExists => Ok(Written::Refused),
            Err(error) => Err(self.error("create", &key, error)),
        }
    }

    async fn get_ref(&self, name: &str) -> Result<Option<RefState>, RemoteError> {
        let (key, path) = self.ref_path(name)?;
        self.read_ref(&key, &path)
    }

    async fn put_ref(&self, name: &str, doc: RefDoc, expected: Option<&str>) -> Result<Written, RemoteError> {
        let (key, path) = self.ref_path(name)?;
        let dir = path.parent().expect("keys have a directory");
        std::fs::create_dir_all(dir).map_err(|e| self.error("create", &key, e))?;
        // One mover at a time; the lock goes with the file handle, even if the process dies.
        let lock_path = path.with_extension("lock");
        let lock = File::create(&lock_path).and_then(|file| file.lock().map(|()| file));
        let _lock = lock.map_err(|e| self.error("lock", &key, e))?;
        let current = self.read_ref(&key, &path)?;
        if current.as_ref().map(|state| state.etag.as_str()) != expected {
            return Ok(Written::Refused);
        }
        let text = serde_json::to_vec(&doc).expect("a ref document always serialises");
        let temporary = self.write_temporary(&key, &path, &text)?;
        std::fs::rename(&temporary, &path).map_err(|e| self.error("replace", &key, e))?;
        Ok(Written::Done(doc.version.to_string()))
    }

    async fn list_refs(&self) -> Result<Vec<String>, RemoteError> {
        let mut names = Vec::new();
        for kind in ["env", "service", "set"] {
            let dir = self.root.join("refs").join(kind);
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(error) if error.kind() == ErrorKind::NotFound => continue,
                Err(error) => return Err(self.error("list", &format!("refs/{kind}"), error)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| self.error("list", &format!("refs/{kind}"), e))?;
                let name = format!("{kind}/{}", entry.file_name().to_string_lossy());
                if ref_key(&name).is_some() {
                    names.push(name);
                }
            }
        }
        names.sort();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block_on;

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
        })
        .unwrap();
    }

    #[test]
    fn refs_move_only_from_the_version_read() {
        let (_dir, remote) = remote();
        let doc = |n: u8| RefDoc { target: EntryId([n; 32]), version: u64::from(n) };
        block_on(async {
            assert_eq!(remote.get_ref("env/stage").await.unwrap(), None);
            assert_eq!(remote.put_ref("env/stage", doc(1), Some("0")).await.unwrap(), Written::Refused);
            let Written::Done(tag) = remote.put_ref("env/stage", doc(1), None).await.unwrap() else {
                panic!()
            };
            assert_eq!(remote.put_ref("env/stage", doc(2), None).await.unwrap(), Written::Refused);
            assert!(matches!(
                remote.put_ref("env/stage", doc(2), Some(&tag)).await.unwrap(),
                Written::Done(_)
            ));
            assert_eq!(remote.put_ref("env/stage", doc(3), Some(&tag)).await.unwrap(), Written::Refused);
            assert_eq!(remote.get_ref("env/stage").await.unwrap().unwrap().doc, doc(2));
            remote.put_ref("service/api", doc(5), None).await.unwrap();
            assert_eq!(remote.list_refs().await.unwrap(), ["env/stage", "service/api"]);
            assert!(remote.get_ref("env/../../etc").await.is_err());
        })
        .unwrap();
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
                            let current = remote.get_ref("env/stage").await.unwrap();
                            let version = current.as_ref().map_or(0, |state| state.doc.version) + 1;
                            let doc = RefDoc { target: EntryId([0; 32]), version };
                            let tag = current.as_ref().map(|state| state.etag.as_str());
                            if let Written::Done(_) = remote.put_ref("env/stage", doc, tag).await.unwrap() {
                                moved += 1;
                            }
                        }
                    })
                    .unwrap();
                })
            })
            .collect();
        threads.into_iter().for_each(|thread| thread.join().unwrap());
        let remote = FileRemote::new(&url).unwrap();
        let last = block_on(remote.get_ref("env/stage")).unwrap().unwrap().unwrap();
        assert_eq!(last.doc.version, 8 * 25, "every acknowledged move is counted once");
    }
}
