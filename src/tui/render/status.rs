//! The status bar: session, model, isolation, kernel state, tokens, the latest notice.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};

use super::put;
use crate::event::NoticeLevel;
use crate::tui::output::human_ms;
use crate::tui::state::{Opening, State};

/// The kernel's state in words.
pub fn kernel_state(s: &State) -> String {
    match &s.opening {
        Opening::Opening => return "opening…".into(),
        Opening::Failed(_) => return "not open".into(),
        Opening::Closed => return "closed".into(),
        Opening::Open => {}
    }
    if let Some(r) = &s.running {
        let secs = s.now.saturating_duration_since(r.since).as_millis() as f64;
        let what = if r.cancelling {
            "cancelling"
        } else {
            "running"
        };
        return format!("{what} {}", human_ms((secs / 1000.0).floor() * 1000.0));
    }
    if s.session.restarted.is_some() {
        return "idle (restarted)".into();
    }
    "idle".into()
}

pub fn render(s: &State, area: Rect, buf: &mut Buffer) {
    let t = &s.theme;
    let base = Style::default().fg(t.status_fg).bg(t.status_bg);
    buf.set_style(area, base);
    let model = match (&s.session.model, s.session.model_available) {
        (Some(m), _) => m.clone(),
        (None, Some(false)) => "no model (code mode)".into(),
        (None, _) => "model: choosing…".into(),
    };
    let parts = [
        s.session.name.clone().unwrap_or_else(|| "mcpr".into()),
        kernel_state(s),
        format!("{} tokens", s.session.tokens),
        s.session.isolation.clone().unwrap_or_default(),
        model,
    ];
    let mut x = area.x;
    let right = area.right();
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() || x >= right {
            continue;
        }
        let style = if i == 0 {
            base.add_modifier(Modifier::BOLD)
        } else {
            base
        };
        let text = format!(" {part} ");
        // The model's reason is long: it gets what the rest leaves, and the notice
        // comes after it only when there is room.
        let room = right - x;
        let limit = if i == parts.len() - 1 {
            room.min(48)
        } else {
            room
        };
        x += put(buf, x, area.y, &text, limit, style);
        if x < right {
            x += put(buf, x, area.y, "│", right - x, base);
        }
    }
    if let Some((level, message)) = &s.session.notice
        && x + 4 < right
    {
        let style = match level {
            NoticeLevel::Info => base.add_modifier(Modifier::ITALIC),
            NoticeLevel::Warning => base.fg(t.warning).add_modifier(Modifier::BOLD),
        };
        let first = message.lines().next().unwrap_or_default();
        put(buf, x + 1, area.y, first, right - x - 1, style);
    }
}
