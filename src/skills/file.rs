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
//! (the first line is the description; the rest is unknown). A key whose value cannot be
//! read is left empty and reported ([`Header::problems`]), never a reason to skip the file.

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

    /// What is wrong with the keys of a docstring (as `ast.get_docstring` returns it) of
    /// the file `<stem>.py`: values that cannot be read, and a `name:` that is not the
    /// file's. Empty for a hand-written docstring without keys.
    pub fn problems(doc: &str, stem: &str) -> Vec<String> {
        let mut problems = Vec::new();
        for line in doc.lines().skip(1) {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "name" if value != stem => problems.push(format!(
                    "`name: {value}` differs from the file's name {stem} (the file name is the skill's name; fix the line)"
                )),
                "version" if !matches!(value.parse::<u32>(), Ok(v) if v >= 1) => problems.push(
                    format!("`version: {value}` is not a version number (1, 2, …)"),
                ),
                "step" if value.parse::<u64>().is_err() => {
                    problems.push(format!("`step: {value}` is not a step number"))
                }
                "arguments" => {
                    if let Err(e) = serde_json::from_str::<Map<String, Value>>(value) {
                        problems.push(format!(
                            "`arguments:` is not a JSON object ({e}); `mcpr skills test` checks run() without them"
                        ));
                    }
                }
                _ => {}
            }
        }
        problems
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

/// `text` (a skill file) with the `name:` and `version:` lines of its header docstring
/// set to `name` and `version` (a `version:` line is added after `name:` when missing).
/// None when the file does not start with a docstring holding a `name:` or `version:`
/// line: a hand-written file says nothing that could be wrong.
pub fn retitle(text: &str, name: &str, version: u32) -> Option<String> {
    let start = text.len() - text.trim_start().len();
    let quote = ["\"\"\"", "'''"]
        .into_iter()
        .find(|q| text[start..].starts_with(q))?;
    let body_start = start + quote.len();
    let body_end = body_start + docstring_body_len(&text[body_start..], quote)?;
    let mut lines: Vec<String> = Vec::new();
    let mut name_at = None;
    let mut versioned = false;
    for (i, line) in text[body_start..body_end].split_inclusive('\n').enumerate() {
        let content = line.trim_start();
        let indent = &line[..line.len() - content.len()];
        let end = if line.ends_with('\n') { "\n" } else { "" };
        if i > 0 && content.starts_with("name:") {
            name_at = Some((lines.len(), indent.to_string(), end));
            lines.push(format!("{indent}name: {name}{end}"));
        } else if i > 0 && content.starts_with("version:") {
            versioned = true;
            lines.push(format!("{indent}version: {version}{end}"));
        } else {
            lines.push(line.to_string());
        }
    }
    match name_at {
        None if !versioned => return None,
        Some((at, indent, end)) if !versioned => {
            if end.is_empty() {
                lines[at].push('\n');
            }
            lines.insert(at + 1, format!("{indent}version: {version}\n"));
        }
        _ => {}
    }
    Some(format!(
        "{}{}{}",
        &text[..body_start],
        lines.concat(),
        &text[body_end..]
    ))
}

/// The length of a docstring's body up to its closing `quote` (escapes skipped).
fn docstring_body_len(rest: &str, quote: &str) -> Option<usize> {
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            chars.next();
        } else if rest[i..].starts_with(quote) {
            return Some(i);
        }
    }
    None
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
    fn unreadable_keys_are_reported_and_a_restored_file_is_retitled() {
        let doc = "Greets\n\nname: greet\nversion: two\nstep: 3\narguments: {oops";
        let problems = Header::problems(doc, "greet_v2");
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("`name: greet` differs from the file's name greet_v2"));
        assert!(problems[1].starts_with("`version: two` is not a version number"));
        assert!(problems[2].starts_with("`arguments:` is not a JSON object"));
        assert!(Header::problems("Hand-written\n\nNote: anything", "x").is_empty());

        let header = Header {
            description: "Say \"\"\"hi\"\"\" name: not a key".into(),
            name: "greet".into(),
            task: "name: in the task".into(),
            version: 1,
            ..Header::default()
        };
        let text = compose(&header, "def run() -> str:\n    return 'name: x'\n");
        let fixed = retitle(&text, "greet_v3", 3).unwrap();
        assert_eq!(
            fixed,
            text.replace("name: greet\n", "name: greet_v3\n")
                .replace("version: 1\n", "version: 3\n")
        );
        // Only the header's lines change; a header without version gets one.
        let bare = "'''Doc\n    name: old\n'''\nname = 1\n";
        assert_eq!(
            retitle(bare, "new_v2", 2).unwrap(),
            "'''Doc\n    name: new_v2\n    version: 2\n'''\nname = 1\n"
        );
        assert_eq!(retitle("\"\"\"Just a doc\"\"\"\nx = 1\n", "a", 2), None);
        assert_eq!(retitle("x = 1\n", "a", 2), None);
        assert_eq!(retitle("\"\"\"never closed\nname: a\n", "b", 2), None);
    }

    #[test]
    fn names_must_be_importable() {
        assert!(valid_name("weather_v2"));
        for bad in ["", "2x", "my-skill", "class", "_private", "é"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
