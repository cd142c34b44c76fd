//! A tool call's arguments checked against the tool's input schema before they are
//! parsed: a model that sent a wrong type, left out a field or misspelled one is told
//! which field, what it takes and what came instead, so it can correct the call itself.
//! (Parsing alone says "invalid type: integer `5`, expected a string", naming no field.)

use rmcp::ErrorData;
use rmcp::model::{ErrorCode, JsonObject, Tool};
use serde_json::Value;

/// The most code (or task text) one call takes. Larger input is refused before it
/// reaches a kernel or the record.
pub const MAX_INPUT_BYTES: usize = 1024 * 1024;

/// Checks `args` against `tool`'s input schema: every required field present, each field
/// of a type the schema allows and within its minimum, no field the tool does not take.
pub fn check(tool: &Tool, args: Option<&JsonObject>) -> Result<(), String> {
    let empty = JsonObject::new();
    let args = args.unwrap_or(&empty);
    let schema = &tool.input_schema;
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let bad = |what: String| Err(format!("bad arguments for {}: {what}", tool.name));
    for field in required(schema) {
        if args.get(field).is_none_or(Value::is_null) {
            let about = properties
                .get(field)
                .and_then(|p| p.get("description"))
                .and_then(Value::as_str)
                .map(|d| format!(" ({})", first_sentence(d)))
                .unwrap_or_default();
            return bad(format!(
                "`{field}` is missing{about}; {}",
                takes(&tool.name, schema)
            ));
        }
    }
    for (field, value) in args {
        let Some(property) = properties.get(field) else {
            return bad(format!(
                "`{field}` is not an argument of {}; {}",
                tool.name,
                takes(&tool.name, schema)
            ));
        };
        let types = types(property);
        if !types.is_empty() && !types.iter().any(|t| is_of(t, value)) {
            return bad(format!(
                "`{field}` must be {}, got {}",
                expected(&types),
                describe(value)
            ));
        }
        if let (Some(min), Some(n)) = (
            property.get("minimum").and_then(Value::as_f64),
            value.as_f64(),
        ) && n < min
        {
            return bad(format!("`{field}` must be at least {min}, got {n}"));
        }
    }
    Ok(())
}

/// Refuses code or task text larger than [`MAX_INPUT_BYTES`].
pub fn check_size(field: &str, text: &str) -> Result<(), String> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(format!(
            "`{field}` is {} bytes, more than the {MAX_INPUT_BYTES} one call takes: send it in parts (e.g. write data to a file over several calls), or read large data from files in code",
            text.len()
        ));
    }
    Ok(())
}

/// The error for a request rmcp could not read as a method it knows: a known method whose
/// params are wrong (what they must be), or a method this server does not have.
pub fn request_error(method: &str, params: Option<&Value>) -> ErrorData {
    let field = |name: &str| params.and_then(|p| p.get(name));
    let wrong = match method {
        "tools/call" => match (field("name"), field("arguments")) {
            (None, _) => Some("`params.name` is missing (the tool's name; see tools/list)".into()),
            (Some(Value::String(_)), Some(a)) if !a.is_object() && !a.is_null() => Some(format!(
                "`params.arguments` must be an object of the tool's arguments, got {}",
                describe(a)
            )),
            (Some(Value::String(_)), _) => None,
            (Some(n), _) => Some(format!(
                "`params.name` must be a string (the tool's name), got {}",
                describe(n)
            )),
        },
        "resources/read" => match field("uri") {
            Some(Value::String(_)) => None,
            Some(u) => Some(format!(
                "`params.uri` must be a string, got {}",
                describe(u)
            )),
            None => Some("`params.uri` is missing".into()),
        },
        "tasks/get" | "tasks/cancel" | "tasks/update" => match field("taskId") {
            Some(Value::String(_)) => None,
            Some(t) => Some(format!(
                "`params.taskId` must be a string, got {}",
                describe(t)
            )),
            None => Some("`params.taskId` is missing".into()),
        },
        _ => None,
    };
    if let Some(wrong) = wrong {
        return ErrorData::invalid_params(format!("bad params for {method}: {wrong}"), None);
    }
    if KNOWN_METHODS.contains(&method) {
        return ErrorData::invalid_params(
            format!(
                "bad params for {method}: they do not have the shape the MCP specification gives"
            ),
            None,
        );
    }
    ErrorData::new(
        ErrorCode::METHOD_NOT_FOUND,
        format!(
            "unknown method {method:?}: this server answers {}",
            KNOWN_METHODS.join(", ")
        ),
        None,
    )
}

const KNOWN_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "tasks/get",
    "tasks/update",
    "tasks/cancel",
];

fn required(schema: &JsonObject) -> Vec<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The JSON types a property allows (`"type": "string"` or `["string", "null"]`).
fn types(property: &Value) -> Vec<&str> {
    match property.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn is_of(ty: &str, value: &Value) -> bool {
    match ty {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        _ => true,
    }
}

fn expected(types: &[&str]) -> String {
    let names: Vec<&str> = types
        .iter()
        .map(|t| match *t {
            "string" => "a string",
            "integer" => "a whole number",
            "number" => "a number",
            "boolean" => "true or false",
            "null" => "null (or left out)",
            "object" => "an object",
            "array" => "a list",
            other => other,
        })
        .collect();
    names.join(" or ")
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.chars().count() > 40 => {
            format!("the string {:?}…", s.chars().take(40).collect::<String>())
        }
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// "run_python takes code (required), session, timeout".
fn takes(tool: &str, schema: &JsonObject) -> String {
    let required = required(schema);
    let names: Vec<String> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| {
            p.keys()
                .map(|k| {
                    if required.contains(&k.as_str()) {
                        format!("{k} (required)")
                    } else {
                        k.clone()
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty() {
        format!("{tool} takes no arguments")
    } else {
        format!("{tool} takes {}", names.join(", "))
    }
}

fn first_sentence(text: &str) -> &str {
    text.split_once(". ").map(|(s, _)| s).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool() -> Tool {
        let schema = json!({
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "Python code to run. More."},
                "session": {"type": ["string", "null"]},
                "timeout": {"type": ["number", "null"]},
                "step": {"type": "integer", "minimum": 0},
            },
            "required": ["code"],
        });
        Tool::new(
            "run_python",
            "d",
            std::sync::Arc::new(schema.as_object().unwrap().clone()),
        )
    }

    fn run(args: Value) -> Result<(), String> {
        check(&tool(), args.as_object())
    }

    #[test]
    fn names_the_field_what_it_takes_and_what_came() {
        assert_eq!(
            run(json!({"code": 5})).unwrap_err(),
            "bad arguments for run_python: `code` must be a string, got the number 5"
        );
        assert_eq!(
            run(json!({"code": "1", "timeout": "soon"})).unwrap_err(),
            "bad arguments for run_python: `timeout` must be a number or null (or left out), got the string \"soon\""
        );
        assert_eq!(
            run(json!({"code": "1", "step": 1.5})).unwrap_err(),
            "bad arguments for run_python: `step` must be a whole number, got the number 1.5"
        );
        assert_eq!(
            run(json!({"code": "1", "step": -1})).unwrap_err(),
            "bad arguments for run_python: `step` must be at least 0, got -1"
        );
    }

    #[test]
    fn a_missing_or_unknown_field_lists_the_arguments() {
        let e = run(json!({"session": "s"})).unwrap_err();
        assert_eq!(
            e,
            "bad arguments for run_python: `code` is missing (Python code to run); run_python takes code (required), session, timeout, step"
        );
        let e = run(json!({"code": "1", "timout": 3})).unwrap_err();
        assert!(
            e.starts_with("bad arguments for run_python: `timout` is not an argument of run_python; run_python takes code (required)"),
            "{e}"
        );
        assert!(
            check(&tool(), None)
                .unwrap_err()
                .contains("`code` is missing")
        );
    }

    #[test]
    fn a_request_rmcp_could_not_read_is_explained() {
        let e = request_error("tools/call", Some(&json!({"name": 5})));
        assert_eq!(e.code, ErrorCode::INVALID_PARAMS);
        assert_eq!(
            e.message,
            "bad params for tools/call: `params.name` must be a string (the tool's name), got the number 5"
        );
        let e = request_error(
            "tools/call",
            Some(&json!({"name": "run_python", "arguments": [1]})),
        );
        assert!(
            e.message.contains("`params.arguments` must be an object"),
            "{}",
            e.message
        );
        let e = request_error("tasks/get", None);
        assert_eq!(
            e.message,
            "bad params for tasks/get: `params.taskId` is missing"
        );
        let e = request_error("no/such", None);
        assert_eq!(e.code, ErrorCode::METHOD_NOT_FOUND);
        assert!(
            e.message.starts_with(
                "unknown method \"no/such\": this server answers initialize, ping, tools/list"
            ),
            "{}",
            e.message
        );
    }

    #[test]
    fn good_arguments_pass() {
        run(json!({"code": "1"})).unwrap();
        run(json!({"code": "1", "session": null, "timeout": 2, "step": 3})).unwrap();
    }

    #[test]
    fn large_input_is_refused_with_its_size() {
        check_size("code", "x").unwrap();
        let big = "x".repeat(MAX_INPUT_BYTES + 1);
        let e = check_size("code", &big).unwrap_err();
        assert!(
            e.starts_with("`code` is 1048577 bytes, more than the 1048576"),
            "{e}"
        );
    }
}
