//! The replies of the skills pane's jobs: the library and the trash as listed (stale
//! answers dropped by id), a test's outcome, what a delete, restore or prune did. After a
//! change the library (and the trash, once looked at) is listed again.

use super::state::{Load, TestState, View};
use super::update::{list, list_trash};
use super::{Listing, Reply};
use crate::engine::query::skills::SkillCheck;
use crate::event::NoticeLevel;
use crate::tui::action::Effect;
use crate::tui::state::State;
use crate::tui::update::notice;

/// A job's reply.
pub fn on_reply(s: &mut State, reply: Reply, fx: &mut Vec<Effect>) {
    match reply {
        Reply::Listed { id, result } => {
            let v = &mut s.skills;
            if v.list_job != Some(id) {
                return;
            }
            v.list_job = None;
            match result {
                Ok(Listing::Skills(list)) => {
                    v.rows = list.skills;
                    v.problems = list.problems;
                    v.load = Load::Loaded;
                }
                Ok(Listing::NoFolder(why)) => {
                    v.rows.clear();
                    v.problems.clear();
                    v.load = Load::Empty(why);
                }
                Err(why) => v.load = Load::Failed(why),
            }
            v.refilter();
            if v.view == View::Detail
                && let Some((name, _)) = &v.detail
                && v.skill(name).is_none()
            {
                v.view = View::Table;
            }
        }
        Reply::Trashed { id, result } => {
            let v = &mut s.skills;
            if v.trash_job != Some(id) {
                return;
            }
            v.trash_job = None;
            match result {
                Ok(trash) => {
                    v.trash = trash;
                    v.trash_load = Load::Loaded;
                }
                Err(why) => v.trash_load = Load::Failed(why),
            }
            v.trash_selected = v.trash_selected.min(v.trash.len().saturating_sub(1));
        }
        Reply::Tested { name, result } => {
            let (state, level, text) = match result {
                Ok(SkillCheck::Passed { signature, .. }) => (
                    TestState::Passed(signature.clone()),
                    NoticeLevel::Info,
                    format!("{name}: test passed ({signature})"),
                ),
                Ok(SkillCheck::Failed { why, .. }) => (
                    TestState::Failed(why.clone()),
                    NoticeLevel::Warning,
                    format!("{name}: test FAILED: {why}"),
                ),
                Ok(SkillCheck::Broken { message, .. }) => (
                    TestState::Failed(message.clone()),
                    NoticeLevel::Warning,
                    format!("{name}: not a usable skill: {message}"),
                ),
                Err(why) => (
                    TestState::Failed(why.clone()),
                    NoticeLevel::Warning,
                    format!("{name}: the test could not run: {why}"),
                ),
            };
            s.skills.tests.insert(name, state);
            notice(s, level, &text);
        }
        Reply::Removed { name, result } => {
            s.skills.busy = None;
            match result {
                Ok(removed) => {
                    s.skills.tests.remove(&name);
                    if s.skills.view == View::Detail {
                        s.skills.view = View::Table;
                    }
                    notice(
                        s,
                        NoticeLevel::Info,
                        &format!(
                            "moved {name} to the trash ({}): T shows the trash, r restores",
                            removed.to.display()
                        ),
                    );
                }
                Err(why) => notice(
                    s,
                    NoticeLevel::Warning,
                    &format!("{name} was not removed: {why}"),
                ),
            }
            changed(s, fx);
        }
        Reply::Restored { name, result } => {
            s.skills.busy = None;
            match result {
                Ok(r) if r.restored_as == name => {
                    notice(s, NoticeLevel::Info, &format!("restored {name}"))
                }
                Ok(r) => notice(
                    s,
                    NoticeLevel::Info,
                    &format!(
                        "restored {name} as {} (the name {name} is taken)",
                        r.restored_as
                    ),
                ),
                Err(why) => notice(
                    s,
                    NoticeLevel::Warning,
                    &format!("{name} was not restored: {why}"),
                ),
            }
            changed(s, fx);
        }
        Reply::Planned { id, result } => {
            let v = &mut s.skills;
            if v.plan_job != Some(id) {
                return;
            }
            v.plan_job = None;
            match result {
                Ok(plan) => v.plan = Some(plan),
                Err(why) => {
                    v.view = View::PrunePolicy;
                    notice(
                        s,
                        NoticeLevel::Warning,
                        &format!("the prune could not be planned: {why}"),
                    );
                }
            }
        }
        Reply::Pruned { results } => {
            s.skills.busy = None;
            let (done, failed): (Vec<_>, Vec<_>) =
                results.into_iter().partition(|(_, r)| r.is_ok());
            let names: Vec<String> = done.into_iter().map(|(n, _)| n).collect();
            let mut text = format!(
                "pruned {} skill(s) to the trash: {} (T shows the trash, r restores)",
                names.len(),
                names.join(", ")
            );
            let level = if failed.is_empty() {
                NoticeLevel::Info
            } else {
                for (name, why) in &failed {
                    if let Err(why) = why {
                        text.push_str(&format!("; {name} was not removed: {why}"));
                    }
                }
                NoticeLevel::Warning
            };
            notice(s, level, &text);
            changed(s, fx);
        }
    }
}

/// The library changed: list it (and the trash, when it was looked at) again.
fn changed(s: &mut State, fx: &mut Vec<Effect>) {
    s.skills.list_job = None;
    list(s, fx);
    if s.skills.trash_load != Load::NotYet {
        list_trash(s, fx);
    }
}
