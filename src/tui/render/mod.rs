//! Drawing: a pure function of the state onto a frame. Nothing here waits, locks or
//! highlights; it reads the state (and the highlight cache) and lays out only what is
//! visible.

pub mod code;
pub mod output;
pub mod overlay;
pub mod prompt;
pub mod status;
pub mod variables;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Paragraph, Widget};

use super::layout::{Pane, tab_label};
use super::state::State;

pub fn render(s: &State, frame: &mut Frame) {
    let areas = s.areas();
    let screen = frame.area();
    let buf = frame.buffer_mut();
    for (pane, area) in &areas.panes {
        match pane {
            Pane::Prompt => prompt::render(s, *area, buf),
            Pane::Output => output::render(s, *area, buf),
            Pane::Code => code::render(s, *area, buf),
            Pane::Variables => variables::render(s, *area, buf),
            Pane::Skills => super::skills::render::render(s, *area, buf),
            Pane::Timeline => super::timeline::render::render_pane(s, *area, buf),
        }
    }
    if let Some((bar, tabs)) = &areas.tabs {
        tab_bar(s, *bar, tabs, buf);
    }
    status::render(s, areas.status, buf);
    overlay::render(s, screen, buf);
}

/// A pane's frame: a rounded border, brighter when focused, the title on it.
pub fn pane_block<'a>(s: &State, pane: Pane, title: Vec<Span<'a>>) -> Block<'a> {
    let focused = s.focus == pane;
    let t = &s.theme;
    let (border, title_style) = if focused {
        (
            Style::default().fg(t.border_focused),
            Style::default()
                .fg(t.title_focused)
                .add_modifier(Modifier::BOLD),
        )
    } else {
        (Style::default().fg(t.border), Style::default().fg(t.title))
    };
    let mut spans = vec![Span::styled(" ", title_style)];
    spans.extend(title.into_iter().map(|sp| {
        if sp.style == Style::default() {
            sp.style(title_style)
        } else {
            sp
        }
    }));
    spans.push(Span::styled(" ", title_style));
    let mut block = Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(border)
        .title(Line::from(spans));
    if s.zoom == Some(pane) {
        block = block.title_bottom(Line::styled(" zoomed (z) ", Style::default().fg(t.dim)));
    }
    block
}

fn tab_bar(s: &State, area: Rect, tabs: &[Pane], buf: &mut Buffer) {
    let t = &s.theme;
    let mut spans = vec![Span::raw(" ")];
    for (i, pane) in tabs.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" │ ", Style::default().fg(t.border)));
        }
        let shown = s.areas().rect(*pane).is_some();
        let style = if shown && s.focus == *pane {
            Style::default()
                .fg(t.selection_fg)
                .bg(t.selection_bg)
                .add_modifier(Modifier::BOLD)
        } else if shown {
            Style::default()
                .fg(t.title_focused)
                .add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
        } else {
            Style::default().fg(t.dim)
        };
        spans.push(Span::styled(tab_label(*pane), style));
    }
    Paragraph::new(Line::from(spans)).render(area, buf);
}

/// Writes `text` clipped to `width` columns at (x, y); returns the columns used.
pub fn put(buf: &mut Buffer, x: u16, y: u16, text: &str, width: u16, style: Style) -> u16 {
    if width == 0 {
        return 0;
    }
    let (end, _) = buf.set_stringn(x, y, text, width as usize, style);
    end.saturating_sub(x)
}

/// A centred rectangle of at most `w` × `h` inside `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}
