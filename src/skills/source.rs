//! The library as the agent's [`SkillSource`]: the top-k relevant skills for the prompt,
//! and learning from each finished step.

use std::sync::Arc;

use super::SkillLibrary;
use crate::agent::{FinishedStep, SkillFuture, SkillReport, SkillSource};
use crate::session::Launcher;

pub struct LibrarySource {
    library: Arc<SkillLibrary>,
    /// Starts the fresh kernels that validate new skills (the session's own launcher).
    launcher: Launcher,
}

impl LibrarySource {
    pub fn new(library: Arc<SkillLibrary>, launcher: Launcher) -> LibrarySource {
        LibrarySource { library, launcher }
    }
}

impl SkillSource for LibrarySource {
    fn relevant(&self, task: &str, k: usize) -> Vec<String> {
        // A library that cannot be read leaves the prompt without skills; the step goes on.
        self.library
            .search(task, k)
            .map(|skills| skills.iter().map(|s| s.prompt_line()).collect())
            .unwrap_or_default()
    }

    fn step_finished<'a>(&'a self, step: FinishedStep<'a>) -> SkillFuture<'a> {
        // Learning parses code in a Python process, reads and writes the library and its
        // SQLite index: blocking work, so it runs on a blocking thread and no async thread
        // (a front end's drawing among them) waits for it.
        let (library, launcher) = (self.library.clone(), self.launcher.clone());
        let (session, task, model) = (
            step.session.to_string(),
            step.task.to_string(),
            step.model.to_string(),
        );
        let (number, runs, summary) = (step.step, step.runs.to_vec(), step.summary.clone());
        Box::pin(async move {
            let runtime = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || {
                runtime.block_on(async {
                    let step = FinishedStep {
                        session: &session,
                        step: number,
                        task: &task,
                        model: &model,
                        runs: &runs,
                        summary: &summary,
                    };
                    super::evolve::learn(&library, &launcher, &step).await
                })
            })
            .await
            .unwrap_or_else(|e| SkillReport {
                not_kept: Some(format!("learning from the step failed: {e}")),
                ..SkillReport::default()
            })
        })
    }
}
