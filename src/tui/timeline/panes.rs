//! The other panes as of the focus step: the code pane gets the step's attempts, the
//! output pane its output, tool and `ask_llm` calls (expandable to arguments and
//! results), value, answer, the files it changed and the skills it used and created. The
//! live session's panes are held aside meanwhile and come back when the console follows
//! the live session again; its events always land in them.

use std::time::Instant;

use super::super::action::Effect;
use super::super::events::diff_lines;
use super::super::highlight;
use super::super::output::{LineKind, human_ms};
use super::super::state::{Attempt, CodeView, OutputView, State};
use crate::engine::query::{NodeRef, StepDetail, TimelineNode};
use crate::event::CellStatus;

/// Runs `f` on the live session's panes (an engine event), wherever they are now.
pub fn with_live_panes<R>(s: &mut State, f: impl FnOnce(&mut State) -> R) -> R {
    let Some((output, code)) = s.timeline.live_panes.take() else {
        return f(s);
    };
    let shown_output = std::mem::replace(&mut s.output, output);
    let shown_code = std::mem::replace(&mut s.code, code);
    let r = f(s);
    let output = std::mem::replace(&mut s.output, shown_output);
    let code = std::mem::replace(&mut s.code, shown_code);
    s.timeline.live_panes = Some((output, code));
    r
}

/// Gives the live session's panes back.
pub fn show_live(s: &mut State) {
    if let Some((output, code)) = s.timeline.live_panes.take() {
        s.output = output;
        s.code = code;
    }
    s.timeline.shown = None;
}

/// Shows `node` in the code and output panes: from its details when fetched, else what
/// the timeline knows, until they come.
pub fn show_step(s: &mut State, node: &TimelineNode, fx: &mut Vec<Effect>) {
    let r = node.node_ref();
    let detail = s.timeline.details.get(&r).cloned();
    if s.timeline.shown.as_ref() == Some(&r) && detail.is_none() {
        return;
    }
    if s.timeline.live_panes.is_none() {
        let output = std::mem::take(&mut s.output);
        let code = std::mem::take(&mut s.code);
        s.timeline.live_panes = Some((output, code));
    }
    let (output, code) = match &detail {
        Some(d) => (output_of(node, d, s.now), code_of(s, d, fx)),
        None => (placeholder(node), CodeView::default()),
    };
    s.output = output;
    s.code = code;
    // The skills pane marks what the focus step used and made.
    crate::tui::skills::set_step_skills(s, &node.skills_used, &node.skills_created);
    // Loaded: shown for good; else shown again when the details come.
    s.timeline.shown = detail.map(|_| r);
}

fn placeholder(node: &TimelineNode) -> OutputView {
    let mut v = OutputView {
        wrap: true,
        ..OutputView::default()
    };
    v.store.push_block(LineKind::Info, &header(node));
    v.store
        .push_block(LineKind::Info, "reading the step from the record…");
    v
}

fn header(node: &TimelineNode) -> String {
    let tokens = node.prompt_tokens + node.completion_tokens;
    let tokens = if tokens > 0 {
        format!(" · {tokens} tokens")
    } else {
        String::new()
    };
    format!(
        "── step {} of {} · {} · {}{tokens} · branch {}",
        node.step,
        node.session,
        node.status,
        human_ms(node.duration_ms),
        node.branch
    )
}

/// The output pane for a recorded step.
pub fn output_of(node: &TimelineNode, d: &StepDetail, now: Instant) -> OutputView {
    let mut v = OutputView {
        wrap: true,
        ..OutputView::default()
    };
    let store = &mut v.store;
    store.push_block(LineKind::Info, &header(node));
    let view = &d.view;
    if let Some(task) = &view.task {
        store.push_block(LineKind::Input, task);
    }
    let many = view.cells.len() > 1;
    for (i, cell) in view.cells.iter().enumerate() {
        if many || view.task.is_some() {
            store.push_block(LineKind::Info, &format!("── attempt {}", i + 1));
        }
        for call in &cell.calls {
            store.call_ended(
                0,
                &call.name,
                call.args.clone(),
                call.outcome.clone(),
                0.0,
                now,
            );
        }
        let kind = if cell.status == Some(CellStatus::Error) {
            LineKind::Error
        } else {
            LineKind::Stdout
        };
        if !cell.output.is_empty() {
            store.push_block(kind, cell.output.trim_end_matches('\n'));
        }
        match cell.status {
            Some(CellStatus::Ok) => {}
            Some(other) => store.push_block(
                LineKind::Warning,
                &format!("cell ended: {}", format!("{other:?}").to_lowercase()),
            ),
            None => store.push_block(LineKind::Warning, "the cell never finished"),
        }
    }
    if let Some(answer) = &view.answer {
        store.push_block(LineKind::Agent, answer);
    }
    if !d.files.is_empty() {
        let files: Vec<String> = d
            .files
            .iter()
            .map(|f| format!("{} {}", f.change.sign(), f.path))
            .collect();
        store.push_block(
            LineKind::Info,
            &format!("files changed ({}):\n{}", files.len(), files.join("\n")),
        );
    } else if let Some(note) = &d.files_note {
        store.push_block(LineKind::Warning, note);
    }
    if !view.skills_used.is_empty() {
        store.push_block(
            LineKind::Info,
            &format!("skills used: {}", view.skills_used.join(", ")),
        );
    }
    if !view.skills_created.is_empty() {
        store.push_block(
            LineKind::Info,
            &format!("skills created: {}", view.skills_created.join(", ")),
        );
    }
    for c in &node.replay_differed {
        store.push_block(
            LineKind::Warning,
            &format!(
                "cell {} came back different when re-run: {}",
                c.cell, c.difference
            ),
        );
    }
    if let Some(why) = &view.inexact {
        store.push_block(LineKind::Warning, &format!("not replayable exactly: {why}"));
    }
    v
}

/// The code pane for a recorded step: its attempts, highlighting asked for.
fn code_of(s: &State, d: &StepDetail, fx: &mut Vec<Effect>) -> CodeView {
    let view = &d.view;
    let mut attempts: Vec<Attempt> = Vec::new();
    for cell in &view.cells {
        let key = highlight::key(&cell.code, &s.theme.syntax);
        if !s.highlights.contains_key(&key)
            && !fx
                .iter()
                .any(|e| matches!(e, Effect::Highlight { key: k, .. } if *k == key))
        {
            fx.push(Effect::Highlight {
                key,
                code: cell.code.clone(),
                theme: s.theme.syntax.clone(),
            });
        }
        let (diff, added, removed) = match attempts.last() {
            Some(prev) => diff_lines(&prev.code, &cell.code),
            None => (Vec::new(), 0, 0),
        };
        attempts.push(Attempt {
            code: cell.code.clone(),
            key,
            status: cell.status,
            error_line: None,
            diff,
            added,
            removed,
        });
    }
    CodeView {
        task: view.task.clone(),
        step: view.step,
        selected: attempts.len().saturating_sub(1),
        attempts,
        diff: false,
        scroll: 0,
    }
}

/// The last attempt's code of a fetched step.
pub fn last_code(s: &State, r: &NodeRef) -> Option<String> {
    let d = s.timeline.details.get(r)?;
    d.view.cells.last().map(|c| c.code.clone())
}
