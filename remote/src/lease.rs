//! An environment's apply lease on the remote (`locks/env/<env>`): whoever holds it is the one
//! ledger deploying there. It is created with `If-None-Match: *`; a lease that was released or
//! has expired is taken over by compare-and-swap, so two takers never both win.

use serde::{Deserialize, Serialize};

use crate::{DocumentKey, Remote, RemoteError, Written, lease_key};

/// Takeover attempts before giving up when other takers keep winning.
const ATTEMPTS: usize = 5;

/// The lease document. `taken` grows with every taking, so the document (and its tag) never
/// repeats.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseDoc {
    pub holder: String,
    /// Unix seconds after which anyone may take the lease over.
    pub expires_at: i64,
    pub released: bool,
    pub taken: u64,
}

/// A lease this process holds.
#[derive(Debug)]
pub struct Lease {
    key: DocumentKey,
    etag: String,
    doc: LeaseDoc,
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

/// Takes the lease of `env` for `holder` until `expires_at` (unix seconds; `now` decides
/// whether another holder's lease has run out).
pub async fn take(
    remote: &impl Remote,
    env: &str,
    holder: &str,
    now: i64,
    expires_at: i64,
) -> Result<Taken, LeaseError> {
    let key = lease_key(env).ok_or_else(|| LeaseError::BadName(env.into()))?;
    let mut attempted: Option<LeaseDoc> = None;
    for _ in 0..ATTEMPTS {
        let current = remote.get_document(&key).await?;
        let (taken, expected) = match &current {
            None => (1, None),
            Some(document) => {
                let doc = parse(remote, &key, &document.bytes)?;
                if attempted.as_ref() == Some(&doc) {
                    // Our write landed though its answer was lost (and the retry was refused).
                    return Ok(Taken::Held(Lease { key, etag: document.etag.clone(), doc }));
                }
                if !doc.released && doc.expires_at > now {
                    return Ok(Taken::Busy { holder: doc.holder, expires_at: doc.expires_at });
                }
                (doc.taken + 1, Some(document.etag.as_str()))
            }
        };
        let doc = LeaseDoc { holder: holder.into(), expires_at, released: false, taken };
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

/// Gives the lease back. `false`: it was no longer ours (it expired and was taken over).
pub async fn release(remote: &impl Remote, lease: Lease) -> Result<bool, RemoteError> {
    let doc = LeaseDoc { released: true, taken: lease.doc.taken + 1, ..lease.doc };
    let bytes = serde_json::to_vec(&doc).expect("a lease always serialises");
    match remote.put_document(&lease.key, &bytes, Some(&lease.etag)).await {
        Ok(Written::Done(_)) => Ok(true),
        // Refused or unanswered: given back all the same if the document is now this one (a
        // retried write whose first answer was lost is refused).
        Ok(Written::Refused) => Ok(landed(remote, &lease.key, &doc).await.is_some()),
        Err(error) => landed(remote, &lease.key, &doc).await.map(|_| true).ok_or(error),
    }
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

    #[test]
    fn one_holder_at_a_time_until_released_or_expired() {
        let dir = tempfile::tempdir().unwrap();
        let remote = FileRemote::new(&format!("file://{}", dir.path().display())).unwrap();
        block_on(async {
            let Taken::Held(first) = take(&remote, "prod", "alice", 100, 200).await.unwrap() else {
                panic!()
            };
            let busy = take(&remote, "prod", "bob", 150, 250).await.unwrap();
            assert!(
                matches!(busy, Taken::Busy { ref holder, expires_at: 200 } if holder == "alice"),
                "{busy:?}"
            );
            assert!(release(&remote, first).await.unwrap());
            let Taken::Held(second) = take(&remote, "prod", "bob", 150, 250).await.unwrap() else { panic!() };
            // Bob's lease runs out; carol takes it over and bob can no longer release it.
            let Taken::Held(third) = take(&remote, "prod", "carol", 300, 400).await.unwrap() else {
                panic!()
            };
            assert!(!release(&remote, second).await.unwrap());
            assert!(matches!(take(&remote, "prod", "dave", 350, 450).await.unwrap(), Taken::Busy { .. }));
            assert!(release(&remote, third).await.unwrap());
            assert!(take(&remote, "../prod", "eve", 0, 1).await.is_err());
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
                    let taken = block_on(take(&remote, "prod", &format!("taker {taker}"), 0, 100));
                    if let Ok(Taken::Held(_)) = taken {
                        held.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(held.into_inner(), 1);
    }
}
