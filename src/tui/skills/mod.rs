//! The skills pane: the project's skill library as a sortable, filterable table; a
//! skill's detail (highlighted code, signature, provenance, stats, a test in a fresh
//! kernel); delete to the trash and restore; prune by policy with a preview. Every read
//! and change of the library is a [`Job`] the runtime runs off the UI thread through the
//! library's queries ([`crate::engine::query::skills`]); its [`Reply`] comes back as an
//! action. Nothing here touches the files itself.

pub mod render;
mod replies;
pub mod state;
pub mod update;
pub mod work;

pub use state::SkillsView;

use crate::engine::query::skills::{
    PrunePlan, ShownList, SkillCheck, SkillRemoved, SkillRestored, TrashedSkill,
};
use crate::skills::prune::Removal;

use super::state::State;

/// Work on the library, run by the runtime off the UI thread.
#[derive(Debug, Clone, PartialEq)]
pub enum Job {
    /// The skills with their code (`id` drops stale answers).
    List {
        id: u64,
    },
    Trash {
        id: u64,
    },
    /// The library's own test of one skill, in a fresh kernel.
    Test {
        name: String,
    },
    Remove {
        name: String,
    },
    Restore {
        name: String,
        /// Which removed copy: its file name in the trash.
        copy: Option<String>,
    },
    /// What a policy would remove (nothing changes).
    Plan {
        id: u64,
        choice: state::PruneChoice,
    },
    /// Removes exactly the previewed skills, each to the trash with its reasons.
    Prune {
        removals: Vec<Removal>,
    },
}

/// A finished job. Errors are the queries' messages, shown as they are.
#[derive(Debug, Clone)]
pub enum Reply {
    Listed {
        id: u64,
        result: Result<Listing, String>,
    },
    Trashed {
        id: u64,
        result: Result<Vec<TrashedSkill>, String>,
    },
    Tested {
        name: String,
        result: Result<SkillCheck, String>,
    },
    Removed {
        name: String,
        result: Result<SkillRemoved, String>,
    },
    Restored {
        name: String,
        result: Result<SkillRestored, String>,
    },
    Planned {
        id: u64,
        result: Result<PrunePlan, String>,
    },
    /// Each previewed skill: where it went, or why it could not be removed.
    Pruned {
        results: Vec<(String, Result<SkillRemoved, String>)>,
    },
}

/// The library as listed, or why there is none yet.
#[derive(Debug, Clone)]
pub enum Listing {
    Skills(ShownList),
    /// No skills folder yet: the message says where it would be.
    NoFolder(String),
}

/// A live step ended: its skills are the ones marked, and when it used or created any,
/// the counts shown are out of date (the library is listed again when shown).
pub fn step_finished(s: &mut State, used: &[String], created: &[String]) {
    set_step_skills(s, used, created);
    if !used.is_empty() || !created.is_empty() {
        s.skills.stale = true;
    }
}

/// Marks the skills the focus step used and created (the live step's summary, or the
/// step the timeline focuses). A created skill the table does not list yet makes the
/// pane list the library again when it is shown.
pub fn set_step_skills(s: &mut State, used: &[String], created: &[String]) {
    let v = &mut s.skills;
    v.step.used = used.iter().cloned().collect();
    v.step.created = created.iter().cloned().collect();
    if created.iter().any(|name| v.skill(name).is_none()) {
        v.stale = true;
    }
}

#[cfg(test)]
pub mod testing;
#[cfg(test)]
mod update_tests;
