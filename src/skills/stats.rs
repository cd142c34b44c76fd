//! Usage of each skill, in `skills/.stats.json`: the one thing the files cannot hold
//! (the index is rebuilt from the files and this sidecar). A removed skill's stats move
//! to `.trash/<file>.stats.json` and come back with it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::SkillError;

pub const STATS_FILE: &str = ".stats.json";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    /// Runs of step code that imported the skill.
    pub uses: u64,
    pub successes: u64,
    pub failures: u64,
    /// Times a later step wrote the same code again (normalised AST) instead of reusing it.
    pub rederived: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Where the skill came from, e.g. "session 20250101-120000-ab12, step 2".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl Stats {
    /// Failures per use; None before the first use.
    pub fn failure_rate(&self) -> Option<f64> {
        (self.uses > 0).then(|| self.failures as f64 / self.uses as f64)
    }

    pub fn record(&mut self, success: bool, now: &str) {
        self.uses += 1;
        if success {
            self.successes += 1;
        } else {
            self.failures += 1;
        }
        self.last_used = Some(now.to_string());
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StatsFile {
    pub skills: BTreeMap<String, Stats>,
}

impl StatsFile {
    /// A missing file is empty; an unreadable one is an error naming it (never
    /// overwritten, so no counts are lost to a typo).
    pub fn load(path: &Path) -> Result<StatsFile, SkillError> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| SkillError::Stats {
                path: path.to_path_buf(),
                message: format!("{e}; fix or delete the file (the counts in it are lost then)"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StatsFile::default()),
            Err(e) => Err(SkillError::io(path, e)),
        }
    }

    pub fn save(&self, path: &Path) -> Result<(), SkillError> {
        let text = serde_json::to_string_pretty(self).map_err(|e| SkillError::Stats {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        write_atomically(path, text.as_bytes())
    }
}

/// Writes through a temporary file and a rename, so readers never see half a file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), SkillError> {
    let tmp = tmp_path(path);
    std::fs::write(&tmp, bytes).map_err(|e| SkillError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| SkillError::io(path, e))
}

fn tmp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp{}", std::process::id()))
}

/// The current time as stored in stats and headers (UTC, seconds).
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Days since a stored time; None when it does not parse.
pub fn days_since(time: &str, now: jiff::Timestamp) -> Option<f64> {
    let then: jiff::Timestamp = time.parse().ok()?;
    Some(now.duration_since(then).as_secs_f64() / 86_400.0)
}
