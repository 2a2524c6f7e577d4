//! The marker (`ledger-remote.json`) that makes a location a ledger remote: the format version
//! and the project it belongs to. Only an explicit act writes it — `ledger remote init`, or a
//! push to a location that holds nothing — and every other command refuses a location without
//! it, so a mistyped URL is never taken for an empty remote. See docs/remote.md, "The marker".

use ledger::name::NameKind;
use serde::{Deserialize, Serialize};

use crate::{DocumentKey, Remote, RemoteError, Written};

/// The marker's key under the remote's root.
pub const MARKER_KEY: &str = "ledger-remote.json";

/// The layout version this ledger writes and understands.
pub const FORMAT: u32 = 1;

/// What the marker says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    /// The layout version of the remote (objects, refs, leases).
    pub format: u32,
    /// The `[project] id` of the project whose ledger this is.
    pub project: String,
}

impl Marker {
    /// The marker of a new remote of `project`.
    pub fn new(project: &str) -> Marker {
        Marker { format: FORMAT, project: project.to_string() }
    }

    /// Parses a stored marker; `Err` says what is wrong with it.
    pub fn parse(bytes: &[u8]) -> Result<Marker, String> {
        let marker: Marker = serde_json::from_slice(bytes).map_err(|error| error.to_string())?;
        ledger::name::validate(NameKind::Project, &marker.project).map_err(|error| error.to_string())?;
        Ok(marker)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a marker always serialises")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MarkerError {
    #[error("{0}")]
    Remote(#[from] RemoteError),
    #[error("{url} is not a ledger remote: it has no {MARKER_KEY}{}", if *.holds_refs { " (but it holds refs: a remote from before markers)" } else { "" })]
    Missing { url: String, holds_refs: bool },
    #[error("remote {url} is the ledger of project {found:?}, but this project's id is {expected:?}")]
    OtherProject { url: String, found: String, expected: String },
    #[error(
        "remote {url} has layout format {found}; this ledger understands format {FORMAT}: upgrade ledger"
    )]
    Format { url: String, found: u32 },
    #[error("{url} already holds objects or refs but no {MARKER_KEY}: a push does not adopt it")]
    NotEmpty { url: String },
}

/// The key of the marker document.
pub fn marker_key() -> DocumentKey {
    DocumentKey(MARKER_KEY.to_string())
}

/// The remote's marker, if it has one.
pub async fn read(remote: &impl Remote) -> Result<Option<Marker>, RemoteError> {
    let Some(document) = remote.get_document(&marker_key()).await? else { return Ok(None) };
    let marker = Marker::parse(&document.bytes).map_err(|message| RemoteError::BadDocument {
        url: remote.url().into(),
        key: MARKER_KEY.into(),
        message,
    })?;
    Ok(Some(marker))
}

/// Checks that `marker` is one this ledger understands and, when `project` is given, that it
/// is that project's.
pub fn accept(remote: &impl Remote, marker: &Marker, project: Option<&str>) -> Result<(), MarkerError> {
    if marker.format != FORMAT {
        return Err(MarkerError::Format { url: remote.url().into(), found: marker.format });
    }
    match project {
        Some(expected) if expected != marker.project => Err(MarkerError::OtherProject {
            url: remote.url().into(),
            found: marker.project.clone(),
            expected: expected.into(),
        }),
        _ => Ok(()),
    }
}

/// The remote's marker, checked (see [`accept`]); a location without one is refused.
pub async fn check(remote: &impl Remote, project: Option<&str>) -> Result<Marker, MarkerError> {
    let Some(marker) = read(remote).await? else {
        let holds_refs = !remote.list_refs().await?.is_empty();
        return Err(MarkerError::Missing { url: remote.url().into(), holds_refs });
    };
    accept(remote, &marker, project)?;
    Ok(marker)
}

/// Writes the marker of `project` unless the remote has one; then checks the one it has (a
/// concurrent creator may have written it first). `true` when this call wrote it.
pub async fn create(remote: &impl Remote, project: &str) -> Result<bool, MarkerError> {
    let written = remote.put_document(&marker_key(), &Marker::new(project).to_bytes(), None).await?;
    let created = matches!(written, Written::Done(_));
    // Read back: a refused write means a marker is there, and it must be this project's.
    check(remote, Some(project)).await?;
    Ok(created)
}

/// For a push: the remote's marker, checked; on a location that holds no ref and no object at
/// all, the marker of `project` is written first (a first push creates the remote).
pub async fn check_or_create(remote: &impl Remote, project: &str) -> Result<(), MarkerError> {
    if let Some(marker) = read(remote).await? {
        return accept(remote, &marker, Some(project));
    }
    if !remote.list_refs().await?.is_empty() || !remote.list_objects().await?.is_empty() {
        return Err(MarkerError::NotEmpty { url: remote.url().into() });
    }
    create(remote, project).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::FileRemote;
    use ledger::EntryId;
    use ledger_testutil::block_on;
    use proptest::prelude::*;

    fn new_remote() -> (tempfile::TempDir, FileRemote) {
        let dir = tempfile::tempdir().unwrap();
        let remote = FileRemote::new(&format!("file://{}/remote", dir.path().display())).unwrap();
        (dir, remote)
    }

    #[test]
    fn the_marker_is_a_small_json_document() {
        let text = String::from_utf8(Marker::new("catalogue").to_bytes()).unwrap();
        assert_eq!(text, r#"{"format":1,"project":"catalogue"}"#);
        assert_eq!(Marker::parse(text.as_bytes()).unwrap(), Marker::new("catalogue"));
        for bad in [&b""[..], b"{}", b"{\"format\":1}", b"{\"format\":1,\"project\":\"../x\"}", b"\xff"] {
            assert!(Marker::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn a_location_without_a_marker_is_refused_and_a_push_creates_one_only_where_nothing_is() {
        let (_dir, remote) = new_remote();
        block_on(async {
            let missing = check(&remote, Some("catalogue")).await.unwrap_err();
            assert!(matches!(missing, MarkerError::Missing { holds_refs: false, .. }), "{missing}");
            check_or_create(&remote, "catalogue").await.unwrap();
            assert_eq!(check(&remote, Some("catalogue")).await.unwrap(), Marker::new("catalogue"));
            let other = check_or_create(&remote, "billing").await.unwrap_err();
            assert!(other.to_string().contains("\"catalogue\"") && other.to_string().contains("\"billing\""));
            assert!(!create(&remote, "catalogue").await.unwrap(), "already there");
        });
        let (_dir, remote) = new_remote();
        block_on(async {
            remote.put_object(EntryId([1; 32]), b"x").await.unwrap();
            let refused = check_or_create(&remote, "catalogue").await.unwrap_err();
            assert!(matches!(refused, MarkerError::NotEmpty { .. }), "{refused}");
            assert!(read(&remote).await.unwrap().is_none(), "nothing written");
        });
    }

    #[test]
    fn a_newer_format_is_refused() {
        let (_dir, remote) = new_remote();
        block_on(async {
            let newer = br#"{"format":2,"project":"catalogue"}"#;
            remote.put_document(&marker_key(), newer, None).await.unwrap();
            let refused = check(&remote, None).await.unwrap_err();
            assert!(matches!(refused, MarkerError::Format { found: 2, .. }), "{refused}");
        });
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn parsing_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Marker::parse(&bytes);
        }

        #[test]
        fn parsing_near_markers_never_panics(format in any::<i64>(), project in "\\PC{0,80}") {
            let text = format!("{{\"format\":{format},\"project\":{}}}", serde_json::Value::String(project));
            if let Ok(marker) = Marker::parse(text.as_bytes()) {
                prop_assert_eq!(Marker::parse(&marker.to_bytes()).unwrap(), marker);
            }
        }
    }
}
