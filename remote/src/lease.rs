//! An environment's apply lease on the remote (`locks/env/<env>`): whoever holds it is the one
//! ledger deploying there. It is created with `If-None-Match: *`; a lease that was released or
//! has expired is taken over by compare-and-swap, so two takers never both win. A holder the
//! taker knows is gone (its process ended) is taken over at once, and anyone may break a lease
//! on purpose; the last break stays in the document for the team to see.

use serde::{Deserialize, Serialize};

use crate::{Document, DocumentKey, Remote, RemoteError, Written, lease_key};

/// Takeover attempts before giving up when other takers keep winning.
const ATTEMPTS: usize = 5;

/// The lease document. `taken` grows with every taking, so the document (and its tag) never
/// repeats.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseDoc {
    /// Who holds it, as shown to others: actor, process, machine, since when.
    pub holder: String,
    /// Unix seconds after which anyone may take the lease over.
    pub expires_at: i64,
    pub released: bool,
    pub taken: u64,
    /// The holder's machine, process and the time it took the lease (unix seconds); documents
    /// written by older ledgers do not have them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    /// The last time the lease was broken, kept by every later taker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broken: Option<Break>,
}

/// Who takes a lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// As shown to others.
    pub name: String,
    pub host: String,
    pub pid: u32,
}

/// A lease broken on purpose: by whom, when (unix seconds), why, and whose it was.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Break {
    pub by: String,
    pub at: i64,
    pub reason: String,
    pub holder: String,
}

/// A lease this process holds.
#[derive(Debug)]
pub struct Lease {
    key: DocumentKey,
    etag: String,
    doc: LeaseDoc,
}

impl Lease {
    /// The key of the lease document.
    pub fn key(&self) -> &DocumentKey {
        &self.key
    }
}

/// How taking a lease ended.
#[derive(Debug)]
pub enum Taken {
    Held(Lease),
    /// Someone else holds it.
    Busy {
        holder: String,
        expires_at: i64,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("{0}")]
    Remote(#[from] RemoteError),
    #[error("{0:?} is not an environment name")]
    BadName(String),
    #[error("the lease of {0} kept changing hands; try again")]
    Contended(String),
}

/// Takes the lease of `env` for `holder` until `expires_at` (unix seconds). Another holder's
/// lease is taken over once it has run out at `now`, or at once when `gone` says its process
/// has ended.
pub async fn take(
    remote: &impl Remote,
    env: &str,
    holder: &Holder,
    now: i64,
    expires_at: i64,
    gone: impl Fn(&LeaseDoc) -> bool,
) -> Result<Taken, LeaseError> {
    take_from(remote, env, holder, now, expires_at, gone, None).await
}

/// [`take`], starting from `last_seen`, the document as this ledger last saw it (the one it
/// wrote when it gave the lease back): when that says the lease is free, the first attempt is
/// the compare-and-swap on its tag, without reading the document. Refused (the lease changed
/// hands since), the document is read as by [`take`].
pub async fn take_from(
    remote: &impl Remote,
    env: &str,
    holder: &Holder,
    now: i64,
    expires_at: i64,
    gone: impl Fn(&LeaseDoc) -> bool,
    last_seen: Option<Document>,
) -> Result<Taken, LeaseError> {
    let key = lease_key(env).ok_or_else(|| LeaseError::BadName(env.into()))?;
    let free = |doc: &LeaseDoc| doc.released || doc.expires_at <= now || gone(doc);
    let mut guess =
        last_seen.filter(|document| parse(remote, &key, &document.bytes).is_ok_and(|doc| free(&doc)));
    let mut attempted: Option<LeaseDoc> = None;
    for _ in 0..ATTEMPTS {
        let current = match guess.take() {
            Some(document) => Some(document),
            None => remote.get_document(&key).await?,
        };
        let (taken, broken, expected) = match &current {
            None => (1, None, None),
            Some(document) => {
                let doc = parse(remote, &key, &document.bytes)?;
                if attempted.as_ref() == Some(&doc) {
                    // Our write landed though its answer was lost (and the retry was refused).
                    return Ok(Taken::Held(Lease { key, etag: document.etag.clone(), doc }));
                }
                if !free(&doc) {
                    return Ok(Taken::Busy { holder: doc.holder, expires_at: doc.expires_at });
                }
                (doc.taken + 1, doc.broken, Some(document.etag.as_str()))
            }
        };
        let doc = LeaseDoc {
            holder: holder.name.clone(),
            expires_at,
            released: false,
            taken,
            host: Some(holder.host.clone()),
            pid: Some(holder.pid),
            since: Some(now),
            broken,
        };
        let bytes = serde_json::to_vec(&doc).expect("a lease always serialises");
        match remote.put_document(&key, &bytes, expected).await {
            Ok(Written::Done(etag)) => return Ok(Taken::Held(Lease { key, etag, doc })),
            Ok(Written::Refused) => {}
            // The write may have landed and only its answer been lost: look once more.
            Err(error) => match landed(remote, &key, &doc).await {
                Some(etag) => return Ok(Taken::Held(Lease { key, etag, doc })),
                None => return Err(error.into()),
            },
        }
        attempted = Some(doc);
    }
    Err(LeaseError::Contended(env.into()))
}

/// The lease document of `env`, if there is one.
pub async fn read(remote: &impl Remote, env: &str) -> Result<Option<LeaseDoc>, LeaseError> {
    let key = lease_key(env).ok_or_else(|| LeaseError::BadName(env.into()))?;
    match remote.get_document(&key).await? {
        Some(document) => Ok(Some(parse(remote, &key, &document.bytes)?)),
        None => Ok(None),
    }
}

/// How breaking a lease ended.
#[derive(Debug)]
pub enum Broken {
    /// It was held by `doc.broken.holder`; it is released now, with the break recorded.
    Broken(LeaseDoc),
    /// Nobody held it (no document, released, or run out at `now`): nothing was written.
    Free(Option<LeaseDoc>),
}

/// Breaks the lease of `env` if `check` accepts the document as it is (`Err` refuses, with a
/// reason): released, with `by`, `at` and `reason` recorded. Refused when the lease changed
/// between reading and writing.
pub async fn break_lease<E>(
    remote: &impl Remote,
    env: &str,
    by: &str,
    reason: &str,
    now: i64,
    check: impl FnOnce(&LeaseDoc) -> Result<(), E>,
) -> Result<Result<Broken, E>, LeaseError> {
    let key = lease_key(env).ok_or_else(|| LeaseError::BadName(env.into()))?;
    let Some(document) = remote.get_document(&key).await? else { return Ok(Ok(Broken::Free(None))) };
    let doc = parse(remote, &key, &document.bytes)?;
    if doc.released || doc.expires_at <= now {
        return Ok(Ok(Broken::Free(Some(doc))));
    }
    if let Err(refused) = check(&doc) {
        return Ok(Err(refused));
    }
    let broken = Break { by: by.into(), at: now, reason: reason.into(), holder: doc.holder.clone() };
    let doc = LeaseDoc { released: true, taken: doc.taken + 1, broken: Some(broken), ..doc };
    let bytes = serde_json::to_vec(&doc).expect("a lease always serialises");
    match remote.put_document(&key, &bytes, Some(&document.etag)).await {
        Ok(Written::Done(_)) => Ok(Ok(Broken::Broken(doc))),
        // Refused or unanswered: broken all the same if the document is now this one (a
        // retried write whose first answer was lost is refused).
        Ok(Written::Refused) | Err(_) if landed(remote, &key, &doc).await.is_some() => {
            Ok(Ok(Broken::Broken(doc)))
        }
        Ok(Written::Refused) => Err(LeaseError::Contended(env.into())),
        Err(error) => Err(error.into()),
    }
}

/// Gives the lease back: the released document as written, with its tag (the next
/// [`take_from`] of this ledger starts from it). `None`: it was no longer ours (it expired and
/// was taken over).
pub async fn release(remote: &impl Remote, lease: Lease) -> Result<Option<Document>, RemoteError> {
    let doc = LeaseDoc { released: true, taken: lease.doc.taken + 1, ..lease.doc };
    let bytes = serde_json::to_vec(&doc).expect("a lease always serialises");
    let etag = match remote.put_document(&lease.key, &bytes, Some(&lease.etag)).await {
        Ok(Written::Done(etag)) => Some(etag),
        // Refused or unanswered: given back all the same if the document is now this one (a
        // retried write whose first answer was lost is refused).
        Ok(Written::Refused) => landed(remote, &lease.key, &doc).await,
        Err(error) => Some(landed(remote, &lease.key, &doc).await.ok_or(error)?),
    };
    Ok(etag.map(|etag| Document { bytes, etag }))
}

/// The tag of document `key` when it is exactly `doc`: a write of it landed.
async fn landed(remote: &impl Remote, key: &DocumentKey, doc: &LeaseDoc) -> Option<String> {
    let document = remote.get_document(key).await.ok()??;
    (parse(remote, key, &document.bytes).ok()? == *doc).then_some(document.etag)
}

fn parse(remote: &impl Remote, key: &DocumentKey, bytes: &[u8]) -> Result<LeaseDoc, RemoteError> {
    serde_json::from_slice(bytes).map_err(|error| RemoteError::BadDocument {
        url: remote.url().into(),
        key: key.as_str().into(),
        message: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::FileRemote;
    use ledger_testutil::block_on;

    fn holder(name: &str) -> Holder {
        Holder { name: name.into(), host: "ci-7".into(), pid: 4242 }
    }

    fn none_gone(_: &LeaseDoc) -> bool {
        false
    }

    fn remote(dir: &tempfile::TempDir) -> FileRemote {
        FileRemote::new(&format!("file://{}", dir.path().display())).unwrap()
    }

    #[test]
    fn a_holder_known_to_be_gone_is_taken_over_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let remote = remote(&dir);
        block_on(async {
            let Taken::Held(_) = take(&remote, "prod", &holder("alice"), 100, 200, none_gone).await.unwrap()
            else {
                panic!()
            };
            let gone = |doc: &LeaseDoc| doc.host.as_deref() == Some("ci-7") && doc.pid == Some(4242);
            let Taken::Held(bob) = take(&remote, "prod", &holder("bob"), 150, 250, gone).await.unwrap()
            else {
                panic!()
            };
            assert_eq!((bob.doc.holder.as_str(), bob.doc.taken, bob.doc.since), ("bob", 2, Some(150)));
        });
    }

    #[test]
    fn a_break_releases_the_lease_and_stays_recorded_for_later_takers() {
        let dir = tempfile::tempdir().unwrap();
        let remote = remote(&dir);
        block_on(async {
            let free =
                break_lease(&remote, "prod", "carol", "stale", 120, |_| Ok::<(), ()>(())).await.unwrap();
            assert!(matches!(free, Ok(Broken::Free(None))), "{free:?}");
            let Taken::Held(_) = take(&remote, "prod", &holder("alice"), 100, 200, none_gone).await.unwrap()
            else {
                panic!()
            };
            let refused =
                break_lease(&remote, "prod", "carol", "stale", 120, |_| Err("alive")).await.unwrap();
            assert!(matches!(refused, Err("alive")));
            assert!(!read(&remote, "prod").await.unwrap().unwrap().released);
            let broken =
                break_lease(&remote, "prod", "carol", "stale", 120, |_| Ok::<(), ()>(())).await.unwrap();
            let Ok(Broken::Broken(doc)) = broken else { panic!("{broken:?}") };
            let record =
                Break { by: "carol".into(), at: 120, reason: "stale".into(), holder: "alice".into() };
            assert!(doc.released);
            assert_eq!(doc.broken.as_ref(), Some(&record));
            assert_eq!(read(&remote, "prod").await.unwrap(), Some(doc));
            // The next taker keeps the record; a free lease has nothing to break.
            let Taken::Held(dave) =
                take(&remote, "prod", &holder("dave"), 130, 230, none_gone).await.unwrap()
            else {
                panic!()
            };
            assert_eq!(dave.doc.broken, Some(record));
            let expired =
                break_lease(&remote, "prod", "carol", "stale", 300, |_| Ok::<(), ()>(())).await.unwrap();
            assert!(matches!(expired, Ok(Broken::Free(Some(_)))), "{expired:?}");
        });
    }

    #[test]
    fn documents_of_older_ledgers_still_read() {
        let doc: LeaseDoc = serde_json::from_str(
            r#"{"holder":"Alice (pid 4242 on ci-7, since …)","expires_at":1795462504,"released":false,"taken":3}"#,
        )
        .unwrap();
        assert_eq!((doc.host, doc.pid, doc.broken), (None, None, None));
    }

    #[test]
    fn one_holder_at_a_time_until_released_or_expired() {
        let dir = tempfile::tempdir().unwrap();
        let remote = FileRemote::new(&format!("file://{}", dir.path().display())).unwrap();
        block_on(async {
            let Taken::Held(first) =
                take(&remote, "prod", &holder("alice"), 100, 200, none_gone).await.unwrap()
            else {
                panic!()
            };
            let busy = take(&remote, "prod", &holder("bob"), 150, 250, none_gone).await.unwrap();
            assert!(
                matches!(busy, Taken::Busy { ref holder, expires_at: 200 } if holder == "alice"),
                "{busy:?}"
            );
            assert!(release(&remote, first).await.unwrap().is_some());
            let Taken::Held(second) =
                take(&remote, "prod", &holder("bob"), 150, 250, none_gone).await.unwrap()
            else {
                panic!()
            };
            // Bob's lease runs out; carol takes it over and bob can no longer release it.
            let Taken::Held(third) =
                take(&remote, "prod", &holder("carol"), 300, 400, none_gone).await.unwrap()
            else {
                panic!()
            };
            assert!(release(&remote, second).await.unwrap().is_none());
            assert!(matches!(
                take(&remote, "prod", &holder("dave"), 350, 450, none_gone).await.unwrap(),
                Taken::Busy { .. }
            ));
            assert!(release(&remote, third).await.unwrap().is_some());
            assert!(take(&remote, "../prod", &holder("eve"), 0, 1, none_gone).await.is_err());
        });
    }

    #[test]
    fn a_lease_is_taken_again_from_the_document_given_back_unless_it_changed_hands() {
        let dir = tempfile::tempdir().unwrap();
        let remote = remote(&dir);
        block_on(async {
            let Taken::Held(first) =
                take(&remote, "prod", &holder("alice"), 100, 200, none_gone).await.unwrap()
            else {
                panic!()
            };
            let given_back = release(&remote, first).await.unwrap().unwrap();
            let alice = holder("alice");
            assert_eq!(
                remote.get_document(&lease_key("prod").unwrap()).await.unwrap(),
                Some(given_back.clone())
            );
            // From the document given back: taken.
            let taking = take_from(&remote, "prod", &alice, 110, 210, none_gone, Some(given_back.clone()));
            let Taken::Held(second) = taking.await.unwrap() else { panic!() };
            assert_eq!(second.doc.taken, 3);
            // Bob holds it now; alice's remembered document is stale: read, and refused as busy.
            release(&remote, second).await.unwrap().unwrap();
            let Taken::Held(_) = take(&remote, "prod", &holder("bob"), 120, 220, none_gone).await.unwrap()
            else {
                panic!()
            };
            let busy = take_from(&remote, "prod", &alice, 130, 230, none_gone, Some(given_back));
            assert!(matches!(busy.await.unwrap(), Taken::Busy { ref holder, .. } if holder == "bob"));
        });
    }

    #[test]
    fn racing_takers_never_both_hold_it() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().display());
        let held = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for taker in 0..8 {
                let (url, held) = (&url, &held);
                scope.spawn(move || {
                    let remote = FileRemote::new(url).unwrap();
                    let taken = block_on(take(
                        &remote,
                        "prod",
                        &holder(&format!("taker {taker}")),
                        0,
                        100,
                        none_gone,
                    ));
                    if let Ok(Taken::Held(_)) = taken {
                        held.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(held.into_inner(), 1);
    }
}
