//! The cloud edge of `ledger`: the S3 remote and the ECS/SSM rollout. The only crate that will
//! depend on the AWS SDK. Nothing here yet: the core ledger (issue 2) is record-only; the ECS
//! apply (issue 3) and the S3 remote (issue 4) land here.
