//! The timeline's part of the update function: its commands (focus moves, branch jumps,
//! play, mark and diff, rewind, fork, edit and fork, the session list), the answers of
//! its queries, what the session's events mean for it, and its dialogs. No I/O.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::sync::Arc;
use std::time::Duration;

use super::panes::{show_live, show_step};
use super::rows::rows;
use super::{
    DiffView, OpKind, PendingOp, Play, SPEEDS_MS, SessionItem, SessionsView, TimelineAction,
    TimelineEffect, TimelineOverlay,
};
use crate::engine::query::{NodeRef, StepRef, StepStatus, TimelineNode};
use crate::engine::{Op, Start};
use crate::event::{Event, NoticeLevel};
use crate::tui::action::Effect;
use crate::tui::keymap::Command;
use crate::tui::layout::Pane;
use crate::tui::state::{Mode, Opening, Overlay, State};
use crate::tui::update::{focus, notice, start_run};

/// Rows either side of the focus whose details are fetched ahead.
const WINDOW: usize = 24;
/// Details kept at most; beyond, the cache starts again around the focus.
const CACHE: usize = 4096;

fn effect(e: TimelineEffect) -> Effect {
    Effect::Timeline(e)
}

/// Focuses `step` of `session` in the timeline (loading that session's timeline first
/// when another one is shown), and shows it in the other panes.
pub fn focus_step(s: &mut State, session: &str, step: u64) -> Vec<Effect> {
    let mut fx = Vec::new();
    let target = NodeRef {
        session: session.to_string(),
        step,
    };
    s.timeline.live = false;
    s.timeline.play = None;
    match s.timeline.row_of(&target) {
        Some(row) => {
            s.timeline.focus = row;
            sync(s, &mut fx);
        }
        None => {
            s.timeline.want = Some(target);
            let shown = s.timeline.session.clone();
            let in_tree =
                s.timeline.tree.as_ref().is_some_and(|t| {
                    t.sessions.iter().any(|x| x.name == session) && shown.is_some()
                });
            let which = if in_tree {
                shown.unwrap_or_else(|| session.to_string())
            } else {
                session.to_string()
            };
            load(s, &which, &mut fx);
        }
    }
    fx
}

/// Browse mode: `session`'s timeline with `step` in focus (its last step when None); no
/// live session until a rewind or a fork.
pub fn browse(s: &mut State, session: &str, step: Option<u64>) -> Vec<Effect> {
    let mut fx = Vec::new();
    s.timeline.browse = true;
    s.timeline.live = false;
    s.opening = Opening::Closed;
    s.timeline.want = step.map(|step| NodeRef {
        session: session.to_string(),
        step,
    });
    // No step named: the session's own step (its head) once the tree says which.
    s.timeline.focus = usize::MAX;
    load(s, session, &mut fx);
    focus(s, Pane::Timeline);
    fx
}

/// Asks for `session`'s timeline.
pub fn load(s: &mut State, session: &str, fx: &mut Vec<Effect>) {
    let t = &mut s.timeline;
    if t.session.as_deref() != Some(session) {
        t.mark = None;
    }
    t.session = Some(session.to_string());
    t.generation += 1;
    t.loading = Some(t.generation);
    fx.push(effect(TimelineEffect::Load {
        session: session.to_string(),
        generation: t.generation,
    }));
}

fn reload(s: &mut State, fx: &mut Vec<Effect>) {
    if let Some(session) = s.timeline.session.clone() {
        load(s, &session, fx);
    }
}

/// Whether the timeline shows the live session (so a running step belongs in it).
fn shows_live(s: &State) -> bool {
    !s.timeline.browse
        && s.session.name.is_some()
        && s.timeline.session.as_deref() == s.session.name.as_deref()
}

/// Rebuilds the rows (a running step added after the head), keeping the focus on its
/// step, or on the step wanted, or, when following, on the newest one.
pub fn rebuild(s: &mut State, fx: &mut Vec<Effect>) {
    let before = s.timeline.focused().map(TimelineNode::node_ref);
    let was_pending = s
        .timeline
        .rows
        .get(s.timeline.focus)
        .is_some_and(|r| r.node.is_none());
    let running = s.running.is_some() && shows_live(s);
    s.timeline.has_pending = running;
    let Some(tree) = s.timeline.tree.clone() else {
        s.timeline.rows.clear();
        s.timeline.has_pending = false;
        s.timeline.index_rows();
        return;
    };
    let pending = if running {
        Some(tree.head.clone())
    } else {
        None
    };
    s.timeline.rows = match &pending {
        Some(Some(head)) => rows(&tree, Some(head)),
        Some(None) => {
            let mut r = rows(&tree, None);
            r.push(super::rows::Row {
                node: None,
                rails: "●".into(),
                branch: None,
            });
            r
        }
        None => rows(&tree, None),
    };
    s.timeline.index_rows();
    let t = &mut s.timeline;
    let wanted = t.want.take();
    t.focus = if let Some(row) = wanted.as_ref().and_then(|w| t.row_of(w)) {
        row
    } else if t.live || wanted.is_some() || t.focus == usize::MAX {
        newest_row(t, running)
    } else if let Some(row) = before.as_ref().and_then(|b| t.row_of(b)) {
        row
    } else if was_pending {
        newest_row(t, false)
    } else {
        t.focus.min(t.rows.len().saturating_sub(1))
    };
    sync(s, fx);
}

/// The running step's row when there is one, else the head's, else the last row.
fn newest_row(t: &super::TimelineView, running: bool) -> usize {
    if running && let Some(i) = t.rows.iter().position(|r| r.node.is_none()) {
        return i;
    }
    t.tree
        .as_ref()
        .and_then(|tree| tree.head.clone())
        .and_then(|h| t.row_of(&h))
        .unwrap_or(t.rows.len().saturating_sub(1))
}

/// After the focus moved: keep it on screen, fetch details around it, and show it in the
/// other panes (or the live session's panes while following).
pub fn sync(s: &mut State, fx: &mut Vec<Effect>) {
    let n = s.timeline.rows.len();
    s.timeline.focus = s.timeline.focus.min(n.saturating_sub(1));
    let h = s
        .inner(Pane::Timeline)
        .map_or(10, |r| r.height.max(1) as usize);
    let t = &mut s.timeline;
    if t.focus < t.scroll {
        t.scroll = t.focus;
    } else if t.focus >= t.scroll + h {
        t.scroll = t.focus + 1 - h;
    }
    fetch(s, fx);
    let following = s.timeline.live && !s.timeline.browse;
    match s.timeline.focused().cloned() {
        Some(node) if !following => show_step(s, &node, fx),
        _ => show_live(s),
    }
}

/// Asks for the details of the rows around the focus not fetched yet (one query at a
/// time: when it comes back the focus may have moved, and this runs again).
fn fetch(s: &mut State, fx: &mut Vec<Effect>) {
    if s.timeline.fetching {
        return;
    }
    let t = &mut s.timeline;
    if t.details.len() > CACHE {
        t.details.clear();
        t.requested.clear();
    }
    let from = t.focus.saturating_sub(WINDOW);
    let to = (t.focus + WINDOW + 1).min(t.rows.len());
    // The focus first, then outwards.
    let mut order: Vec<usize> = vec![t.focus];
    for d in 1..=WINDOW {
        if t.focus + d < to {
            order.push(t.focus + d);
        }
        if t.focus >= d && t.focus - d >= from {
            order.push(t.focus - d);
        }
    }
    let want: Vec<NodeRef> = order
        .into_iter()
        .filter_map(|row| t.node_at(row).map(TimelineNode::node_ref))
        .filter(|r| !t.details.contains_key(r) && !t.requested.contains(r))
        .collect();
    if want.is_empty() {
        return;
    }
    t.requested.extend(want.iter().cloned());
    t.fetching = true;
    fx.push(effect(TimelineEffect::Details(want)));
}

/// Moves the focus to `row` (a move by the user: following stops).
fn move_to(s: &mut State, row: usize, fx: &mut Vec<Effect>) {
    s.timeline.live = false;
    s.timeline.focus = row;
    sync(s, fx);
}

fn row_of_node(s: &State, r: Option<NodeRef>) -> Option<usize> {
    r.and_then(|r| s.timeline.row_of(&r))
}

/// A click on the timeline's `offset`th row on screen focuses that step.
pub fn click(s: &mut State, offset: usize, fx: &mut Vec<Effect>) {
    let row = s.timeline.scroll + offset;
    if row < s.timeline.rows.len() {
        move_to(s, row, fx);
    }
}

/// The mouse wheel over the timeline moves the focus by `delta` rows, as the arrow keys
/// do (the other panes follow the focus).
pub fn wheel(s: &mut State, delta: isize, fx: &mut Vec<Effect>) {
    let n = s.timeline.rows.len();
    if n == 0 {
        return;
    }
    let at = s.timeline.focus.min(n - 1);
    move_to(s, at.saturating_add_signed(delta).min(n - 1), fx);
}

/// The step after `node` on its branch: its child on the same branch, else its first.
fn forward_of(s: &State, node: &TimelineNode) -> Option<NodeRef> {
    let kids = s.timeline.children(&node.node_ref());
    kids.iter()
        .find(|k| k.branch == node.branch)
        .or(kids.first())
        .map(|k| k.node_ref())
}

fn node_of<'a>(s: &'a State, r: &NodeRef) -> Option<&'a TimelineNode> {
    s.timeline.node(r)
}

fn is_error(n: &TimelineNode) -> bool {
    matches!(n.status, StepStatus::Failed | StepStatus::Interrupted)
}

/// The timeline's commands, and the pane commands while the timeline has focus. Returns
/// whether `cmd` was one of them.
pub fn command(s: &mut State, cmd: Command, fx: &mut Vec<Effect>) -> bool {
    let on_pane = s.focus == Pane::Timeline;
    let n = s.timeline.rows.len();
    // (The focus may still wait for a timeline: usize::MAX until it comes.)
    let at = s.timeline.focus.min(n.saturating_sub(1));
    let page = s
        .inner(Pane::Timeline)
        .map_or(10, |r| r.height.saturating_sub(1).max(1) as usize);
    match cmd {
        Command::FocusTimeline => focus(s, Pane::Timeline),
        Command::Sessions => open_sessions(s, fx),
        Command::ScrollUp if on_pane => move_to(s, at.saturating_sub(1), fx),
        Command::ScrollDown if on_pane => move_to(s, (at + 1).min(n.saturating_sub(1)), fx),
        Command::PageUp if on_pane => move_to(s, at.saturating_sub(page), fx),
        Command::PageDown if on_pane => move_to(s, (at + page).min(n.saturating_sub(1)), fx),
        Command::Top if on_pane => first_of_branch(s, fx),
        Command::Bottom if on_pane => last_of_branch(s, fx),
        Command::Copy if on_pane => {
            if let Some(node) = s.timeline.focused() {
                let text = format!("{}@{} {}", node.session, node.step, node.title);
                fx.push(Effect::Copy(text));
            }
        }
        Command::TimelineBack => {
            let parent = s.timeline.focused().and_then(|n| n.parent.clone());
            match row_of_node(s, parent) {
                Some(row) => move_to(s, row, fx),
                None => notice(s, NoticeLevel::Info, "the first step: nothing before it"),
            }
        }
        Command::TimelineForward => {
            step_forward(s, fx);
        }
        Command::NextError | Command::PrevError => {
            let forward = cmd == Command::NextError;
            let found = if forward {
                (at + 1..n).find(|&r| s.timeline.node_at(r).is_some_and(is_error))
            } else {
                (0..at)
                    .rev()
                    .find(|&r| s.timeline.node_at(r).is_some_and(is_error))
            };
            match found {
                Some(row) => move_to(s, row, fx),
                None => notice(s, NoticeLevel::Info, "no failed step that way"),
            }
        }
        Command::ParentBranch => parent_branch(s, fx),
        Command::ChildBranch => child_branch(s, fx),
        Command::Play => {
            if s.timeline.play.take().is_none() {
                s.timeline.live = false;
                s.timeline.play = Some(Play {
                    next: s.now + Duration::from_millis(s.timeline.speed_ms()),
                });
                let text = format!("playing: a step every {}", speed_text(s));
                notice(s, NoticeLevel::Info, &text);
            } else {
                notice(s, NoticeLevel::Info, "paused");
            }
        }
        Command::Faster | Command::Slower => {
            let t = &mut s.timeline;
            t.speed = if cmd == Command::Faster {
                (t.speed + 1).min(SPEEDS_MS.len() - 1)
            } else {
                t.speed.saturating_sub(1)
            };
            let text = format!("a step every {}", speed_text(s));
            notice(s, NoticeLevel::Info, &text);
        }
        Command::Live => {
            if s.timeline.browse {
                notice(
                    s,
                    NoticeLevel::Info,
                    "browsing the record: r rewinds to the focus step, f forks there, and the session goes on live from it",
                );
            } else {
                s.timeline.live = true;
                s.timeline.play = None;
                let live = s.session.name.clone();
                if let Some(name) = live
                    && s.timeline.session.as_deref() != Some(name.as_str())
                {
                    load(s, &name, fx);
                }
                let running = s.running.is_some() && shows_live(s);
                s.timeline.focus = newest_row(&s.timeline, running);
                sync(s, fx);
                notice(s, NoticeLevel::Info, "following the live session");
            }
        }
        Command::Mark => {
            let focused = s.timeline.focused().map(TimelineNode::node_ref);
            let text = match (&s.timeline.mark, focused) {
                (Some(m), Some(f)) if *m == f => {
                    s.timeline.mark = None;
                    "mark removed".to_string()
                }
                (_, Some(f)) => {
                    let text = format!("marked {f}: move to another step and press d to compare");
                    s.timeline.mark = Some(f);
                    text
                }
                (_, None) => "no recorded step in focus".to_string(),
            };
            notice(s, NoticeLevel::Info, &text);
        }
        Command::Diff => open_diff(s, fx),
        Command::Rewind => rewind(s, fx),
        Command::Fork => fork(s, None),
        Command::EditFork => edit_fork(s),
        _ => return false,
    }
    true
}

fn speed_text(s: &State) -> String {
    let ms = s.timeline.speed_ms();
    if ms >= 1000 {
        format!("{} s", ms as f64 / 1000.0)
    } else {
        format!("{ms} ms")
    }
}

fn step_forward(s: &mut State, fx: &mut Vec<Effect>) {
    let next = s.timeline.focused().and_then(|n| forward_of(s, n));
    match row_of_node(s, next) {
        Some(row) => move_to(s, row, fx),
        None => notice(s, NoticeLevel::Info, "the last step of this branch"),
    }
}

fn first_of_branch(s: &mut State, fx: &mut Vec<Effect>) {
    let mut at = s.timeline.focused().map(TimelineNode::node_ref);
    let mut first = at.clone();
    for _ in 0..=s.timeline.rows.len() {
        let parent = at
            .as_ref()
            .and_then(|r| node_of(s, r))
            .and_then(|n| n.parent.clone());
        match parent.filter(|p| node_of(s, p).is_some()) {
            Some(p) => {
                first = Some(p.clone());
                at = Some(p);
            }
            None => break,
        }
    }
    let row = row_of_node(s, first).unwrap_or(0);
    move_to(s, row, fx);
}

fn last_of_branch(s: &mut State, fx: &mut Vec<Effect>) {
    let mut last = s.timeline.focused().map(TimelineNode::node_ref);
    for _ in 0..=s.timeline.rows.len() {
        let next = last
            .as_ref()
            .and_then(|r| node_of(s, r))
            .and_then(|n| forward_of(s, n));
        match next {
            Some(n) => last = Some(n),
            None => break,
        }
    }
    let n = s.timeline.rows.len();
    let row = row_of_node(s, last).unwrap_or(n.saturating_sub(1));
    move_to(s, row, fx);
}

/// To the step the focus's branch began from (on the branch it left).
fn parent_branch(s: &mut State, fx: &mut Vec<Effect>) {
    let Some(start) = s.timeline.focused().cloned() else {
        return;
    };
    let mut at = start.clone();
    for _ in 0..=s.timeline.rows.len() {
        let Some(parent) = at.parent.as_ref().and_then(|p| node_of(s, p)).cloned() else {
            break;
        };
        if parent.branch != start.branch {
            let row = s.timeline.row_of(&parent.node_ref());
            if let Some(row) = row {
                return move_to(s, row, fx);
            }
        }
        at = parent;
    }
    notice(s, NoticeLevel::Info, "this branch has no parent branch");
}

/// To the first step of the next branch that leaves the focus's branch, from the focus
/// on.
fn child_branch(s: &mut State, fx: &mut Vec<Effect>) {
    let Some(mut at) = s.timeline.focused().cloned() else {
        return;
    };
    for _ in 0..=s.timeline.rows.len() {
        let kids = s.timeline.children(&at.node_ref());
        let other = kids
            .iter()
            .find(|k| k.branch != at.branch)
            .and_then(|k| s.timeline.row_of(&k.node_ref()));
        if let Some(row) = other {
            return move_to(s, row, fx);
        }
        match kids.iter().find(|k| k.branch == at.branch) {
            Some(next) => at = (*next).clone(),
            None => break,
        }
    }
    notice(
        s,
        NoticeLevel::Info,
        "no branch leaves this one after the focus",
    );
}

/// A tick: playing steps forward when due.
pub fn tick(s: &mut State, fx: &mut Vec<Effect>) {
    let Some(play) = s.timeline.play else { return };
    if s.now < play.next {
        return;
    }
    let next = s.timeline.focused().and_then(|n| forward_of(s, n));
    match row_of_node(s, next) {
        Some(row) => {
            move_to(s, row, fx);
            s.timeline.play = Some(Play {
                next: s.now + Duration::from_millis(s.timeline.speed_ms()),
            });
        }
        None => {
            s.timeline.play = None;
            notice(s, NoticeLevel::Info, "played to the end of the branch");
        }
    }
}

/// The session a rewind or fork at `node` applies to: a step shared from a fork
/// ancestor belongs to the timeline's session's history.
fn target_session(s: &State, node: &TimelineNode) -> String {
    if node.inherited {
        s.timeline.session.clone().unwrap_or(node.session.clone())
    } else {
        node.session.clone()
    }
}

/// Whether `session` is the live session, open and idle enough to take an operation.
fn is_live(s: &State, session: &str) -> bool {
    !s.timeline.browse && s.opening == Opening::Open && s.session.name.as_deref() == Some(session)
}

fn busy(s: &mut State) -> bool {
    if s.running.is_some() || s.timeline.op.is_some() {
        notice(
            s,
            NoticeLevel::Warning,
            "a step or a rewind is under way: wait for it, or Ctrl+C",
        );
        return true;
    }
    false
}

fn rewind(s: &mut State, fx: &mut Vec<Effect>) {
    if busy(s) {
        return;
    }
    let Some(node) = s.timeline.focused().cloned() else {
        return notice(s, NoticeLevel::Info, "no recorded step in focus");
    };
    if node.status == StepStatus::Interrupted {
        return notice(
            s,
            NoticeLevel::Warning,
            "this step was interrupted and cannot be replayed: rewind to the step before it",
        );
    }
    let session = target_session(s, &node);
    let opens = !is_live(s, &session);
    fx.push(effect(TimelineEffect::Plan {
        session,
        step: node.step,
        opens,
    }));
}

/// The default name of a fork of `from`: the first `FROM-fork-N` the timeline does not
/// know (the engine refuses a name taken elsewhere, and says so).
fn default_fork_name(s: &State, from: &str) -> String {
    let taken = |name: &str| {
        s.timeline
            .tree
            .as_ref()
            .is_some_and(|t| t.sessions.iter().any(|x| x.name == name))
    };
    (1..)
        .map(|n| format!("{from}-fork-{n}"))
        .find(|n| !taken(n))
        .unwrap_or_else(|| format!("{from}-fork"))
}

fn fork(s: &mut State, then_run: Option<String>) {
    if busy(s) {
        return;
    }
    let Some(node) = s.timeline.focused().cloned() else {
        return notice(s, NoticeLevel::Info, "no recorded step in focus");
    };
    let from = target_session(s, &node);
    let input = default_fork_name(s, &from);
    s.overlay = Some(Overlay::Timeline(TimelineOverlay::ForkName {
        from,
        step: node.step,
        input,
        then_run,
    }));
}

fn edit_fork(s: &mut State) {
    let Some(node) = s.timeline.focused().cloned() else {
        return notice(s, NoticeLevel::Info, "no recorded step in focus");
    };
    let Some(code) = super::panes::last_code(s, &node.node_ref()) else {
        return notice(
            s,
            NoticeLevel::Info,
            "the step is still being read: try again in a moment",
        );
    };
    if node.parent.is_none() {
        return notice(
            s,
            NoticeLevel::Warning,
            "the first step has no step before it to fork at: run the code in a new session",
        );
    }
    s.timeline.edit_fork = Some(node.node_ref());
    s.prompt.set_content(code.trim_end_matches('\n'));
    s.prompt.mode = Mode::Code;
    focus(s, Pane::Prompt);
    let text = format!(
        "the code of step {} is in the prompt: Enter forks at the step before it and runs it there (Esc, then Ctrl+C clears it)",
        node.step
    );
    notice(s, NoticeLevel::Info, &text);
}

/// A submission from the prompt, before the console runs it: edit and fork sends the
/// code to a fork made first; browse mode has no session to run it in. Returns whether
/// it was taken here.
pub fn before_submit(s: &mut State, text: &str, fx: &mut Vec<Effect>) -> bool {
    if let Some(r) = s.timeline.edit_fork.take()
        && s.prompt.mode == Mode::Code
    {
        let parent = node_of(s, &r).and_then(|n| n.parent.clone());
        let Some(parent) = parent else {
            return false;
        };
        let from = match node_of(s, &r).cloned() {
            Some(n) => target_session(s, &n),
            None => r.session.clone(),
        };
        let name = default_fork_name(s, &from);
        start_fork(s, from, parent.step, Some(name), Some(text.to_string()), fx);
        return true;
    }
    if s.timeline.browse && s.timeline.op.is_none() {
        notice(
            s,
            NoticeLevel::Warning,
            "browsing the record: r rewinds to the focus step or f forks there, then the prompt runs in that session",
        );
        return true;
    }
    // A run goes to the live session: the panes follow it again.
    if !s.timeline.browse {
        s.timeline.live = true;
        s.timeline.play = None;
        show_live(s);
    }
    false
}

fn start_fork(
    s: &mut State,
    from: String,
    step: u64,
    name: Option<String>,
    then_run: Option<String>,
    fx: &mut Vec<Effect>,
) {
    let live = is_live(s, &from);
    s.timeline.after_open = then_run;
    s.timeline.op = Some(PendingOp {
        kind: OpKind::Fork {
            from: from.clone(),
            step,
        },
        id: None,
        opening: !live,
    });
    if live {
        fx.push(Effect::Send(Op::Fork { step, name }));
    } else {
        open(s, Start::Fork { from, step, name }, fx);
    }
    notice(s, NoticeLevel::Info, &format!("forking at step {step}…"));
}

/// Opens a new live session (closing the one open).
fn open(s: &mut State, start: Start, fx: &mut Vec<Effect>) {
    s.opening = Opening::Opening;
    s.running = None;
    s.vars.rows.clear();
    fx.push(effect(TimelineEffect::Open(start)));
}

/// An operation went out: a rewind's or fork's id.
pub fn on_sent(s: &mut State, op: &Op, id: u64) {
    if let (Op::Rewind(_) | Op::Fork { .. }, Some(p)) = (op, s.timeline.op.as_mut())
        && p.id.is_none()
        && !p.opening
    {
        p.id = Some(id);
    }
}

/// What an engine event means for the timeline (before the rest of the console sees it).
pub fn on_event(s: &mut State, e: &Event, fx: &mut Vec<Effect>) {
    match e {
        Event::OpEnded {
            op,
            error,
            diverged,
            ..
        } => {
            let ours = s
                .timeline
                .op
                .as_ref()
                .is_some_and(|p| (p.opening && *op == 0) || (p.id == Some(*op)));
            if ours {
                op_ended(s, error.as_deref(), diverged.as_ref(), fx);
            } else if *op == 0 && error.is_none() && !s.timeline.browse {
                // The live session is open: its timeline, unless another is browsed.
                let browsing_other = s.timeline.session.is_some()
                    && s.timeline.session != s.session.name
                    && !s.timeline.live;
                if !browsing_other && let Some(name) = s.session.name.clone() {
                    load(s, &name, fx);
                }
            }
        }
        Event::ReplayProgress {
            cells,
            calls_served,
            ..
        } => {
            if let Some(Overlay::Timeline(TimelineOverlay::Rewinding {
                cells: c, calls, ..
            })) = &mut s.overlay
            {
                *c = *cells;
                *calls = *calls_served;
            }
        }
        Event::StepStarted { .. } if shows_live(s) => rebuild(s, fx),
        Event::StepRecorded { .. } if shows_live(s) => reload(s, fx),
        Event::HeadMoved { session, step } => {
            s.timeline.want = Some(NodeRef {
                session: session.clone(),
                step: *step,
            });
            if s.timeline.session.as_deref() == Some(session.as_str()) {
                reload(s, fx);
            }
        }
        Event::Forked { session, step, .. } => {
            s.timeline.session = Some(session.clone());
            s.timeline.want = Some(NodeRef {
                session: session.clone(),
                step: *step,
            });
        }
        _ => {}
    }
}

/// After the rest of the console took an event: a step that began or ended changes the
/// running row.
pub fn after_event(s: &mut State, fx: &mut Vec<Effect>) {
    let running = s.running.is_some() && shows_live(s);
    if running != s.timeline.has_pending {
        rebuild(s, fx);
    }
}

/// A rewind or fork ended: the session continues from its step (the panes follow it
/// live), or it stopped, with the divergence shown when that was why.
fn op_ended(
    s: &mut State,
    error: Option<&str>,
    diverged: Option<&crate::record::replay::Divergence>,
    fx: &mut Vec<Effect>,
) {
    let Some(p) = s.timeline.op.take() else {
        return;
    };
    if matches!(
        s.overlay,
        Some(Overlay::Timeline(TimelineOverlay::Rewinding { .. }))
    ) {
        s.overlay = None;
    }
    match error {
        None => {
            s.timeline.browse = false;
            s.timeline.live = true;
            let (session, step) = match &p.kind {
                OpKind::Rewind { session, step } => (session.clone(), *step),
                OpKind::Fork { step, .. } => (
                    s.session
                        .name
                        .clone()
                        .or(s.timeline.session.clone())
                        .unwrap_or_default(),
                    *step,
                ),
            };
            let text = match &p.kind {
                OpKind::Rewind { .. } => {
                    format!("session {session} continues from step {step}: the prompt runs there")
                }
                OpKind::Fork { from, .. } => {
                    format!("forked {from} at step {step}: now in {session}")
                }
            };
            notice(s, NoticeLevel::Info, &text);
            show_live(s);
            s.output
                .store
                .push_block(crate::tui::output::LineKind::Info, &text);
            load(s, &session, fx);
            if let Some(code) = s.timeline.after_open.take() {
                start_run(s, Mode::Code, code, fx);
            }
        }
        Some(e) => {
            s.timeline.after_open = None;
            match diverged.map(|d| super::diverged::Divergence::new(d, e)) {
                Some(d) => {
                    fx.extend(details_for(s, vec![d.at.clone()]));
                    s.overlay = Some(Overlay::Timeline(TimelineOverlay::Diverged(d)));
                }
                None => {
                    let text = format!("could not go there: {e}");
                    notice(s, NoticeLevel::Warning, &text);
                }
            }
            if p.opening {
                // The session that was to open did not: nothing is live now, so the
                // console browses the record until a rewind or fork succeeds.
                s.timeline.browse = true;
                s.timeline.live = false;
            }
        }
    }
}

/// A details query for steps not fetched yet (an exact request, besides the window).
fn details_for(s: &mut State, refs: Vec<NodeRef>) -> Vec<Effect> {
    let want: Vec<NodeRef> = refs
        .into_iter()
        .filter(|r| !s.timeline.details.contains_key(r))
        .collect();
    if want.is_empty() {
        return Vec::new();
    }
    s.timeline.requested.extend(want.iter().cloned());
    vec![effect(TimelineEffect::Details(want))]
}

/// A query came back.
pub fn on_action(s: &mut State, a: TimelineAction, fx: &mut Vec<Effect>) {
    match a {
        TimelineAction::Loaded { generation, result } => {
            if s.timeline.loading != Some(generation) {
                return;
            }
            s.timeline.loading = None;
            match result {
                Ok(tree) => {
                    s.timeline.note = (!tree.warnings.is_empty()).then(|| {
                        format!("{} warning(s): {}", tree.warnings.len(), tree.warnings[0])
                    });
                    // A rewind or a new step changes labels and statuses: details stay
                    // (a recorded step never changes), the tree is replaced.
                    s.timeline.tree = Some(Arc::new(tree));
                    rebuild(s, fx);
                }
                Err(e) => {
                    s.timeline.note = Some(e);
                    s.timeline.tree = None;
                    s.timeline.rows.clear();
                    rebuild(s, fx);
                }
            }
        }
        TimelineAction::Details(result) => {
            s.timeline.fetching = false;
            match result {
                Ok(details) => {
                    for d in details {
                        let r = NodeRef {
                            session: d.view.session.clone(),
                            step: d.view.step,
                        };
                        s.timeline.requested.remove(&r);
                        s.timeline.details.insert(r, Arc::new(d));
                    }
                }
                Err(e) => {
                    s.timeline.requested.clear();
                    let text = format!("could not read steps: {e}");
                    return notice(s, NoticeLevel::Warning, &text);
                }
            }
            sync(s, fx);
        }
        TimelineAction::Plan { opens, result } => match result {
            Ok(plan) => {
                s.overlay = Some(Overlay::Timeline(TimelineOverlay::ConfirmRewind {
                    plan,
                    opens,
                }))
            }
            Err(e) => notice(
                s,
                NoticeLevel::Warning,
                &format!("cannot rewind there: {e}"),
            ),
        },
        TimelineAction::Diff(result) => {
            if let Some(Overlay::Timeline(TimelineOverlay::Diff(d))) = &mut s.overlay {
                d.diff = Some(result.map(Arc::new));
            }
        }
        TimelineAction::Sessions { query, result } => {
            if std::mem::take(&mut s.timeline.sessions_open_at_start) {
                // At start, the list opens only when there is something to choose.
                if let Ok((rows, _)) = &result
                    && !rows.is_empty()
                    && s.overlay.is_none()
                {
                    s.overlay = Some(Overlay::Timeline(TimelineOverlay::Sessions(SessionsView {
                        rows: rows.clone(),
                        ..SessionsView::default()
                    })));
                }
                return;
            }
            if let Some(Overlay::Timeline(TimelineOverlay::Sessions(v))) = &mut s.overlay {
                if v.query != query && !v.query.is_empty() {
                    return;
                }
                v.loading = false;
                match result {
                    Ok((rows, hits)) => {
                        if !rows.is_empty() || query.is_empty() {
                            v.rows = rows;
                        }
                        v.hits = hits;
                        v.note = None;
                    }
                    Err(e) => v.note = Some(e),
                }
                let n = v.items().len();
                v.selected = v.selected.min(n.saturating_sub(1));
            }
        }
    }
}

/// Opens the list of recorded sessions.
pub fn open_sessions(s: &mut State, fx: &mut Vec<Effect>) {
    s.overlay = Some(Overlay::Timeline(TimelineOverlay::Sessions(SessionsView {
        loading: true,
        ..SessionsView::default()
    })));
    fx.push(effect(TimelineEffect::Sessions {
        query: String::new(),
    }));
}

fn open_diff(s: &mut State, fx: &mut Vec<Effect>) {
    let focused = s.timeline.focused().map(TimelineNode::node_ref);
    let (Some(a), Some(b)) = (s.timeline.mark.clone(), focused) else {
        return notice(
            s,
            NoticeLevel::Info,
            "mark a step with m, move the focus to another, then d compares them",
        );
    };
    fx.extend(details_for(s, vec![a.clone(), b.clone()]));
    s.overlay = Some(Overlay::Timeline(TimelineOverlay::Diff(DiffView {
        a,
        b,
        branches: false,
        diff: None,
        scroll: 0,
    })));
}

/// Keys while one of the timeline's windows is open.
pub fn overlay_key(s: &mut State, ev: &KeyEvent, fx: &mut Vec<Effect>) {
    let Some(Overlay::Timeline(overlay)) = s.overlay.as_mut() else {
        return;
    };
    let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
    let esc = ev.code == KeyCode::Esc || (ctrl && ev.code == KeyCode::Char('c'));
    match overlay {
        TimelineOverlay::ConfirmRewind { plan, opens } => match ev.code {
            KeyCode::Enter | KeyCode::Char('y') => {
                let (plan, opens) = (plan.clone(), *opens);
                confirm_rewind(s, plan, opens, fx);
            }
            _ => s.overlay = None,
        },
        TimelineOverlay::Rewinding { .. } => {
            if esc {
                // The rewind goes on; Ctrl+C in the console cancels what can be.
                s.overlay = None;
            }
        }
        TimelineOverlay::Diverged(d) => match ev.code {
            KeyCode::Enter | KeyCode::Char('g') => {
                let at = d.at.clone();
                s.overlay = None;
                fx.extend(focus_step(s, &at.session, at.step));
            }
            _ => s.overlay = None,
        },
        TimelineOverlay::ForkName {
            from,
            step,
            input,
            then_run,
        } => match ev.code {
            _ if esc => s.overlay = None,
            KeyCode::Enter => {
                let (from, step, then_run) = (from.clone(), *step, then_run.clone());
                let name = Some(input.trim().to_string()).filter(|n| !n.is_empty());
                s.overlay = None;
                start_fork(s, from, step, name, then_run, fx);
            }
            KeyCode::Backspace => {
                input.pop();
            }
            KeyCode::Char(c) if !ctrl => input.push(c),
            _ => {}
        },
        TimelineOverlay::Diff(d) => match ev.code {
            _ if esc => s.overlay = None,
            KeyCode::Char('q') => s.overlay = None,
            KeyCode::Up | KeyCode::Char('k') => d.scroll = d.scroll.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => d.scroll += 1,
            KeyCode::PageUp => d.scroll = d.scroll.saturating_sub(10),
            KeyCode::PageDown | KeyCode::Char(' ') => d.scroll += 10,
            KeyCode::Char('b') => {
                d.branches = !d.branches;
                d.scroll = 0;
                if d.branches && d.diff.is_none() {
                    let step_ref = |r: &NodeRef| StepRef {
                        session: r.session.clone(),
                        step: Some(r.step),
                    };
                    let (a, b) = (step_ref(&d.a), step_ref(&d.b));
                    fx.push(effect(TimelineEffect::Diff { a, b }));
                }
            }
            _ => {}
        },
        TimelineOverlay::Sessions(v) => match ev.code {
            _ if esc => s.overlay = None,
            KeyCode::Up => v.selected = v.selected.saturating_sub(1),
            KeyCode::Down => v.selected = (v.selected + 1).min(v.items().len().saturating_sub(1)),
            KeyCode::Backspace => {
                v.query.pop();
                v.selected = 0;
                let query = v.query.clone();
                fx.push(effect(TimelineEffect::Sessions { query }));
            }
            KeyCode::Char(c) if !ctrl => {
                v.query.push(c);
                v.selected = 0;
                let query = v.query.clone();
                fx.push(effect(TimelineEffect::Sessions { query }));
            }
            KeyCode::Enter => {
                let pick = v.items().get(v.selected).map(|item| match item {
                    SessionItem::Session(r) => (r.name.clone(), None),
                    SessionItem::Step(h) => (h.session.clone(), Some(h.step)),
                });
                s.overlay = None;
                if let Some((session, step)) = pick {
                    open_session_timeline(s, &session, step, fx);
                }
            }
            _ => {}
        },
    }
}

/// Shows a recorded session's timeline (its head, or `step`, in focus).
fn open_session_timeline(s: &mut State, session: &str, step: Option<u64>, fx: &mut Vec<Effect>) {
    s.timeline.live = false;
    s.timeline.play = None;
    s.timeline.want = step.map(|step| NodeRef {
        session: session.to_string(),
        step,
    });
    if step.is_none() {
        // The head, once the tree says which it is.
        s.timeline.focus = usize::MAX;
    }
    load(s, session, fx);
    focus(s, Pane::Timeline);
}

fn confirm_rewind(
    s: &mut State,
    plan: crate::engine::query::RewindPlan,
    opens: bool,
    fx: &mut Vec<Effect>,
) {
    s.timeline.op = Some(PendingOp {
        kind: OpKind::Rewind {
            session: plan.session.clone(),
            step: plan.step,
        },
        id: None,
        opening: opens,
    });
    if opens {
        open(
            s,
            Start::Rewind {
                name: plan.session.clone(),
                step: plan.step,
            },
            fx,
        );
    } else {
        fx.push(Effect::Send(Op::Rewind(plan.step)));
    }
    s.overlay = Some(Overlay::Timeline(TimelineOverlay::Rewinding {
        plan,
        cells: 0,
        calls: 0,
    }));
}
