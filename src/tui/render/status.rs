//! The status bar: session, model, isolation, kernel state, tokens, the latest notice.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};

use super::put;
use crate::event::NoticeLevel;
use crate::tui::state::{Opening, State};

/// The kernel's state in words.
pub fn kernel_state(s: &State) -> String {
    match &s.opening {
        Opening::Opening => return "opening…".into(),
        Opening::Failed(_) => return "not open".into(),
        Opening::Closed if s.timeline.browse => {
            return "browsing the record (r rewinds, f forks to go on)".into();
        }
        Opening::Closed => return "closed".into(),
        Opening::Open => {}
    }
    if let Some(r) = &s.running {
        let secs = s.now.saturating_duration_since(r.since).as_secs();
        let what = if r.cancelling {
            "cancelling"
        } else {
            "running"
        };
        return format!("{what} {secs} s");
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
    // The long explanations (isolation details, why this model) are in the output.
    let isolation = s
        .session
        .isolation
        .as_deref()
        .map(|i| i.split(" (").next().unwrap_or(i).to_string())
        .unwrap_or_default();
    let model = model
        .split(", chosen by")
        .next()
        .unwrap_or(&model)
        .to_string();
    let parts = [
        s.session.name.clone().unwrap_or_else(|| "mcpr".into()),
        kernel_state(s),
        format!("{} tokens", s.session.tokens),
        isolation,
        model,
    ];
    // The latest notice keeps the right part (up to half the bar); the rest goes to
    // the parts in order of importance.
    let right = area.right();
    let notice = s.visible_notice().map(|(level, message)| {
        let style = match level {
            NoticeLevel::Info => base.add_modifier(Modifier::ITALIC),
            NoticeLevel::Warning => base.fg(t.warning).add_modifier(Modifier::BOLD),
        };
        let text = format!(" {} ", message.lines().next().unwrap_or_default());
        (text, style)
    });
    let notice_w = notice.as_ref().map_or(0, |(text, _)| {
        (text.chars().count() as u16).min(area.width / 2)
    });
    let limit = right - notice_w;
    let mut x = area.x;
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() || x >= limit {
            continue;
        }
        let style = if i == 0 {
            base.add_modifier(Modifier::BOLD)
        } else {
            base
        };
        x += put(buf, x, area.y, &format!(" {part} "), limit - x, style);
        if x < limit {
            x += put(buf, x, area.y, "│", limit - x, base);
        }
    }
    if let Some((text, style)) = notice {
        let start = right - notice_w;
        let text = if text.chars().count() as u16 > notice_w {
            crate::record::clip(&text, notice_w.saturating_sub(1) as usize)
        } else {
            text
        };
        put(buf, start, area.y, &text, notice_w, style);
    }
}
