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

impl Secrets {
    /// Values shorter than 4 characters are ignored: redacting them would garble text.
    pub fn new(values: impl IntoIterator<Item = String>) -> Secrets {
        let mut values: Vec<String> = values.into_iter().filter(|v| v.len() >= 4).collect();
        // Longest first, so a secret containing another is replaced whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Secrets { values }
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
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
        let s = Secrets::new(["abc".to_string(), "tok-123".into(), "tok-12345".into()]);
        assert_eq!(
            s.redact("x tok-12345 tok-123 abc"),
            "x [redacted] [redacted] abc"
        );
        let v = s.redact_value(serde_json::json!({"a": ["tok-123"]}));
        assert_eq!(v, serde_json::json!({"a": ["[redacted]"]}));
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
