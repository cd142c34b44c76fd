//! `mcpr skills`: review the skill library — list, show, search, remove, prune,
//! restore, and re-validate skills.

use clap::{Args, Subcommand, ValueEnum};
use std::process::ExitCode;

use super::{CliError, current_project, query_error};
use crate::engine::query::skills::{self as query, SkillCheck, SkillDetail, SkillSort};
use crate::project::Project;
use crate::sandbox::IsolationRequest;
use crate::skills::index::Problem;
use crate::skills::prune::Policy;
use crate::skills::{Skill, SkillLibrary};

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
    let library = query::open_library(&project).map_err(query_error)?;
    match args.command {
        SkillsCommand::List { sort, json } => list(&library, sort, json),
        SkillsCommand::Show { name, json } => show(&library, &name, json),
        SkillsCommand::Search { query, limit, json } => search(&library, &query, limit, json),
        SkillsCommand::Rm { name } => {
            let removed =
                query::remove(&library, &name, "removed by mcpr skills rm").map_err(query_error)?;
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
            let restored = query::restore(&library, &name, None)
                .map_err(query_error)?
                .restored_as;
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
    let sort = match sort {
        SortBy::Name => SkillSort::Name,
        SortBy::Uses => SkillSort::Uses,
        SortBy::Recent => SkillSort::Recent,
        SortBy::Failing => SkillSort::Failing,
    };
    let listing = query::list(library, sort).map_err(query_error)?;
    warn_problems(&listing.problems);
    warn_header_problems(&listing.skills);
    let skills = listing.skills;
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

fn show(library: &SkillLibrary, name: &str, json: bool) -> Result<ExitCode, CliError> {
    let detail = query::show(library, name).map_err(query_error)?;
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&detail).map_err(CliError::failed)?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let shown = match detail {
        SkillDetail::Skill(shown) => shown,
        SkillDetail::Broken(b) => {
            outln!("{name} — not a usable skill: {}", b.problem);
            outln!("  file:       {}", b.path.display());
            outln!("  fix the file (the index picks it up) or remove it: `mcpr skills rm {name}`");
            outln!("\n{}", b.code.trim_end());
            return Ok(ExitCode::SUCCESS);
        }
    };
    let (skill, code) = (&shown.skill, &shown.code);
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

fn search(
    library: &SkillLibrary,
    query: &str,
    limit: usize,
    json: bool,
) -> Result<ExitCode, CliError> {
    let hits = query::search(library, query, limit).map_err(CliError::failed)?;
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
    let plan = query::prune_plan(library, policy).map_err(CliError::failed)?;
    warn_problems(&plan.problems);
    let removals = plan.removals;
    if removals.is_empty() {
        outln!("nothing to prune");
        return Ok(ExitCode::SUCCESS);
    }
    for r in &removals {
        let why = query::prune_reason(r);
        if dry_run {
            outln!("would remove {}: {why}", r.name);
        } else {
            let removed = query::prune_one(library, r).map_err(CliError::failed)?;
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
    let report = query::test(
        &project.config.kernel,
        isolation,
        library,
        name,
        &mut |check| match check {
            SkillCheck::Broken { path, message } => {
                outln!("FAILED {}: {message}", path.display())
            }
            SkillCheck::Passed { name, signature } => outln!("ok     {name} {signature}"),
            SkillCheck::Failed { name, why } => outln!("FAILED {name}: {why}"),
        },
    )
    .await
    .map_err(query_error)?;
    if report.checks.is_empty() {
        outln!("no skills to test in {}", library.dir().display());
    }
    Ok(if report.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
