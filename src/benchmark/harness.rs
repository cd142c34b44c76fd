//! Runs the grid of tasks × arms × repeats, `parallel` at a time, appending one JSON line
//! per finished run to the results file. A run already in the file is not run again, so
//! an interrupted benchmark resumes where it stopped; a line cut short by the
//! interruption is dropped and its run done again.

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::arms::{self, Arm, ArmRun};
use super::function_calling::Limits;
use super::setup::{self, ServerPrograms};
use super::task::{Category, Level, Task};
use super::validate;
use crate::llm::openai::OpenAiProvider;
use crate::session::Launcher;

/// One line of the results file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub task: String,
    pub category: Category,
    pub level: Level,
    pub arm: Arm,
    pub repeat: u32,
    pub solved: bool,
    /// Why the validator said no.
    #[serde(default)]
    pub failures: Vec<String>,
    pub wall_ms: f64,
    pub model_calls: u32,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub tool_calls: u32,
    pub retries: u32,
    #[serde(default)]
    pub errors: Vec<String>,
    #[serde(default)]
    pub model: String,
    /// The start of the answer, for reading the results.
    #[serde(default)]
    pub answer: String,
}

impl Outcome {
    fn key(&self) -> (String, Arm, u32) {
        (self.task.clone(), self.arm, self.repeat)
    }
}

/// Everything one benchmark run needs.
pub struct Plan {
    pub tasks: Vec<Task>,
    pub arms: Vec<Arm>,
    pub repeat: u32,
    pub parallel: usize,
    pub results: PathBuf,
    /// Run folders go here (one per run, removed after it unless `keep`).
    pub work_dir: PathBuf,
    pub keep: bool,
    pub limits: Limits,
    pub launcher: Launcher,
    pub programs: ServerPrograms,
    pub provider: Option<Arc<OpenAiProvider>>,
}

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("cannot use the results file {path}: {why}")]
    Results { path: PathBuf, why: String },
    #[error(
        "the {0} arm needs a model: give --model and --base-url (any OpenAI-compatible endpoint)"
    )]
    NoModel(&'static str),
}

/// Finished runs in a results file; a missing file is an empty one, a cut-off last line
/// is dropped (and the file truncated to the last whole line).
pub fn load_results(path: &Path) -> Result<Vec<Outcome>, HarnessError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(HarnessError::Results {
                path: path.to_path_buf(),
                why: e.to_string(),
            });
        }
    };
    let mut out = Vec::new();
    let mut whole = 0;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let complete = line.ends_with('\n');
        match serde_json::from_str::<Outcome>(line.trim_end()) {
            Ok(o) if complete => {
                out.push(o);
                whole += line.len();
            }
            _ if !complete => break,
            Err(e) => {
                return Err(HarnessError::Results {
                    path: path.to_path_buf(),
                    why: format!(
                        "line {} is not a result ({e}); move the file away to start afresh",
                        n + 1
                    ),
                });
            }
            Ok(_) => {}
        }
    }
    if whole < text.len() {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(whole as u64));
        file.map_err(|e| HarnessError::Results {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
    }
    Ok(out)
}

/// One run to do.
#[derive(Debug, Clone)]
struct Job {
    task: usize,
    arm: Arm,
    repeat: u32,
}

/// Runs what the results file does not hold yet; returns every result (old and new).
pub async fn run(
    plan: &Plan,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Vec<Outcome>, HarnessError> {
    if let Some(arm) = plan.arms.iter().find(|a| a.needs_model())
        && plan.provider.is_none()
    {
        return Err(HarnessError::NoModel(arm.name()));
    }
    let mut results = load_results(&plan.results)?;
    let done: HashSet<(String, Arm, u32)> = results.iter().map(Outcome::key).collect();
    let mut jobs = Vec::new();
    for repeat in 1..=plan.repeat.max(1) {
        for (i, task) in plan.tasks.iter().enumerate() {
            for arm in &plan.arms {
                if !done.contains(&(task.id.clone(), *arm, repeat)) {
                    jobs.push(Job {
                        task: i,
                        arm: *arm,
                        repeat,
                    });
                }
            }
        }
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&plan.results)
        .map_err(|e| HarnessError::Results {
            path: plan.results.clone(),
            why: e.to_string(),
        })?;
    let mut state = Progress {
        total: jobs.len(),
        done: 0,
        solved: 0,
        started: Instant::now(),
        last: None,
    };
    progress(&state);
    let mut stream = futures::stream::iter(jobs)
        .map(|job| run_job(plan, job))
        .buffer_unordered(plan.parallel.max(1));
    while let Some(outcome) = stream.next().await {
        let line = serde_json::to_string(&outcome).unwrap_or_default();
        writeln!(file, "{line}")
            .and_then(|()| file.flush())
            .map_err(|e| HarnessError::Results {
                path: plan.results.clone(),
                why: e.to_string(),
            })?;
        state.done += 1;
        state.solved += usize::from(outcome.solved);
        state.last = Some(format!(
            "{} {} {}",
            outcome.task,
            outcome.arm.name(),
            if outcome.solved { "solved" } else { "failed" }
        ));
        progress(&state);
        results.push(outcome);
    }
    Ok(results)
}

/// Where a run is, for the progress bar.
#[derive(Debug, Clone)]
pub struct Progress {
    pub total: usize,
    pub done: usize,
    pub solved: usize,
    pub started: Instant,
    pub last: Option<String>,
}

impl Progress {
    /// `[#####     ] 12/60 solved 9  3m02s left · task arm solved`
    pub fn line(&self, width: usize) -> String {
        let filled = (self.done * width).checked_div(self.total).unwrap_or(width);
        let bar: String = "#".repeat(filled) + &" ".repeat(width - filled.min(width));
        let eta = match self.done {
            0 => "ETA —".to_string(),
            d => {
                let per = self.started.elapsed().as_secs_f64() / d as f64;
                let left = per * (self.total - d) as f64;
                format!("{} left", clock(left))
            }
        };
        format!(
            "[{bar}] {}/{} solved {}  {eta}{}",
            self.done,
            self.total,
            self.solved,
            self.last
                .as_ref()
                .map(|l| format!(" · {l}"))
                .unwrap_or_default()
        )
    }
}

fn clock(seconds: f64) -> String {
    let s = seconds.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

async fn run_job(plan: &Plan, job: Job) -> Outcome {
    let task = &plan.tasks[job.task];
    let root = plan.work_dir.join(format!(
        "{}-{}-{}-{}",
        task.id,
        job.arm.name(),
        job.repeat,
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&root);
    let started = Instant::now();
    let (run, verdict) = match setup::prepare(task, &root, &plan.programs) {
        Err(e) => (
            ArmRun {
                errors: vec![e.to_string()],
                ..ArmRun::default()
            },
            None,
        ),
        Ok(prepared) => {
            let launcher = plan.launcher.clone();
            let run = match (job.arm, &plan.provider) {
                (Arm::Reference, _) => arms::reference(task, &prepared, launcher).await,
                (Arm::Code, Some(p)) => {
                    arms::code(task, &prepared, launcher, p.clone(), &plan.limits).await
                }
                (Arm::Json, Some(p)) => arms::json(task, &prepared, p, &plan.limits).await,
                (arm, None) => ArmRun {
                    errors: vec![HarnessError::NoModel(arm.name()).to_string()],
                    ..ArmRun::default()
                },
            };
            let verdict = validate::validate(task, &prepared, &run.answer);
            (run, Some(verdict))
        }
    };
    let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
    if !plan.keep {
        let _ = std::fs::remove_dir_all(&root);
    }
    let verdict = verdict.unwrap_or_default();
    Outcome {
        task: task.id.clone(),
        category: task.category,
        level: task.level,
        arm: job.arm,
        repeat: job.repeat,
        solved: verdict.solved,
        failures: verdict.failures,
        wall_ms,
        model_calls: run.model_calls,
        prompt_tokens: run.prompt_tokens,
        completion_tokens: run.completion_tokens,
        tool_calls: run.tool_calls,
        retries: run.retries,
        errors: run.errors,
        model: run.model,
        answer: run.answer.chars().take(300).collect(),
    }
}
