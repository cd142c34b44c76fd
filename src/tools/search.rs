//! Ranked search over tool catalogs: which tools fit a task in plain words.
//!
//! Tools are indexed with SQLite FTS5 (Porter stemming) by name, description, parameters
//! and server. Each query word is scored on its own, field by field (BM25 per field, then
//! weighted: a name hit counts most), so one field's many matches cannot drown a name hit.
//! A word's thesaurus partners count for half, and only as much as their best match, so
//! "New York" does not turn into a request to create or add something. Stop words and
//! numbers are left out; a tool's score is scaled by the share of the task's words it
//! matches, and hits far below the best are dropped. It never starts a server.

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

use super::catalog::{Catalog, ToolInfo, first_line};

/// One search hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub server: String,
    pub module: String,
    pub tool: String,
    pub function: String,
    pub description: String,
    pub score: f64,
}

/// Words tool users swap for one another; a query word also matches its partners.
const THESAURUS: &[&[&str]] = &[
    &["history", "log", "logs"],
    &["delete", "remove", "rm", "drop"],
    &["find", "search", "lookup", "query"],
    &["get", "fetch", "read", "retrieve", "show"],
    &["create", "add", "new", "make", "insert"],
    &["update", "edit", "modify", "change"],
    &["list", "enumerate", "all"],
    &["time", "clock", "date", "datetime"],
    &["weather", "forecast", "temperature"],
    &[
        "calculate",
        "compute",
        "math",
        "arithmetic",
        "evaluate",
        "multiply",
        "divide",
        "sum",
    ],
];

/// Words that say nothing about which tool is wanted.
const STOP_WORDS: &[&str] = &[
    "a", "about", "all", "also", "an", "and", "any", "are", "as", "at", "be", "been", "but", "by",
    "can", "could", "did", "do", "does", "each", "for", "from", "had", "has", "have", "he", "her",
    "here", "his", "how", "i", "if", "in", "into", "is", "it", "its", "just", "me", "my", "no",
    "not", "of", "on", "or", "our", "please", "she", "should", "so", "some", "than", "that", "the",
    "their", "them", "then", "there", "these", "they", "this", "those", "to", "too", "us", "use",
    "using", "very", "was", "we", "were", "what", "when", "where", "which", "who", "why", "will",
    "with", "would", "you", "your",
];

/// The indexed fields and their weights: a name hit counts most, then the description.
const FIELDS: &[(&str, f64)] = &[
    ("name", 3.0),
    ("description", 2.0),
    ("params", 1.0),
    ("server", 1.0),
];

/// What a thesaurus partner counts for, against the word the task used.
const PARTNER_WEIGHT: f64 = 0.5;

/// Hits scoring below this share of the best are not worth naming.
const RELATIVE_CUTOFF: f64 = 0.3;

/// Ranks tools across catalogs for `query`; best first, at most `limit`.
pub fn search(
    catalogs: &[Catalog],
    query: &str,
    limit: usize,
) -> Result<Vec<Hit>, rusqlite::Error> {
    let words = query_words(query);
    if words.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let db = Connection::open_in_memory()?;
    db.execute_batch(
        "CREATE VIRTUAL TABLE tools USING fts5(name, description, params, server, tokenize = 'porter unicode61');",
    )?;
    let mut rows: Vec<(&Catalog, &ToolInfo)> = Vec::new();
    {
        let mut insert = db.prepare(
            "INSERT INTO tools (rowid, name, description, params, server) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for catalog in catalogs {
            for tool in &catalog.tools {
                rows.push((catalog, tool));
                insert.execute(rusqlite::params![
                    rows.len() as i64,
                    tool.name.replace(['_', '-', '.'], " "),
                    tool.description,
                    param_text(&tool.input_schema),
                    catalog.server,
                ])?;
            }
        }
    }
    let mut stmt = db.prepare("SELECT rowid, bm25(tools) FROM tools WHERE tools MATCH ?1")?;
    // Per row: the summed score of the words it matches, and how many it matches.
    let mut totals: BTreeMap<i64, (f64, usize)> = BTreeMap::new();
    for word in &words {
        let partners = THESAURUS
            .iter()
            .find(|group| group.contains(&word.as_str()))
            .map(|g| g.to_vec())
            .unwrap_or_default();
        let mut best: BTreeMap<i64, f64> = BTreeMap::new();
        let terms = std::iter::once((word.as_str(), 1.0)).chain(
            partners
                .into_iter()
                .filter(|p| p != word)
                .map(|p| (p, PARTNER_WEIGHT)),
        );
        for (term, weight) in terms {
            for (field, field_weight) in FIELDS {
                let phrase = format!("{field} : \"{}\"", term.replace('"', ""));
                let matches = stmt.query_map([phrase], |row| {
                    Ok((row.get::<_, i64>(0)?, row.get::<_, f64>(1)?))
                })?;
                for found in matches {
                    let (rowid, bm25) = found?;
                    // FTS5's bm25 is negative, better matches more so.
                    *best.entry(rowid).or_default() += weight * field_weight * -bm25;
                }
            }
        }
        for (rowid, score) in best {
            let total = totals.entry(rowid).or_default();
            total.0 += score;
            total.1 += 1;
        }
    }
    let mut ranked: Vec<(f64, i64)> = totals
        .into_iter()
        .map(|(rowid, (score, matched))| (score * matched as f64 / words.len() as f64, rowid))
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let top = ranked.first().map(|r| r.0).unwrap_or(0.0);
    Ok(ranked
        .into_iter()
        .take_while(|(score, _)| *score >= top * RELATIVE_CUTOFF)
        .take(limit)
        .filter_map(|(score, rowid)| {
            let (catalog, tool) = rows.get(usize::try_from(rowid - 1).ok()?)?;
            Some(Hit {
                server: catalog.server.clone(),
                module: catalog.module.clone(),
                tool: tool.name.clone(),
                function: tool.function.clone(),
                description: first_line(&tool.description),
                score,
            })
        })
        .collect())
}

/// The words of a query worth searching for: lower-case, no stop words, no numbers, once each.
fn query_words(query: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for word in query
        .split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
    {
        let useless = word.is_empty()
            || STOP_WORDS.contains(&word.as_str())
            || word.chars().all(|c| c.is_ascii_digit());
        if !useless && !words.contains(&word) {
            words.push(word);
        }
    }
    words
}

fn param_text(schema: &Value) -> String {
    let mut text = String::new();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            text.push_str(&name.replace('_', " "));
            text.push(' ');
            if let Some(d) = prop.get("description").and_then(Value::as_str) {
                text.push_str(d);
                text.push(' ');
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn catalog(server: &str, tools: Value) -> Catalog {
        crate::tools::catalog::test_catalog(server, tools, None)
    }

    fn names(hits: &[Hit]) -> Vec<&str> {
        hits.iter().map(|h| h.tool.as_str()).collect()
    }

    #[test]
    fn search_ranks_by_name_and_description() {
        let git = catalog(
            "git",
            json!([
                {"name": "git_commit", "description": "Records changes to the repository", "inputSchema": {"properties": {"message": {"type": "string"}}}},
                {"name": "git_log", "description": "Shows the commit logs", "inputSchema": {"properties": {"max_count": {"type": "integer"}}}},
                {"name": "git_status", "description": "Shows the working tree status", "inputSchema": {}},
                {"name": "git_create_branch", "description": "Creates a new branch from an optional base branch"}
            ]),
        );
        let time = catalog(
            "time",
            json!([
                {"name": "get_current_time", "description": "Get current time in a specific timezone", "inputSchema": {"properties": {"timezone": {"type": "string", "description": "IANA timezone name (e.g., 'America/New_York', 'Europe/London')"}}}},
                {"name": "convert_time", "description": "Convert time between timezones"}
            ]),
        );
        let both = [git, time];
        let hits = search(&both, "commit history", 5).unwrap();
        assert_eq!(hits[0].tool, "git_log", "{hits:?}");
        let hits = search(&both, "what is the current time", 5).unwrap();
        assert_eq!(hits[0].tool, "get_current_time", "{hits:?}");
        // "New" in a place name must not pull in tools that create things.
        let hits = search(&both, "convert 9:30 New York time to London time", 5).unwrap();
        assert_eq!(names(&hits)[..2], ["convert_time", "get_current_time"]);
        assert!(!names(&hits).contains(&"git_create_branch"), "{hits:?}");
    }

    #[test]
    fn stop_words_and_numbers_match_nothing() {
        let c = catalog(
            "notes",
            json!([{"name": "add_note", "description": "Store a note; returns it with its id."}]),
        );
        assert!(
            search(std::slice::from_ref(&c), "what is it 42", 5)
                .unwrap()
                .is_empty()
        );
        assert_eq!(query_words("Is it the 3rd of May?"), ["3rd", "may"]);
        assert_eq!(search(&[c], "add a note", 5).unwrap()[0].tool, "add_note");
    }
}
