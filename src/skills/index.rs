//! The index: `skills/.index.sqlite`, one row per skill file (what its docstring and
//! AST say — header, signature, hash, the MCP tools it calls — keyed by the file's mtime
//! and size) and an FTS5 table for ranked search.
//!
//! The files are the source of truth. Each use first syncs the index with the folder:
//! files that appeared or whose mtime or size changed are parsed again, rows of files
//! that went away are dropped. An index that cannot be opened or has another schema
//! is deleted and rebuilt. Malformed files are kept as problems (path and parse error)
//! and never touched.

use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::SkillError;
use super::analyze::Analyzer;
use super::file::{Header, valid_name};

pub const INDEX_FILE: &str = ".index.sqlite";
/// 2: the tools a skill calls (searchable) and what is wrong with its header.
const SCHEMA_VERSION: i32 = 2;

/// A skill as indexed (stats come from the sidecar, not from here).
#[derive(Debug, Clone)]
pub struct Indexed {
    pub name: String,
    pub path: PathBuf,
    pub header: Header,
    /// `run(...)` as the code defines it (the docstring's copy may be stale).
    pub signature: String,
    /// Normalised AST hash, for dedup.
    pub hash: String,
    /// The MCP tools the code calls, as `server.tool`.
    pub tools: Vec<String>,
    /// Header keys that cannot be read (the skill is usable; they are left empty).
    pub header_problems: Vec<String>,
}

/// A file in the skills folder that is not a usable skill, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Problem {
    pub path: PathBuf,
    pub message: String,
}

pub struct Index {
    conn: Connection,
    path: PathBuf,
}

/// Words that never decide relevance.
const STOPWORDS: &[&str] = &[
    "a", "an", "the", "and", "or", "of", "in", "on", "at", "to", "for", "from", "by", "with",
    "into", "is", "are", "was", "be", "it", "its", "this", "that", "these", "those", "what",
    "which", "who", "how", "why", "when", "where", "me", "my", "i", "you", "your", "we", "our",
    "do", "does", "please", "can", "could", "would", "should", "will", "get", "give", "show",
    "tell", "find", "print", "return", "using", "use", "each", "all", "some", "run", "str", "int",
    "float", "bool", "none", "any", "list", "dict",
];

impl Index {
    /// Opens the index in `dir`, recreating it when it is unreadable or of another schema.
    pub fn open(dir: &Path) -> Result<Index, SkillError> {
        let path = dir.join(INDEX_FILE);
        match Self::try_open(&path) {
            Ok(index) => Ok(index),
            Err(_) => {
                for suffix in ["", "-journal", "-wal", "-shm"] {
                    let p = PathBuf::from(format!("{}{suffix}", path.display()));
                    let _ = std::fs::remove_file(p);
                }
                Self::try_open(&path).map_err(|e| SkillError::Index {
                    path: path.clone(),
                    message: e.to_string(),
                })
            }
        }
    }

    fn try_open(path: &Path) -> Result<Index, rusqlite::Error> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let version: i32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version == 0 {
            conn.execute_batch(&format!(
                "BEGIN;
                 CREATE TABLE IF NOT EXISTS skills (
                    id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, file TEXT NOT NULL,
                    mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL, header TEXT NOT NULL,
                    signature TEXT NOT NULL, hash TEXT NOT NULL, tools TEXT NOT NULL,
                    header_problems TEXT NOT NULL);
                 CREATE TABLE IF NOT EXISTS problems (
                    file TEXT PRIMARY KEY, mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL,
                    message TEXT NOT NULL);
                 CREATE VIRTUAL TABLE IF NOT EXISTS skills_fts USING fts5(
                    name, description, signature, task, tools,
                    tokenize = 'porter unicode61');
                 PRAGMA user_version = {SCHEMA_VERSION};
                 COMMIT;"
            ))?;
        } else if version != SCHEMA_VERSION {
            return Err(rusqlite::Error::InvalidQuery);
        }
        // A file that is not a database only fails on first use: use it now.
        conn.query_row("SELECT count(*) FROM skills", [], |r| r.get::<_, i64>(0))?;
        conn.query_row("SELECT count(*) FROM skills_fts", [], |r| {
            r.get::<_, i64>(0)
        })?;
        Ok(Index {
            conn,
            path: path.to_path_buf(),
        })
    }

    fn err(&self, e: rusqlite::Error) -> SkillError {
        SkillError::Index {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// Brings the index in line with the files of `dir`; returns how many were parsed.
    pub fn sync(&mut self, dir: &Path, analyzer: &Analyzer<'_>) -> Result<usize, SkillError> {
        let files = skill_files(dir)?;
        let mut known: HashMap<String, (i64, i64)> = HashMap::new();
        {
            let mut stmt = self
                .conn
                .prepare("SELECT file, mtime_ns, size FROM skills UNION ALL SELECT file, mtime_ns, size FROM problems")
                .map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?))))
                .map_err(|e| self.err(e))?;
            for row in rows {
                let (file, key) = row.map_err(|e| self.err(e))?;
                known.insert(file, key);
            }
        }
        let changed: Vec<&FileEntry> = files
            .iter()
            .filter(|f| known.get(&f.file) != Some(&(f.mtime_ns, f.size)))
            .collect();
        let gone: Vec<String> = known
            .keys()
            .filter(|k| !files.iter().any(|f| &f.file == *k))
            .cloned()
            .collect();
        if changed.is_empty() && gone.is_empty() {
            return Ok(0);
        }
        // Parse outside the transaction: the analyser is a subprocess.
        let mut parsed: Vec<(&FileEntry, Parsed)> = Vec::new();
        let mut to_scan: Vec<(&FileEntry, String)> = Vec::new();
        for f in &changed {
            if !valid_name(&f.stem) {
                parsed.push((
                    f,
                    Err(format!(
                        "not importable as skills.{}: a skill's file name must be a Python identifier (letters, digits and _, starting with a letter); rename the file",
                        f.stem
                    )),
                ));
                continue;
            }
            match std::fs::read(dir.join(&f.file)) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => to_scan.push((f, text)),
                    Err(_) => parsed.push((f, Err("not UTF-8 text".into()))),
                },
                Err(e) => parsed.push((f, Err(format!("cannot read: {e}")))),
            }
        }
        let inputs: Vec<(PathBuf, &str)> = to_scan
            .iter()
            .map(|(f, text)| (dir.join(&f.file), text.as_str()))
            .collect();
        let refs: Vec<(&Path, &str)> = inputs.iter().map(|(p, t)| (p.as_path(), *t)).collect();
        let scanned = if refs.is_empty() {
            Vec::new()
        } else {
            analyzer.scan(&refs)?
        };
        for ((f, _), s) in to_scan.iter().zip(scanned) {
            parsed.push((
                f,
                if s.ok {
                    Ok(ParsedSkill {
                        header: Header::parse(&s.doc),
                        header_problems: Header::problems(&s.doc, &f.stem),
                        signature: s.signature,
                        hash: s.hash,
                        tools: s.tools,
                    })
                } else {
                    Err(s.error.unwrap_or_else(|| "could not be read".into()))
                },
            ));
        }
        let tx = self.conn.transaction().map_err(|e| SkillError::Index {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        let result = (|| -> Result<(), rusqlite::Error> {
            for file in gone.iter().chain(changed.iter().map(|f| &f.file)) {
                forget(&tx, file)?;
            }
            for (f, outcome) in &parsed {
                match outcome {
                    Ok(p) => {
                        tx.execute(
                            "INSERT INTO skills (name, file, mtime_ns, size, header, signature, hash, tools, header_problems) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                            params![
                                f.stem,
                                f.file,
                                f.mtime_ns,
                                f.size,
                                serde_json::to_string(&p.header).unwrap_or_default(),
                                p.signature,
                                p.hash,
                                serde_json::to_string(&p.tools).unwrap_or_default(),
                                serde_json::to_string(&p.header_problems).unwrap_or_default(),
                            ],
                        )?;
                        // `demo.get_weather` is found by "demo", "get" and "weather".
                        let tools = p.tools.join(" ").replace(['.', '_'], " ");
                        tx.execute(
                            "INSERT INTO skills_fts (rowid, name, description, signature, task, tools) VALUES (last_insert_rowid(), ?1, ?2, ?3, ?4, ?5)",
                            params![f.stem.replace('_', " "), p.header.description, p.signature, p.header.task, tools],
                        )?;
                    }
                    Err(message) => {
                        tx.execute(
                            "INSERT INTO problems (file, mtime_ns, size, message) VALUES (?1, ?2, ?3, ?4)",
                            params![f.file, f.mtime_ns, f.size, message],
                        )?;
                    }
                }
            }
            Ok(())
        })();
        let path = self.path.clone();
        let err = |e: rusqlite::Error| SkillError::Index {
            path: path.clone(),
            message: e.to_string(),
        };
        result.map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(parsed.len())
    }

    pub fn skills(&self, dir: &Path) -> Result<Vec<Indexed>, SkillError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, file, header, signature, hash, tools, header_problems FROM skills ORDER BY name")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (name, file, header, signature, hash, tools, header_problems) =
                row.map_err(|e| self.err(e))?;
            // The index wrote these columns itself; a row it cannot read back is an
            // empty value, and the next change of the file rewrites it.
            out.push(Indexed {
                path: dir.join(file),
                header: serde_json::from_str(&header).unwrap_or_default(),
                tools: serde_json::from_str(&tools).unwrap_or_default(),
                header_problems: serde_json::from_str(&header_problems).unwrap_or_default(),
                name,
                signature,
                hash,
            });
        }
        Ok(out)
    }

    pub fn problems(&self, dir: &Path) -> Result<Vec<Problem>, SkillError> {
        let mut stmt = self
            .conn
            .prepare("SELECT file, message FROM problems ORDER BY file")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (file, message) = row.map_err(|e| self.err(e))?;
            out.push(Problem {
                path: dir.join(file),
                message,
            });
        }
        Ok(out)
    }

    /// Skill names ranked for `query` (BM25 over name, description, signature, the
    /// source task and the tools the skill calls), best first; words that say nothing
    /// ("the", "what") are left out.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<(String, f64)>, SkillError> {
        let mut terms: Vec<String> = Vec::new();
        for word in query
            .split(|c: char| !c.is_alphanumeric())
            .map(str::to_lowercase)
        {
            if word.len() < 2 || STOPWORDS.contains(&word.as_str()) {
                continue;
            }
            let quoted = format!("\"{word}\"");
            if !terms.contains(&quoted) {
                terms.push(quoted);
            }
        }
        if terms.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare(
                "SELECT s.name, bm25(skills_fts, 8.0, 4.0, 2.0, 3.0, 3.0) AS score
                 FROM skills_fts JOIN skills s ON s.id = skills_fts.rowid
                 WHERE skills_fts MATCH ?1 ORDER BY score, s.name LIMIT ?2",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![terms.join(" OR "), limit as i64], |r| {
                Ok((r.get::<_, String>(0)?, -r.get::<_, f64>(1)?))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}

fn forget(tx: &rusqlite::Transaction<'_>, file: &str) -> Result<(), rusqlite::Error> {
    let id: Option<i64> = tx
        .query_row("SELECT id FROM skills WHERE file = ?1", [file], |r| {
            r.get(0)
        })
        .optional()?;
    if let Some(id) = id {
        tx.execute("DELETE FROM skills_fts WHERE rowid = ?1", [id])?;
        tx.execute("DELETE FROM skills WHERE id = ?1", [id])?;
    }
    tx.execute("DELETE FROM problems WHERE file = ?1", [file])?;
    Ok(())
}

/// What the index keeps of a file that is a skill.
struct ParsedSkill {
    header: Header,
    header_problems: Vec<String>,
    signature: String,
    hash: String,
    tools: Vec<String>,
}

/// A file's skill, or why it is not one.
type Parsed = Result<ParsedSkill, String>;

struct FileEntry {
    file: String,
    stem: String,
    mtime_ns: i64,
    size: i64,
}

/// The `*.py` files directly in `dir` (hidden files and folders such as `.trash` are
/// not skills).
fn skill_files(dir: &Path) -> Result<Vec<FileEntry>, SkillError> {
    let entries = std::fs::read_dir(dir).map_err(|e| SkillError::io(dir, e))?;
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = file.strip_suffix(".py") else {
            continue;
        };
        if file.starts_with('.') || stem == "__init__" {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        out.push(FileEntry {
            stem: stem.to_string(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            size: meta.len() as i64,
            file,
        });
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(out)
}
