//! `mcpr skills`: review the skill library — list, show, search, remove, prune,
//! restore, and re-validate skills.

use clap::{Args, Subcommand, ValueEnum};
use std::process::ExitCode;

use super::{CliError, current_project};
use crate::project::Project;
use crate::python::{PythonInfo, wanted_python};
use crate::sandbox::IsolationRequest;
use crate::session::Launcher;
use crate::skills::index::Problem;
use crate::skills::prune::{self, Policy};
use crate::skills::validate::{Check, validate};
use crate::skills::{Found, Skill, SkillError, SkillLibrary, package};

#[derive(Debug, Args)]
pub struct SkillsArgs {
    #[command(subcommand)]
    command: SkillsCommand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SortBy {
    Name,
    /// Most used first
    Uses,
    /// Most recently used (or created) first
    Recent,
    /// Highest failure rate first
    Failing,
}

#[derive(Debug, Subcommand)]
enum SkillsCommand {
    /// List the skills with their use counts
    List {
        #[arg(long, value_enum, default_value_t = SortBy::Name)]
        sort: SortBy,
        #[arg(long)]
        json: bool,
    },
    /// Show a skill: code, stats, provenance (or, for a broken file, what is wrong)
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Rank skills for a query (what the agent's prompt would offer)
    Search {
        query: String,
        #[arg(long, default_value_t = 5)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Remove a skill or a broken skill file (it moves to skills/.trash/; `restore`
    /// brings it back)
    Rm { name: String },
    /// Remove skills by policy, saying why for each
    Prune {
        /// Skills not used for more than N days (never-used ones counted from creation)
        #[arg(long, value_name = "N")]
        unused_days: Option<f64>,
        /// Skills whose failures per use exceed R (0 to 1)
        #[arg(long, value_name = "R")]
        max_failure_rate: Option<f64>,
        /// Skills whose code equals a better-used one's (apart from defaults)
        #[arg(long)]
        duplicates: bool,
        /// Only print what would be removed
        #[arg(long)]
        dry_run: bool,
    },
    /// Bring a removed skill back from skills/.trash/
    Restore { name: String },
    /// Re-validate skills in a fresh kernel: clean import, run() accepts its arguments
    Test {
        /// Only this skill (default: all)
        name: Option<String>,
        #[arg(long, value_enum)]
        isolation: Option<IsolationRequest>,
    },
}

pub async fn run(args: SkillsArgs) -> Result<ExitCode, CliError> {
    let project = current_project()?;
    let dir = project.skills_dir();
    if !dir.is_dir() {
        // Reviewing never creates the folder; `mcpr run` and `mcpr init` do.
        return match args.command {
            SkillsCommand::List { json: true, .. } | SkillsCommand::Search { json: true, .. } => {
                outln!("[]");
                Ok(ExitCode::SUCCESS)
            }
            SkillsCommand::List { .. }
            | SkillsCommand::Search { .. }
            | SkillsCommand::Test { .. }
                if !matches!(args.command, SkillsCommand::Test { name: Some(_), .. }) =>
            {
                outln!("no skills yet: {} does not exist", dir.display());
                Ok(ExitCode::SUCCESS)
            }
            _ => Err(CliError::usage(format!(
                "no skills yet: {} does not exist (`mcpr run` keeps working code there)",
                dir.display()
            ))),
        };
    }
    let library = open_library(&project)?;
    match args.command {
        SkillsCommand::List { sort, json } => list(&library, sort, json),
        SkillsCommand::Show { name, json } => show(&library, &name, json),
        SkillsCommand::Search { query, limit, json } => search(&library, &query, limit, json),
        SkillsCommand::Rm { name } => {
            let removed = library
                .remove(&name, "removed by mcpr skills rm")
                .map_err(not_found_is_usage)?;
            match removed.problem {
                None => outln!("removed {name} (moved to {})", removed.to.display()),
                Some(why) => outln!(
                    "removed {name} (moved to {}); it was not a usable skill: {why}",
                    removed.to.display()
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        SkillsCommand::Prune {
            unused_days,
            max_failure_rate,
            duplicates,
            dry_run,
        } => {
            let policy = Policy {
                unused_days,
                max_failure_rate,
                duplicates,
            };
            prune_skills(&library, &policy, dry_run)
        }
        SkillsCommand::Restore { name } => {
            let restored = library.restore(&name).map_err(not_found_is_usage)?;
            if restored == name {
                outln!("restored {name}");
            } else {
                outln!("restored {name} as {restored} (the name {name} is taken)");
            }
            Ok(ExitCode::SUCCESS)
        }
        SkillsCommand::Test { name, isolation } => {
            test(&project, &library, name.as_deref(), isolation).await
        }
    }
}

/// The project's library; the interpreter parses skill files (it never runs them here).
fn open_library(project: &Project) -> Result<SkillLibrary, CliError> {
    let python = PythonInfo::resolve(&wanted_python(project.config.kernel.python.as_deref()))
        .map_err(CliError::failed)?;
    SkillLibrary::open(&project.skills_dir(), python).map_err(CliError::failed)
}

fn not_found_is_usage(e: SkillError) -> CliError {
    match e {
        SkillError::NotFound(m) => CliError::usage(m),
        other => CliError::failed(other),
    }
}

fn warn_problems(problems: &[Problem]) {
    for p in problems {
        errln!(
            "warning: {}: {}; skipped (the file is left as it is; `mcpr skills show` or `rm` it by name)",
            p.path.display(),
            p.message
        );
    }
}

/// Header keys that could not be read: the skill is listed, the key left empty.
fn warn_header_problems(skills: &[Skill]) {
    for s in skills {
        for problem in &s.header_problems {
            errln!("warning: {}: header: {problem}", s.path.display());
        }
    }
}

fn list(library: &SkillLibrary, sort: SortBy, json: bool) -> Result<ExitCode, CliError> {
    let listing = library.refresh().map_err(CliError::failed)?;
    warn_problems(&listing.problems);
    warn_header_problems(&listing.skills);
    let mut skills = listing.skills;
    match sort {
        SortBy::Name => {}
        SortBy::Uses => skills.sort_by_key(|s| std::cmp::Reverse(s.stats.uses)),
        SortBy::Recent => skills.sort_by(|a, b| recent(b).cmp(recent(a))),
        SortBy::Failing => skills.sort_by(|a, b| {
            let rate = |s: &Skill| s.stats.failure_rate().unwrap_or(-1.0);
            rate(b)
                .total_cmp(&rate(a))
                .then(b.stats.failures.cmp(&a.stats.failures))
        }),
    }
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&skills).map_err(CliError::failed)?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if skills.is_empty() {
        outln!("no skills yet in {}", library.dir().display());
        return Ok(ExitCode::SUCCESS);
    }
    let width = skills
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    outln!(
        "{:<width$}  {:>4}  {:>4}  {:>4}  {:<20}  DESCRIPTION",
        "NAME",
        "USES",
        "OK",
        "FAIL",
        "LAST USED"
    );
    for s in &skills {
        outln!(
            "{:<width$}  {:>4}  {:>4}  {:>4}  {:<20}  {}",
            s.name,
            s.stats.uses,
            s.stats.successes,
            s.stats.failures,
            s.stats.last_used.as_deref().unwrap_or("never"),
            s.description
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// When a skill was last used, else created (sortable text).
fn recent(s: &Skill) -> &str {
    s.stats
        .last_used
        .as_deref()
        .or(s.stats.created.as_deref())
        .unwrap_or(s.header.created.as_str())
}

fn show(library: &SkillLibrary, name: &str, json: bool) -> Result<ExitCode, CliError> {
    let skill = match library.lookup(name).map_err(not_found_is_usage)? {
        Found::Skill(skill) => skill,
        Found::Problem(problem) => return show_problem(name, &problem, json),
    };
    let code = std::fs::read_to_string(&skill.path)
        .map_err(|e| CliError::failed(format!("{}: {e}", skill.path.display())))?;
    if json {
        let mut value = serde_json::to_value(&skill).map_err(CliError::failed)?;
        value["code"] = code.into();
        outln!(
            "{}",
            serde_json::to_string_pretty(&value).map_err(CliError::failed)?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let h = &skill.header;
    let st = &skill.stats;
    outln!("{} — {}", skill.name, skill.description);
    outln!("  file:       {}", skill.path.display());
    outln!("  signature:  {}", skill.signature);
    if !h.task.is_empty() {
        outln!("  task:       {}", h.task);
    }
    let mut provenance = Vec::new();
    if !h.session.is_empty() {
        provenance.push(format!("session {}", h.session));
    }
    if let Some(step) = h.step {
        provenance.push(format!("step {step}"));
    }
    if !h.model.is_empty() {
        provenance.push(format!("model {}", h.model));
    }
    if !h.created.is_empty() {
        provenance.push(format!("created {}", h.created));
    }
    provenance.push(format!("version {}", h.version));
    outln!("  provenance: {}", provenance.join(", "));
    if !skill.tools.is_empty() {
        outln!("  tools:      {}", skill.tools.join(", "));
    }
    for problem in &skill.header_problems {
        outln!("  header: {problem}");
    }
    outln!(
        "  stats:      {} uses ({} succeeded, {} failed), last used {}, written again {} times",
        st.uses,
        st.successes,
        st.failures,
        st.last_used.as_deref().unwrap_or("never"),
        st.rederived
    );
    outln!("\n{}", code.trim_end());
    Ok(ExitCode::SUCCESS)
}

/// A file in the folder that is not a usable skill: what is wrong, then its text (lossy
/// when it is not UTF-8), so it can be fixed or removed.
fn show_problem(name: &str, problem: &Problem, json: bool) -> Result<ExitCode, CliError> {
    let text = std::fs::read(&problem.path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .map_err(|e| CliError::failed(format!("{}: {e}", problem.path.display())))?;
    if json {
        let value = serde_json::json!({
            "name": name,
            "path": problem.path,
            "problem": problem.message,
            "code": text,
        });
        outln!(
            "{}",
            serde_json::to_string_pretty(&value).map_err(CliError::failed)?
        );
        return Ok(ExitCode::SUCCESS);
    }
    outln!("{name} — not a usable skill: {}", problem.message);
    outln!("  file:       {}", problem.path.display());
    outln!("  fix the file (the index picks it up) or remove it: `mcpr skills rm {name}`");
    outln!("\n{}", text.trim_end());
    Ok(ExitCode::SUCCESS)
}

fn search(
    library: &SkillLibrary,
    query: &str,
    limit: usize,
    json: bool,
) -> Result<ExitCode, CliError> {
    let hits = library.search(query, limit).map_err(CliError::failed)?;
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&hits).map_err(CliError::failed)?
        );
    } else if hits.is_empty() {
        outln!("no skill matches {query:?}");
    } else {
        for s in &hits {
            outln!("{}", s.prompt_line());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn prune_skills(
    library: &SkillLibrary,
    policy: &Policy,
    dry_run: bool,
) -> Result<ExitCode, CliError> {
    if policy.is_empty() {
        return Err(CliError::usage(
            "say what to prune: --unused-days N, --max-failure-rate R and/or --duplicates (add --dry-run to only look)",
        ));
    }
    if let Some(d) = policy.unused_days
        && !(d >= 0.0 && d.is_finite())
    {
        return Err(CliError::usage(format!(
            "--unused-days must be a number of days ≥ 0, got {d}"
        )));
    }
    if let Some(r) = policy.max_failure_rate
        && !(0.0..=1.0).contains(&r)
    {
        return Err(CliError::usage(format!(
            "--max-failure-rate must be between 0 and 1, got {r}"
        )));
    }
    let listing = library.refresh().map_err(CliError::failed)?;
    warn_problems(&listing.problems);
    let removals = prune::plan(&listing, policy, jiff::Timestamp::now());
    if removals.is_empty() {
        outln!("nothing to prune");
        return Ok(ExitCode::SUCCESS);
    }
    for r in &removals {
        let why = r.reasons.join("; ");
        if dry_run {
            outln!("would remove {}: {why}", r.name);
        } else {
            let removed = library
                .remove(&r.name, &format!("pruned: {why}"))
                .map_err(CliError::failed)?;
            outln!(
                "removed {}: {why} (moved to {})",
                r.name,
                removed.to.display()
            );
        }
    }
    if dry_run {
        outln!(
            "dry run: {} skill(s) would be removed; nothing changed",
            removals.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn test(
    project: &Project,
    library: &SkillLibrary,
    name: Option<&str>,
    isolation: Option<IsolationRequest>,
) -> Result<ExitCode, CliError> {
    let listing = library.refresh().map_err(CliError::failed)?;
    let (skills, problems): (Vec<Skill>, Vec<Problem>) = match name {
        Some(n) => match library.lookup(n).map_err(not_found_is_usage)? {
            Found::Skill(skill) => (vec![*skill], Vec::new()),
            Found::Problem(problem) => (Vec::new(), vec![problem]),
        },
        None => (listing.skills.clone(), listing.problems.clone()),
    };
    let mut failed = 0;
    for p in &problems {
        outln!("FAILED {}: {}", p.path.display(), p.message);
        failed += 1;
    }
    if skills.is_empty() && failed == 0 {
        outln!("no skills to test in {}", library.dir().display());
        return Ok(ExitCode::SUCCESS);
    }
    let launcher =
        Launcher::from_config(&project.config.kernel, isolation).map_err(CliError::failed)?;
    let launcher = package::mount(launcher, library.dir());
    for skill in &skills {
        let check = Check {
            name: &skill.name,
            source: None,
            args: &skill.header.arguments,
        };
        match validate(&launcher, library.dir(), &check).await {
            Ok(()) => outln!("ok     {} {}", skill.name, skill.signature),
            Err(why) => {
                failed += 1;
                outln!("FAILED {}: {why}", skill.name);
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
