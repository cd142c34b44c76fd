//! The skill library: code that solved a task, kept as a typed module the agent can
//! import next time (`from skills.<name> import run`), with usage stats, review and
//! pruning.
//!
//! Layout of a project's `skills/` folder:
//! - `<name>.py`: one skill (see [`file`]); the files are the source of truth.
//! - `.index.sqlite`: the index ([`index`]), rebuilt from the files whenever they change.
//! - `.stats.json`: uses, successes, failures, last use, creation, source ([`stats`]).
//! - `.trash/`: removed skills (and their stats), for `mcpr skills restore`.
//!
//! Skills grow from successful steps ([`evolve`]), are validated in a fresh kernel
//! before they are saved ([`validate`]), reach the sandbox read-only through a `skills`
//! package in the workspace ([`package`]), and feed the agent's prompt through
//! [`source::LibrarySource`]. This module never runs a skill's code on the host: files are
//! only parsed (by the analyser, with Python's `ast`), and run only inside kernels.
//!
//! Every change of the folder or the stats happens under the folder's lock (`.lock`), and
//! whatever a change depends on (is this code already a skill? is this name free?) is
//! decided under the same lock: processes running steps side by side never save one
//! skill twice.

pub mod analyze;
pub mod evolve;
pub mod file;
pub mod index;
pub mod package;
pub mod prune;
pub mod source;
pub mod stats;
pub mod validate;

use std::path::{Path, PathBuf};

use crate::python::PythonInfo;
use analyze::Analyzer;
use file::Header;
use index::{Index, Problem};
use stats::{STATS_FILE, Stats, StatsFile};

pub const TRASH_DIR: &str = ".trash";
const LOCK_FILE: &str = ".lock";
/// Versions of one name before saving gives up (a sign of a runaway loop, not a library).
const MAX_VERSIONS: u32 = 1000;
const GITIGNORE: &str = "# rebuilt from the skill files\n.index.sqlite*\n.lock\n.*.tmp*\n";

#[derive(Debug, thiserror::Error)]
pub enum SkillError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the skill index {path} could not be used: {message}")]
    Index { path: PathBuf, message: String },
    #[error("{path} is not valid: {message}")]
    Stats { path: PathBuf, message: String },
    #[error("the skill analyser failed: {0}")]
    Analyzer(String),
    /// No such skill; the message names what exists.
    #[error("{0}")]
    NotFound(String),
}

impl SkillError {
    pub fn io(path: &Path, source: std::io::Error) -> SkillError {
        SkillError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// One usable skill: what its file says, and how it has been used.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Skill {
    pub name: String,
    pub path: PathBuf,
    pub description: String,
    pub signature: String,
    pub header: Header,
    /// Normalised AST hash: equal for skills that differ only in run()'s defaults.
    pub hash: String,
    pub stats: Stats,
    /// The MCP tools the skill calls, as `server.tool`.
    pub tools: Vec<String>,
    /// Header keys that cannot be read (left empty; the skill itself is usable).
    pub header_problems: Vec<String>,
}

impl Skill {
    /// The line the agent's prompt shows for this skill.
    pub fn prompt_line(&self) -> String {
        let description = if self.description.is_empty() {
            String::new()
        } else {
            format!(": {}", self.description)
        };
        format!(
            "from skills.{} import run  # {}{description}",
            self.name, self.signature
        )
    }
}

/// Everything in the folder: usable skills and the files that are not.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub skills: Vec<Skill>,
    pub problems: Vec<Problem>,
}

impl Listing {
    pub fn get(&self, name: &str) -> Option<&Skill> {
        self.skills.iter().find(|s| s.name == name)
    }

    /// The file `<name>.py` that is not a usable skill, if it is one of the problems.
    pub fn problem(&self, name: &str) -> Option<&Problem> {
        self.problems
            .iter()
            .find(|p| p.path.file_stem().is_some_and(|stem| stem == name))
    }
}

/// A name in the folder: a usable skill, or a file that is not one and why.
#[derive(Debug, Clone)]
pub enum Found {
    Skill(Box<Skill>),
    Problem(Problem),
}

/// What saving a new skill did.
#[derive(Debug, Clone, PartialEq)]
pub enum Saved {
    /// Written under this name.
    Created(String),
    /// Not written: this skill has the same code (normalised AST); it was counted.
    SameAs(String),
}

/// Where a removed file went, and why it was not a usable skill if it was not.
#[derive(Debug, Clone)]
pub struct Removed {
    pub to: PathBuf,
    pub problem: Option<String>,
}

/// Where a new skill came from.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    pub session: String,
    pub step: u64,
    pub model: String,
    pub task: String,
}

/// A project's skill folder.
pub struct SkillLibrary {
    dir: PathBuf,
    python: PythonInfo,
}

/// Held while a process changes the folder or its stats (an advisory `flock`).
struct FolderLock {
    _lock: nix::fcntl::Flock<std::fs::File>,
}

impl SkillLibrary {
    /// The library in `dir`, created (with a `.gitignore` for the index) if missing.
    /// `python` parses skill files; it never runs them.
    pub fn open(dir: &Path, python: PythonInfo) -> Result<SkillLibrary, SkillError> {
        std::fs::create_dir_all(dir).map_err(|e| SkillError::io(dir, e))?;
        let ignore = dir.join(".gitignore");
        if !ignore.exists() {
            std::fs::write(&ignore, GITIGNORE).map_err(|e| SkillError::io(&ignore, e))?;
        }
        let dir = std::path::absolute(dir).map_err(|e| SkillError::io(dir, e))?;
        Ok(SkillLibrary { dir, python })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn python(&self) -> &PythonInfo {
        &self.python
    }

    pub fn trash_dir(&self) -> PathBuf {
        self.dir.join(TRASH_DIR)
    }

    fn stats_path(&self) -> PathBuf {
        self.dir.join(STATS_FILE)
    }

    pub(crate) fn analyzer(&self) -> Analyzer<'_> {
        Analyzer::new(&self.python)
    }

    fn lock(&self) -> Result<FolderLock, SkillError> {
        let path = self.dir.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| SkillError::io(&path, e))?;
        let lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, errno)| SkillError::io(&path, std::io::Error::from(errno)))?;
        Ok(FolderLock { _lock: lock })
    }

    /// Syncs the index with the files and lists skills (by name) and problem files.
    pub fn refresh(&self) -> Result<Listing, SkillError> {
        let _lock = self.lock()?;
        self.refresh_locked()
    }

    fn refresh_locked(&self) -> Result<Listing, SkillError> {
        let mut index = Index::open(&self.dir)?;
        index.sync(&self.dir, &self.analyzer())?;
        let stats = StatsFile::load(&self.stats_path())?;
        let skills = index
            .skills(&self.dir)?
            .into_iter()
            .map(|i| Skill {
                description: i.header.description.clone(),
                stats: stats.skills.get(&i.name).cloned().unwrap_or_default(),
                name: i.name,
                path: i.path,
                signature: i.signature,
                header: i.header,
                hash: i.hash,
                tools: i.tools,
                header_problems: i.header_problems,
            })
            .collect();
        Ok(Listing {
            skills,
            problems: index.problems(&self.dir)?,
        })
    }

    /// One skill by name; an unknown name is an error naming the closest ones.
    pub fn get(&self, name: &str) -> Result<Skill, SkillError> {
        let listing = self.refresh()?;
        listing
            .get(name)
            .cloned()
            .ok_or_else(|| not_found(name, &listing))
    }

    /// `<name>.py` as a skill, or as a file that is not one (and why); an unknown name is
    /// an error naming the closest ones.
    pub fn lookup(&self, name: &str) -> Result<Found, SkillError> {
        let listing = self.refresh()?;
        if let Some(skill) = listing.get(name) {
            return Ok(Found::Skill(Box::new(skill.clone())));
        }
        listing
            .problem(name)
            .map(|p| Found::Problem(p.clone()))
            .ok_or_else(|| not_found(name, &listing))
    }

    /// The skills most relevant to `query`, best first, at most `limit`.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<Skill>, SkillError> {
        let _lock = self.lock()?;
        let listing = self.refresh_locked()?;
        let index = Index::open(&self.dir)?;
        Ok(index
            .search(query, limit)?
            .into_iter()
            .filter_map(|(name, _)| listing.get(&name).cloned())
            .collect())
    }

    /// Counts one run of step code per entry (the skills it imported, whether it
    /// worked) for the skills that exist; returns those skills' names, first use first.
    pub fn record_runs(&self, runs: &[(Vec<String>, bool)]) -> Result<Vec<String>, SkillError> {
        if runs.iter().all(|(names, _)| names.is_empty()) {
            return Ok(Vec::new());
        }
        let _lock = self.lock()?;
        let listing = self.refresh_locked()?;
        let mut stats = StatsFile::load(&self.stats_path())?;
        let now = stats::now();
        let mut used = Vec::new();
        for (names, success) in runs {
            for name in names {
                if listing.get(name).is_none() {
                    continue;
                }
                stats
                    .skills
                    .entry(name.clone())
                    .or_default()
                    .record(*success, &now);
                if !used.contains(name) {
                    used.push(name.clone());
                }
            }
        }
        stats.save(&self.stats_path())?;
        Ok(used)
    }

    /// A step wrote `name`'s code again: count it as a successful use of that skill.
    pub fn note_rederived(&self, name: &str) -> Result<(), SkillError> {
        let _lock = self.lock()?;
        self.note_rederived_locked(name)
    }

    fn note_rederived_locked(&self, name: &str) -> Result<(), SkillError> {
        let mut stats = StatsFile::load(&self.stats_path())?;
        let entry = stats.skills.entry(name.to_string()).or_default();
        entry.rederived += 1;
        entry.record(true, &stats::now());
        stats.save(&self.stats_path())
    }

    /// Saves a new skill as `<base>.py`, or `<base>_v2.py`, … when the name is taken
    /// (never overwriting). Code whose normalised AST `hash` a skill has already is not
    /// saved: that skill is counted instead. Both are decided under the folder's lock, so
    /// steps finishing side by side in several processes save one skill, not versions.
    pub fn save(
        &self,
        base: &str,
        header: &Header,
        code: &str,
        source: &str,
        hash: &str,
    ) -> Result<Saved, SkillError> {
        let _lock = self.lock()?;
        let listing = self.refresh_locked()?;
        if let Some(same) = listing.skills.iter().find(|s| s.hash == hash) {
            self.note_rederived_locked(&same.name)?;
            return Ok(Saved::SameAs(same.name.clone()));
        }
        let base = if file::valid_name(base) {
            base
        } else {
            "skill"
        };
        for version in 1..=MAX_VERSIONS {
            let name = if version == 1 {
                base.to_string()
            } else {
                format!("{base}_v{version}")
            };
            let path = self.dir.join(format!("{name}.py"));
            let created = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path);
            let mut f = match created {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(SkillError::io(&path, e)),
            };
            let header = Header {
                name: name.clone(),
                version,
                ..header.clone()
            };
            use std::io::Write;
            f.write_all(file::compose(&header, code).as_bytes())
                .map_err(|e| SkillError::io(&path, e))?;
            let mut stats = StatsFile::load(&self.stats_path())?;
            stats.skills.insert(
                name.clone(),
                Stats {
                    created: Some(header.created.clone()),
                    source: Some(source.to_string()),
                    ..Stats::default()
                },
            );
            stats.save(&self.stats_path())?;
            return Ok(Saved::Created(name));
        }
        Err(SkillError::io(
            &self.dir.join(format!("{base}.py")),
            std::io::Error::other(format!(
                "{MAX_VERSIONS} versions of {base} exist already; prune some (`mcpr skills prune --duplicates`)"
            )),
        ))
    }

    /// Moves a skill (and its stats) to `.trash/`, or a file `<name>.py` that is not a
    /// usable skill (it does not parse, has no `run`, …); returns where it went.
    pub fn remove(&self, name: &str, reason: &str) -> Result<Removed, SkillError> {
        let _lock = self.lock()?;
        let listing = self.refresh_locked()?;
        let (path, problem) = match (listing.get(name), listing.problem(name)) {
            (Some(skill), _) => (skill.path.clone(), None),
            (None, Some(p)) => (p.path.clone(), Some(p.message.clone())),
            (None, None) => return Err(not_found(name, &listing)),
        };
        let trash = self.trash_dir();
        std::fs::create_dir_all(&trash).map_err(|e| SkillError::io(&trash, e))?;
        let mut dest = trash.join(format!("{name}.py"));
        let mut n = 2;
        while dest.exists() {
            dest = trash.join(format!("{name}.{n}.py"));
            n += 1;
        }
        std::fs::rename(&path, &dest).map_err(|e| SkillError::io(&path, e))?;
        let mut stats = StatsFile::load(&self.stats_path())?;
        let kept = stats.skills.remove(name).unwrap_or_default();
        let side = serde_json::json!({"stats": kept, "removed": stats::now(), "reason": reason});
        stats::write_atomically(&stats_beside(&dest), side.to_string().as_bytes())?;
        stats.save(&self.stats_path())?;
        Ok(Removed { to: dest, problem })
    }

    /// Brings the most recently removed `name` back, under its name or, when that is
    /// taken, the next free version of its base name (`greet_v2` for `greet`, `greet_v3`
    /// for `greet_v2` when that is taken too), with the `name:` and `version:` of its
    /// header set to the name it got; returns that name.
    pub fn restore(&self, name: &str) -> Result<String, SkillError> {
        self.restore_copy(name, None)
    }

    /// As [`SkillLibrary::restore`], for one removed copy of `name`: `copy` is the file
    /// name it has in the trash (`greet.2.py` for the second removal of `greet`, as
    /// [`SkillLibrary::trashed`] lists it); None takes the most recent removal.
    pub fn restore_copy(&self, name: &str, copy: Option<&str>) -> Result<String, SkillError> {
        let _lock = self.lock()?;
        let trash = self.trash_dir();
        let trashed = self.trashed()?;
        let found = trashed.iter().rev().find(|(n, file)| {
            n == name && copy.is_none_or(|c| file.file_name().is_some_and(|f| f == c))
        });
        if let (Some(copy), None) = (copy, found)
            && trashed.iter().any(|(n, _)| n == name)
        {
            let copies: Vec<String> = trashed
                .iter()
                .filter(|(n, _)| n == name)
                .filter_map(|(_, f)| f.file_name().map(|f| f.to_string_lossy().into_owned()))
                .collect();
            return Err(SkillError::NotFound(format!(
                "no removed copy {copy:?} of {name} in {}; its copies there: {}",
                trash.display(),
                copies.join(", ")
            )));
        }
        let Some((_, from)) = found else {
            let mut names: Vec<&str> = trashed.iter().map(|(n, _)| n.as_str()).collect();
            names.dedup();
            return Err(SkillError::NotFound(if names.is_empty() {
                format!(
                    "no skill named {name:?} in {}: the trash is empty",
                    trash.display()
                )
            } else {
                format!(
                    "no skill named {name:?} in {}; removed skills there: {}",
                    trash.display(),
                    names.join(", ")
                )
            }));
        };
        let base = base_name(name);
        let mut restored = name.to_string();
        let mut version = 1;
        while self.dir.join(format!("{restored}.py")).exists() {
            version += 1;
            if version > MAX_VERSIONS {
                return Err(SkillError::io(
                    &self.dir.join(format!("{name}.py")),
                    std::io::Error::other(format!(
                        "{MAX_VERSIONS} versions of {base} exist already; remove or prune some first"
                    )),
                ));
            }
            restored = format!("{base}_v{version}");
        }
        let dest = self.dir.join(format!("{restored}.py"));
        if restored != name {
            // The header names the file it is in; a file that cannot be read or has no
            // header keys moves as it is (the index reports what is wrong with it).
            let retitled = std::fs::read_to_string(from)
                .ok()
                .and_then(|text| file::retitle(&text, &restored, version));
            if let Some(text) = retitled {
                stats::write_atomically(from, text.as_bytes())?;
            }
        }
        std::fs::rename(from, &dest).map_err(|e| SkillError::io(from, e))?;
        let side = stats_beside(from);
        if let Ok(text) = std::fs::read_to_string(&side) {
            let kept: Stats = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| serde_json::from_value(v["stats"].clone()).ok())
                .unwrap_or_default();
            let mut stats = StatsFile::load(&self.stats_path())?;
            stats.skills.insert(restored.clone(), kept);
            stats.save(&self.stats_path())?;
            let _ = std::fs::remove_file(&side);
        }
        Ok(restored)
    }

    /// Removed skills as (name, file), oldest removal of each name first.
    pub fn trashed(&self) -> Result<Vec<(String, PathBuf)>, SkillError> {
        let trash = self.trash_dir();
        let entries = match std::fs::read_dir(&trash) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(SkillError::io(&trash, e)),
        };
        let mut out: Vec<(String, u32, PathBuf)> = Vec::new();
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = file.strip_suffix(".py") else {
                continue;
            };
            let (name, n) = match stem.rsplit_once('.') {
                Some((name, n)) if n.parse::<u32>().is_ok() => (name, n.parse().unwrap_or(1)),
                _ => (stem, 1),
            };
            out.push((name.to_string(), n, entry.path()));
        }
        out.sort();
        Ok(out
            .into_iter()
            .map(|(name, _, path)| (name, path))
            .collect())
    }
}

/// The name a version was saved under: `greet` for `greet_v3` (and for `greet`).
fn base_name(name: &str) -> &str {
    match name.rsplit_once("_v") {
        Some((base, n)) if n.parse::<u32>().is_ok_and(|n| n >= 2) && file::valid_name(base) => base,
        _ => name,
    }
}

/// The side file of a removed skill: its stats, when and why it was removed.
pub(crate) fn stats_beside(trashed: &Path) -> PathBuf {
    PathBuf::from(format!("{}.stats.json", trashed.display()))
}

fn not_found(name: &str, listing: &Listing) -> SkillError {
    let mut close: Vec<&str> = listing
        .skills
        .iter()
        .map(|s| s.name.as_str())
        .filter(|n| n.contains(name) || name.contains(n) || common_prefix(n, name) >= 3)
        .collect();
    close.truncate(5);
    SkillError::NotFound(if listing.skills.is_empty() {
        format!("no skill named {name:?}: the library is empty")
    } else if close.is_empty() {
        format!("no skill named {name:?}; `mcpr skills list` shows them all")
    } else {
        format!(
            "no skill named {name:?}; did you mean {}?",
            close.join(", ")
        )
    })
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::base_name;

    #[test]
    fn a_version_names_its_base() {
        assert_eq!(base_name("greet_v3"), "greet");
        assert_eq!(base_name("my_vote_v12"), "my_vote");
        for name in ["greet", "greet_v1", "greet_v", "greet_vx", "_v2", "a_v2_b"] {
            assert_eq!(base_name(name), name);
        }
    }
}
