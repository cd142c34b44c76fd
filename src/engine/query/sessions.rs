//! The recorded sessions and search over their steps, from the record's index.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use super::QueryError;
use crate::record::index::{Index, NO_INDEX, SessionRow, StepHit};
use crate::record::recorder::ReplayDir;

/// A log the index left out, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnreadableLog {
    pub path: PathBuf,
    pub reason: String,
}

/// What bringing the index up to date found (worth telling the user).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IndexNotes {
    /// Why an existing index was replaced by one rebuilt from the logs (None when it was
    /// usable, or when there was none yet: a first index is no news).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebuilt: Option<String>,
    /// Logs that could not be read; they are left as they are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<UnreadableLog>,
}

/// The recorded sessions, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sessions {
    pub sessions: Vec<SessionRow>,
    pub notes: IndexNotes,
}

/// Steps matching a query, best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResults {
    pub query: String,
    pub hits: Vec<StepHit>,
    pub notes: IndexNotes,
}

fn open_index(dir: &ReplayDir) -> Result<(Index, IndexNotes), QueryError> {
    let (index, refresh) = Index::open(dir).map_err(|e| QueryError::Sqlite(e.to_string()))?;
    let notes = IndexNotes {
        rebuilt: refresh.rebuilt.filter(|why| why != NO_INDEX),
        unreadable: refresh
            .unreadable
            .into_iter()
            .map(|(path, reason)| UnreadableLog { path, reason })
            .collect(),
    };
    Ok((index, notes))
}

fn sql(e: rusqlite::Error) -> QueryError {
    QueryError::Sqlite(format!("the record index could not be read: {e}"))
}

/// Every recorded session of `dir` (the index is brought up to date first).
pub fn sessions(dir: &ReplayDir) -> Result<Sessions, QueryError> {
    let (index, notes) = open_index(dir)?;
    Ok(Sessions {
        sessions: index.sessions().map_err(sql)?,
        notes,
    })
}

/// Steps whose task or code matches `query` (words; FTS5 syntax such as "exact phrase"
/// and prefix* works), at most `limit`, best first.
pub fn search(dir: &ReplayDir, query: &str, limit: usize) -> Result<SearchResults, QueryError> {
    let (index, notes) = open_index(dir)?;
    Ok(SearchResults {
        query: query.to_string(),
        hits: index.search(query, limit).map_err(sql)?,
        notes,
    })
}
