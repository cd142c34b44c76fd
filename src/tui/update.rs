//! The update function: one action in, the state changed, effects out. Keys go through
//! the keymap to commands; engine events go to `events`. No I/O, no clock of its own
//! (`State::now`), so every path is a unit test.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;
use std::sync::Arc;

use super::action::{Action, Effect};
use super::events;
use super::keymap::{COMMANDS, Command, CommandInfo, Context, Key, Keymap};
use super::layout::Pane;
use super::output::LineKind;
use super::state::{Mode, Opening, Overlay, Running, State};
use super::timeline::update as timeline;
use crate::engine::Op;
use crate::event::NoticeLevel;
use crate::tools::policy::Decision;

/// How long a second Ctrl+C counts as "twice".
const DOUBLE_CANCEL_MS: u128 = 1000;

pub fn update(s: &mut State, action: Action) -> Vec<Effect> {
    let mut fx = Vec::new();
    match action {
        Action::Key(key) => on_key(s, key, &mut fx),
        Action::Mouse(m) => on_mouse(s, m, &mut fx),
        Action::Paste(text) => on_paste(s, &text),
        Action::Resize(w, h) => {
            s.size = Rect::new(0, 0, w, h);
            keep_cursor_visible(s);
        }
        Action::Engine(e) => {
            timeline::on_event(s, &e, &mut fx);
            // Events belong to the live session's panes, even while they show a step.
            super::timeline::panes::with_live_panes(s, |s| events::on_event(s, e, &mut fx));
            timeline::after_event(s, &mut fx);
        }
        Action::Timeline(a) => timeline::on_action(s, *a, &mut fx),
        Action::ModelChosen { available, why } => events::model_chosen(s, available, why),
        Action::Sent { op, id } => {
            timeline::on_sent(s, &op, id);
            match op {
                Op::RunTask(_) | Op::RunCell(_) => {
                    if let Some(r) = &mut s.running
                        && r.id.is_none()
                    {
                        r.id = Some(id);
                    }
                }
                Op::Inspect => s.vars.inspecting = Some(id),
                _ => {}
            }
        }
        Action::Highlighted { key, lines } => {
            s.highlights.insert(key, Arc::new(lines));
        }
        Action::Edited(Ok(code)) => {
            s.prompt.set_content(code.trim_end_matches('\n'));
            s.prompt.mode = Mode::Code;
            focus(s, Pane::Prompt);
            notice(
                s,
                NoticeLevel::Info,
                "edited code is in the prompt: Enter runs it as a cell",
            );
        }
        Action::Edited(Err(why)) => notice(s, NoticeLevel::Warning, &why),
        Action::Paged { title, lines } => match lines {
            Ok(lines) => {
                s.overlay = Some(Overlay::Pager {
                    title,
                    lines,
                    scroll: 0,
                })
            }
            Err(why) => notice(s, NoticeLevel::Warning, &why),
        },
        Action::Tick => timeline::tick(s, &mut fx),
        Action::Skills(reply) => super::skills::update::on_reply(s, reply, &mut fx),
        Action::JumpToStep { session, step } => {
            focus(s, Pane::Timeline);
            fx.extend(timeline::focus_step(s, &session, step));
        }
    }
    super::skills::update::after(s, &mut fx);
    fx
}

pub fn notice(s: &mut State, level: NoticeLevel, message: &str) {
    s.session.notice = Some((level, message.to_string(), s.now));
}

/// The command context of the focused pane.
fn context(s: &State) -> Context {
    match s.focus {
        Pane::Prompt => Context::Prompt,
        Pane::Output => Context::Output,
        Pane::Code => Context::Code,
        Pane::Variables => Context::Variables,
        Pane::Skills => Context::Skills,
        Pane::Timeline => Context::Timeline,
    }
}

fn on_key(s: &mut State, ev: KeyEvent, fx: &mut Vec<Effect>) {
    if ev.kind == KeyEventKind::Release {
        return;
    }
    let Some(key) = Key::from_event(&ev) else {
        if s.focus == Pane::Prompt && s.overlay.is_none() && s.approvals.is_empty() {
            s.prompt.text.input(ev);
        }
        return;
    };
    // Dialogs first: an approval waits for its answer before anything else.
    if !s.approvals.is_empty() {
        let cmd = s.keymap.lookup(Context::Approval, &key);
        match cmd {
            Some(Command::AllowOnce) => approve(s, Decision::AllowOnce, fx),
            Some(Command::AllowSession) => approve(s, Decision::AllowSession, fx),
            Some(Command::Deny) => approve(s, Decision::Deny, fx),
            _ if s.keymap.lookup(Context::Global, &key) == Some(Command::Cancel) => {
                run_command(s, Command::Cancel, &ev, fx)
            }
            _ => {}
        }
        return;
    }
    if s.overlay.is_some() {
        return on_overlay_key(s, &ev, &key, fx);
    }
    if s.output.search_input.is_some() {
        return on_search_key(s, &ev);
    }
    if super::skills::update::captures_keys(s) && super::skills::update::modal_key(s, &ev, fx) {
        return;
    }
    match s.keymap.lookup(context(s), &key) {
        Some(cmd) => run_command(s, cmd, &ev, fx),
        None if s.focus == Pane::Prompt => {
            s.prompt.browsing = None;
            s.prompt.text.input(ev);
        }
        None => {}
    }
}

fn approve(s: &mut State, decision: Decision, fx: &mut Vec<Effect>) {
    if let Some(r) = s.approvals.pop_front() {
        fx.push(Effect::Send(Op::Approve { id: r.id, decision }));
    }
}

/// Runs a command; `ev` is the key that asked (the prompt may still want it).
pub fn run_command(s: &mut State, cmd: Command, ev: &KeyEvent, fx: &mut Vec<Effect>) {
    if timeline::command(s, cmd, fx) {
        return;
    }
    match cmd {
        Command::Quit => ask_quit(s, fx),
        Command::Cancel => cancel(s, fx),
        Command::Suspend => fx.push(Effect::Suspend),
        Command::Help => {
            s.overlay = Some(Overlay::Help {
                filter: String::new(),
                scroll: 0,
            })
        }
        Command::Palette => {
            s.overlay = Some(Overlay::Palette {
                filter: String::new(),
                selected: 0,
            })
        }
        Command::FocusNext | Command::FocusPrev => {
            let order = Pane::ORDER;
            let i = order.iter().position(|p| *p == s.focus).unwrap_or(0);
            let n = order.len();
            let next = if cmd == Command::FocusNext {
                (i + 1) % n
            } else {
                (i + n - 1) % n
            };
            focus(s, order[next]);
        }
        Command::FocusPrompt => focus(s, Pane::Prompt),
        Command::FocusOutput => focus(s, Pane::Output),
        Command::FocusCode => focus(s, Pane::Code),
        Command::FocusVariables => focus(s, Pane::Variables),
        Command::FocusSkills => focus(s, Pane::Skills),
        Command::Zoom => {
            s.zoom = match s.zoom {
                Some(_) => None,
                None => Some(s.focus),
            };
            keep_cursor_visible(s);
        }
        Command::ToggleMode => {
            s.prompt.mode = match s.prompt.mode {
                Mode::Task => Mode::Code,
                Mode::Code => Mode::Task,
            };
            if s.prompt.mode == Mode::Task && s.session.model_available == Some(false) {
                let why = no_model_message(s);
                notice(s, NoticeLevel::Warning, &why);
            }
        }
        Command::ToggleMouse => {
            s.mouse = !s.mouse;
            fx.push(Effect::SetMouse(s.mouse));
            let text = if s.mouse {
                "mouse capture on: the mouse focuses and scrolls panes"
            } else {
                "mouse capture off: the terminal selects text (alt+m turns it back on)"
            };
            notice(s, NoticeLevel::Info, text);
        }
        Command::Redraw => fx.push(Effect::Redraw),
        Command::Submit => submit(s, fx),
        Command::Newline => {
            s.prompt.text.insert_newline();
        }
        Command::HistoryPrev => {
            if s.prompt.text.cursor().0 > 0 || s.prompt.history.is_empty() {
                s.prompt.text.input(*ev);
            } else {
                let at = match s.prompt.browsing {
                    None => {
                        s.prompt.draft = s.prompt.content();
                        s.prompt.history.len() - 1
                    }
                    Some(b) => b.saturating_sub(1),
                };
                s.prompt.browsing = Some(at);
                let entry = s.prompt.history[at].clone();
                s.prompt.set_content(&entry);
                s.prompt.text.move_cursor(ratatui_textarea::CursorMove::Top);
            }
        }
        Command::HistoryNext => {
            let last = s.prompt.text.lines().len().saturating_sub(1);
            match s.prompt.browsing {
                Some(b) if s.prompt.text.cursor().0 >= last => {
                    if b + 1 < s.prompt.history.len() {
                        s.prompt.browsing = Some(b + 1);
                        let entry = s.prompt.history[b + 1].clone();
                        s.prompt.set_content(&entry);
                    } else {
                        s.prompt.browsing = None;
                        let draft = std::mem::take(&mut s.prompt.draft);
                        s.prompt.set_content(&draft);
                    }
                }
                _ => {
                    s.prompt.text.input(*ev);
                }
            }
        }
        Command::HistorySearch => {
            s.overlay = Some(Overlay::HistorySearch {
                query: String::new(),
                selected: 0,
            })
        }
        Command::LeavePrompt => focus(s, Pane::Output),
        Command::ScrollUp => scroll(s, -1),
        Command::ScrollDown => scroll(s, 1),
        Command::PageUp => {
            let page = page(s);
            scroll(s, -page)
        }
        Command::PageDown => {
            let page = page(s);
            scroll(s, page)
        }
        Command::Top => scroll(s, isize::MIN / 2),
        Command::Bottom => scroll(s, isize::MAX / 2),
        Command::Copy => copy(s, fx),
        Command::Search => s.output.search_input = Some(String::new()),
        Command::SearchNext => search(s, true),
        Command::SearchPrev => search(s, false),
        Command::ToggleWrap => {
            s.output.wrap = !s.output.wrap;
            keep_cursor_visible(s);
        }
        Command::Expand => {
            let at = s.output.cursor;
            let offloaded = s
                .output
                .store
                .line(at)
                .and_then(|l| l.call)
                .and_then(|c| c.offloaded().map(|(rel, _)| (c.label(), rel)));
            let file = s.output.files.get(&at).cloned().or(offloaded);
            match (file, s.session.workspace.clone()) {
                (Some((title, rel)), Some(workspace)) => fx.push(Effect::Page {
                    title,
                    workspace,
                    rel: rel.into(),
                }),
                _ => {
                    if s.output.store.toggle_call(at) {
                        keep_cursor_visible(s);
                    }
                }
            }
        }
        Command::PrevAttempt => {
            s.code.selected = s.code.selected.saturating_sub(1);
            s.code.scroll = 0;
        }
        Command::NextAttempt => {
            if s.code.selected + 1 < s.code.attempts.len() {
                s.code.selected += 1;
                s.code.scroll = 0;
            }
        }
        Command::ToggleDiff => s.code.diff = !s.code.diff,
        Command::EditCode => {
            if let Some(a) = s.code.attempts.get(s.code.selected) {
                let code = a.code.clone();
                s.prompt.set_content(code.trim_end_matches('\n'));
                s.prompt.mode = Mode::Code;
                focus(s, Pane::Prompt);
            }
        }
        Command::EditExternal => {
            if let Some(a) = s.code.attempts.get(s.code.selected) {
                fx.push(Effect::Edit(a.code.clone()));
            }
        }
        Command::RefreshVariables => inspect(s, fx),
        Command::ShowVariable => {
            if let Some(v) = s.vars.rows.get(s.vars.selected) {
                let lines = v.long_repr.lines().map(str::to_string).collect();
                let len = v.len.map(|n| format!(", len {n}")).unwrap_or_default();
                s.overlay = Some(Overlay::Pager {
                    title: format!("{} ({}{len})", v.name, v.type_name),
                    lines,
                    scroll: 0,
                });
            }
        }
        Command::SkillShow
        | Command::SkillsBack
        | Command::SkillsSort
        | Command::SkillsOrder
        | Command::SkillsFilter
        | Command::SkillTest
        | Command::SkillDelete
        | Command::SkillsTrash
        | Command::SkillRestore
        | Command::SkillsPrune
        | Command::SkillJump
        | Command::SkillsRefresh => super::skills::update::command(s, cmd, fx),
        Command::AllowOnce | Command::AllowSession | Command::Deny => {}
        // The timeline's own (taken above).
        Command::FocusTimeline
        | Command::Sessions
        | Command::TimelineBack
        | Command::TimelineForward
        | Command::NextError
        | Command::PrevError
        | Command::ParentBranch
        | Command::ChildBranch
        | Command::Play
        | Command::Faster
        | Command::Slower
        | Command::Live
        | Command::Mark
        | Command::Diff
        | Command::Rewind
        | Command::Fork
        | Command::EditFork => {}
    }
}

/// Asks the session for the kernel's names (unless a request is out already).
pub fn inspect(s: &mut State, fx: &mut Vec<Effect>) {
    if s.vars.inspecting.is_none() && s.opening == Opening::Open {
        fx.push(Effect::Send(Op::Inspect));
    }
}

pub fn focus(s: &mut State, pane: Pane) {
    s.focus = pane;
    s.prompt.set_focused(pane == Pane::Prompt);
    if pane != Pane::Prompt {
        s.shown = pane;
    }
    if matches!(pane, Pane::Variables | Pane::Skills) {
        s.side = pane;
    }
    if s.zoom.is_some() {
        s.zoom = Some(pane);
    }
    keep_cursor_visible(s);
}

fn ask_quit(s: &mut State, fx: &mut Vec<Effect>) {
    if s.running.is_some() {
        s.overlay = Some(Overlay::ConfirmQuit);
    } else {
        quit(s, fx);
    }
}

fn quit(s: &mut State, fx: &mut Vec<Effect>) {
    s.quitting = true;
    fx.push(Effect::Quit);
}

fn cancel(s: &mut State, fx: &mut Vec<Effect>) {
    let twice = s
        .last_cancel
        .is_some_and(|t| s.now.duration_since(t).as_millis() <= DOUBLE_CANCEL_MS);
    s.last_cancel = Some(s.now);
    if twice {
        s.last_cancel = None;
        return ask_quit(s, fx);
    }
    if let Some(r) = &mut s.running {
        r.cancelling = true;
        s.queued = None;
        fx.push(Effect::Send(Op::Cancel));
        notice(
            s,
            NoticeLevel::Info,
            "cancelling… (Ctrl+C again within a second quits)",
        );
    } else if s.focus == Pane::Prompt && !s.prompt.content().is_empty() {
        s.prompt.set_content("");
        s.prompt.browsing = None;
    } else {
        notice(s, NoticeLevel::Info, "press Ctrl+C again to quit");
    }
}

pub fn no_model_message(s: &State) -> String {
    format!(
        "no model: {}. Tasks need one (--llm, --base-url, OPENAI_API_KEY or a local server); code mode runs Python (ctrl+t switches)",
        s.session
            .no_model_why
            .as_deref()
            .unwrap_or("none was chosen")
    )
}

fn submit(s: &mut State, fx: &mut Vec<Effect>) {
    let text = s.prompt.content();
    if text.trim().is_empty() {
        return;
    }
    if s.prompt.answering.is_some() {
        s.prompt.answering = None;
        s.output.store.push_block(LineKind::Input, &text);
        fx.push(Effect::Send(Op::Answer(text.clone())));
        return finish_submit(s, text);
    }
    if timeline::before_submit(s, &text, fx) {
        return finish_submit(s, text);
    }
    match &s.opening {
        Opening::Opening => {
            return notice(
                s,
                NoticeLevel::Warning,
                "the session is still opening: wait a moment",
            );
        }
        Opening::Failed(why) => {
            let why = format!("the session could not open: {why}");
            return notice(s, NoticeLevel::Warning, &why);
        }
        Opening::Closed => return,
        Opening::Open => {}
    }
    let mode = s.prompt.mode;
    if mode == Mode::Task && s.session.model_available == Some(false) {
        let why = no_model_message(s);
        return notice(s, NoticeLevel::Warning, &why);
    }
    if s.running.is_some() {
        // One submission waits for the step running; it goes out when that one ends.
        if s.queued.is_some() {
            return notice(
                s,
                NoticeLevel::Warning,
                "a step is running and another waits: wait, or Ctrl+C cancels",
            );
        }
        s.queued = Some((mode, text.clone()));
        notice(
            s,
            NoticeLevel::Info,
            "queued: it runs when the current step ends (Ctrl+C cancels both)",
        );
        return finish_submit(s, text);
    }
    start_run(s, mode, text.clone(), fx);
    finish_submit(s, text);
}

/// Sends a task or cell and waits for it.
pub fn start_run(s: &mut State, mode: Mode, text: String, fx: &mut Vec<Effect>) {
    s.output.store.push_block(LineKind::Input, &text);
    let op = match mode {
        Mode::Task => Op::RunTask(text.clone()),
        Mode::Code => {
            s.code = super::state::CodeView::default();
            Op::RunCell(text.clone())
        }
    };
    s.running = Some(Running {
        id: None,
        mode,
        since: s.now,
        cancelling: false,
    });
    s.output.follow = true;
    fx.push(Effect::Send(op));
}

fn finish_submit(s: &mut State, text: String) {
    if s.prompt.history.last() != Some(&text) {
        s.prompt.history.push(text);
    }
    s.prompt.browsing = None;
    s.prompt.draft.clear();
    s.prompt.set_content("");
}

/// Rows in a page of the focused pane.
fn page(s: &State) -> isize {
    s.inner(s.focus)
        .map_or(10, |r| r.height.saturating_sub(1).max(1) as isize)
}

/// Moves the focused pane's cursor or view by `delta` lines.
fn scroll(s: &mut State, delta: isize) {
    match s.focus {
        Pane::Output => move_output_cursor(s, delta),
        Pane::Code => {
            let lines = super::render::code::line_count(s);
            let h = s.inner(Pane::Code).map_or(1, |r| r.height as usize);
            let max = lines.saturating_sub(h);
            s.code.scroll = s.code.scroll.saturating_add_signed(delta).min(max);
        }
        Pane::Variables => {
            let n = s.vars.rows.len();
            s.vars.selected = s
                .vars
                .selected
                .saturating_add_signed(delta)
                .min(n.saturating_sub(1));
        }
        Pane::Skills => super::skills::update::scroll(s, delta),
        Pane::Prompt | Pane::Timeline => {}
    }
}

fn output_size(s: &State) -> (usize, usize) {
    s.inner(Pane::Output).map_or((80, 20), |r| {
        (r.width.max(1) as usize, r.height.max(1) as usize)
    })
}

pub fn move_output_cursor(s: &mut State, delta: isize) {
    let n = s.output.store.len();
    if n == 0 {
        return;
    }
    let (w, h) = output_size(s);
    let v = &mut s.output;
    if v.follow {
        v.top = super::render::output::bottom_top(&v.store, w, h, v.wrap);
        v.cursor = n - 1;
        v.follow = false;
    }
    v.cursor = v.cursor.saturating_add_signed(delta).min(n - 1);
    if delta > 0 && v.cursor == n - 1 {
        v.follow = true;
    }
    keep_cursor_visible(s);
}

/// Scrolls the output view itself (the mouse wheel), keeping the cursor on screen.
pub fn scroll_output_view(s: &mut State, delta: isize) {
    let n = s.output.store.len();
    if n == 0 {
        return;
    }
    let (w, h) = output_size(s);
    let v = &mut s.output;
    let bottom = super::render::output::bottom_top(&v.store, w, h, v.wrap);
    if v.follow {
        v.top = bottom;
        v.follow = false;
    }
    v.top = v.top.saturating_add_signed(delta).min(bottom);
    if v.top == bottom && delta > 0 {
        v.follow = true;
        v.cursor = n - 1;
        return;
    }
    let last = super::render::output::last_visible(&v.store, v.top, w, h, v.wrap);
    v.cursor = v.cursor.clamp(v.top, last);
}

/// Moves the output's top so that its cursor is on screen.
pub fn keep_cursor_visible(s: &mut State) {
    let (w, h) = output_size(s);
    let v = &mut s.output;
    let n = v.store.len();
    if v.follow || n == 0 {
        v.cursor = n.saturating_sub(1);
        return;
    }
    v.cursor = v.cursor.min(n - 1);
    if v.cursor < v.top {
        v.top = v.cursor;
    }
    let first = super::render::output::first_fitting(&v.store, v.cursor, w, h, v.wrap);
    v.top = v.top.max(first);
}

fn search(s: &mut State, forward: bool) {
    let Some(query) = s.output.search.clone() else {
        return notice(s, NoticeLevel::Info, "no search yet: / searches the output");
    };
    let from = if forward {
        s.output.cursor + 1
    } else {
        s.output.cursor + s.output.store.len().max(1) - 1
    };
    let from = from % s.output.store.len().max(1);
    match s.output.store.search(&query, from, forward) {
        Some(i) => {
            if s.output.follow {
                move_output_cursor(s, 0);
            }
            s.output.follow = false;
            s.output.cursor = i;
            keep_cursor_visible(s);
        }
        None => notice(s, NoticeLevel::Info, &format!("not found: {query}")),
    }
}

fn on_search_key(s: &mut State, ev: &KeyEvent) {
    let Some(input) = s.output.search_input.as_mut() else {
        return;
    };
    match ev.code {
        KeyCode::Esc => s.output.search_input = None,
        KeyCode::Enter => {
            let query = std::mem::take(input);
            s.output.search_input = None;
            if !query.is_empty() {
                s.output.search = Some(query);
                // Start at the cursor itself, so a match on it counts.
                let n = s.output.store.len().max(1);
                s.output.cursor = (s.output.cursor + n - 1) % n;
                search(s, true);
            }
        }
        KeyCode::Backspace => {
            input.pop();
        }
        KeyCode::Char(c)
            if !ev
                .modifiers
                .contains(crossterm::event::KeyModifiers::CONTROL) =>
        {
            input.push(c)
        }
        _ => {}
    }
}

fn copy(s: &mut State, fx: &mut Vec<Effect>) {
    let text = match s.focus {
        Pane::Code => s.code.attempts.get(s.code.selected).map(|a| a.code.clone()),
        Pane::Output => s.output.store.block_text(s.output.cursor),
        Pane::Variables => s.vars.rows.get(s.vars.selected).map(|v| v.repr.clone()),
        Pane::Skills => super::skills::update::copy_text(s),
        Pane::Prompt => Some(s.prompt.content()),
        Pane::Timeline => None,
    };
    match text.filter(|t| !t.is_empty()) {
        Some(text) => {
            let lines = text.lines().count();
            fx.push(Effect::Copy(text));
            notice(
                s,
                NoticeLevel::Info,
                &format!("copied {lines} line(s) to the clipboard (OSC 52)"),
            );
        }
        None => notice(s, NoticeLevel::Info, "nothing to copy here"),
    }
}

/// The commands the palette offers for `filter`.
pub fn palette_items(filter: &str) -> Vec<&'static CommandInfo> {
    let f = filter.to_lowercase();
    COMMANDS
        .iter()
        .filter(|c| c.context != Context::Approval)
        .filter(|c| f.is_empty() || c.name.contains(&f) || c.help.to_lowercase().contains(&f))
        .collect()
}

/// The help's rows for `filter`: (group, keys, name, help).
pub fn help_rows(
    keymap: &Keymap,
    filter: &str,
) -> Vec<(Context, String, &'static str, &'static str)> {
    let f = filter.to_lowercase();
    COMMANDS
        .iter()
        .map(|c| (c.context, keymap.describe(c.command), c.name, c.help))
        .filter(|(_, keys, name, help)| {
            f.is_empty()
                || name.contains(&f)
                || help.to_lowercase().contains(&f)
                || keys.contains(&f)
        })
        .collect()
}

/// History entries matching `query`, newest first.
pub fn history_matches<'a>(history: &'a [String], query: &str) -> Vec<&'a String> {
    let q = query.to_lowercase();
    history
        .iter()
        .rev()
        .filter(|h| q.is_empty() || h.to_lowercase().contains(&q))
        .collect()
}

fn on_overlay_key(s: &mut State, ev: &KeyEvent, key: &Key, fx: &mut Vec<Effect>) {
    let Some(overlay) = s.overlay.as_mut() else {
        return;
    };
    if let Overlay::Timeline(_) = overlay {
        return timeline::overlay_key(s, ev, fx);
    }
    let ctrl = ev
        .modifiers
        .contains(crossterm::event::KeyModifiers::CONTROL);
    match overlay {
        Overlay::ConfirmQuit => match ev.code {
            KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => {
                s.overlay = None;
                quit(s, fx);
            }
            KeyCode::Char('c') if ctrl => {
                s.overlay = None;
                quit(s, fx);
            }
            _ => s.overlay = None,
        },
        Overlay::Help { filter, scroll } => match ev.code {
            KeyCode::Esc => s.overlay = None,
            KeyCode::Up => *scroll = scroll.saturating_sub(1),
            KeyCode::Down => *scroll += 1,
            KeyCode::PageUp => *scroll = scroll.saturating_sub(10),
            KeyCode::PageDown => *scroll += 10,
            KeyCode::Backspace => {
                filter.pop();
                *scroll = 0;
            }
            KeyCode::Char('c') if ctrl => s.overlay = None,
            KeyCode::Char('?') if filter.is_empty() => s.overlay = None,
            KeyCode::Char('q') if filter.is_empty() => s.overlay = None,
            KeyCode::Char(c) if !ctrl => {
                filter.push(c);
                *scroll = 0;
            }
            _ => {}
        },
        Overlay::Palette { filter, selected } => match ev.code {
            KeyCode::Esc => s.overlay = None,
            KeyCode::Up => *selected = selected.saturating_sub(1),
            KeyCode::Down => *selected += 1,
            KeyCode::Backspace => {
                filter.pop();
                *selected = 0;
            }
            KeyCode::Enter => {
                let items = palette_items(filter);
                let pick = items.get((*selected).min(items.len().saturating_sub(1)));
                let cmd = pick.map(|c| c.command);
                s.overlay = None;
                if let Some(cmd) = cmd {
                    run_command(s, cmd, ev, fx);
                }
            }
            KeyCode::Char('c') | KeyCode::Char('p') if ctrl => s.overlay = None,
            KeyCode::Char(c) if !ctrl => {
                filter.push(c);
                *selected = 0;
            }
            _ => {}
        },
        Overlay::HistorySearch { query, selected } => match ev.code {
            KeyCode::Esc => s.overlay = None,
            KeyCode::Up => *selected += 1,
            KeyCode::Down => *selected = selected.saturating_sub(1),
            KeyCode::Char('r') if ctrl => *selected += 1,
            KeyCode::Backspace => {
                query.pop();
                *selected = 0;
            }
            KeyCode::Enter => {
                let matches = history_matches(&s.prompt.history, query);
                let pick = matches
                    .get((*selected).min(matches.len().saturating_sub(1)))
                    .map(|h| h.to_string());
                s.overlay = None;
                if let Some(text) = pick {
                    s.prompt.set_content(&text);
                    focus(s, Pane::Prompt);
                }
            }
            KeyCode::Char('c') if ctrl => s.overlay = None,
            KeyCode::Char(c) if !ctrl => {
                query.push(c);
                *selected = 0;
            }
            _ => {}
        },
        Overlay::Timeline(_) => {}
        Overlay::Pager { lines, scroll, .. } => {
            let n = lines.len();
            match s.keymap.lookup(Context::Panes, key) {
                Some(Command::ScrollUp) => *scroll = scroll.saturating_sub(1),
                Some(Command::ScrollDown) => *scroll = (*scroll + 1).min(n.saturating_sub(1)),
                Some(Command::PageUp) => *scroll = scroll.saturating_sub(20),
                Some(Command::PageDown) => *scroll = (*scroll + 20).min(n.saturating_sub(1)),
                Some(Command::Top) => *scroll = 0,
                Some(Command::Bottom) => *scroll = n.saturating_sub(1),
                Some(Command::Copy) => {
                    let text = lines.join("\n");
                    fx.push(Effect::Copy(text));
                }
                Some(Command::Quit) | Some(Command::Cancel) => s.overlay = None,
                _ if ev.code == KeyCode::Esc => s.overlay = None,
                _ => {}
            }
        }
    }
}

fn on_mouse(s: &mut State, m: MouseEvent, fx: &mut Vec<Effect>) {
    if s.overlay.is_some() || !s.approvals.is_empty() {
        return;
    }
    let areas = s.areas();
    match m.kind {
        MouseEventKind::Down(MouseButton::Left) => {
            if let Some(tab) = areas.tab_at(m.column, m.row) {
                focus(s, tab);
            } else if let Some(pane) = areas.pane_at(m.column, m.row) {
                focus(s, pane);
                if pane == Pane::Timeline
                    && let Some(inner) = s.inner(Pane::Timeline)
                    && inner.contains((m.column, m.row).into())
                {
                    timeline::click(s, (m.row - inner.y) as usize, fx);
                }
                if pane == Pane::Output
                    && let Some(inner) = s.inner(Pane::Output)
                    && inner.contains((m.column, m.row).into())
                {
                    let (w, h) = output_size(s);
                    let v = &s.output;
                    let top = if v.follow {
                        super::render::output::bottom_top(&v.store, w, h, v.wrap)
                    } else {
                        v.top
                    };
                    let row = (m.row - inner.y) as usize;
                    if let Some(line) =
                        super::render::output::line_at_row(&v.store, top, w, v.wrap, row)
                    {
                        if s.output.follow {
                            s.output.top = top;
                            s.output.follow = false;
                        }
                        s.output.cursor = line;
                    }
                }
            }
        }
        MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
            let delta = if m.kind == MouseEventKind::ScrollUp {
                -3
            } else {
                3
            };
            match areas.pane_at(m.column, m.row) {
                Some(Pane::Output) => scroll_output_view(s, delta),
                Some(Pane::Timeline) => timeline::wheel(s, delta, fx),
                Some(pane @ (Pane::Code | Pane::Variables | Pane::Skills)) => {
                    let before = s.focus;
                    s.focus = pane;
                    scroll(s, delta);
                    s.focus = before;
                }
                _ => {}
            }
        }
        _ => {}
    }
}

fn on_paste(s: &mut State, text: &str) {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    if let Some(Overlay::Help { filter, .. } | Overlay::Palette { filter, .. }) = &mut s.overlay {
        filter.push_str(text.lines().next().unwrap_or_default());
        return;
    }
    if let Some(Overlay::HistorySearch { query, .. }) = &mut s.overlay {
        query.push_str(text.lines().next().unwrap_or_default());
        return;
    }
    if s.overlay.is_some() || !s.approvals.is_empty() {
        return;
    }
    if let Some(input) = &mut s.output.search_input {
        input.push_str(text.lines().next().unwrap_or_default());
        return;
    }
    if super::skills::update::paste(s, &text) {
        return;
    }
    focus(s, Pane::Prompt);
    s.prompt.browsing = None;
    s.prompt.text.insert_str(text);
}

#[cfg(test)]
#[path = "update_tests.rs"]
mod tests;
