//! The SQLite index over the session logs (`.replay/index.sqlite`): sessions, steps,
//! branches and a full-text search over tasks and code.
//!
//! The logs are the source of truth. The index remembers each log's size and mtime; a
//! log that changed, appeared or disappeared is re-read on the next open, and an index
//! that is missing, corrupt or of another format is deleted and rebuilt.

use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};

use super::log::{Detail, SessionLog, StepKind};
use super::recorder::{RecordError, ReplayDir};

const INDEX_FORMAT: &str = "1";

/// Why an index is built when there was none yet.
pub const NO_INDEX: &str = "there was no index";

const SCHEMA: &str = "
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sessions(
    name TEXT PRIMARY KEY, id TEXT NOT NULL, created TEXT NOT NULL,
    fork_session TEXT, fork_step INTEGER, head INTEGER NOT NULL,
    steps INTEGER NOT NULL, interrupted INTEGER NOT NULL, branches INTEGER NOT NULL,
    last_task TEXT, warnings INTEGER NOT NULL,
    file_size INTEGER NOT NULL, file_mtime INTEGER NOT NULL);
CREATE TABLE steps(
    session TEXT NOT NULL, step INTEGER NOT NULL, parent INTEGER NOT NULL,
    kind TEXT NOT NULL, task TEXT, code TEXT NOT NULL, started TEXT NOT NULL,
    complete INTEGER NOT NULL, success INTEGER, duration_ms REAL, snapshot TEXT,
    PRIMARY KEY(session, step));
CREATE TABLE branches(session TEXT NOT NULL, leaf INTEGER NOT NULL, PRIMARY KEY(session, leaf));
CREATE VIRTUAL TABLE steps_fts USING fts5(task, code, session UNINDEXED, step UNINDEXED,
    tokenize = 'porter unicode61');
";

/// One session as the index lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SessionRow {
    pub name: String,
    pub id: String,
    pub created: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fork: Option<super::log::ForkPoint>,
    pub head: u64,
    /// Completed own steps.
    pub steps: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interrupted: u64,
    pub branches: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_task: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub warnings: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A search hit.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepHit {
    pub session: String,
    pub step: u64,
    pub title: String,
}

/// What opening the index found and did.
#[derive(Debug, Clone, Default)]
pub struct Refresh {
    /// Why the whole index was rebuilt, if it was.
    pub rebuilt: Option<String>,
    /// Logs that could not be read (path and reason); they are left as they are.
    pub unreadable: Vec<(PathBuf, String)>,
}

pub struct Index {
    db: Connection,
}

fn sql_err(path: &Path) -> impl Fn(rusqlite::Error) -> RecordError + '_ {
    move |e| RecordError::Io(format!("index {}: {e}", path.display()))
}

fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    use std::os::unix::fs::MetadataExt;
    meta.mtime() * 1_000_000_000 + meta.mtime_nsec()
}

impl Index {
    /// Opens the index of `dir`, rebuilding what is missing or stale.
    pub fn open(dir: &ReplayDir) -> Result<(Index, Refresh), RecordError> {
        let path = dir.root().join("index.sqlite");
        let mut refresh = Refresh::default();
        let db = match Self::try_open(&path) {
            Ok(db) => db,
            Err(why) => {
                refresh.rebuilt = Some(why);
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
                let db = Connection::open(&path).map_err(sql_err(&path))?;
                db.execute_batch(SCHEMA).map_err(sql_err(&path))?;
                db.execute(
                    "INSERT INTO meta(key, value) VALUES ('format', ?1)",
                    [INDEX_FORMAT],
                )
                .map_err(sql_err(&path))?;
                db
            }
        };
        let mut index = Index { db };
        index.sync(dir, &mut refresh)?;
        Ok((index, refresh))
    }

    fn try_open(path: &Path) -> Result<Connection, String> {
        if !path.exists() {
            return Err(NO_INDEX.into());
        }
        let db = Connection::open(path).map_err(|e| format!("it could not be opened ({e})"))?;
        let format: Option<String> = db
            .query_row("SELECT value FROM meta WHERE key = 'format'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| format!("it was unreadable ({e})"))?;
        match format.as_deref() {
            Some(INDEX_FORMAT) => Ok(db),
            other => Err(format!("it had index format {other:?}")),
        }
    }

    fn sync(&mut self, dir: &ReplayDir, refresh: &mut Refresh) -> Result<(), RecordError> {
        let path = dir.root().join("index.sqlite");
        let names = dir.session_names()?;
        let known: Vec<(String, i64, i64)> = {
            let mut stmt = self
                .db
                .prepare("SELECT name, file_size, file_mtime FROM sessions")
                .map_err(sql_err(&path))?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(sql_err(&path))?
                .collect::<Result<_, _>>()
                .map_err(sql_err(&path))?
        };
        for (name, _, _) in &known {
            if !names.contains(name) {
                self.remove(name).map_err(sql_err(&path))?;
            }
        }
        for name in names {
            let file = dir.log_path(&name);
            let Ok(meta) = std::fs::metadata(&file) else {
                continue;
            };
            let stamp = (meta.len() as i64, mtime_ns(&meta));
            if known
                .iter()
                .any(|(n, size, mtime)| *n == name && (*size, *mtime) == stamp)
            {
                continue;
            }
            match SessionLog::read(&file, dir.store(), Detail::Outline) {
                Ok(log) => {
                    self.ingest(&log, stamp).map_err(sql_err(&path))?;
                }
                Err(e) => {
                    self.remove(&name).map_err(sql_err(&path))?;
                    refresh.unreadable.push((file, e.to_string()));
                }
            }
        }
        Ok(())
    }

    fn remove(&mut self, name: &str) -> rusqlite::Result<()> {
        let tx = self.db.transaction()?;
        tx.execute("DELETE FROM sessions WHERE name = ?1", [name])?;
        tx.execute("DELETE FROM steps WHERE session = ?1", [name])?;
        tx.execute("DELETE FROM branches WHERE session = ?1", [name])?;
        tx.execute("DELETE FROM steps_fts WHERE session = ?1", [name])?;
        tx.commit()
    }

    fn ingest(&mut self, log: &SessionLog, (size, mtime): (i64, i64)) -> rusqlite::Result<()> {
        let name = &log.header.name;
        self.remove(name)?;
        let tx = self.db.transaction()?;
        let complete = log.steps.iter().filter(|s| s.complete()).count() as i64;
        let leaves = log.leaves();
        let last_task = log
            .steps
            .iter()
            .rev()
            .find(|s| s.complete())
            .map(|s| first_line(&s.title()));
        tx.execute(
            "INSERT INTO sessions VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            params![
                name,
                log.header.id,
                log.header.created,
                log.header.fork.as_ref().map(|f| f.session.clone()),
                log.header.fork.as_ref().map(|f| f.step as i64),
                log.head as i64,
                complete,
                log.steps.len() as i64 - complete,
                leaves.len().max(usize::from(log.header.fork.is_some())) as i64,
                last_task,
                log.warnings.len() as i64,
                size,
                mtime,
            ],
        )?;
        {
            let mut step_stmt = tx.prepare(
                "INSERT INTO steps VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            let mut fts_stmt = tx.prepare(
                "INSERT INTO steps_fts(task, code, session, step) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for s in &log.steps {
                let code: Vec<String> = s.cells().into_iter().map(|c| c.code).collect();
                let code = code.join("\n\n");
                let kind = match s.begin.kind {
                    StepKind::Cell => "cell",
                    StepKind::Task => "task",
                };
                step_stmt.execute(params![
                    name,
                    s.id() as i64,
                    s.begin.parent as i64,
                    kind,
                    s.begin.task,
                    code,
                    s.begin.started,
                    s.complete(),
                    s.end.as_ref().map(|e| e.success),
                    s.end.as_ref().map(|e| e.duration_ms),
                    s.end.as_ref().map(|e| e.snapshot.clone()),
                ])?;
                fts_stmt.execute(params![s.begin.task, code, name, s.id() as i64])?;
            }
            let mut branch_stmt = tx.prepare("INSERT INTO branches VALUES (?1, ?2)")?;
            for leaf in leaves {
                branch_stmt.execute(params![name, leaf as i64])?;
            }
        }
        tx.commit()
    }

    /// All sessions, oldest first.
    pub fn sessions(&self) -> rusqlite::Result<Vec<SessionRow>> {
        let mut stmt = self.db.prepare(
            "SELECT name, id, created, fork_session, fork_step, head, steps, interrupted, branches, last_task, warnings
             FROM sessions ORDER BY created, name",
        )?;
        stmt.query_map([], |r| {
            let fork_session: Option<String> = r.get(3)?;
            let fork_step: Option<i64> = r.get(4)?;
            Ok(SessionRow {
                name: r.get(0)?,
                id: r.get(1)?,
                created: r.get(2)?,
                fork: fork_session.map(|session| super::log::ForkPoint {
                    session,
                    step: fork_step.unwrap_or(0) as u64,
                }),
                head: r.get::<_, i64>(5)? as u64,
                steps: r.get::<_, i64>(6)? as u64,
                interrupted: r.get::<_, i64>(7)? as u64,
                branches: r.get::<_, i64>(8)? as u64,
                last_task: r.get(9)?,
                warnings: r.get::<_, i64>(10)? as u64,
            })
        })?
        .collect()
    }

    /// Steps whose task or code matches `query` (FTS5 syntax; plain words work), best first.
    pub fn search(&self, query: &str, limit: usize) -> rusqlite::Result<Vec<StepHit>> {
        let quoted: Vec<String> = query
            .split_whitespace()
            .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
            .collect();
        if quoted.is_empty() {
            return Ok(Vec::new());
        }
        let mut stmt = self.db.prepare(
            "SELECT session, step, coalesce(task, code) FROM steps_fts WHERE steps_fts MATCH ?1
             ORDER BY bm25(steps_fts) LIMIT ?2",
        )?;
        stmt.query_map(params![quoted.join(" OR "), limit as i64], |r| {
            Ok(StepHit {
                session: r.get(0)?,
                step: r.get::<_, i64>(1)? as u64,
                title: first_line(&r.get::<_, String>(2)?),
            })
        })?
        .collect()
    }
}

/// The first non-blank line of a text, shortened to 80 characters.
pub fn first_line(text: &str) -> String {
    super::clip(&crate::tools::catalog::first_line(text), 79)
}
