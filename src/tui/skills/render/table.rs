//! The table of skills: columns that fit the width, the sort shown in the header, the
//! focus step's skills marked, files that are not skills named under it.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use super::{clip, dim_note, first_row, footer, row_style, when};
use crate::engine::query::skills::SkillShown;
use crate::tui::keymap::Command;
use crate::tui::layout::Pane;
use crate::tui::render::put;
use crate::tui::skills::state::{Load, SortColumn, matched_in_code_only};
use crate::tui::state::State;

/// The table's columns for a width: which optional ones fit.
struct Columns {
    name: u16,
    counts: bool,
    last: Option<u16>,
    description: bool,
}

fn columns(rows: &[&SkillShown], width: u16) -> Columns {
    let longest = rows
        .iter()
        .map(|r| r.skill.name.chars().count())
        .max()
        .unwrap_or(4) as u16;
    let name = longest.clamp(6, 28);
    // Mark (2), name, then " USES   OK FAIL" (15), " LAST USED" (17 or 11), " DESC…".
    let base = 2 + name;
    let fits = |extra: u16| base + extra <= width;
    if fits(15 + 17 + 12) {
        Columns {
            name,
            counts: true,
            last: Some(16),
            description: true,
        }
    } else if fits(15 + 11 + 12) {
        Columns {
            name,
            counts: true,
            last: Some(10),
            description: true,
        }
    } else if fits(15 + 11) {
        Columns {
            name,
            counts: true,
            last: Some(10),
            description: false,
        }
    } else {
        Columns {
            name: name.min(width.saturating_sub(2 + 15)).max(6),
            counts: width >= 2 + 6 + 15,
            last: None,
            description: false,
        }
    }
}

pub(super) fn table(s: &State, area: Rect, buf: &mut Buffer) {
    let v = &s.skills;
    let t = &s.theme;
    let mut area = area;
    if v.typing || !v.filter.is_empty() {
        let bar = Rect::new(area.x, area.bottom() - 1, area.width, 1);
        area.height = area.height.saturating_sub(1);
        let cursor = if v.typing { "▏" } else { "" };
        let text = format!(
            "/{}{cursor}  (names, descriptions, code{})",
            v.filter,
            if v.typing {
                "; enter keeps it, esc clears"
            } else {
                "; esc clears"
            }
        );
        put(
            buf,
            bar.x,
            bar.y,
            &text,
            bar.width,
            Style::default().fg(t.title_focused),
        );
    }
    match &v.load {
        Load::NotYet | Load::Loading if v.rows.is_empty() => {
            return dim_note(s, "Reading the skill library…", area, buf);
        }
        Load::Empty(why) => return dim_note(s, why, area, buf),
        Load::Failed(why) if v.rows.is_empty() => {
            let text = format!("The skill library could not be read: {why} (R tries again)");
            Paragraph::new(text)
                .style(Style::default().fg(t.error))
                .wrap(Wrap { trim: true })
                .render(area, buf);
            return;
        }
        _ => {}
    }
    if v.rows.is_empty() {
        return dim_note(
            s,
            "No skills yet. Steps whose code works are kept here as skills.",
            area,
            buf,
        );
    }
    if v.visible.is_empty() {
        return dim_note(
            s,
            &format!("No skill matches /{} (esc clears the filter)", v.filter),
            area,
            buf,
        );
    }
    if area.height == 0 {
        return;
    }
    let legend = if v.step.used.is_empty() && v.step.created.is_empty() {
        ""
    } else {
        "● used ✚ made by the step"
    };
    let area = footer(
        s,
        area,
        &[
            (Command::SkillShow, "show"),
            (Command::SkillTest, "test"),
            (Command::SkillDelete, "delete"),
            (Command::SkillsPrune, "prune"),
            (Command::SkillsTrash, "trash"),
            (Command::SkillsFilter, "filter"),
            (Command::SkillsSort, "sort"),
        ],
        legend,
        buf,
    );
    let area = broken_files(s, area, buf);
    let rows: Vec<&SkillShown> = v.visible.iter().map(|i| &v.rows[*i]).collect();
    let cols = columns(&rows, area.width);
    header(s, &cols, area, buf);
    let h = area.height.saturating_sub(1) as usize;
    let first = first_row(v.selected, h);
    for (i, row) in rows.iter().enumerate().skip(first).take(h) {
        let y = area.y + 1 + (i - first) as u16;
        let selected = i == v.selected;
        let base = row_style(s, selected);
        if selected && s.focus == Pane::Skills {
            buf.set_style(Rect::new(area.x, y, area.width, 1), base);
        }
        table_row(
            s,
            row,
            &cols,
            base,
            Rect::new(area.x, y, area.width, 1),
            buf,
        );
    }
}

/// Files of the folder that are not usable skills, one line each at the bottom (they
/// are never listed, tested or pruned; the CLI shows and removes them by name).
fn broken_files(s: &State, area: Rect, buf: &mut Buffer) -> Rect {
    let problems = &s.skills.problems;
    let room = area.height.saturating_sub(3) / 2;
    let n = (problems.len() as u16).min(room);
    if n == 0 {
        return area;
    }
    let style = Style::default().fg(s.theme.warning);
    for (i, p) in problems.iter().take(n as usize).enumerate() {
        let file = p.path.file_name().map_or_else(
            || p.path.display().to_string(),
            |f| f.to_string_lossy().into_owned(),
        );
        let y = area.bottom() - n + i as u16;
        let text = format!("✗ {file}: {} (not a usable skill)", p.message);
        put(buf, area.x, y, &text, area.width, style);
    }
    Rect::new(area.x, area.y, area.width, area.height - n)
}

fn header(s: &State, cols: &Columns, area: Rect, buf: &mut Buffer) {
    let v = &s.skills;
    let style = Style::default()
        .fg(s.theme.dim)
        .add_modifier(Modifier::BOLD);
    let arrow = if v.descending { "↓" } else { "↑" };
    let label = |col: SortColumn, text: &str| {
        if v.sort == col {
            format!("{text}{arrow}")
        } else {
            text.to_string()
        }
    };
    let mut x = area.x + 2;
    let right = area.right();
    put(
        buf,
        x,
        area.y,
        &label(SortColumn::Name, "NAME"),
        cols.name.min(right - x),
        style,
    );
    x += cols.name;
    if cols.counts {
        for (col, text) in [
            (SortColumn::Uses, "USES"),
            (SortColumn::Ok, "OK"),
            (SortColumn::Failed, "FAIL"),
        ] {
            let text = format!("{:>5}", label(col, text));
            put(buf, x, area.y, &text, 5.min(right.saturating_sub(x)), style);
            x += 5;
        }
    }
    if let Some(w) = cols.last {
        x += 1;
        put(
            buf,
            x,
            area.y,
            &label(SortColumn::LastUsed, "LAST USED"),
            w.min(right.saturating_sub(x)),
            style,
        );
        x += w;
    }
    if cols.description && x + 1 < right {
        put(buf, x + 1, area.y, "DESCRIPTION", right - x - 1, style);
    }
}

fn table_row(s: &State, row: &SkillShown, cols: &Columns, base: Style, at: Rect, buf: &mut Buffer) {
    let t = &s.theme;
    let v = &s.skills;
    let sk = &row.skill;
    let (mark, mark_style) = if v.step.created.contains(&sk.name) {
        ("✚", base.fg(t.success).add_modifier(Modifier::BOLD))
    } else if v.step.used.contains(&sk.name) {
        ("●", base.fg(t.tool).add_modifier(Modifier::BOLD))
    } else {
        (" ", base)
    };
    put(buf, at.x, at.y, mark, 2.min(at.width), mark_style);
    let marked = mark != " ";
    let right = at.right();
    let mut x = at.x + 2;
    let name_style = if marked {
        mark_style
    } else {
        base.add_modifier(Modifier::BOLD)
    };
    let name = clip(&sk.name, cols.name as usize);
    put(
        buf,
        x,
        at.y,
        &name,
        cols.name.min(right.saturating_sub(x)),
        name_style,
    );
    x += cols.name;
    if cols.counts {
        let failed = if sk.stats.failures > 0 && base.bg.is_none() {
            base.fg(t.error)
        } else {
            base
        };
        for (n, style) in [
            (sk.stats.uses, base),
            (sk.stats.successes, base),
            (sk.stats.failures, failed),
        ] {
            put(
                buf,
                x,
                at.y,
                &format!("{n:>5}"),
                5.min(right.saturating_sub(x)),
                style,
            );
            x += 5;
        }
    }
    let dim = if base.bg.is_some() {
        base
    } else {
        base.fg(t.dim)
    };
    if let Some(w) = cols.last {
        x += 1;
        let last = when(sk.stats.last_used.as_deref(), w < 16);
        put(buf, x, at.y, &last, w.min(right.saturating_sub(x)), dim);
        x += w;
    }
    if cols.description && x + 1 < right {
        let mut text = sk.description.clone();
        if matched_in_code_only(row, &v.filter) {
            text = format!("(in its code) {text}");
        }
        put(buf, x + 1, at.y, &text, right - x - 1, base);
    }
}
