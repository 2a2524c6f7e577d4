//! Task definitions as JSON to compare: normalised (the registerable fields only, keys in a
//! stable order, ECS's defaults and empty values dropped, lists of named objects in name order),
//! the digest an outcome records, and the differences between two: the changed fields and a
//! unified diff. Pure functions over `serde_json::Value`; secrets are references (name and
//! `valueFrom`) in a task definition, never values, and that is all there is to show of them.

use serde_json::{Map, Value};
use similar::TextDiff;

use crate::task_fields::COPIED;

/// `definition` (a task definition as DescribeTaskDefinition gives it) with only what a
/// registration carries over ([`COPIED`]: the fields ECS sets itself, tags and unknown fields
/// are dropped), keys sorted, empty values (null, `[]`, `{}`) and ECS's defaults dropped, and
/// lists of named objects (containers, environment variables, secrets, volumes…) sorted by name,
/// so that neither their order nor a default ECS filled in is a difference.
pub fn normalise(definition: &Map<String, Value>) -> Value {
    let mut kept = Map::new();
    let mut fields: Vec<(&String, &Value)> =
        definition.iter().filter(|(field, _)| COPIED.contains(&field.as_str())).collect();
    fields.sort_by(|a, b| a.0.cmp(b.0));
    for (field, value) in fields {
        if let Some(value) = clean(field, value) {
            kept.insert(field.clone(), value);
        }
    }
    Value::Object(kept)
}

/// `value` of field `field`, normalised; `None` when it says nothing (empty, or ECS's default).
fn clean(field: &str, value: &Value) -> Option<Value> {
    let cleaned = match value {
        Value::Object(fields) => {
            let mut sorted: Vec<(&String, &Value)> = fields.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            let mut kept = Map::new();
            for (name, inner) in sorted {
                if let Some(inner) = clean(name, inner) {
                    kept.insert(name.clone(), inner);
                }
            }
            Value::Object(kept)
        }
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().filter_map(|item| clean("", item)).collect();
            if items.iter().all(|item| name_of(item).is_some()) {
                items.sort_by(|a, b| name_of(a).cmp(&name_of(b)));
            }
            Value::Array(items)
        }
        other => other.clone(),
    };
    (!says_nothing(field, &cleaned)).then_some(cleaned)
}

/// An empty value, or the value ECS fills in when none is given: `essential: true`, a
/// container's `cpu: 0`, a port mapping's `protocol: "tcp"`, and `false` for every flag but
/// `essential` (whose absence means true).
fn says_nothing(field: &str, value: &Value) -> bool {
    match (field, value) {
        (_, Value::Null) => true,
        (_, Value::Array(items)) => items.is_empty(),
        (_, Value::Object(fields)) => fields.is_empty(),
        ("essential", Value::Bool(essential)) => *essential,
        (_, Value::Bool(flag)) => !flag,
        ("cpu", Value::Number(cpu)) => cpu.as_u64() == Some(0),
        ("protocol", Value::String(protocol)) => protocol == "tcp",
        _ => false,
    }
}

/// The `name` of a named object (a container, an environment variable, a secret, a volume…).
fn name_of(item: &Value) -> Option<&str> {
    item.get("name")?.as_str()
}

/// The digest of a normalised task definition: BLAKE3 of its compact JSON, in hex. Two
/// definitions that register the same thing have the same digest.
pub fn digest(normalised: &Value) -> String {
    blake3::hash(normalised.to_string().as_bytes()).to_hex().to_string()
}

/// One field in which two task definitions differ: where (`memory`,
/// `containerDefinitions[web].environment[MODE].value`), and its value in each (`None`: absent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldChange {
    pub path: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

impl FieldChange {
    /// `memory 1024 -> 512`, `containerDefinitions[envoy] (none) -> {…}`.
    pub fn human(&self) -> String {
        format!("{} {} -> {}", self.path, shown(self.old.as_ref()), shown(self.new.as_ref()))
    }

    /// `{"path", "old", "new"}`, `null` where the field is absent.
    pub fn json(&self) -> Value {
        serde_json::json!({"path": self.path, "old": self.old, "new": self.new})
    }
}

/// A value on one line: a string as it is, anything else as compact JSON.
fn shown(value: Option<&Value>) -> String {
    match value {
        None => "(none)".into(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

/// The fields in which normalised definitions `old` and `new` differ, in path order: a field
/// on one side only is one change (a container added is one change, not one per field), a
/// named object (container, environment variable…) is compared with the one of the same name.
pub fn changes(old: &Value, new: &Value) -> Vec<FieldChange> {
    let mut found = Vec::new();
    compare("", Some(old), Some(new), &mut found);
    found
}

fn compare(path: &str, old: Option<&Value>, new: Option<&Value>, found: &mut Vec<FieldChange>) {
    match (old, new) {
        (Some(Value::Object(old)), Some(Value::Object(new))) => {
            let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let inner = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                compare(&inner, old.get(key), new.get(key), found);
            }
        }
        (old_value, new_value) if named_lists(old_value, new_value).is_some() => {
            let (old, new) = named_lists(old_value, new_value).unwrap_or_default();
            let mut names: Vec<&str> = old.iter().chain(new).filter_map(name_of).collect();
            names.sort();
            names.dedup();
            let by_name = |items: &'_ [Value], name: &str| -> Option<Value> {
                items.iter().find(|item| name_of(item) == Some(name)).cloned()
            };
            for name in names {
                let (old, new) = (by_name(old, name), by_name(new, name));
                compare(&format!("{path}[{name}]"), old.as_ref(), new.as_ref(), found);
            }
        }
        (old, new) if old != new => {
            found.push(FieldChange { path: path.to_string(), old: old.cloned(), new: new.cloned() })
        }
        _ => {}
    }
}

/// Both sides as lists of named objects (an absent side as an empty list), when at least one
/// side is such a list.
fn named_lists<'a>(old: Option<&'a Value>, new: Option<&'a Value>) -> Option<(&'a [Value], &'a [Value])> {
    let named = |value: Option<&'a Value>| -> Option<&'a [Value]> {
        match value {
            None => Some(&[]),
            Some(Value::Array(items)) if items.iter().all(|item| name_of(item).is_some()) => Some(items),
            Some(_) => None,
        }
    };
    let (old, new) = (named(old)?, named(new)?);
    (!old.is_empty() || !new.is_empty()).then_some((old, new))
}

/// A unified diff (3 lines of context) of normalised definitions `old` and `new`, pretty-printed,
/// under headers `old_name` and `new_name`; empty when they are the same.
pub fn unified_diff(old: &Value, new: &Value, old_name: &str, new_name: &str) -> String {
    if old == new {
        return String::new();
    }
    let pretty = |value: &Value| format!("{}\n", serde_json::to_string_pretty(value).unwrap_or_default());
    let (old, new) = (pretty(old), pretty(new));
    TextDiff::from_lines(&old, &new).unified_diff().context_radius(3).header(old_name, new_name).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn read_only_fields_tags_defaults_and_empty_values_are_dropped() {
        let described = object(json!({
            "taskDefinitionArn": "arn:aws:ecs:us-east-1:1:task-definition/web:3",
            "revision": 3,
            "status": "ACTIVE",
            "registeredAt": 1_700_000_000.0,
            "registeredBy": "arn:aws:iam::1:user/me",
            "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.logging-driver.awslogs"}],
            "compatibilities": ["EC2", "FARGATE"],
            "tags": [{"key": "team", "value": "web"}],
            "family": "web",
            "memory": "1024",
            "volumes": [],
            "placementConstraints": [],
            "containerDefinitions": [{
                "name": "web",
                "image": "web:1",
                "cpu": 0,
                "essential": true,
                "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
                "mountPoints": [],
                "volumesFrom": [],
                "environment": [],
                "privileged": false,
                "dockerLabels": {},
                "user": null,
            }],
        }));
        assert_eq!(
            normalise(&described),
            json!({
                "containerDefinitions": [{"image": "web:1", "name": "web", "portMappings": [{"containerPort": 8080}]}],
                "family": "web",
                "memory": "1024",
            })
        );
        // What is not a default stays: a container that is not essential, a UDP port, a CPU share.
        let mut given = described.clone();
        given["containerDefinitions"][0]["essential"] = false.into();
        given["containerDefinitions"][0]["cpu"] = 256.into();
        given["containerDefinitions"][0]["portMappings"][0]["protocol"] = "udp".into();
        let container = &normalise(&given)["containerDefinitions"][0];
        assert_eq!(container["essential"], json!(false));
        assert_eq!(container["cpu"], json!(256));
        assert_eq!(container["portMappings"][0]["protocol"], json!("udp"));
    }

    #[test]
    fn keys_are_sorted_and_named_lists_are_in_name_order() {
        let one = object(json!({
            "family": "web",
            "containerDefinitions": [
                {"name": "web", "image": "web:1", "environment": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]},
                {"name": "envoy", "image": "envoy:1"},
            ],
        }));
        let other = object(json!({
            "containerDefinitions": [
                {"image": "envoy:1", "name": "envoy"},
                {"environment": [{"value": "1", "name": "A"}, {"value": "2", "name": "B"}], "image": "web:1", "name": "web"},
            ],
            "family": "web",
        }));
        assert_eq!(normalise(&one), normalise(&other));
        assert_eq!(digest(&normalise(&one)), digest(&normalise(&other)));
        assert_eq!(
            normalise(&one).to_string(),
            r#"{"containerDefinitions":[{"image":"envoy:1","name":"envoy"},{"environment":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"web:1","name":"web"}],"family":"web"}"#
        );
        // Lists whose order means something stay as they are.
        let command = object(json!({"containerDefinitions": [{"name": "web", "command": ["b", "a"]}]}));
        assert_eq!(normalise(&command)["containerDefinitions"][0]["command"], json!(["b", "a"]));
    }

    #[test]
    fn secrets_are_compared_by_name_and_source() {
        let with = |source: &str| {
            normalise(&object(json!({"containerDefinitions": [{"name": "web", "secrets": [
                {"name": "TOKEN", "valueFrom": source},
                {"name": "DB_PASSWORD", "valueFrom": "arn:aws:ssm:us-east-1:1:parameter/db"},
            ]}]})))
        };
        let (old, new) =
            (with("arn:aws:ssm:us-east-1:1:parameter/a"), with("arn:aws:ssm:us-east-1:1:parameter/b"));
        assert_eq!(old["containerDefinitions"][0]["secrets"][0]["name"], json!("DB_PASSWORD"));
        assert_eq!(
            changes(&old, &new),
            vec![FieldChange {
                path: "containerDefinitions[web].secrets[TOKEN].valueFrom".into(),
                old: Some(json!("arn:aws:ssm:us-east-1:1:parameter/a")),
                new: Some(json!("arn:aws:ssm:us-east-1:1:parameter/b")),
            }]
        );
    }

    #[test]
    fn changes_name_each_field_and_a_container_added_once() {
        let old = normalise(&object(json!({
            "memory": "1024",
            "containerDefinitions": [{"name": "web", "image": "web:1", "environment": [{"name": "A", "value": "1"}]}],
        })));
        let new = normalise(&object(json!({
            "memory": "512",
            "containerDefinitions": [
                {"name": "web", "image": "web:2", "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                {"name": "envoy", "image": "envoy:1"},
            ],
        })));
        let human: Vec<String> = changes(&old, &new).iter().map(FieldChange::human).collect();
        assert_eq!(
            human,
            [
                r#"containerDefinitions[envoy] (none) -> {"image":"envoy:1","name":"envoy"}"#,
                r#"containerDefinitions[web].environment[B] (none) -> {"name":"B","value":"2"}"#,
                "containerDefinitions[web].image web:1 -> web:2",
                "memory 1024 -> 512",
            ]
        );
        assert!(changes(&old, &old).is_empty());
        assert_eq!(changes(&old, &new)[3].json(), json!({"path": "memory", "old": "1024", "new": "512"}));
    }

    #[test]
    fn the_unified_diff_shows_the_lines_that_change_under_both_names() {
        let old = normalise(&object(json!({"family": "web", "memory": "1024", "cpu": "256"})));
        let new = normalise(&object(json!({"family": "web", "memory": "512", "cpu": "256"})));
        assert_eq!(
            unified_diff(&old, &new, "web:3", "web (new revision)"),
            "--- web:3\n+++ web (new revision)\n@@ -1,5 +1,5 @@\n {\n   \"cpu\": \"256\",\n   \"family\": \"web\",\n-  \"memory\": \"1024\"\n+  \"memory\": \"512\"\n }\n"
        );
        assert_eq!(unified_diff(&old, &old, "a", "b"), "");
    }
}
