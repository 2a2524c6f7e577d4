//! The remote protocol on S3 (`s3://bucket/prefix`): objects created with `If-None-Match: *`,
//! documents moved with `If-Match: <etag>`; a 412 is a refusal, a 409 (a concurrent
//! conditional write) is retried. Every call goes through the one retry policy (`retry`).

use std::ops::Range;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use ledger::EntryId;

use crate::error::{AwsError, ErrorKind, from_sdk};
use crate::retry::Backoff;
use ledger_remote::pack::{ListedPackFile, PackKey};
use ledger_remote::{
    Document, DocumentKey, ListedRef, Remote, RemoteError, Written, id_of_object_key, object_key,
    ref_name_of_key,
};

/// A key listed under a prefix, relative to the remote's root.
struct ListedKey {
    key: String,
    etag: String,
    /// LastModified, in Unix seconds (0 when S3 gave none).
    modified: i64,
}

/// Server-side encryption of everything written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Encryption {
    /// The bucket's default.
    #[default]
    BucketDefault,
    /// SSE-S3 (`AES256`).
    S3,
    /// SSE-KMS, with this key (`None`: the account's `aws/s3` key).
    Kms(Option<String>),
}

pub struct S3Remote {
    url: String,
    client: aws_sdk_s3::Client,
    bucket: String,
    /// Empty, or ending in `/`.
    prefix: String,
    encryption: Encryption,
}

/// What an `s3://` URL names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// Empty, or ending in `/`.
    pub prefix: String,
}

impl S3Location {
    /// Parses `s3://bucket[/prefix]`; `Err` says what is wrong.
    pub fn parse(url: &str) -> Result<S3Location, String> {
        let rest = url.strip_prefix("s3://").ok_or_else(|| format!("{url:?} does not start with s3://"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !bucket_ok {
            return Err(format!("{bucket:?} is not an S3 bucket name (3 to 63 of a-z, 0-9, '.', '-')"));
        }
        let prefix = prefix.trim_end_matches('/');
        let segment_ok = |s: &str| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        };
        if !prefix.is_empty() && !prefix.split('/').all(segment_ok) {
            return Err(format!(
                "{prefix:?} is not a usable key prefix: use segments of A-Z, a-z, 0-9, '-', '_' and '.' separated by '/'"
            ));
        }
        let prefix = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
        Ok(S3Location { bucket: bucket.to_string(), prefix })
    }
}

impl S3Remote {
    pub fn new(
        url: &str,
        location: S3Location,
        client: aws_sdk_s3::Client,
        encryption: Encryption,
    ) -> S3Remote {
        S3Remote {
            url: url.to_string(),
            client,
            bucket: location.bucket,
            prefix: location.prefix,
            encryption,
        }
    }

    fn error(&self, operation: &'static str, key: &str, error: AwsError) -> RemoteError {
        RemoteError::Io { url: self.url.clone(), operation, key: key.to_string(), message: error.to_string() }
    }

    /// Reads `key`: its bytes and ETag, or `None` when there is no such key.
    async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, RemoteError> {
        self.get_range(key, None).await
    }

    /// Reads `key` (all of it, or bytes `range`): its bytes and ETag, or `None` when there is
    /// no such key.
    async fn get_range(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<Option<(Vec<u8>, String)>, RemoteError> {
        const ACTION: &str = "s3:GetObject";
        let full_key = format!("{}{key}", self.prefix);
        // An empty range is answered without a request.
        if range.as_ref().is_some_and(|range| range.is_empty()) {
            return Ok(Some((Vec::new(), String::new())));
        }
        let range = range.map(|range| format!("bytes={}-{}", range.start, range.end - 1));
        let read = Backoff::default()
            .retry(async || {
                let answer = self
                    .client
                    .get_object()
                    .bucket(&self.bucket)
                    .key(&full_key)
                    .set_range(range.clone())
                    .send()
                    .await;
                let output = match answer {
                    Ok(output) => output,
                    Err(error) => {
                        let error = from_sdk(ACTION, error);
                        return if error.code == "NoSuchKey" { Ok(None) } else { Err(error) };
                    }
                };
                let etag = output.e_tag().unwrap_or_default().to_string();
                let body = output.body.collect().await.map_err(|error| {
                    AwsError::new(ACTION, ErrorKind::Transport, "", format!("reading the body: {error}"))
                })?;
                Ok(Some((body.into_bytes().to_vec(), etag)))
            })
            .await;
        read.map_err(|error| self.error("get", key, error))
    }

    /// Writes `key` if it does not exist (`expected` `None`) or is still at ETag `expected`.
    async fn put(&self, key: &str, bytes: &[u8], expected: Option<&str>) -> Result<Written, RemoteError> {
        const ACTION: &str = "s3:PutObject";
        let full_key = format!("{}{key}", self.prefix);
        let written = Backoff::default()
            .retry(async || {
                let mut request = self
                    .client
                    .put_object()
                    .bucket(&self.bucket)
                    .key(&full_key)
                    .body(ByteStream::from(bytes.to_vec()));
                request = match expected {
                    None => request.if_none_match("*"),
                    Some(etag) => request.if_match(etag),
                };
                request = match &self.encryption {
                    Encryption::BucketDefault => request,
                    Encryption::S3 => request.server_side_encryption(ServerSideEncryption::Aes256),
                    Encryption::Kms(key_id) => request
                        .server_side_encryption(ServerSideEncryption::AwsKms)
                        .set_ssekms_key_id(key_id.clone()),
                };
                match request.send().await {
                    Ok(output) => Ok(Written::Done(output.e_tag().unwrap_or_default().to_string())),
                    Err(error) => {
                        let error = from_sdk(ACTION, error);
                        match error.code.as_str() {
                            "PreconditionFailed" => Ok(Written::Refused),
                            // Another conditional write to the key was in progress: try again.
                            "ConditionalRequestConflict" => {
                                Err(AwsError { kind: ErrorKind::Throttled, ..error })
                            }
                            _ => Err(error),
                        }
                    }
                }
            })
            .await;
        written.map_err(|error| self.error("put", key, error))
    }

    /// Every key under `prefix` (relative to the remote's root) with its ETag and LastModified,
    /// page by page.
    async fn list(&self, prefix: &str) -> Result<Vec<ListedKey>, RemoteError> {
        const ACTION: &str = "s3:ListBucket";
        let full_prefix = format!("{}{prefix}", self.prefix);
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = Backoff::default()
                .retry(async || {
                    self.client
                        .list_objects_v2()
                        .bucket(&self.bucket)
                        .prefix(&full_prefix)
                        .set_continuation_token(token.clone())
                        .send()
                        .await
                        .map_err(|error| from_sdk(ACTION, error))
                })
                .await
                .map_err(|error| self.error("list", prefix, error))?;
            for object in page.contents() {
                let Some(key) = object.key().and_then(|key| key.strip_prefix(&self.prefix)) else { continue };
                keys.push(ListedKey {
                    key: key.to_string(),
                    etag: object.e_tag().unwrap_or_default().to_string(),
                    modified: object.last_modified().map_or(0, |modified| modified.secs()),
                });
            }
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_string()),
                _ => return Ok(keys),
            }
        }
    }
}

impl S3Remote {
    /// Deletes `key` (absent already is fine: S3 answers a delete of a missing key the same).
    async fn delete(&self, key: &str) -> Result<(), RemoteError> {
        const ACTION: &str = "s3:DeleteObject";
        let full_key = format!("{}{key}", self.prefix);
        let deleted = Backoff::default()
            .retry(async || {
                let answer = self.client.delete_object().bucket(&self.bucket).key(&full_key).send().await;
                answer.map(|_| ()).map_err(|error| from_sdk(ACTION, error))
            })
            .await;
        deleted.map_err(|error| self.error("delete", key, error))
    }
}

impl Remote for S3Remote {
    fn url(&self) -> &str {
        &self.url
    }

    async fn get_object(&self, id: EntryId) -> Result<Option<Vec<u8>>, RemoteError> {
        Ok(self.get(&object_key(id)).await?.map(|(bytes, _)| bytes))
    }

    async fn put_object(&self, id: EntryId, bytes: &[u8]) -> Result<Written, RemoteError> {
        self.put(&object_key(id), bytes, None).await
    }

    async fn list_objects(&self) -> Result<Vec<EntryId>, RemoteError> {
        Ok(self.list("objects/").await?.iter().filter_map(|listed| id_of_object_key(&listed.key)).collect())
    }

    async fn delete_object(&self, id: EntryId) -> Result<(), RemoteError> {
        self.delete(&object_key(id)).await
    }

    async fn get_pack_file(
        &self,
        key: &PackKey,
        range: Option<Range<u64>>,
    ) -> Result<Option<Vec<u8>>, RemoteError> {
        Ok(self.get_range(&key.key(), range).await?.map(|(bytes, _)| bytes))
    }

    async fn put_pack_file(&self, key: &PackKey, bytes: &[u8]) -> Result<Written, RemoteError> {
        self.put(&key.key(), bytes, None).await
    }

    async fn list_pack_files(&self) -> Result<Vec<ListedPackFile>, RemoteError> {
        let listed = self.list("packs/").await?;
        Ok(listed
            .into_iter()
            .filter_map(|listed| {
                Some(ListedPackFile { key: PackKey::parse(&listed.key)?, modified: listed.modified })
            })
            .collect())
    }

    async fn delete_pack_file(&self, key: &PackKey) -> Result<(), RemoteError> {
        self.delete(&key.key()).await
    }

    async fn get_document(&self, key: &DocumentKey) -> Result<Option<Document>, RemoteError> {
        Ok(self.get(key.as_str()).await?.map(|(bytes, etag)| Document { bytes, etag }))
    }

    async fn put_document(
        &self,
        key: &DocumentKey,
        bytes: &[u8],
        expected: Option<&str>,
    ) -> Result<Written, RemoteError> {
        self.put(key.as_str(), bytes, expected).await
    }

    /// One `ListObjectsV2` of `refs/` (a page per thousand refs): each ref with the ETag a
    /// `GetObject` of it answers.
    async fn list_refs(&self) -> Result<Vec<ListedRef>, RemoteError> {
        let mut listed: Vec<ListedRef> = self
            .list("refs/")
            .await?
            .into_iter()
            .filter_map(|listed| Some(ListedRef { name: ref_name_of_key(&listed.key)?, etag: listed.etag }))
            .collect();
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(listed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_bucket_and_a_safe_prefix() {
        let parsed = S3Location::parse("s3://team-ledger/catalogue/prod/").unwrap();
        assert_eq!(parsed, S3Location { bucket: "team-ledger".into(), prefix: "catalogue/prod/".into() });
        assert_eq!(S3Location::parse("s3://team-ledger").unwrap().prefix, "");
        for bad in [
            "s3://A",
            "s3://ab",
            "http://bucket/x",
            "s3://bucket/../x",
            "s3://bucket/a//b",
            "s3://bucket/a b",
        ] {
            assert!(S3Location::parse(bad).is_err(), "{bad}");
        }
    }
}
