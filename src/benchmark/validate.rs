//! Whether a run solved its task: the answer's text against the task's `[check]`, and the
//! side effects where they landed (the notes database, the sqlite database, the
//! workspace, the git repository). Reads only; workspace files through `ConfinedDir`,
//! since the sandboxed code may have planted links there.

use std::path::Path;
use std::process::Command;

use super::setup::Prepared;
use super::task::{Query, Task};
use crate::sandbox::confined::ConfinedDir;

/// The validator's finding: solved when nothing failed.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Verdict {
    pub solved: bool,
    /// Each check that failed, in words.
    pub failures: Vec<String>,
}

pub fn validate(task: &Task, run: &Prepared, answer: &str) -> Verdict {
    let mut failures = Vec::new();
    let lower = answer.to_lowercase();
    for text in &task.check.contains {
        if !lower.contains(&text.to_lowercase()) {
            failures.push(format!("the answer does not contain {text:?}"));
        }
    }
    for text in &task.check.absent {
        if lower.contains(&text.to_lowercase()) {
            failures.push(format!("the answer contains {text:?}, which is wrong here"));
        }
    }
    let stated = numbers_in(answer);
    for n in &task.check.numbers {
        if !stated.iter().any(|s| close(*s, *n)) {
            failures.push(format!("the answer does not state the number {n}"));
        }
    }
    for q in &task.check.notes {
        check_query(&run.notes_db, "notes database", q, &mut failures);
    }
    for q in &task.check.sqlite {
        check_query(&run.sqlite_db, "sqlite database", q, &mut failures);
    }
    for f in &task.check.files {
        match read_workspace_file(&run.workspace, &f.path) {
            Ok(text) => {
                for want in &f.contains {
                    if !text.to_lowercase().contains(&want.to_lowercase()) {
                        failures.push(format!("{} does not contain {want:?}", f.path));
                    }
                }
            }
            Err(e) => failures.push(format!("{} cannot be read: {e}", f.path)),
        }
    }
    for b in &task.check.branches {
        if !branch_exists(&run.repo, b) {
            failures.push(format!("the repository has no branch {b:?}"));
        }
    }
    Verdict {
        solved: failures.is_empty(),
        failures,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 0.01_f64.max(b.abs() * 0.001)
}

/// Numbers written in a text: `-12`, `3.5`, `1,234` (thousands separators dropped).
pub fn numbers_in(text: &str) -> Vec<f64> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_number = chars[i].is_ascii_digit()
            || (chars[i] == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit));
        if !starts_number {
            i += 1;
            continue;
        }
        let mut s = String::new();
        if chars[i] == '-' {
            s.push('-');
            i += 1;
        }
        while i < chars.len() {
            let c = chars[i];
            let digit_follows = chars.get(i + 1).is_some_and(char::is_ascii_digit);
            let decimal_point = c == '.' && digit_follows && !s.contains('.');
            if c.is_ascii_digit() || decimal_point {
                s.push(c);
            } else if c == ','
                && (i + 1..=i + 3).all(|j| chars.get(j).is_some_and(char::is_ascii_digit))
                && !chars.get(i + 4).is_some_and(char::is_ascii_digit)
            {
                // A thousands separator: exactly three digits follow.
            } else {
                break;
            }
            i += 1;
        }
        if let Ok(v) = s.parse::<f64>() {
            out.push(v);
        }
    }
    out
}

fn check_query(db: &Path, what: &str, q: &Query, failures: &mut Vec<String>) {
    let got = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| {
            c.query_row(&q.sql, [], |row| {
                let v: rusqlite::types::Value = row.get(0)?;
                Ok(match v {
                    rusqlite::types::Value::Null => "NULL".to_string(),
                    rusqlite::types::Value::Integer(i) => i.to_string(),
                    rusqlite::types::Value::Real(r) => r.to_string(),
                    rusqlite::types::Value::Text(t) => t,
                    rusqlite::types::Value::Blob(b) => format!("{} bytes", b.len()),
                })
            })
        });
    match got {
        Ok(v) if v == q.equals => {}
        Ok(v) => failures.push(format!(
            "in the {what}, `{}` gives {v:?}, not {:?}",
            q.sql, q.equals
        )),
        Err(e) => failures.push(format!("in the {what}, `{}` failed: {e}", q.sql)),
    }
}

fn read_workspace_file(workspace: &Path, rel: &str) -> std::io::Result<String> {
    let bytes = ConfinedDir::open(workspace)?.read(rel)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn branch_exists(repo: &Path, branch: &str) -> bool {
    Command::new("git")
        .args(["rev-parse", "--verify", "--quiet"])
        .arg(format!("refs/heads/{branch}"))
        .current_dir(repo)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[cfg(test)]
mod tests {
    use super::numbers_in;

    #[test]
    fn numbers_are_read_as_written() {
        assert_eq!(
            numbers_in("It is 18.5 degrees, -3 at night; 1,234 people and 1,5 goats."),
            vec![18.5, -3.0, 1234.0, 1.0, 5.0]
        );
        assert_eq!(numbers_in("sha abc123"), vec![123.0]);
    }
}
