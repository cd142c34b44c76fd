//! Secret values (API keys, configured MCP server env values and headers) and their
//! redaction: they never reach the sandbox, the logs or the session record.

use serde_json::Value;

/// What a secret value is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Names of host environment variables whose values are treated as secrets.
fn secret_like(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL"]
        .iter()
        .any(|w| upper.ends_with(w) || upper.contains(&format!("{w}_")))
}

/// Values that must never be written: configured server env values, API keys.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    values: Vec<String>,
}

/// Whether a value is worth treating as a secret. Short values and plain numbers are
/// not: a variable named `CI_JOB_TOKEN` set to `None`, or a port number, would otherwise
/// be replaced in every line of the record, code included, and garble it.
fn worth_redacting(value: &str) -> bool {
    let value = value.trim();
    value.chars().count() >= MIN_SECRET_CHARS
        && !value
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_punctuation() || c.is_whitespace())
}

/// The shortest value treated as a secret.
pub const MIN_SECRET_CHARS: usize = 8;

impl Secrets {
    /// Values too short or too plain to be secrets are left out (see `worth_redacting`).
    pub fn new(values: impl IntoIterator<Item = String>) -> Secrets {
        let mut values: Vec<String> = values.into_iter().filter(|v| worth_redacting(v)).collect();
        // Longest first, so a secret containing another is replaced whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Secrets { values }
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Whether `text` holds one of the secret values.
    pub fn found_in(&self, text: &str) -> bool {
        self.values.iter().any(|v| text.contains(v.as_str()))
    }

    /// Whether any string (or key) in a JSON value holds one of the secret values.
    pub fn found_in_value(&self, value: &Value) -> bool {
        match value {
            Value::String(s) => self.found_in(s),
            Value::Array(items) => items.iter().any(|v| self.found_in_value(v)),
            Value::Object(map) => map
                .iter()
                .any(|(k, v)| self.found_in(k) || self.found_in_value(v)),
            _ => false,
        }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for v in &self.values {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), REDACTED);
            }
        }
        out
    }
}

impl Secrets {
    /// The configured values plus the host's secret-looking environment variables
    /// (`*_KEY`, `*_TOKEN`, `*_SECRET`, `*PASSWORD`…).
    pub fn with_env(values: impl IntoIterator<Item = String>) -> Secrets {
        let env = std::env::vars()
            .filter(|(k, _)| secret_like(k))
            .map(|(_, v)| v);
        Secrets::new(values.into_iter().chain(env))
    }

    /// Redacts every string in a JSON value.
    pub fn redact_value(&self, value: Value) -> Value {
        if self.is_empty() {
            return value;
        }
        match value {
            Value::String(s) => Value::String(self.redact(&s)),
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|v| self.redact_value(v)).collect())
            }
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| (self.redact(&k), self.redact_value(v)))
                    .collect(),
            ),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_secret_wins_and_short_values_are_ignored() {
        let s = Secrets::new([
            "abc".to_string(),
            "tok-1234".into(),
            "tok-123456".into(),
            "None".into(),
            "true".into(),
            "12345678".into(),
        ]);
        assert_eq!(
            s.redact("x tok-123456 tok-1234 abc None true 12345678"),
            "x [redacted] [redacted] abc None true 12345678"
        );
        let v = s.redact_value(serde_json::json!({"a": ["tok-1234"]}));
        assert_eq!(v, serde_json::json!({"a": ["[redacted]"]}));
        assert!(s.found_in_value(&serde_json::json!({"a": [1, "xx tok-1234"]})));
        assert!(!s.found_in_value(&serde_json::json!({"None": "true"})));
    }

    #[test]
    fn secret_like_names() {
        assert!(secret_like("OPENAI_API_KEY"));
        assert!(secret_like("GITHUB_TOKEN"));
        assert!(secret_like("DB_PASSWORD"));
        assert!(!secret_like("PATH"));
        assert!(!secret_like("KEYBOARD"));
    }
}
