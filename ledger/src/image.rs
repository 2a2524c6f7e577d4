//! OCI image references: `registry/repository[:tag][@sha256:<64 hex>]`.

use std::fmt;

/// A parsed image reference. `repository` includes the registry host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<64 lowercase hex>` when the reference is pinned.
    pub digest: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidImage {
    #[error("invalid image reference {image:?}: {reason}")]
    Malformed { image: String, reason: &'static str },
    #[error(
        "image {image:?} is not from repository {expected:?}, which ledger.toml sets as this service's image_repository"
    )]
    WrongRepository { image: String, expected: String },
}

const MAX_REFERENCE_LEN: usize = 512;

/// `(repository, tag)`: a tag follows the last ':' that comes after the last '/' (a registry
/// port is not a tag).
fn split_tag(name_and_tag: &str) -> (&str, Option<&str>) {
    let last_slash = name_and_tag.rfind('/');
    match name_and_tag.rfind(':') {
        Some(colon) if last_slash.is_none_or(|slash| colon > slash) => {
            (&name_and_tag[..colon], Some(&name_and_tag[colon + 1..]))
        }
        _ => (name_and_tag, None),
    }
}

impl ImageRef {
    pub fn parse(image: &str) -> Result<ImageRef, InvalidImage> {
        let malformed = |reason| InvalidImage::Malformed { image: image.to_string(), reason };
        if image.is_empty() || image.len() > MAX_REFERENCE_LEN {
            return Err(malformed("expected registry/repository[:tag][@sha256:<digest>]"));
        }
        let (name_and_tag, digest) = match image.split_once('@') {
            Some((rest, digest)) => (
                rest,
                Some(parse_digest(digest).ok_or_else(|| {
                    malformed("the digest must be sha256: followed by 64 lowercase hex digits")
                })?),
            ),
            None => (image, None),
        };
        let (repository, tag) = split_tag(name_and_tag);
        if !valid_repository(repository) {
            return Err(malformed(
                "the repository must be lowercase path components (a-z, 0-9, '.', '_', '-') separated by '/', after an optional registry host",
            ));
        }
        if let Some(tag) = tag
            && !valid_tag(tag)
        {
            return Err(malformed(
                "a tag is 1 to 128 characters of A-Z, a-z, 0-9, '_', '.', '-', not starting with '.' or '-'",
            ));
        }
        Ok(ImageRef { repository: repository.to_string(), tag: tag.map(str::to_string), digest })
    }

    /// The tag of `image` (a reference, pinned or not), found without checking the rest: for
    /// showing a release whose reference was checked when it was recorded.
    pub fn tag_of(image: &str) -> Option<&str> {
        let name_and_tag = image.split_once('@').map_or(image, |(rest, _)| rest);
        split_tag(name_and_tag).1
    }

    /// Checks that the image comes from `expected` (the manifest's `image_repository`).
    pub fn check_repository(&self, expected: &str) -> Result<(), InvalidImage> {
        if self.repository == expected {
            Ok(())
        } else {
            Err(InvalidImage::WrongRepository { image: self.to_string(), expected: expected.to_string() })
        }
    }

    /// The reference without its digest: `repository[:tag]`.
    pub fn name_and_tag(&self) -> String {
        match &self.tag {
            Some(tag) => format!("{}:{tag}", self.repository),
            None => self.repository.clone(),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name_and_tag())?;
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

fn parse_digest(text: &str) -> Option<String> {
    let hex = text.strip_prefix("sha256:")?;
    let valid = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    valid.then(|| text.to_string())
}

fn valid_repository(repository: &str) -> bool {
    let mut components = repository.split('/').peekable();
    let mut first = true;
    while let Some(component) = components.next() {
        let is_registry = first && components.peek().is_some() && looks_like_host(component);
        first = false;
        if is_registry {
            continue;
        }
        let bytes = component.as_bytes();
        let ok = !bytes.is_empty()
            && bytes[0].is_ascii_alphanumeric()
            && bytes[bytes.len() - 1].is_ascii_alphanumeric()
            && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(b))
            && !component.contains("..");
        if !ok {
            return false;
        }
    }
    true
}

fn looks_like_host(component: &str) -> bool {
    (component.contains('.') || component.contains(':') || component == "localhost")
        && !component.is_empty()
        && component.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:".contains(&b))
}

fn valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && bytes[0] != b'.'
        && bytes[0] != b'-'
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPO: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalogue/api";
    const DIGEST: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn parses_tag_digest_and_port() {
        let image = ImageRef::parse(&format!("{REPO}:v1.2@{DIGEST}")).unwrap();
        assert_eq!(image.repository, REPO);
        assert_eq!(image.tag.as_deref(), Some("v1.2"));
        assert_eq!(image.digest.as_deref(), Some(DIGEST));
        let local = ImageRef::parse("localhost:5000/api").unwrap();
        assert_eq!((local.repository.as_str(), local.tag), ("localhost:5000/api", None));
        assert!(image.check_repository(REPO).is_ok());
        assert!(image.check_repository("other/repo").is_err());
    }

    #[test]
    fn rejects_malformed_references() {
        for bad in [
            "",
            "UPPER/case",
            "repo:",
            "repo:-tag",
            "repo@sha256:abc",
            &format!("repo@{}", DIGEST.to_uppercase()),
            "repo/../etc",
            "repo with space",
            "repo//x",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?}");
        }
    }
}
