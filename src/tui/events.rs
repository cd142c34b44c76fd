//! What the session's events do to the console's state: output lines, tool-call lines,
//! the code pane's attempts, the status bar, approvals and manual-mode turns. Part of the
//! update function; no I/O.

use super::action::Effect;
use super::highlight;
use super::layout::Pane;
use super::output::{LineKind, human_ms};
use super::state::{Attempt, CodeView, Held, Mode, Opening, State};
use super::update::{focus, keep_cursor_visible, no_model_message, notice};
use crate::event::{CellStatus, Event, NoticeLevel, Stream};

pub fn model_chosen(s: &mut State, available: bool, why: String) {
    s.session.model_available = Some(available);
    if available {
        return;
    }
    s.session.no_model_why = Some(why);
    s.prompt.mode = Mode::Code;
    let message = no_model_message(s);
    s.output.store.push_block(LineKind::Warning, &message);
    notice(
        s,
        NoticeLevel::Warning,
        "no model: the prompt runs Python (code mode)",
    );
}

pub fn on_event(s: &mut State, event: Event, fx: &mut Vec<Effect>) {
    let store = &mut s.output.store;
    match event {
        Event::SessionStarted {
            session,
            isolation,
            python,
            workspace,
            warm,
        } => {
            s.session.workspace = Some(workspace);
            let kernel = if warm { " · warm kernel" } else { "" };
            store.push_block(
                LineKind::Info,
                &format!("session {session} · Python {python} · {isolation}{kernel}"),
            );
            s.session.name = Some(session);
            s.session.isolation = Some(isolation);
        }
        Event::OpEnded { op, error, .. } => {
            if op == 0 {
                match error {
                    None => {
                        s.opening = Opening::Open;
                        super::update::inspect(s, fx);
                    }
                    Some(e) => {
                        store.push_block(
                            LineKind::Error,
                            &format!("the session could not open: {e}"),
                        );
                        notice(s, NoticeLevel::Warning, "the session could not open");
                        s.opening = Opening::Failed(e);
                    }
                }
            } else if s.running.as_ref().is_some_and(|r| r.id == Some(op)) {
                s.running = None;
                // "Quit while it runs?" no longer applies.
                if s.overlay == Some(super::state::Overlay::ConfirmQuit) {
                    s.overlay = None;
                }
                s.output.store.abandon_calls();
                if let Some(e) = error {
                    s.output.store.push_block(LineKind::Error, &e);
                }
                s.prompt.answering = None;
                match s.queued.take() {
                    Some((mode, text)) => super::update::start_run(s, mode, text, fx),
                    None => super::update::inspect(s, fx),
                }
            } else if s.vars.inspecting == Some(op) {
                s.vars.inspecting = None;
                if let Some(e) = error {
                    s.vars.note = Some(e);
                    s.vars.rows.clear();
                }
            } else if let Some(e) = error {
                notice(s, NoticeLevel::Warning, &e);
            }
        }
        Event::Notice { level, message, .. } => {
            let kind = match level {
                NoticeLevel::Info => LineKind::Info,
                NoticeLevel::Warning => LineKind::Warning,
            };
            store.push_block(kind, &message);
            // The model has its place in the status bar; other notices show there a while.
            match message.strip_prefix("model: ") {
                Some(model) => s.session.model = Some(model.to_string()),
                None => notice(s, level, &message),
            }
        }
        Event::KernelRestarted { reason } => {
            store.push_block(LineKind::Warning, &format!("kernel restarted: {reason}"));
            s.session.restarted = Some(reason);
        }
        Event::ReplayDiffered {
            session,
            step,
            cell,
            difference,
        } => {
            store.push_block(
                LineKind::Warning,
                &format!(
                    "step {step} of session {session} (cell {cell}) came back different when re-run: {difference}; the state rebuilt may differ from the original"
                ),
            );
        }
        Event::StateRestored {
            step,
            source,
            checkpoint,
            cells,
            recreated,
            warm,
            ..
        } => {
            let how = source.describe(cells, checkpoint, &recreated);
            let kernel = if warm { " into a warm kernel" } else { "" };
            store.push_block(
                LineKind::Info,
                &format!("── state after step {step}: {how}{kernel}"),
            );
        }
        // Nothing to show while working; a rewind says how its state came back.
        Event::CheckpointKept { .. } => {}
        Event::ReplayProgress { cells, .. } => {
            notice(
                s,
                NoticeLevel::Info,
                &format!("restoring the session: {cells} cell(s) re-run"),
            );
        }
        Event::StepStarted { step, task } => {
            s.code = CodeView {
                task: Some(task),
                step,
                ..CodeView::default()
            };
        }
        Event::LlmToken { text, .. } => store.push_stream(LineKind::Agent, &text),
        Event::LlmCall { usage, .. } => {
            store.close_line();
            s.session.tokens += usage.prompt_tokens + usage.completion_tokens;
        }
        Event::LlmFailed { message, .. } => store.push_block(
            LineKind::Error,
            &format!("the model did not answer: {message}"),
        ),
        Event::CodeGenerated { attempt, code, .. } => {
            store.push_block(LineKind::Info, &format!("── running attempt {attempt}"));
            push_attempt(s, code, fx);
        }
        Event::CellStarted { cell, code } => {
            // A cell typed in code mode is an attempt of its own; a task's cell is the
            // attempt its code was generated for.
            let typed = s.running.as_ref().is_some_and(|r| r.mode == Mode::Code);
            if typed && s.code.attempts.is_empty() {
                s.code.step = cell;
                push_attempt(s, code, fx);
            }
        }
        Event::Output { stream, text, .. } => {
            let kind = match stream {
                Stream::Stdout => LineKind::Stdout,
                Stream::Stderr => LineKind::Stderr,
            };
            store.push_stream(kind, &text);
        }
        Event::CallStarted { id, name, args, .. } => store.call_started(id, &name, args, s.now),
        Event::HostCall {
            id,
            name,
            args,
            outcome,
            duration_ms,
            ..
        } => store.call_ended(id, &name, args, outcome, duration_ms, s.now),
        Event::Value { repr, .. } => s.held.push(Held::Value(repr)),
        Event::Error {
            ename,
            message,
            traceback,
            line,
            ..
        } => {
            let text = if traceback.trim().is_empty() || !traceback.contains(&ename) {
                format!("{traceback}{ename}: {message}")
            } else {
                traceback
            };
            s.held.push(Held::Traceback { text, line });
            if let Some(a) = s.code.attempts.last_mut() {
                a.error_line = line;
            }
        }
        Event::CellFinished {
            cell,
            status,
            duration_ms,
            overflow,
        } => {
            store.close_line();
            store.abandon_calls();
            for held in std::mem::take(&mut s.held) {
                match held {
                    Held::Value(repr) => store.push_block(LineKind::Value, &repr),
                    Held::Traceback { text, line } => store.push_traceback(&text, line),
                }
            }
            for o in overflow {
                store.push_block(
                    LineKind::Warning,
                    &format!(
                        "{} was {}; the first part is shown, all of it is in {} (Enter opens it)",
                        o.stream.as_str(),
                        super::output::human_bytes(o.bytes as usize),
                        o.path.display()
                    ),
                );
                let line = store.len() - 1;
                let title = format!("cell {cell} {}", o.stream.as_str());
                s.output
                    .files
                    .insert(line, (title, o.path.display().to_string()));
            }
            match status {
                CellStatus::Ok | CellStatus::Error => {}
                other => store.push_block(
                    LineKind::Warning,
                    &format!(
                        "cell {cell} {} after {}",
                        match other {
                            CellStatus::Timeout => "timed out",
                            CellStatus::Cancelled => "was cancelled",
                            _ => "lost its kernel",
                        },
                        human_ms(duration_ms)
                    ),
                ),
            }
            if status == CellStatus::Ok {
                s.session.restarted = None;
            }
            if let Some(a) = s.code.attempts.last_mut() {
                a.status = Some(status);
            }
        }
        Event::StepFinished(summary) => {
            store.close_line();
            let outcome = match (summary.success, summary.answered_without_code) {
                _ if summary.cancelled => "cancelled",
                (true, false) => "done",
                (true, true) => "answered without code",
                (false, _) => "failed",
            };
            let kind = if summary.success {
                LineKind::Info
            } else {
                LineKind::Warning
            };
            store.push_block(
                kind,
                &format!(
                    "── step {} {outcome}: {} attempt(s), {} + {} tokens, {} in the model, {} running code{}",
                    summary.step,
                    summary.attempts,
                    summary.prompt_tokens,
                    summary.completion_tokens,
                    human_ms(summary.llm_ms),
                    human_ms(summary.exec_ms),
                    summary
                        .error
                        .as_deref()
                        .map(|e| format!(" — {e}"))
                        .unwrap_or_default()
                ),
            );
            super::skills::step_finished(s, &summary.skills_used, &summary.skills_created);
            let store = &mut s.output.store;
            if !summary.skills_created.is_empty() {
                store.push_block(
                    LineKind::Info,
                    &format!("kept as skill: {}", summary.skills_created.join(", ")),
                );
            }
        }
        Event::ApprovalRequested(request) => s.approvals.push_back(request),
        Event::ApprovalAnswered { id, decision } => {
            s.approvals.retain(|r| r.id != id);
            let said = match decision {
                crate::tools::policy::Decision::AllowOnce => "allowed once",
                crate::tools::policy::Decision::AllowSession => "allowed for this session",
                crate::tools::policy::Decision::Deny => "denied",
            };
            store.push_block(LineKind::Info, &format!("tool call {said}"));
        }
        Event::CodeRequested { step, prompt } => {
            let excerpt: Vec<&str> = prompt.lines().rev().take(8).collect();
            let excerpt: Vec<&str> = excerpt.into_iter().rev().collect();
            store.push_block(
                LineKind::Agent,
                &format!(
                    "the model's turn (manual mode); it would have been told:\n{}",
                    excerpt.join("\n")
                ),
            );
            store.push_block(
                LineKind::Info,
                "type the code in the prompt and press Enter; an empty answer (just Enter on nothing) is not sent — Ctrl+C ends the step",
            );
            s.prompt.answering = Some(step);
            focus(s, Pane::Prompt);
        }
        Event::StepRecorded { .. } => {}
        Event::Variables { variables } => {
            s.vars.selected = s.vars.selected.min(variables.len().saturating_sub(1));
            s.vars.note = variables
                .is_empty()
                .then(|| "No variables yet: names a cell defines appear here.".into());
            s.vars.rows = variables;
        }
        Event::HeadMoved { session, step } => store.push_block(
            LineKind::Info,
            &format!("session {session} is back at step {step}"),
        ),
        Event::Forked {
            from,
            step,
            session,
        } => {
            store.push_block(
                LineKind::Info,
                &format!("continuing as {session}, a branch of {from} at step {step}"),
            );
            s.session.name = Some(session);
        }
    }
    keep_cursor_visible(s);
}

/// Adds an attempt to the code pane (with its diff against the one before) and asks for
/// its highlighting.
fn push_attempt(s: &mut State, code: String, fx: &mut Vec<Effect>) {
    let key = highlight::key(&code, &s.theme.syntax);
    let (diff, added, removed) = match s.code.attempts.last() {
        Some(prev) => diff_lines(&prev.code, &code),
        None => (Vec::new(), 0, 0),
    };
    if !s.highlights.contains_key(&key) {
        fx.push(Effect::Highlight {
            key,
            code: code.clone(),
            theme: s.theme.syntax.clone(),
        });
    }
    s.code.attempts.push(Attempt {
        code,
        key,
        status: None,
        error_line: None,
        diff,
        added,
        removed,
    });
    s.code.selected = s.code.attempts.len() - 1;
    s.code.scroll = 0;
}

/// A line diff: each line of both with `' '`, `'+'` or `'-'`, and the counts.
pub fn diff_lines(old: &str, new: &str) -> (Vec<(char, String)>, usize, usize) {
    use similar::{ChangeTag, TextDiff};
    let diff = TextDiff::from_lines(old, new);
    let (mut added, mut removed) = (0, 0);
    let lines = diff
        .iter_all_changes()
        .map(|c| {
            let tag = match c.tag() {
                ChangeTag::Equal => ' ',
                ChangeTag::Insert => {
                    added += 1;
                    '+'
                }
                ChangeTag::Delete => {
                    removed += 1;
                    '-'
                }
            };
            (tag, c.value().trim_end_matches('\n').to_string())
        })
        .collect();
    (lines, added, removed)
}
