//! The skill library as queries: list, show, search, remove, restore, the prune plan and
//! re-validation, each returning data (see [`crate::skills`] for the library itself).

use serde::Serialize;
use std::path::PathBuf;

use super::QueryError;
use crate::project::{KernelConfig, Project};
use crate::python::{PythonInfo, wanted_python};
use crate::sandbox::IsolationRequest;
use crate::session::Launcher;
use crate::skills::index::Problem;
use crate::skills::prune::{self, Policy, Removal};
use crate::skills::stats::Stats;
use crate::skills::validate::{Check, validate};
use crate::skills::{Found, Skill, SkillLibrary, package};

/// The project's skill library (its folder is created if missing: callers that only
/// look check [`Project::skills_dir`] first). The project's interpreter parses skill
/// files; it never runs them here.
pub fn open_library(project: &Project) -> Result<SkillLibrary, QueryError> {
    let python = PythonInfo::resolve(&wanted_python(project.config.kernel.python.as_deref()))
        .map_err(|e| QueryError::Skills(e.to_string()))?;
    Ok(SkillLibrary::open(&project.skills_dir(), python)?)
}

/// The order of a skill list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkillSort {
    #[default]
    Name,
    /// Most used first.
    Uses,
    /// Most recently used (or created) first.
    Recent,
    /// Highest failure rate first (then most failures).
    Failing,
}

/// The usable skills, and the files in the folder that are not (left as they are).
#[derive(Debug, Clone, Serialize)]
pub struct SkillList {
    pub skills: Vec<Skill>,
    pub problems: Vec<Problem>,
}

/// The skills of `library` in `sort` order. Header keys that could not be read are in
/// each skill's `header_problems`.
pub fn list(library: &SkillLibrary, sort: SkillSort) -> Result<SkillList, QueryError> {
    let listing = library.refresh()?;
    let mut skills = listing.skills;
    match sort {
        SkillSort::Name => {}
        SkillSort::Uses => skills.sort_by_key(|s| std::cmp::Reverse(s.stats.uses)),
        SkillSort::Recent => skills.sort_by(|a, b| recent(b).cmp(recent(a))),
        SkillSort::Failing => skills.sort_by(|a, b| {
            let rate = |s: &Skill| s.stats.failure_rate().unwrap_or(-1.0);
            rate(b)
                .total_cmp(&rate(a))
                .then(b.stats.failures.cmp(&a.stats.failures))
        }),
    }
    Ok(SkillList {
        skills,
        problems: listing.problems,
    })
}

/// When a skill was last used, else created (sortable text).
fn recent(s: &Skill) -> &str {
    s.stats
        .last_used
        .as_deref()
        .or(s.stats.created.as_deref())
        .unwrap_or(s.header.created.as_str())
}

/// A usable skill with its file's text.
#[derive(Debug, Clone, Serialize)]
pub struct SkillShown {
    #[serde(flatten)]
    pub skill: Skill,
    pub code: String,
}

/// A file `<name>.py` that is not a usable skill: what is wrong, and its text (lossy when
/// it is not UTF-8), so it can be fixed or removed.
#[derive(Debug, Clone, Serialize)]
pub struct BrokenSkill {
    pub name: String,
    pub path: PathBuf,
    pub problem: String,
    pub code: String,
}

/// What a name in the library is.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum SkillDetail {
    Skill(Box<SkillShown>),
    Broken(BrokenSkill),
}

/// The skill `name` (or the broken file of that name) with its text.
pub fn show(library: &SkillLibrary, name: &str) -> Result<SkillDetail, QueryError> {
    match library.lookup(name)? {
        Found::Skill(skill) => {
            let code = std::fs::read_to_string(&skill.path)
                .map_err(|e| QueryError::Io(format!("{}: {e}", skill.path.display())))?;
            Ok(SkillDetail::Skill(Box::new(SkillShown {
                skill: *skill,
                code,
            })))
        }
        Found::Problem(problem) => {
            let code = std::fs::read(&problem.path)
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .map_err(|e| QueryError::Io(format!("{}: {e}", problem.path.display())))?;
            Ok(SkillDetail::Broken(BrokenSkill {
                name: name.to_string(),
                path: problem.path,
                problem: problem.message,
                code,
            }))
        }
    }
}

/// The usable skills with their files' text, and the files that are not skills.
#[derive(Debug, Clone, Serialize)]
pub struct ShownList {
    pub skills: Vec<SkillShown>,
    pub problems: Vec<Problem>,
}

/// The skills of `library` in `sort` order with the text of their files: what a review
/// screen filters (names, descriptions and code) and shows without asking again. A file
/// removed between the listing and the read (another process) is left out.
pub fn list_with_code(library: &SkillLibrary, sort: SkillSort) -> Result<ShownList, QueryError> {
    let listed = list(library, sort)?;
    let mut skills = Vec::with_capacity(listed.skills.len());
    for skill in listed.skills {
        let code = match std::fs::read_to_string(&skill.path) {
            Ok(code) => code,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(QueryError::Io(format!("{}: {e}", skill.path.display()))),
        };
        skills.push(SkillShown { skill, code });
    }
    Ok(ShownList {
        skills,
        problems: listed.problems,
    })
}

/// A removed skill in the trash: what it was, when and why it went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrashedSkill {
    /// The name `restore` takes (the latest removal of a name comes back first).
    pub name: String,
    pub file: PathBuf,
    /// The first line of its docstring.
    pub description: String,
    /// When it was removed, as stored beside it; None for a file put there by hand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed: Option<String>,
    /// Why (`removed by mcpr skills rm`, `pruned: unused for 40 days`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Its usage when it was removed (it comes back with it).
    pub stats: Stats,
}

/// The trash, most recently removed first. Nothing in it is run or parsed by Python: the
/// description is read from the docstring's first line as text.
pub fn trash(library: &SkillLibrary) -> Result<Vec<TrashedSkill>, QueryError> {
    let mut out = Vec::new();
    for (name, file) in library.trashed()? {
        let side: serde_json::Value = std::fs::read_to_string(crate::skills::stats_beside(&file))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        let text = |key: &str| side[key].as_str().map(str::to_string);
        let description = std::fs::read(&file)
            .map(|bytes| first_doc_line(&String::from_utf8_lossy(&bytes)))
            .unwrap_or_default();
        out.push(TrashedSkill {
            name,
            description,
            removed: text("removed"),
            reason: text("reason"),
            stats: serde_json::from_value(side["stats"].clone()).unwrap_or_default(),
            file,
        });
    }
    // Newest first; the times are ISO 8601 in UTC, so text order is time order.
    out.sort_by(|a, b| b.removed.cmp(&a.removed));
    Ok(out)
}

/// The first line of a module docstring (`"""What it does`), or "".
fn first_doc_line(text: &str) -> String {
    let text = text.trim_start();
    let Some(rest) = ["\"\"\"", "'''", "r\"\"\"", "r'''"]
        .iter()
        .find_map(|q| text.strip_prefix(q))
    else {
        return String::new();
    };
    let line = rest.lines().next().unwrap_or("");
    let line = line.split("\"\"\"").next().unwrap_or("");
    line.split("'''").next().unwrap_or("").trim().to_string()
}

/// The skills ranked for `query`, best first (what the agent's prompt would offer).
pub fn search(library: &SkillLibrary, query: &str, limit: usize) -> Result<Vec<Skill>, QueryError> {
    Ok(library.search(query, limit)?)
}

/// A skill (or broken file) moved to the trash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkillRemoved {
    pub name: String,
    /// Where the file went (`skills/.trash/…`).
    pub to: PathBuf,
    /// Why it was not a usable skill, when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Moves skill `name` to the trash, noting `reason` beside it.
pub fn remove(
    library: &SkillLibrary,
    name: &str,
    reason: &str,
) -> Result<SkillRemoved, QueryError> {
    let removed = library.remove(name, reason)?;
    Ok(SkillRemoved {
        name: name.to_string(),
        to: removed.to,
        problem: removed.problem,
    })
}

/// A skill brought back from the trash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkillRestored {
    pub name: String,
    /// The name it got: `name`, or the next free version when `name` was taken since.
    pub restored_as: String,
}

/// Brings the latest removed `name` back.
/// Brings back `name` from the trash: the removed copy whose trash file is `copy` (as
/// [`trash`] lists it), or the most recent removal.
pub fn restore(
    library: &SkillLibrary,
    name: &str,
    copy: Option<&str>,
) -> Result<SkillRestored, QueryError> {
    let restored_as = library.restore_copy(name, copy)?;
    Ok(SkillRestored {
        name: name.to_string(),
        restored_as,
    })
}

/// What a prune policy would remove, and the files it cannot judge.
#[derive(Debug, Clone, Serialize)]
pub struct PrunePlan {
    /// In name order, each with every reason that applies.
    pub removals: Vec<Removal>,
    /// Files that are not usable skills (never pruned; `rm` them by name).
    pub problems: Vec<Problem>,
}

/// What `policy` would remove now. Nothing is changed: [`prune_one`] removes.
pub fn prune_plan(library: &SkillLibrary, policy: &Policy) -> Result<PrunePlan, QueryError> {
    let listing = library.refresh()?;
    Ok(PrunePlan {
        removals: prune::plan(&listing, policy, jiff::Timestamp::now()),
        problems: listing.problems,
    })
}

/// The reasons of a planned removal, in one line.
pub fn prune_reason(removal: &Removal) -> String {
    removal.reasons.join("; ")
}

/// Removes one skill of a prune plan (to the trash, the reasons noted beside it).
pub fn prune_one(library: &SkillLibrary, removal: &Removal) -> Result<SkillRemoved, QueryError> {
    remove(
        library,
        &removal.name,
        &format!("pruned: {}", prune_reason(removal)),
    )
}

/// The outcome of re-validating one file of the library.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum SkillCheck {
    /// A file that is not a usable skill (it fails without a kernel).
    Broken {
        path: PathBuf,
        message: String,
    },
    /// Imports cleanly and `run` accepts its recorded arguments.
    Passed {
        name: String,
        signature: String,
    },
    Failed {
        name: String,
        why: String,
    },
}

impl SkillCheck {
    pub fn passed(&self) -> bool {
        matches!(self, SkillCheck::Passed { .. })
    }
}

/// Every check made, in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkillTestReport {
    pub checks: Vec<SkillCheck>,
    pub failed: usize,
}

/// Re-validates `name` (default: every skill, broken files counting as failures) in fresh
/// kernels started from `kernel` at `isolation`. `on_check` sees each outcome as soon as
/// it is known (broken files first; each skill takes a kernel start).
pub async fn test(
    kernel: &KernelConfig,
    isolation: Option<IsolationRequest>,
    library: &SkillLibrary,
    name: Option<&str>,
    on_check: &mut (dyn FnMut(&SkillCheck) + Send),
) -> Result<SkillTestReport, QueryError> {
    let listing = library.refresh()?;
    let (skills, problems): (Vec<Skill>, Vec<Problem>) = match name {
        Some(n) => match library.lookup(n)? {
            Found::Skill(skill) => (vec![*skill], Vec::new()),
            Found::Problem(problem) => (Vec::new(), vec![problem]),
        },
        None => (listing.skills, listing.problems),
    };
    let mut report = SkillTestReport {
        checks: Vec::new(),
        failed: 0,
    };
    let mut note = |check: SkillCheck, report: &mut SkillTestReport| {
        on_check(&check);
        if !check.passed() {
            report.failed += 1;
        }
        report.checks.push(check);
    };
    for p in problems {
        note(
            SkillCheck::Broken {
                path: p.path,
                message: p.message,
            },
            &mut report,
        );
    }
    if skills.is_empty() {
        return Ok(report);
    }
    let launcher =
        Launcher::from_config(kernel, isolation).map_err(|e| QueryError::Skills(e.to_string()))?;
    let launcher = package::mount(launcher, library.dir());
    for skill in &skills {
        let check = Check {
            name: &skill.name,
            source: None,
            args: &skill.header.arguments,
        };
        let outcome = match validate(&launcher, library.dir(), &check).await {
            Ok(()) => SkillCheck::Passed {
                name: skill.name.clone(),
                signature: skill.signature.clone(),
            },
            Err(why) => SkillCheck::Failed {
                name: skill.name.clone(),
                why,
            },
        };
        note(outcome, &mut report);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::first_doc_line;

    #[test]
    fn the_description_is_the_docstrings_first_line() {
        assert_eq!(
            first_doc_line("\"\"\"Greet someone.\n\nname: greet\n\"\"\"\n"),
            "Greet someone."
        );
        assert_eq!(
            first_doc_line("  '''One line.'''\ndef run(): pass\n"),
            "One line."
        );
        assert_eq!(first_doc_line("def run(): pass\n"), "");
        assert_eq!(first_doc_line(""), "");
    }
}
