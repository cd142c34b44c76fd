//! The skills pane's part of the update function: its commands (from the keymap's
//! `Skills` context) and the keys of its modal moments (typing a filter, a question,
//! the prune policy and preview); the replies of its jobs are in [`super::replies`]. No
//! I/O: reads and changes of the library go out as [`Effect::Skills`] jobs.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::Job;
pub use super::replies::on_reply;
use super::state::{Confirm, DAYS, Load, RATES, TestState, View};
use crate::event::NoticeLevel;
use crate::tui::action::Effect;
use crate::tui::keymap::Command;
use crate::tui::layout::Pane;
use crate::tui::state::State;
use crate::tui::update::notice;

/// After every action: list the library when the pane is on screen and has not been
/// listed yet (or a step created a skill since).
pub fn after(s: &mut State, fx: &mut Vec<Effect>) {
    if s.areas().rect(Pane::Skills).is_none() {
        return;
    }
    let v = &s.skills;
    if v.list_job.is_none() && (v.load == Load::NotYet || v.stale) {
        list(s, fx);
    }
}

pub(super) fn list(s: &mut State, fx: &mut Vec<Effect>) {
    let v = &mut s.skills;
    let id = v.next_job();
    v.list_job = Some(id);
    v.stale = false;
    if v.load != Load::Loaded {
        v.load = Load::Loading;
    }
    fx.push(Effect::Skills(Job::List { id }));
}

pub(super) fn list_trash(s: &mut State, fx: &mut Vec<Effect>) {
    let v = &mut s.skills;
    let id = v.next_job();
    v.trash_job = Some(id);
    if v.trash_load != Load::Loaded {
        v.trash_load = Load::Loading;
    }
    fx.push(Effect::Skills(Job::Trash { id }));
}

/// Runs one of the pane's commands.
pub fn command(s: &mut State, cmd: Command, fx: &mut Vec<Effect>) {
    let view = s.skills.view;
    match cmd {
        Command::SkillShow if view == View::Table => open_detail(s, fx),
        Command::SkillsBack => back(s),
        Command::SkillsSort => {
            let v = &mut s.skills;
            v.sort = v.sort.next();
            v.descending = v.sort.descending_by_default();
            v.refilter();
        }
        Command::SkillsOrder => {
            let v = &mut s.skills;
            v.descending = !v.descending;
            v.refilter();
        }
        Command::SkillsFilter => {
            s.skills.view = View::Table;
            s.skills.typing = true;
        }
        Command::SkillTest => test(s, fx),
        Command::SkillDelete => {
            if matches!(view, View::Table | View::Detail)
                && let Some(r) = s.skills.current()
            {
                s.skills.confirm = Some(Confirm::Delete(r.skill.name.clone()));
            }
        }
        Command::SkillsTrash => {
            if view == View::Trash {
                s.skills.view = View::Table;
            } else {
                s.skills.view = View::Trash;
                list_trash(s, fx);
            }
        }
        Command::SkillRestore => {
            if view == View::Trash {
                restore(s, fx);
            } else {
                notice(
                    s,
                    NoticeLevel::Info,
                    "restore works in the trash: T shows it",
                );
            }
        }
        Command::SkillsPrune => {
            let v = &mut s.skills;
            v.view = View::PrunePolicy;
            v.prune.row = 0;
            v.plan = None;
        }
        Command::SkillJump => jump(s, fx),
        Command::SkillsRefresh => {
            s.skills.list_job = None;
            list(s, fx);
            if view == View::Trash {
                list_trash(s, fx);
            }
        }
        _ => {}
    }
}

fn open_detail(s: &mut State, fx: &mut Vec<Effect>) {
    let theme = s.theme.syntax.clone();
    let Some(row) = s.skills.selected_skill() else {
        return;
    };
    let name = row.skill.name.clone();
    let key = crate::tui::highlight::key(&row.code, &theme);
    if !s.highlights.contains_key(&key) {
        fx.push(Effect::Highlight {
            key,
            code: row.code.clone(),
            theme,
        });
    }
    let v = &mut s.skills;
    v.detail = Some((name, key));
    v.detail_scroll = 0;
    v.view = View::Detail;
}

fn back(s: &mut State) {
    let v = &mut s.skills;
    v.view = match v.view {
        View::PrunePreview => View::PrunePolicy,
        _ => View::Table,
    };
    if !v.filter.is_empty() && v.view == View::Table {
        v.filter.clear();
        v.refilter();
    }
}

fn test(s: &mut State, fx: &mut Vec<Effect>) {
    if !matches!(s.skills.view, View::Table | View::Detail) {
        return;
    }
    let Some(name) = s.skills.current().map(|r| r.skill.name.clone()) else {
        return;
    };
    if s.skills.tests.get(&name) == Some(&TestState::Running) {
        return notice(s, NoticeLevel::Info, &format!("{name} is being tested"));
    }
    s.skills.tests.insert(name.clone(), TestState::Running);
    notice(
        s,
        NoticeLevel::Info,
        &format!("testing {name} in a fresh kernel…"),
    );
    fx.push(Effect::Skills(Job::Test { name }));
}

fn restore(s: &mut State, fx: &mut Vec<Effect>) {
    let v = &mut s.skills;
    let Some(t) = v.trash.get(v.trash_selected) else {
        return;
    };
    let name = t.name.clone();
    let copy = t.file.file_name().map(|f| f.to_string_lossy().into_owned());
    v.busy = Some(format!("restoring {name}…"));
    fx.push(Effect::Skills(Job::Restore { name, copy }));
}

fn jump(s: &mut State, fx: &mut Vec<Effect>) {
    if !matches!(s.skills.view, View::Table | View::Detail) {
        return;
    }
    let Some(r) = s.skills.current() else { return };
    let h = &r.skill.header;
    match (h.session.is_empty(), h.step) {
        (false, Some(step)) => fx.push(Effect::JumpToStep {
            session: h.session.clone(),
            step,
        }),
        _ => {
            let why = format!(
                "{} names no recorded step (a hand-written skill, or its header lost the session and step)",
                r.skill.name
            );
            notice(s, NoticeLevel::Info, &why)
        }
    }
}

/// Whether the pane takes keys before the keymap does (a filter being typed, a question,
/// the prune policy or preview).
pub fn captures_keys(s: &State) -> bool {
    let v = &s.skills;
    s.focus == Pane::Skills
        && (v.typing
            || v.confirm.is_some()
            || matches!(v.view, View::PrunePolicy | View::PrunePreview))
}

/// A key for the pane's modal moment; false when it is not one of its keys (the keymap
/// then has it: Ctrl+C, Tab, …).
pub fn modal_key(s: &mut State, ev: &KeyEvent, fx: &mut Vec<Effect>) -> bool {
    let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl {
        return false;
    }
    let v = &mut s.skills;
    if let Some(Confirm::Delete(name)) = v.confirm.clone() {
        match ev.code {
            KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => {
                v.confirm = None;
                v.busy = Some(format!("moving {name} to the trash…"));
                fx.push(Effect::Skills(Job::Remove { name }));
            }
            _ => v.confirm = None,
        }
        return true;
    }
    if v.typing {
        match ev.code {
            KeyCode::Esc => {
                v.typing = false;
                v.filter.clear();
            }
            KeyCode::Enter => v.typing = false,
            KeyCode::Backspace => {
                v.filter.pop();
            }
            KeyCode::Up | KeyCode::Down => {
                v.typing = false;
                return false;
            }
            KeyCode::Char(c) => v.filter.push(c),
            _ => return false,
        }
        v.selected = 0;
        v.refilter();
        return true;
    }
    match v.view {
        View::PrunePolicy => policy_key(s, ev, fx),
        View::PrunePreview => preview_key(s, ev, fx),
        _ => false,
    }
}

fn policy_key(s: &mut State, ev: &KeyEvent, fx: &mut Vec<Effect>) -> bool {
    let p = &mut s.skills.prune;
    match ev.code {
        KeyCode::Up | KeyCode::Char('k') => p.row = p.row.saturating_sub(1),
        KeyCode::Down | KeyCode::Char('j') => p.row = (p.row + 1).min(2),
        KeyCode::Char(' ') | KeyCode::Char('x') => match p.row {
            0 => p.unused = !p.unused,
            1 => p.failing = !p.failing,
            _ => p.duplicates = !p.duplicates,
        },
        KeyCode::Left | KeyCode::Char('h') | KeyCode::Char('-') => match p.row {
            0 => p.days = p.days.saturating_sub(1),
            1 => p.rate = p.rate.saturating_sub(1),
            _ => {}
        },
        KeyCode::Right | KeyCode::Char('l') | KeyCode::Char('+') => match p.row {
            0 => p.days = (p.days + 1).min(DAYS.len() - 1),
            1 => p.rate = (p.rate + 1).min(RATES.len() - 1),
            _ => {}
        },
        KeyCode::Enter => {
            if p.policy().is_empty() {
                notice(
                    s,
                    NoticeLevel::Info,
                    "choose at least one policy (space ticks the one under the cursor)",
                );
                return true;
            }
            let choice = p.clone();
            let v = &mut s.skills;
            let id = v.next_job();
            v.plan_job = Some(id);
            v.plan = None;
            v.plan_scroll = 0;
            v.view = View::PrunePreview;
            fx.push(Effect::Skills(Job::Plan { id, choice }));
        }
        KeyCode::Esc | KeyCode::Char('q') => s.skills.view = View::Table,
        _ => return false,
    }
    true
}

fn preview_key(s: &mut State, ev: &KeyEvent, fx: &mut Vec<Effect>) -> bool {
    let v = &mut s.skills;
    let n = v.plan.as_ref().map_or(0, |p| p.removals.len());
    match ev.code {
        KeyCode::Up | KeyCode::Char('k') => v.plan_scroll = v.plan_scroll.saturating_sub(1),
        KeyCode::Down | KeyCode::Char('j') => {
            v.plan_scroll = (v.plan_scroll + 1).min(n.saturating_sub(1))
        }
        KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => {
            let Some(plan) = v.plan.as_ref() else {
                return true;
            };
            if plan.removals.is_empty() {
                v.view = View::PrunePolicy;
                return true;
            }
            let removals = plan.removals.clone();
            v.busy = Some(format!("pruning {} skill(s)…", removals.len()));
            v.view = View::Table;
            v.plan = None;
            fx.push(Effect::Skills(Job::Prune { removals }));
        }
        KeyCode::Esc | KeyCode::Char('n') | KeyCode::Char('N') => v.view = View::PrunePolicy,
        KeyCode::Char('q') => v.view = View::Table,
        _ => return false,
    }
    true
}

/// A paste while the filter is typed goes into it (its first line); true when it did.
pub fn paste(s: &mut State, text: &str) -> bool {
    let v = &mut s.skills;
    if s.focus != Pane::Skills || !v.typing {
        return false;
    }
    v.filter.push_str(text.lines().next().unwrap_or_default());
    v.selected = 0;
    v.refilter();
    true
}

/// Moves the selection of the view by `delta` rows.
pub fn scroll(s: &mut State, delta: isize) {
    let v = &mut s.skills;
    let step = |at: usize, n: usize| at.saturating_add_signed(delta).min(n.saturating_sub(1));
    match v.view {
        View::Table => v.selected = step(v.selected, v.visible.len()),
        View::Trash => v.trash_selected = step(v.trash_selected, v.trash.len()),
        View::Detail => {
            let n = v.current().map_or(0, |r| r.code.lines().count() + 8);
            v.detail_scroll = step(v.detail_scroll, n);
        }
        View::PrunePreview => {
            let n = v.plan.as_ref().map_or(0, |p| p.removals.len());
            v.plan_scroll = step(v.plan_scroll, n);
        }
        View::PrunePolicy => v.prune.row = step(v.prune.row, 3),
    }
}

/// What `y` copies in the pane: the skill's code.
pub fn copy_text(s: &State) -> Option<String> {
    match s.skills.view {
        View::Table | View::Detail => s.skills.current().map(|r| r.code.clone()),
        View::Trash => s
            .skills
            .trash
            .get(s.skills.trash_selected)
            .map(|t| t.name.clone()),
        _ => None,
    }
}
