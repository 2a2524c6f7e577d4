//! Looking up the digest of an ECR image given by tag (`register --resolve-digest`).

use aws_sdk_ecr::types::ImageIdentifier;

use crate::error::{AwsError, from_sdk};

const ACTION: &str = "ecr:DescribeImages";

/// The registry id and repository name of an ECR repository reference such as
/// `123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalogue/api`.
pub fn ecr_repository(repository: &str) -> Option<(&str, &str)> {
    let (registry, name) = repository.split_once('/')?;
    let (account, rest) = registry.split_once('.')?;
    let is_ecr =
        rest.starts_with("dkr.ecr.") && account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    is_ecr.then_some((account, name))
}

/// The digest (`sha256:…`) of `repository:tag` in ECR.
pub async fn resolve_digest(
    client: &aws_sdk_ecr::Client,
    repository: &str,
    tag: &str,
) -> Result<String, AwsError> {
    let Some((registry_id, name)) = ecr_repository(repository) else {
        return Err(AwsError::new(
            ACTION,
            crate::ErrorKind::Rejected,
            "",
            format!(
                "{repository} is not an ECR repository (<account>.dkr.ecr.<region>.amazonaws.com/<name>)"
            ),
        ));
    };
    let output = client
        .describe_images()
        .registry_id(registry_id)
        .repository_name(name)
        .image_ids(ImageIdentifier::builder().image_tag(tag).build())
        .send()
        .await
        .map_err(|e| from_sdk(ACTION, e))?;
    output
        .image_details()
        .iter()
        .find_map(|detail| detail.image_digest().map(str::to_string))
        .ok_or_else(|| AwsError::not_found(ACTION, format!("no image {repository}:{tag} in ECR")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_ecr_repositories_only() {
        assert_eq!(
            ecr_repository("123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalogue/api"),
            Some(("123456789012", "catalogue/api"))
        );
        assert_eq!(ecr_repository("ghcr.io/catalogue/api"), None);
        assert_eq!(ecr_repository("docker.io/library/nginx"), None);
    }
}
