//! How the library grows: after a step, count the skills its code imported, and keep
//! the code of a successful step as a new skill when it holds reusable logic.
//!
//! Keeping goes: the analyser turns the code into a module with a `run(...)` entry
//! point (functions taken from the cell's AST; a flat script becomes `run` with the
//! task's literals as parameters, nothing left at top level to run on import) → a skill
//! with the same normalised AST is not saved again, its stats count the step instead →
//! the module is validated in a fresh kernel → it is saved under a new name or version.
//! The duplicate check is made twice: before validation (to spare a kernel) and again
//! under the library's lock when saving (another process may have saved the same code
//! while this one validated).

use super::file::Header;
use super::validate::{Check, validate};
use super::{Provenance, Saved, SkillError, SkillLibrary, stats};
use crate::agent::{FinishedStep, SkillReport};
use crate::session::Launcher;

/// What became of a step's code.
#[derive(Debug, Clone, PartialEq)]
pub enum Kept {
    /// Saved as a new skill with this name.
    Created(String),
    /// The same code as this existing skill, whose stats were updated instead.
    Duplicate(String),
    /// Not kept, and why.
    Skipped(String),
}

/// Records a finished step's skill use and keeps its code when it is worth it.
pub async fn learn(
    library: &SkillLibrary,
    launcher: &Launcher,
    step: &FinishedStep<'_>,
) -> SkillReport {
    let mut report = SkillReport::default();
    match used_by_runs(library, step.runs) {
        Ok(used) => report.used = used,
        Err(e) => report.not_kept = Some(format!("could not record skill use: {e}")),
    }
    let last_ok = step.runs.last().filter(|(_, ok)| *ok);
    let Some((code, _)) = last_ok.filter(|_| step.summary.success) else {
        return report;
    };
    let provenance = Provenance {
        session: step.session.to_string(),
        step: step.step,
        model: step.model.to_string(),
        task: step.task.to_string(),
    };
    match keep(library, launcher, code, &provenance).await {
        Ok(Kept::Created(name)) => report.created.push(name),
        Ok(Kept::Duplicate(name)) => {
            report.not_kept = Some(format!("the same code as skill {name}, which was counted"))
        }
        Ok(Kept::Skipped(why)) => report.not_kept = Some(why),
        // One line under the step, whatever went wrong.
        Err(e) => {
            report.not_kept = Some(
                e.to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        }
    }
    report
}

fn used_by_runs(
    library: &SkillLibrary,
    runs: &[(String, bool)],
) -> Result<Vec<String>, SkillError> {
    let codes: Vec<&str> = runs.iter().map(|(c, _)| c.as_str()).collect();
    let imports = library.analyzer().imports(&codes)?;
    let runs: Vec<(Vec<String>, bool)> = imports
        .into_iter()
        .zip(runs.iter().map(|(_, ok)| *ok))
        .collect();
    library.record_runs(&runs)
}

/// Turns `code` into a skill if it is worth keeping, new and valid.
pub async fn keep(
    library: &SkillLibrary,
    launcher: &Launcher,
    code: &str,
    provenance: &Provenance,
) -> Result<Kept, SkillError> {
    let extracted = library.analyzer().extract(code, &provenance.task)?;
    if !extracted.keep {
        return Ok(Kept::Skipped(
            extracted.why.unwrap_or_else(|| "not reusable".to_string()),
        ));
    }
    let listing = library.refresh()?;
    if let Some(same) = listing.skills.iter().find(|s| s.hash == extracted.hash) {
        library.note_rederived(&same.name)?;
        return Ok(Kept::Duplicate(same.name.clone()));
    }
    let header = Header {
        description: extracted.description.clone(),
        name: extracted.name.clone(),
        signature: extracted.signature.clone(),
        task: provenance.task.clone(),
        session: provenance.session.clone(),
        step: Some(provenance.step),
        created: stats::now(),
        model: provenance.model.clone(),
        version: 1,
        arguments: extracted.args.clone(),
    };
    let text = super::file::compose(&header, &extracted.source);
    let check = Check {
        name: &extracted.name,
        source: Some(&text),
        args: &extracted.args,
    };
    if let Err(why) = validate(launcher, library.dir(), &check).await {
        return Ok(Kept::Skipped(format!(
            "the skill did not pass validation: {why}"
        )));
    }
    let source = format!("session {}, step {}", provenance.session, provenance.step);
    let saved = library.save(
        &extracted.name,
        &header,
        &extracted.source,
        &source,
        &extracted.hash,
    )?;
    Ok(match saved {
        Saved::Created(name) => Kept::Created(name),
        Saved::SameAs(name) => Kept::Duplicate(name),
    })
}
