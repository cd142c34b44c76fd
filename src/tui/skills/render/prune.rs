//! Pruning: the policy being chosen, then what it would remove and why.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};

use super::{dim_note, row_style};
use crate::tui::layout::Pane;
use crate::tui::render::put;
use crate::tui::skills::state::{DAYS, RATES};
use crate::tui::state::State;

pub(super) fn policy(s: &State, area: Rect, buf: &mut Buffer) {
    let t = &s.theme;
    let p = &s.skills.prune;
    let tick = |on: bool| if on { "[x]" } else { "[ ]" };
    let days = DAYS[p.days.min(DAYS.len() - 1)];
    let rate = RATES[p.rate.min(RATES.len() - 1)];
    let rows = [
        (
            format!("{} unused for more than ◂ {days} ▸ days", tick(p.unused)),
            p.unused,
        ),
        (
            format!(
                "{} failing more than ◂ {:.0}% ▸ of their uses",
                tick(p.failing),
                rate * 100.0
            ),
            p.failing,
        ),
        (
            format!(
                "{} duplicates of a better-used skill (same code)",
                tick(p.duplicates)
            ),
            p.duplicates,
        ),
    ];
    put(
        buf,
        area.x,
        area.y,
        "What should go to the trash?",
        area.width,
        Style::default()
            .fg(t.title_focused)
            .add_modifier(Modifier::BOLD),
    );
    for (i, (text, on)) in rows.iter().enumerate() {
        let y = area.y + 2 + i as u16;
        if y >= area.bottom() {
            break;
        }
        let selected = i == p.row;
        let mut style = row_style(s, selected);
        if *on && !(selected && s.focus == Pane::Skills) {
            style = style.add_modifier(Modifier::BOLD);
        }
        if selected && s.focus == Pane::Skills {
            buf.set_style(Rect::new(area.x, y, area.width, 1), style);
        }
        let cursor = if selected { "▸ " } else { "  " };
        put(
            buf,
            area.x,
            y,
            &format!("{cursor}{text}"),
            area.width,
            style,
        );
    }
    let help = "space ticks · ←/→ change the number · enter shows what would go · esc cancels";
    if area.height > 6 {
        let help_area = Rect::new(area.x, area.y + 6, area.width, area.height - 6);
        dim_note(s, help, help_area, buf);
    }
}

pub(super) fn preview(s: &State, area: Rect, buf: &mut Buffer) {
    let v = &s.skills;
    let t = &s.theme;
    let Some(plan) = &v.plan else {
        return dim_note(s, "Working out what the policy removes…", area, buf);
    };
    let (head, style, keys) = if plan.removals.is_empty() {
        (
            "Nothing would go.".to_string(),
            Style::default().fg(t.text).add_modifier(Modifier::BOLD),
            "esc: change the policy · q: close",
        )
    } else {
        (
            format!(
                "{} of {} skill(s) would go to the trash:",
                plan.removals.len(),
                v.rows.len()
            ),
            Style::default().fg(t.warning).add_modifier(Modifier::BOLD),
            "y/enter: prune these · esc: change the policy · q: cancel",
        )
    };
    put(buf, area.x, area.y, &head, area.width, style);
    if area.height > 1 {
        let policy = format!("policy: {}", v.prune.describe());
        put(
            buf,
            area.x,
            area.y + 1,
            &policy,
            area.width,
            Style::default().fg(t.dim),
        );
    }
    let footer = area.height > 4;
    if footer {
        put(
            buf,
            area.x,
            area.bottom() - 1,
            keys,
            area.width,
            Style::default().fg(t.title_focused),
        );
    }
    let bottom = area.bottom() - footer as u16;
    let area = Rect::new(area.x, area.y, area.width, bottom - area.y);
    let mut y = area.y + 3;
    for r in plan.removals.iter().skip(v.plan_scroll) {
        if y >= area.bottom() {
            break;
        }
        put(
            buf,
            area.x,
            y,
            &format!("✗ {}", r.name),
            area.width,
            Style::default().fg(t.error).add_modifier(Modifier::BOLD),
        );
        y += 1;
        for reason in &r.reasons {
            if y >= area.bottom() {
                break;
            }
            put(
                buf,
                area.x + 4,
                y,
                reason,
                area.width.saturating_sub(4),
                Style::default().fg(t.text),
            );
            y += 1;
        }
    }
    if !plan.problems.is_empty() && y + 1 < area.bottom() {
        put(
            buf,
            area.x,
            y + 1,
            &format!(
                "{} file(s) are not usable skills and are never pruned (mcpr skills show NAME)",
                plan.problems.len()
            ),
            area.width,
            Style::default().fg(t.dim),
        );
    }
}
