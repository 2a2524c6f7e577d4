//! Which fields of a task definition a new revision carries over. ECS adds fields over time and
//! the AWS SDK drops those it does not model while parsing an answer, so a copy made through it
//! could silently lose some. The raw DescribeTaskDefinition answer is checked against the fields
//! ledger copies, and `ecs::revise` refuses a definition that has any other.

use std::sync::{Arc, Mutex};

use aws_sdk_ecs::config::interceptors::AfterDeserializationInterceptorContextRef;
use aws_sdk_ecs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ecs::error::BoxError;
use serde_json::{Map, Value};

/// The fields RegisterTaskDefinition takes beside `tags`: every one is copied into a new
/// revision (see `AwsEcs::register_task_definition`).
pub const COPIED: &[&str] = &[
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "containerDefinitions",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
    "ephemeralStorage",
    "runtimePlatform",
    "enableFaultInjection",
];

/// The fields ECS sets itself; a new revision gets its own.
const SET_BY_ECS: &[&str] = &[
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
    "deleteRequestedAt",
];

/// The fields of a container definition the SDK models; containers are copied whole.
const CONTAINER: &[&str] = &[
    "name",
    "image",
    "repositoryCredentials",
    "cpu",
    "memory",
    "memoryReservation",
    "links",
    "portMappings",
    "essential",
    "restartPolicy",
    "entryPoint",
    "command",
    "environment",
    "environmentFiles",
    "mountPoints",
    "volumesFrom",
    "linuxParameters",
    "secrets",
    "dependsOn",
    "startTimeout",
    "stopTimeout",
    "versionConsistency",
    "hostname",
    "user",
    "workingDirectory",
    "disableNetworking",
    "privileged",
    "readonlyRootFilesystem",
    "dnsServers",
    "dnsSearchDomains",
    "extraHosts",
    "dockerSecurityOptions",
    "interactive",
    "pseudoTerminal",
    "dockerLabels",
    "ulimits",
    "logConfiguration",
    "healthCheck",
    "systemControls",
    "resourceRequirements",
    "firelensConfiguration",
    "credentialSpecs",
];

/// The task definition of a raw DescribeTaskDefinition answer, as JSON. `None`: not such an answer.
pub fn described_definition(answer: &[u8]) -> Option<Map<String, Value>> {
    let mut answer: Value = serde_json::from_slice(answer).ok()?;
    match answer.get_mut("taskDefinition")?.take() {
        Value::Object(definition) => Some(definition),
        _ => None,
    }
}

/// The fields of a described task definition that a new revision would not carry, as `field`
/// or `containerDefinitions[<name>].field`. Fields with an empty value (null, `[]`, `{}`) lose
/// nothing and are not listed.
pub fn uncopied_fields(definition: &Map<String, Value>) -> Vec<String> {
    let mut uncopied = Vec::new();
    for (field, value) in definition {
        if !COPIED.contains(&field.as_str()) && !SET_BY_ECS.contains(&field.as_str()) && !is_empty(value) {
            uncopied.push(field.clone());
        }
    }
    let containers = definition.get("containerDefinitions").and_then(Value::as_array);
    for container in containers.into_iter().flatten().filter_map(Value::as_object) {
        let name = container.get("name").and_then(Value::as_str).unwrap_or("?");
        for (field, value) in container {
            if !CONTAINER.contains(&field.as_str()) && !is_empty(value) {
                uncopied.push(format!("containerDefinitions[{name}].{field}"));
            }
        }
    }
    uncopied
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.is_empty(),
        _ => false,
    }
}

/// Keeps the raw body of the answer to the call it is attached to.
#[derive(Clone, Debug, Default)]
pub struct RawAnswer(Arc<Mutex<Option<Vec<u8>>>>);

impl RawAnswer {
    pub fn take(&self) -> Option<Vec<u8>> {
        self.0.lock().ok()?.take()
    }
}

impl Intercept for RawAnswer {
    fn name(&self) -> &'static str {
        "RawAnswer"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let (Some(body), Ok(mut kept)) = (context.response().body().bytes(), self.0.lock()) {
            *kept = Some(body.to_vec());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The end-to-end tests' task definition with every registerable field.
    const FULL: &str = include_str!("../../tests/moto/full_task_definition.json");

    /// A DescribeTaskDefinition answer for a RegisterTaskDefinition input (whose tags go beside
    /// the definition).
    fn answer(mut definition: Value) -> Vec<u8> {
        let tags = definition.as_object_mut().unwrap().remove("tags");
        serde_json::to_vec(&serde_json::json!({"taskDefinition": definition, "tags": tags})).unwrap()
    }

    #[test]
    fn every_registerable_field_is_copied_and_the_full_test_definition_has_them_all() {
        let full: Value = serde_json::from_str(FULL).unwrap();
        let definition = described_definition(&answer(full.clone())).unwrap();
        assert_eq!(uncopied_fields(&definition), Vec::<String>::new());
        let given: Vec<&str> = full.as_object().unwrap().keys().map(String::as_str).collect();
        assert!(given.contains(&"tags"));
        for field in COPIED {
            assert!(given.contains(field), "{field} is copied but not in full_task_definition.json");
        }
    }

    #[test]
    fn fields_ledger_does_not_copy_are_named_and_empty_ones_ignored() {
        let mut definition: Value = serde_json::from_str(FULL).unwrap();
        definition["taskDefinitionArn"] = "arn:aws:ecs:us-east-1:1:task-definition/web:1".into();
        definition["trustedExecutionConfiguration"] = serde_json::json!({"isolationMode": "SHARED"});
        definition["inferenceAccelerators"] = serde_json::json!([]);
        definition["containerDefinitions"][0]["gpuSharing"] = true.into();
        definition["containerDefinitions"][0]["newEmptyList"] = serde_json::json!([]);
        assert_eq!(
            uncopied_fields(&described_definition(&answer(definition)).unwrap()),
            ["trustedExecutionConfiguration", "containerDefinitions[web].gpuSharing"]
        );
        assert_eq!(described_definition(b"not json"), None);
        assert_eq!(described_definition(b"{\"failures\": []}"), None);
    }
}
