//! The code pane: the current step's code with line numbers, highlighted from the cache
//! (plain until the worker has answered), its attempts as tabs, a diff against the
//! attempt before, and the line an error points at marked.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::Widget;

use super::{pane_block, put};
use crate::event::CellStatus;
use crate::tui::layout::Pane;
use crate::tui::state::{Attempt, State};

/// Lines the selected attempt shows (code, or its diff).
pub fn line_count(s: &State) -> usize {
    s.code
        .attempts
        .get(s.code.selected)
        .map_or(0, |a| shown_lines(s, a))
}

fn shown_lines(s: &State, a: &Attempt) -> usize {
    if s.code.diff && !a.diff.is_empty() {
        a.diff.len()
    } else {
        a.code.lines().count().max(1)
    }
}

fn status_mark(status: Option<CellStatus>) -> &'static str {
    match status {
        None => "…",
        Some(CellStatus::Ok) => "✓",
        Some(CellStatus::Error) => "✗",
        Some(CellStatus::Timeout) => "⏱",
        Some(CellStatus::Cancelled) => "■",
        Some(CellStatus::KernelDied) => "☠",
    }
}

pub fn render(s: &State, area: Rect, buf: &mut Buffer) {
    let t = &s.theme;
    let c = &s.code;
    let title = match (&c.task, c.attempts.is_empty()) {
        (_, true) => "Code".to_string(),
        (Some(task), false) => format!(
            "Code · step {} · {}",
            c.step,
            crate::record::clip(task.lines().next().unwrap_or_default(), 40)
        ),
        (None, false) => "Code · cell".to_string(),
    };
    let block = pane_block(s, Pane::Code, vec![Span::raw(title)]);
    let inner = block.inner(area);
    block.render(area, buf);
    if inner.width == 0 || inner.height == 0 {
        return;
    }
    let Some(attempt) = c.attempts.get(c.selected) else {
        put(
            buf,
            inner.x,
            inner.y,
            "The code of the current step appears here.",
            inner.width,
            Style::default().fg(t.dim),
        );
        return;
    };
    let mut body = inner;
    if c.attempts.len() > 1 {
        // Attempts as tabs: number, outcome, and lines changed from the one before.
        let mut x = inner.x;
        for (i, a) in c.attempts.iter().enumerate() {
            let label = if i == 0 {
                format!(" {} {} ", i + 1, status_mark(a.status))
            } else {
                format!(
                    " {} {} +{} −{} ",
                    i + 1,
                    status_mark(a.status),
                    a.added,
                    a.removed
                )
            };
            let style = if i == c.selected {
                Style::default()
                    .fg(t.selection_fg)
                    .bg(t.selection_bg)
                    .add_modifier(Modifier::BOLD)
            } else {
                Style::default().fg(t.title)
            };
            x += put(buf, x, inner.y, &label, inner.right() - x, style);
            x += put(buf, x, inner.y, " ", inner.right() - x, Style::default());
        }
        let hint = if c.diff { "diff (d)" } else { "d: diff" };
        let hx = inner.right().saturating_sub(hint.len() as u16);
        if hx > x {
            put(
                buf,
                hx,
                inner.y,
                hint,
                inner.right() - hx,
                Style::default().fg(t.dim),
            );
        }
        body.y += 1;
        body.height -= 1;
    }
    if c.diff && !attempt.diff.is_empty() {
        for (row, (tag, text)) in attempt.diff.iter().skip(c.scroll).enumerate() {
            let y = body.y + row as u16;
            if y >= body.bottom() {
                break;
            }
            let style = match tag {
                '+' => Style::default().fg(t.success),
                '-' => Style::default().fg(t.error),
                _ => Style::default().fg(t.text),
            };
            put(buf, body.x, y, &format!("{tag} {text}"), body.width, style);
        }
        return;
    }
    let total = attempt.code.lines().count().max(1);
    let gutter = total.to_string().len() as u16 + 2;
    let highlighted = s.highlights.get(&attempt.key);
    for (row, line) in attempt.code.lines().enumerate().skip(c.scroll) {
        let y = body.y + (row - c.scroll) as u16;
        if y >= body.bottom() {
            break;
        }
        let n = row + 1;
        let is_error = attempt.error_line == Some(n as u32);
        let num_style = if is_error {
            Style::default()
                .fg(t.error_line)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::default().fg(t.line_number)
        };
        let mark = if is_error { "▶" } else { " " };
        put(
            buf,
            body.x,
            y,
            &format!("{n:>w$}{mark} ", w = (gutter - 2) as usize),
            gutter.min(body.width),
            num_style,
        );
        let mut x = body.x + gutter;
        match highlighted.and_then(|h| h.get(row)) {
            Some(styled) => {
                for span in &styled.spans {
                    if x >= body.right() {
                        break;
                    }
                    x += put(buf, x, y, &span.content, body.right() - x, span.style);
                }
            }
            None => {
                put(
                    buf,
                    x,
                    y,
                    line,
                    body.right().saturating_sub(x),
                    Style::default().fg(t.text),
                );
            }
        }
        if is_error {
            buf.set_style(
                Rect::new(body.x + gutter, y, body.width.saturating_sub(gutter), 1),
                Style::default().add_modifier(Modifier::UNDERLINED),
            );
        }
    }
}
