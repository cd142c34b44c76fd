//! Drawing the skills pane: the table, a skill's detail (code from the highlight cache,
//! never highlighted here), the trash, the prune policy and preview, and a question
//! over them. Reads the state only.

mod detail;
mod prune;
mod table;
mod trash;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Widget, Wrap};

use super::state::{Confirm, View};
use crate::tui::keymap::Command;
use crate::tui::layout::Pane;
use crate::tui::render::{centered, pane_block, put};
use crate::tui::state::State;
pub fn render(s: &State, area: Rect, buf: &mut Buffer) {
    let block = pane_block(s, Pane::Skills, vec![Span::raw(title(s))]);
    let inner = block.inner(area);
    block.render(area, buf);
    if inner.width == 0 || inner.height == 0 {
        return;
    }
    match s.skills.view {
        View::Table => table::table(s, inner, buf),
        View::Detail => detail::detail(s, inner, buf),
        View::Trash => trash::trash(s, inner, buf),
        View::PrunePolicy => prune::policy(s, inner, buf),
        View::PrunePreview => prune::preview(s, inner, buf),
    }
    if let Some(Confirm::Delete(name)) = &s.skills.confirm {
        question(
            s,
            inner,
            "Delete",
            &format!("Move {name} to the trash? (r in the trash brings it back)"),
            buf,
        );
    }
}

fn title(s: &State) -> String {
    let v = &s.skills;
    let mut t = match v.view {
        View::Table => {
            let n = v.rows.len();
            let mut t = if v.filter.is_empty() {
                format!("Skills · {n}")
            } else {
                format!("Skills · {} of {n}", v.visible.len())
            };
            let arrow = if v.descending { "↓" } else { "↑" };
            t.push_str(&format!(" · {arrow}{}", v.sort.title()));
            if !v.problems.is_empty() {
                t.push_str(&format!(" · {} broken", v.problems.len()));
            }
            t
        }
        View::Detail => match &v.detail {
            Some((name, _)) => format!("Skills · {name}"),
            None => "Skills".into(),
        },
        View::Trash => format!("Skills · trash · {}", v.trash.len()),
        View::PrunePolicy => "Skills · prune: choose a policy".into(),
        View::PrunePreview => "Skills · prune: preview".into(),
    };
    if let Some(busy) = &v.busy {
        t.push_str(&format!(" · {busy}"));
    }
    t
}

/// The first key of a command, as the keymap has it now.
fn key(s: &State, cmd: Command) -> String {
    s.keymap
        .keys(cmd)
        .first()
        .map_or_else(|| "(unbound)".to_string(), |k| k.to_string())
}

/// A line of key hints at the bottom of `area` (when there is room); the rest above it.
fn footer(s: &State, area: Rect, hints: &[(Command, &str)], extra: &str, buf: &mut Buffer) -> Rect {
    if area.height < 6 {
        return area;
    }
    let mut text: Vec<String> = hints
        .iter()
        .map(|(cmd, what)| format!("{} {what}", key(s, *cmd)))
        .collect();
    if !extra.is_empty() {
        text.insert(0, extra.to_string());
    }
    let y = area.bottom() - 1;
    put(
        buf,
        area.x,
        y,
        &text.join(" · "),
        area.width,
        Style::default().fg(s.theme.dim),
    );
    Rect::new(area.x, area.y, area.width, area.height - 1)
}

fn dim_note(s: &State, text: &str, area: Rect, buf: &mut Buffer) {
    Paragraph::new(text.to_string())
        .style(Style::default().fg(s.theme.dim))
        .wrap(Wrap { trim: true })
        .render(area, buf);
}

/// A row's style: the selection when the pane has focus.
fn row_style(s: &State, selected: bool) -> Style {
    if selected && s.focus == Pane::Skills {
        Style::default()
            .fg(s.theme.selection_fg)
            .bg(s.theme.selection_bg)
    } else {
        Style::default().fg(s.theme.text)
    }
}

/// The first row shown so that `selected` is on screen in `h` rows.
fn first_row(selected: usize, h: usize) -> usize {
    selected.saturating_sub(h.saturating_sub(1))
}

/// `2026-01-02T03:04:05Z` as `2026-01-02 03:04` (or the date alone when `short`).
fn when(time: Option<&str>, short: bool) -> String {
    match time {
        None => "never".into(),
        Some(t) => {
            let t = t.replace('T', " ");
            let n = if short { 10 } else { 16 };
            t.chars().take(n).collect()
        }
    }
}

/// `text` in at most `w` columns, an ellipsis marking a cut.
fn clip(text: &str, w: usize) -> String {
    if text.chars().count() <= w {
        return text.to_string();
    }
    let mut out: String = text.chars().take(w.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A yes/no question over the pane.
fn question(s: &State, area: Rect, title: &str, text: &str, buf: &mut Buffer) {
    let t = &s.theme;
    let w = (text.chars().count() as u16 + 4).clamp(20, area.width.max(1));
    let lines = (text.chars().count() as u16).div_ceil(w.saturating_sub(4).max(1));
    let box_area = centered(area, w, lines + 4);
    Clear.render(box_area, buf);
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(Style::default().fg(t.dialog_border))
        .title(format!(" {title} "));
    let inner = block.inner(box_area);
    block.render(box_area, buf);
    let body = format!("{text}\n\ny/enter: yes · any other key: no");
    Paragraph::new(body)
        .style(Style::default().fg(t.text))
        .wrap(Wrap { trim: true })
        .render(inner, buf);
}
