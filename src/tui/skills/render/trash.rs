//! The trash: removed skills, when and why, newest first.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use super::{dim_note, first_row, key, row_style, when};
use crate::tui::keymap::Command;
use crate::tui::layout::Pane;
use crate::tui::render::put;
use crate::tui::skills::state::Load;
use crate::tui::state::State;

pub(super) fn trash(s: &State, area: Rect, buf: &mut Buffer) {
    let v = &s.skills;
    let t = &s.theme;
    match &v.trash_load {
        Load::NotYet | Load::Loading if v.trash.is_empty() => {
            return dim_note(s, "Reading the trash…", area, buf);
        }
        Load::Failed(why) => {
            let text = format!("The trash could not be read: {why}");
            Paragraph::new(text)
                .style(Style::default().fg(t.error))
                .wrap(Wrap { trim: true })
                .render(area, buf);
            return;
        }
        _ => {}
    }
    if v.trash.is_empty() {
        return dim_note(
            s,
            "The trash is empty. Deleted and pruned skills wait here to be restored (T goes back).",
            area,
            buf,
        );
    }
    let name_w = v
        .trash
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(6, 28) as u16;
    let wide = area.width >= name_w + 2 + 17 + 20;
    let style = Style::default().fg(t.dim).add_modifier(Modifier::BOLD);
    put(buf, area.x + 2, area.y, "NAME", name_w, style);
    let mut x = area.x + 2 + name_w + 1;
    if wide {
        put(buf, x, area.y, "REMOVED", 16, style);
        x += 17;
    }
    if x < area.right() {
        put(buf, x, area.y, "WHY", area.right() - x, style);
    }
    let footer = area.height > 4;
    let h = area.height.saturating_sub(1 + footer as u16) as usize;
    let first = first_row(v.trash_selected, h);
    for (i, row) in v.trash.iter().enumerate().skip(first).take(h) {
        let y = area.y + 1 + (i - first) as u16;
        let selected = i == v.trash_selected;
        let base = row_style(s, selected);
        if selected && s.focus == Pane::Skills {
            buf.set_style(Rect::new(area.x, y, area.width, 1), base);
        }
        put(
            buf,
            area.x + 2,
            y,
            &row.name,
            name_w,
            base.add_modifier(Modifier::BOLD),
        );
        let dim = if base.bg.is_some() {
            base
        } else {
            base.fg(t.dim)
        };
        let mut x = area.x + 2 + name_w + 1;
        if wide {
            put(buf, x, y, &when(row.removed.as_deref(), false), 16, dim);
            x += 17;
        }
        let why = row.reason.as_deref().unwrap_or("(no reason noted)");
        if x < area.right() {
            put(buf, x, y, why, area.right() - x, base);
        }
    }
    if footer {
        let text = format!(
            "{} restore (the latest removal of that name) · {} back to the library",
            key(s, Command::SkillRestore),
            key(s, Command::SkillsTrash)
        );
        put(
            buf,
            area.x,
            area.bottom() - 1,
            &text,
            area.width,
            Style::default().fg(t.dim),
        );
    }
}
