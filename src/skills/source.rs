//! The library as the agent's [`SkillSource`]: the top-k relevant skills for the prompt,
//! and learning from each finished step.

use std::sync::Arc;

use super::SkillLibrary;
use crate::agent::{FinishedStep, SkillFuture, SkillSource};
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
        Box::pin(async move { super::evolve::learn(&self.library, &self.launcher, &step).await })
    }
}
