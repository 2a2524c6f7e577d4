//! TEMPORARY compile stub, replaced by the helper's parser (never committed).
use crate::timestamp::Timestamp;
use ssh_key::PublicKey;
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedSigners {
    pub lines: Vec<AllowedSigner>,
}
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedSigner {
    pub line: usize,
    pub principals: String,
    pub key: PublicKey,
    pub valid_after: Option<Timestamp>,
    pub valid_before: Option<Timestamp>,
    pub namespaces: Option<String>,
}
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct AllowedSignersError {
    pub line: usize,
    pub message: String,
}
impl AllowedSigners {
    pub fn parse(text: &str) -> Result<AllowedSigners, AllowedSignersError> {
        let _ = text;
        todo!()
    }
    pub fn load(path: &std::path::Path) -> Result<AllowedSigners, AllowedSignersError> {
        let _ = path;
        todo!()
    }
    pub fn lines_for(&self, key: &ssh_key::public::KeyData) -> impl Iterator<Item = &AllowedSigner> {
        self.lines.iter().filter(move |l| l.key.key_data() == key)
    }
}
impl AllowedSigner {
    pub fn names_principal(&self, principal: &str) -> bool {
        self.principals == principal
    }
    pub fn valid_at(&self, at: Timestamp) -> bool {
        let _ = at;
        true
    }
    pub fn allows_namespace(&self, namespace: &str) -> bool {
        let _ = namespace;
        true
    }
}
