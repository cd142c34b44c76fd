//! The task format of `mcpr bench agents`: one TOML file per task under
//! `bench/agents/tasks/<category>/<id>.toml`, holding the prompt, the setup, the MCP
//! servers, the checks and the reference solution. Loading only parses and checks the
//! files; nothing here runs anything.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where each approach should win or lose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// One tool call answers the task.
    Single,
    /// Many independent calls.
    Fanout,
    /// Calls where one result feeds the next.
    Chain,
    /// Filtering or aggregating large results.
    Aggregate,
    /// A call fails and the agent has to recover.
    Recovery,
    /// The model's judgement over the data (`ask_llm` in code mode).
    Judgement,
}

impl Category {
    pub const ALL: [Category; 6] = [
        Category::Single,
        Category::Fanout,
        Category::Chain,
        Category::Aggregate,
        Category::Recovery,
        Category::Judgement,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Category::Single => "single",
            Category::Fanout => "fanout",
            Category::Chain => "chain",
            Category::Aggregate => "aggregate",
            Category::Recovery => "recovery",
            Category::Judgement => "judgement",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Easy,
    Medium,
    Hard,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Easy => "easy",
            Level::Medium => "medium",
            Level::Hard => "hard",
        }
    }
}

/// The MCP servers a task may use, all local.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Server {
    /// `mcpr demo-server`, its notes in a SQLite file the validator reads.
    Demo,
    /// `mcp-server-time` (PyPI).
    Time,
    /// `mcp-server-git` (PyPI) on the task's repository.
    Git,
    /// `mcp-server-sqlite` (PyPI) on the task's database.
    Sqlite,
}

impl Server {
    pub fn name(self) -> &'static str {
        match self {
            Server::Demo => "demo",
            Server::Time => "time",
            Server::Git => "git",
            Server::Sqlite => "sqlite",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// The file's name without `.toml`.
    #[serde(skip)]
    pub id: String,
    pub category: Category,
    pub level: Level,
    pub servers: Vec<Server>,
    pub prompt: String,
    #[serde(default)]
    pub setup: Setup,
    pub check: Check,
    /// Python run through mcpr (tools as modules, no model): prints the answer.
    pub reference: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setup {
    /// Notes in the demo server's database: [title, body].
    #[serde(default)]
    pub notes: Vec<[String; 2]>,
    /// Files in the workspace.
    #[serde(default)]
    pub files: Vec<FileSpec>,
    /// Commits of the task's git repository, oldest first.
    #[serde(default)]
    pub commits: Vec<Commit>,
    /// SQL run on the sqlite server's database.
    #[serde(default)]
    pub sql: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    pub path: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Commit {
    pub message: String,
    /// "Name <email>"; a fixed author when left out.
    #[serde(default)]
    pub author: Option<String>,
    pub files: Vec<FileSpec>,
}

/// What a solved task shows. Every list must hold; an empty check is refused at load.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// Texts the answer must contain (case-insensitive).
    #[serde(default)]
    pub contains: Vec<String>,
    /// Texts the answer must not contain (case-insensitive): an answer that dumps all
    /// the data does not pass for one that picked the right part.
    #[serde(default)]
    pub absent: Vec<String>,
    /// Numbers the answer must state (within 0.01, or 0.1 % when larger).
    #[serde(default)]
    pub numbers: Vec<f64>,
    /// Queries of the demo server's notes database and the value each must return.
    #[serde(default)]
    pub notes: Vec<Query>,
    /// Queries of the sqlite server's database.
    #[serde(default)]
    pub sqlite: Vec<Query>,
    /// Files the workspace must hold.
    #[serde(default)]
    pub files: Vec<FileCheck>,
    /// The git repository's branches that must exist.
    #[serde(default)]
    pub branches: Vec<String>,
}

impl Check {
    fn is_empty(&self) -> bool {
        self.contains.is_empty()
            && self.numbers.is_empty()
            && self.notes.is_empty()
            && self.sqlite.is_empty()
            && self.files.is_empty()
            && self.branches.is_empty()
    }
}

/// A query returning one value, compared as text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    pub sql: String,
    pub equals: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCheck {
    pub path: String,
    #[serde(default)]
    pub contains: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("cannot read the tasks folder {path}: {why}")]
    Folder { path: PathBuf, why: String },
    #[error(
        "task {path} is not valid: {why}. Fix the file (the format is in bench/agents/README.md)"
    )]
    Invalid { path: PathBuf, why: String },
    #[error("no task matches {0:?}; task ids are file names, categories and levels also select")]
    NoMatch(String),
}

/// Every task below `root`, sorted by id.
pub fn load_all(root: &Path) -> Result<Vec<Task>, TaskError> {
    let mut tasks = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.map_err(|e| TaskError::Folder {
            path: root.to_path_buf(),
            why: e.to_string(),
        })?;
        if entry.file_type().is_file() && entry.path().extension().is_some_and(|e| e == "toml") {
            tasks.push(load(entry.path())?);
        }
    }
    if tasks.is_empty() {
        return Err(TaskError::Folder {
            path: root.to_path_buf(),
            why: "it holds no task files (*.toml)".into(),
        });
    }
    tasks.sort_by(|a, b| a.id.cmp(&b.id));
    for pair in tasks.windows(2) {
        if pair[0].id == pair[1].id {
            return Err(TaskError::Folder {
                path: root.to_path_buf(),
                why: format!("two tasks are named {:?}", pair[0].id),
            });
        }
    }
    Ok(tasks)
}

pub fn load(path: &Path) -> Result<Task, TaskError> {
    let invalid = |why: String| TaskError::Invalid {
        path: path.to_path_buf(),
        why,
    };
    let text = std::fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
    let mut task: Task = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    task.id = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if task.check.is_empty() {
        return Err(invalid(
            "its [check] checks nothing; give it `contains`, `numbers` or a side effect".into(),
        ));
    }
    if task.servers.is_empty() {
        return Err(invalid("it names no MCP server in `servers`".into()));
    }
    let needs = |s: Server| task.servers.contains(&s);
    if !task.setup.commits.is_empty() && !needs(Server::Git) {
        return Err(invalid(
            "it has commits but does not use the git server".into(),
        ));
    }
    if (!task.setup.sql.is_empty() || !task.check.sqlite.is_empty()) && !needs(Server::Sqlite) {
        return Err(invalid(
            "it uses a database but not the sqlite server".into(),
        ));
    }
    for f in task.setup.files.iter().chain(&task.check.files_as_specs()) {
        let p = Path::new(&f.path);
        if p.is_absolute() || p.components().any(|c| c.as_os_str() == "..") {
            return Err(invalid(format!(
                "file path {:?} must be relative and stay inside the workspace",
                f.path
            )));
        }
    }
    Ok(task)
}

impl Check {
    fn files_as_specs(&self) -> Vec<FileSpec> {
        self.files
            .iter()
            .map(|f| FileSpec {
                path: f.path.clone(),
                text: String::new(),
            })
            .collect()
    }
}

/// The tasks `selector` names: comma-separated ids, categories, levels, or `all`.
pub fn select(tasks: Vec<Task>, selector: &str) -> Result<Vec<Task>, TaskError> {
    let words: Vec<&str> = selector
        .split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() || words.contains(&"all") {
        return Ok(tasks);
    }
    for w in &words {
        let known = tasks
            .iter()
            .any(|t| t.id == *w || t.category.name() == *w || t.level.name() == *w);
        if !known {
            return Err(TaskError::NoMatch(w.to_string()));
        }
    }
    Ok(tasks
        .into_iter()
        .filter(|t| {
            words
                .iter()
                .any(|w| t.id == *w || t.category.name() == *w || t.level.name() == *w)
        })
        .collect())
}
