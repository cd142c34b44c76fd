//! The variables pane: the kernel's names with type, size and a short repr.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::Widget;

use super::{pane_block, put};
use crate::tui::layout::Pane;
use crate::tui::state::State;

pub fn render(s: &State, area: Rect, buf: &mut Buffer) {
    let t = &s.theme;
    let v = &s.vars;
    let block = pane_block(
        s,
        Pane::Variables,
        vec![Span::raw(format!("Variables · {}", v.rows.len()))],
    );
    let mut inner = block.inner(area);
    block.render(area, buf);
    if inner.width == 0 || inner.height == 0 {
        return;
    }
    // The other panes show a past step: these names are still the live kernel's, and a
    // value of that step needs the kernel rewound there.
    let past = past_step_note(s);
    if let Some(note) = &past {
        let style = Style::default().fg(t.dim).add_modifier(Modifier::ITALIC);
        let lines = super::overlay::wrap_words(note, inner.width as usize);
        let shown = (lines.len() as u16).min(inner.height);
        for (i, line) in lines.iter().take(shown as usize).enumerate() {
            put(buf, inner.x, inner.y + i as u16, line, inner.width, style);
        }
        inner.y += shown;
        inner.height -= shown;
        if inner.height == 0 {
            return;
        }
    }
    if v.rows.is_empty() {
        if past.is_some() {
            return;
        }
        let note = v
            .note
            .as_deref()
            .unwrap_or("The session's variables appear here after a cell runs.");
        ratatui::widgets::Paragraph::new(note)
            .style(Style::default().fg(t.dim))
            .wrap(ratatui::widgets::Wrap { trim: true })
            .render(inner, buf);
        return;
    }
    let name_w = v
        .rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 20) as u16;
    let type_w = v
        .rows
        .iter()
        .map(|r| r.type_name.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 14) as u16;
    let h = inner.height as usize;
    let first = v.selected.saturating_sub(h.saturating_sub(1));
    for (row, var) in v.rows.iter().enumerate().skip(first).take(h) {
        let y = inner.y + (row - first) as u16;
        let selected = s.focus == Pane::Variables && row == v.selected;
        let base = if selected {
            Style::default().fg(t.selection_fg).bg(t.selection_bg)
        } else {
            Style::default().fg(t.text)
        };
        if selected {
            buf.set_style(Rect::new(inner.x, y, inner.width, 1), base);
        }
        put(
            buf,
            inner.x,
            y,
            &var.name,
            name_w.min(inner.width),
            base.add_modifier(Modifier::BOLD),
        );
        let x = (inner.x + name_w + 1).min(inner.right());
        let dim = if selected { base } else { base.fg(t.dim) };
        put(
            buf,
            x,
            y,
            &var.type_name,
            type_w.min(inner.right() - x),
            dim,
        );
        let x = (inner.x + name_w + type_w + 2).min(inner.right());
        let rest = match var.len {
            Some(n) => format!("[{n}] {}", var.repr),
            None => var.repr.clone(),
        };
        put(buf, x, y, &rest, inner.right() - x, base);
    }
}

/// What to say above the variables while the timeline's focus shows a step other than
/// the live kernel's: the variables are the kernel's, not that step's.
fn past_step_note(s: &State) -> Option<String> {
    s.timeline.live_panes.as_ref()?;
    let focus = s.timeline.focused()?;
    if focus.head && !s.timeline.browse {
        return None;
    }
    Some(if s.timeline.browse {
        format!(
            "Browsing step {}: no kernel runs. In the timeline, r rewinds there (or f forks) to get its values.",
            focus.step
        )
    } else {
        format!(
            "The live kernel's names; the focus is step {}. In the timeline, r rewinds there to get its values.",
            focus.step
        )
    })
}
