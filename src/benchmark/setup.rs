//! Lays out one run of one task: a folder of its own holding the servers' data (the demo
//! server's notes, the git repository, the sqlite database), the MCP configuration that
//! starts them, and the workspace the sandboxed code gets.
//!
//! Only the workspace is ever sandbox-owned, and files in it are written through
//! `ConfinedDir`; the rest of the run folder is the host's and never mounted.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::task::{Commit, Server, Task};
use crate::sandbox::confined::ConfinedDir;

/// Where the servers' programs are.
#[derive(Debug, Clone)]
pub struct ServerPrograms {
    /// The mcpr binary (for `mcpr demo-server`).
    pub mcpr: PathBuf,
    /// Folder holding `mcp-server-time`, `mcp-server-git`, `mcp-server-sqlite`; None: PATH.
    pub bin_dir: Option<PathBuf>,
}

impl ServerPrograms {
    fn program(&self, name: &str) -> String {
        match &self.bin_dir {
            Some(dir) => dir.join(name).display().to_string(),
            None => name.to_string(),
        }
    }

    /// The first server program that is missing, with what to do.
    pub fn check(&self, servers: &[Server]) -> Result<(), String> {
        for s in servers {
            let name = match s {
                Server::Demo => continue,
                Server::Time => "mcp-server-time",
                Server::Git => "mcp-server-git",
                Server::Sqlite => "mcp-server-sqlite",
            };
            let found = match &self.bin_dir {
                Some(dir) => dir.join(name).is_file(),
                None => std::env::var_os("PATH")
                    .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file())),
            };
            if !found {
                return Err(format!(
                    "the MCP server {name} is not installed{}: run scripts/setup-mcp-servers.sh, or point --servers-bin at the folder that holds it",
                    self.bin_dir
                        .as_ref()
                        .map(|d| format!(" in {}", d.display()))
                        .unwrap_or_default()
                ));
            }
        }
        Ok(())
    }
}

/// A task laid out and ready for an arm.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub root: PathBuf,
    pub workspace: PathBuf,
    pub notes_db: PathBuf,
    pub repo: PathBuf,
    pub sqlite_db: PathBuf,
    /// `mcpServers` JSON for the task's servers.
    pub mcp_json: String,
}

impl Prepared {
    /// A task's text for this run: `{repo}` becomes the repository's path (the git
    /// server is told the path it serves, and its tools ask for it).
    pub fn fill(&self, text: &str) -> String {
        text.replace("{repo}", &self.repo.display().to_string())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("could not set up task {task}: {why}")]
pub struct SetupError {
    pub task: String,
    pub why: String,
}

/// Lays out `task` in `root` (which must not exist yet, or be empty).
pub fn prepare(
    task: &Task,
    root: &Path,
    programs: &ServerPrograms,
) -> Result<Prepared, SetupError> {
    let fail = |why: String| SetupError {
        task: task.id.clone(),
        why,
    };
    std::fs::create_dir_all(root).map_err(|e| fail(format!("{}: {e}", root.display())))?;
    let prepared = Prepared {
        root: root.to_path_buf(),
        workspace: root.join("workspace"),
        notes_db: root.join("notes.db"),
        repo: root.join("repo"),
        sqlite_db: root.join("data.sqlite"),
        mcp_json: String::new(),
    };
    std::fs::create_dir_all(&prepared.workspace).map_err(|e| fail(e.to_string()))?;
    write_files(task, &prepared.workspace).map_err(|e| fail(format!("workspace files: {e}")))?;
    seed_notes(task, &prepared.notes_db).map_err(|e| fail(format!("notes database: {e}")))?;
    if task.servers.contains(&Server::Git) {
        make_repo(&task.setup.commits, &prepared.repo).map_err(fail)?;
    }
    if task.servers.contains(&Server::Sqlite) {
        let db = rusqlite::Connection::open(&prepared.sqlite_db)
            .map_err(|e| fail(format!("sqlite database: {e}")))?;
        db.execute_batch(&task.setup.sql)
            .map_err(|e| fail(format!("setup SQL: {e}")))?;
    }
    let mcp_json = mcp_config(task, &prepared, programs).to_string();
    Ok(Prepared {
        mcp_json,
        ..prepared
    })
}

fn write_files(task: &Task, workspace: &Path) -> std::io::Result<()> {
    let dir = ConfinedDir::open(workspace)?;
    for f in &task.setup.files {
        let rel = Path::new(&f.path);
        if let Some(parent) = rel.parent().filter(|p| !p.as_os_str().is_empty()) {
            dir.create_dirs(parent, 0o755)?;
        }
        dir.write(rel, f.text.as_bytes(), 0o644)?;
    }
    Ok(())
}

/// The demo server's schema, with the task's notes in it.
fn seed_notes(task: &Task, db: &Path) -> rusqlite::Result<()> {
    let conn = rusqlite::Connection::open(db)?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS calls (id INTEGER PRIMARY KEY, tool TEXT NOT NULL, at TEXT NOT NULL DEFAULT (datetime('now')));",
    )?;
    for [title, body] in &task.setup.notes {
        conn.execute(
            "INSERT INTO notes (title, body) VALUES (?1, ?2)",
            [title, body],
        )?;
    }
    Ok(())
}

/// A repository with the commits given, at fixed dates, so that hashes are the same on
/// every run.
fn make_repo(commits: &[Commit], repo: &Path) -> Result<(), String> {
    std::fs::create_dir_all(repo).map_err(|e| e.to_string())?;
    git(repo, &["init", "-q", "-b", "main"], None, 0)?;
    for (i, c) in commits.iter().enumerate() {
        for f in &c.files {
            let path = repo.join(&f.path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
            }
            std::fs::write(&path, &f.text).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        git(repo, &["add", "-A"], None, i)?;
        git(
            repo,
            &["commit", "-q", "--allow-empty", "-m", &c.message],
            c.author.as_deref(),
            i,
        )?;
    }
    Ok(())
}

fn git(repo: &Path, args: &[&str], author: Option<&str>, n: usize) -> Result<(), String> {
    let (name, email) = author
        .and_then(|a| a.split_once(" <"))
        .map(|(n, e)| (n.to_string(), e.trim_end_matches('>').to_string()))
        .unwrap_or_else(|| ("Ada Lovelace".into(), "ada@example.com".into()));
    let date = format!("2026-01-{:02}T10:00:00Z", (n % 28) + 1);
    let out = Command::new("git")
        .args(args)
        .current_dir(repo)
        .env("GIT_AUTHOR_NAME", &name)
        .env("GIT_AUTHOR_EMAIL", &email)
        .env("GIT_COMMITTER_NAME", &name)
        .env("GIT_COMMITTER_EMAIL", &email)
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .map_err(|e| format!("git could not start ({e}); install git"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn mcp_config(task: &Task, p: &Prepared, programs: &ServerPrograms) -> Value {
    let mut servers = serde_json::Map::new();
    for s in &task.servers {
        let entry = match s {
            Server::Demo => json!({
                "command": programs.mcpr,
                "args": ["demo-server", "--notes-db", p.notes_db],
            }),
            Server::Time => json!({
                "command": programs.program("mcp-server-time"),
                "args": ["--local-timezone", "UTC"],
            }),
            Server::Git => json!({
                "command": programs.program("mcp-server-git"),
                "args": ["--repository", p.repo],
            }),
            Server::Sqlite => json!({
                "command": programs.program("mcp-server-sqlite"),
                "args": ["--db-path", p.sqlite_db],
            }),
        };
        servers.insert(s.name().to_string(), entry);
    }
    json!({ "mcpServers": servers })
}
