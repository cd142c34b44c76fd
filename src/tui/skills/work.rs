//! Runs the pane's jobs for the runtime: reads and changes of the library through its
//! queries on blocking threads, a skill's test (a fresh kernel) as a task; each answer
//! comes back through `done`. The library is opened once, when first needed.

use std::sync::{Arc, Mutex};

use super::{Job, Listing, Reply};
use crate::engine::query::skills::{self as query, SkillSort};
use crate::project::Project;
use crate::skills::SkillLibrary;

/// Where the pane's jobs run: the project, and its library once opened.
pub struct Worker {
    project: Arc<Project>,
    library: Arc<Mutex<Option<Arc<SkillLibrary>>>>,
}

impl Worker {
    pub fn new(project: Project) -> Worker {
        Worker {
            project: Arc::new(project),
            library: Arc::new(Mutex::new(None)),
        }
    }

    /// Starts `job`; `done` gets its reply (on another thread). Needs a tokio runtime.
    pub fn start(&self, job: Job, done: impl Fn(Reply) + Send + Sync + 'static) {
        let project = self.project.clone();
        let cache = self.library.clone();
        match job {
            Job::Test { name } => {
                tokio::spawn(async move {
                    let reply = |result| Reply::Tested {
                        name: name.clone(),
                        result,
                    };
                    let library = {
                        let (p, c) = (project.clone(), cache.clone());
                        match tokio::task::spawn_blocking(move || library(&p, &c)).await {
                            Ok(Ok(l)) => l,
                            Ok(Err(e)) => return done(reply(Err(e))),
                            Err(e) => return done(reply(Err(e.to_string()))),
                        }
                    };
                    let result = query::test(
                        &project.config.kernel,
                        None,
                        &library,
                        Some(&name),
                        &mut |_| {},
                    )
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|report| {
                        report.checks.into_iter().next().ok_or_else(|| {
                            format!("the test of {name} checked nothing (is it still there?)")
                        })
                    });
                    done(reply(result));
                });
            }
            job => {
                tokio::task::spawn_blocking(move || done(run_blocking(&project, &cache, job)));
            }
        }
    }
}

/// The project's library, opened once. Listing without a skills folder does not make
/// one (see [`run_blocking`]); changing the library needs one to exist anyway.
fn library(
    project: &Project,
    cache: &Mutex<Option<Arc<SkillLibrary>>>,
) -> Result<Arc<SkillLibrary>, String> {
    let mut cached = cache.lock().map_err(|_| "the skill library's lock broke")?;
    if let Some(l) = cached.as_ref() {
        return Ok(l.clone());
    }
    let opened = Arc::new(query::open_library(project).map_err(|e| e.to_string())?);
    *cached = Some(opened.clone());
    Ok(opened)
}

fn run_blocking(project: &Project, cache: &Mutex<Option<Arc<SkillLibrary>>>, job: Job) -> Reply {
    let dir = project.skills_dir();
    let lib = || library(project, cache);
    match job {
        Job::List { id } => {
            // Looking never creates the folder; `mcpr run` and `mcpr init` do.
            let result = if !dir.is_dir() {
                Ok(Listing::NoFolder(format!(
                    "No skills yet: {} does not exist. Steps whose code works are kept there as skills.",
                    dir.display()
                )))
            } else {
                lib().and_then(|l| {
                    query::list_with_code(&l, SkillSort::Name)
                        .map(Listing::Skills)
                        .map_err(|e| e.to_string())
                })
            };
            Reply::Listed { id, result }
        }
        Job::Trash { id } => {
            let result = if !dir.is_dir() {
                Ok(Vec::new())
            } else {
                lib().and_then(|l| query::trash(&l).map_err(|e| e.to_string()))
            };
            Reply::Trashed { id, result }
        }
        Job::Remove { name } => Reply::Removed {
            result: lib().and_then(|l| {
                query::remove(&l, &name, "removed in the console").map_err(|e| e.to_string())
            }),
            name,
        },
        Job::Restore { name, copy } => Reply::Restored {
            result: lib().and_then(|l| {
                query::restore(&l, &name, copy.as_deref()).map_err(|e| e.to_string())
            }),
            name,
        },
        Job::Plan { id, choice } => Reply::Planned {
            id,
            result: lib()
                .and_then(|l| query::prune_plan(&l, &choice.policy()).map_err(|e| e.to_string())),
        },
        Job::Prune { removals } => {
            let results = match lib() {
                Ok(l) => removals
                    .iter()
                    .map(|r| {
                        let done = query::prune_one(&l, r).map_err(|e| e.to_string());
                        (r.name.clone(), done)
                    })
                    .collect(),
                Err(e) => removals
                    .iter()
                    .map(|r| (r.name.clone(), Err(e.clone())))
                    .collect(),
            };
            Reply::Pruned { results }
        }
        Job::Test { name } => Reply::Tested {
            name,
            result: Err("a test runs as a task, not here".into()),
        },
    }
}
