//! The skill file: `skills/<name>.py`, a module docstring (one-line description, then
//! `key: value` lines of provenance), then the code with its `run(...)` entry point.
//!
//! ```text
//! """What is the weather in <city>?
//!
//! name: weather
//! signature: run(city: str = 'Paris') -> str
//! task: What is the weather in Paris?
//! session: 20250101-120000-ab12
//! step: 1
//! created: 2025-01-01T12:00:00Z
//! model: gpt-4o-mini
//! version: 1
//! arguments: {"city": "Paris"}
//! """
//! ```
//!
//! The file is the source of truth: a hand-written docstring without these keys is fine
//! (the first line is the description; the rest is unknown).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What a skill's docstring says about it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub description: String,
    pub name: String,
    pub signature: String,
    /// The task whose code this was.
    pub task: String,
    pub session: String,
    pub step: Option<u64>,
    pub created: String,
    pub model: String,
    pub version: u32,
    /// The arguments of the step the code came from (`run`'s defaults for flat scripts).
    pub arguments: Map<String, Value>,
}

impl Header {
    /// Reads a docstring (as `ast.get_docstring` returns it). Never fails: what is
    /// missing stays empty.
    pub fn parse(doc: &str) -> Header {
        let mut header = Header {
            version: 1,
            ..Header::default()
        };
        let mut lines = doc.lines();
        header.description = lines.next().unwrap_or("").trim().to_string();
        for line in lines {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "name" => header.name = value.into(),
                "signature" => header.signature = value.into(),
                "task" => header.task = value.into(),
                "session" => header.session = value.into(),
                "step" => header.step = value.parse().ok(),
                "created" => header.created = value.into(),
                "model" => header.model = value.into(),
                "version" => header.version = value.parse().unwrap_or(1),
                "arguments" => {
                    header.arguments = serde_json::from_str(value).unwrap_or_default();
                }
                _ => {}
            }
        }
        header
    }

    /// The docstring as Python source, quotes included.
    pub fn render(&self) -> String {
        let mut text = format!("{}\n\n", one_line(&self.description));
        let mut key = |k: &str, v: &str| {
            if !v.is_empty() {
                text.push_str(&format!("{k}: {}\n", one_line(v)));
            }
        };
        key("name", &self.name);
        key("signature", &self.signature);
        key("task", &self.task);
        key("session", &self.session);
        key(
            "step",
            &self.step.map(|s| s.to_string()).unwrap_or_default(),
        );
        key("created", &self.created);
        key("model", &self.model);
        key("version", &self.version.to_string());
        if !self.arguments.is_empty() {
            key(
                "arguments",
                &serde_json::to_string(&self.arguments).unwrap_or_default(),
            );
        }
        format!("\"\"\"{}\"\"\"\n", escape_docstring(&text))
    }
}

/// Whitespace collapsed to single spaces: every value is one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Text safe inside a `"""` string: backslashes doubled, triple quotes escaped (the
/// text ends with a newline, so it never ends in a quote).
fn escape_docstring(text: &str) -> String {
    text.replace('\\', "\\\\").replace("\"\"\"", "\\\"\\\"\\\"")
}

/// A whole skill file: header, then the code.
pub fn compose(header: &Header, code: &str) -> String {
    format!("{}\n{}", header.render(), code.trim_start())
}

/// Whether `name` can be a skill's module name: a Python identifier, not a keyword,
/// not private.
pub fn valid_name(name: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
        "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global",
        "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return",
        "try", "while", "with", "yield",
    ];
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !KEYWORDS.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_survives_rendering_and_parsing() {
        let mut arguments = Map::new();
        arguments.insert("city".into(), Value::from("Paris"));
        let header = Header {
            description: "What is the \"weather\" in <city>?".into(),
            name: "weather".into(),
            signature: "run(city: str = 'Paris') -> str".into(),
            task: "What is the \"weather\" in Paris?\n\\ \"\"\" end".into(),
            session: "s1".into(),
            step: Some(2),
            created: "2025-01-01T12:00:00Z".into(),
            model: "m".into(),
            version: 3,
            arguments,
        };
        let rendered = header.render();
        assert!(rendered.starts_with("\"\"\"What is"), "{rendered}");
        // What Python's ast.get_docstring would give: the escapes undone.
        let inner = rendered
            .trim_end()
            .trim_start_matches("\"\"\"")
            .trim_end_matches("\"\"\"")
            .replace("\\\"", "\"")
            .replace("\\\\", "\\");
        assert!(
            !rendered.contains("\\\"weather"),
            "single quotes stay as they are"
        );
        let back = Header::parse(&inner);
        assert_eq!(back.task, "What is the \"weather\" in Paris? \\ \"\"\" end");
        assert_eq!(
            (back.name.as_str(), back.step, back.version),
            ("weather", Some(2), 3)
        );
        assert_eq!(back.arguments["city"], "Paris");
    }

    #[test]
    fn names_must_be_importable() {
        assert!(valid_name("weather_v2"));
        for bad in ["", "2x", "my-skill", "class", "_private", "é"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
