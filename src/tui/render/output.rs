//! The output pane: only the visible slice of the line store is laid out. Heights (a
//! wrapped line takes several rows, an expanded call its detail) are measured per line
//! on the fly, so scrolling a million lines costs what one screen costs.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Scrollbar, ScrollbarOrientation, ScrollbarState, StatefulWidget, Widget};
use unicode_width::UnicodeWidthStr;

use super::{pane_block, put};
use crate::event::CallOutcome;
use crate::tui::layout::Pane;
use crate::tui::output::{Call, LineKind, OutputStore, human_bytes, human_ms};
use crate::tui::state::State;
use crate::tui::theme::Theme;

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// What is drawn before a line's text (never part of what is copied).
pub fn gutter(kind: LineKind) -> &'static str {
    match kind {
        LineKind::Input => "› ",
        _ => "",
    }
}

/// Rows line `i` takes at `width` columns.
pub fn line_height(store: &OutputStore, i: usize, width: usize, wrap: bool) -> usize {
    let Some(line) = store.line(i) else {
        return 1;
    };
    match line.call {
        Some(c) if c.expanded => 1 + c.detail().len(),
        Some(_) => 1,
        None if wrap && width > 0 => (gutter(line.kind).width() + line.text.width())
            .div_ceil(width)
            .max(1),
        None => 1,
    }
}

/// The first line shown when the end is in view.
pub fn bottom_top(store: &OutputStore, width: usize, height: usize, wrap: bool) -> usize {
    let n = store.len();
    if n == 0 {
        return 0;
    }
    first_fitting(store, n - 1, width, height, wrap)
}

/// The smallest first line that still shows line `last` whole (or at least starts it).
pub fn first_fitting(
    store: &OutputStore,
    last: usize,
    width: usize,
    height: usize,
    wrap: bool,
) -> usize {
    let mut rows = 0;
    let mut top = last;
    loop {
        rows += line_height(store, top, width, wrap);
        if rows > height && top < last {
            return top + 1;
        }
        if top == 0 || rows >= height {
            return top;
        }
        top -= 1;
    }
}

/// The last line (partly) visible from `top`.
pub fn last_visible(
    store: &OutputStore,
    top: usize,
    width: usize,
    height: usize,
    wrap: bool,
) -> usize {
    let n = store.len();
    let mut rows = 0;
    let mut i = top;
    while i < n {
        rows += line_height(store, i, width, wrap);
        if rows >= height {
            return i;
        }
        i += 1;
    }
    n.saturating_sub(1)
}

/// The line drawn at `row` (0 = the first row inside the pane) from `top`.
pub fn line_at_row(
    store: &OutputStore,
    top: usize,
    width: usize,
    wrap: bool,
    row: usize,
) -> Option<usize> {
    let mut rows = 0;
    let mut i = top;
    while i < store.len() {
        rows += line_height(store, i, width, wrap);
        if rows > row {
            return Some(i);
        }
        i += 1;
    }
    None
}

pub fn style_of(kind: LineKind, t: &Theme) -> Style {
    let s = Style::default();
    match kind {
        LineKind::Stdout => s.fg(t.stdout),
        LineKind::Stderr => s.fg(t.stderr),
        LineKind::Agent => s.fg(t.agent).add_modifier(Modifier::ITALIC),
        LineKind::Value => s.fg(t.value),
        LineKind::Error => s.fg(t.error),
        LineKind::ErrorHere => s.fg(t.error_line).add_modifier(Modifier::BOLD),
        LineKind::Info => s.fg(t.dim),
        LineKind::Warning => s.fg(t.warning),
        LineKind::Input => s.fg(t.text).add_modifier(Modifier::BOLD),
        LineKind::Call => s.fg(t.tool),
    }
}

/// A call's line: a spinner and the time so far while it runs, then the result's size
/// and the duration, or the error.
pub fn call_spans(call: &Call, s: &State) -> Vec<Span<'static>> {
    let t = &s.theme;
    match &call.outcome {
        None => {
            let ms = s.now.saturating_duration_since(call.started).as_millis();
            let frame = SPINNER[(ms / 80) as usize % SPINNER.len()];
            vec![
                Span::styled(format!("{frame} "), Style::default().fg(t.tool_running)),
                Span::styled(call.label(), Style::default().fg(t.tool)),
                Span::styled(
                    format!(" … {}", human_ms(ms as f64)),
                    Style::default().fg(t.dim),
                ),
            ]
        }
        Some(CallOutcome::Ok(_)) if call.offloaded().is_some() => {
            let (path, bytes) = call.offloaded().unwrap_or_default();
            vec![
                Span::styled("⇄ ", Style::default().fg(t.tool)),
                Span::styled(call.label(), Style::default().fg(t.tool)),
                Span::styled(
                    format!(
                        " → {} saved as {path} in {} (Enter opens)",
                        human_bytes(bytes as usize),
                        human_ms(call.duration_ms)
                    ),
                    Style::default().fg(t.dim),
                ),
            ]
        }
        Some(CallOutcome::Ok(_)) => vec![
            Span::styled("⇄ ", Style::default().fg(t.tool)),
            Span::styled(call.label(), Style::default().fg(t.tool)),
            Span::styled(
                format!(
                    " → {} in {}",
                    human_bytes(call.size),
                    human_ms(call.duration_ms)
                ),
                Style::default().fg(t.dim),
            ),
        ],
        Some(CallOutcome::Error { kind, message }) => vec![
            Span::styled("✗ ", Style::default().fg(t.error)),
            Span::styled(call.label(), Style::default().fg(t.tool)),
            Span::styled(
                format!(
                    " → {kind}: {}",
                    crate::record::clip(message.lines().next().unwrap_or_default(), 80)
                ),
                Style::default().fg(t.error),
            ),
        ],
    }
}

/// Splits `text` into pieces of at most `width` columns.
fn wrap_pieces(text: &str, width: usize) -> Vec<&str> {
    if width == 0 || text.width() <= width {
        return vec![text];
    }
    let mut out = Vec::new();
    let (mut start, mut cols) = (0, 0);
    for (i, c) in text.char_indices() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if cols + w > width {
            out.push(&text[start..i]);
            start = i;
            cols = 0;
        }
        cols += w;
    }
    out.push(&text[start..]);
    out
}

/// How search matches are marked: the query and the style of a match.
struct Marks<'a> {
    query: Option<&'a str>,
    style: Style,
}

/// Writes `text` clipped to `width`, with the search matches marked.
fn put_marked(
    buf: &mut Buffer,
    x: u16,
    y: u16,
    text: &str,
    width: u16,
    style: Style,
    marks: &Marks,
) {
    let (query, mark) = (marks.query, marks.style);
    let Some(q) = query.filter(|q| !q.is_empty()) else {
        put(buf, x, y, text, width, style);
        return;
    };
    let fold = !q.chars().any(char::is_uppercase);
    let hay = if fold {
        text.to_lowercase()
    } else {
        text.to_string()
    };
    // Lower-casing can change byte lengths; mark only when it did not.
    if hay.len() != text.len() {
        put(buf, x, y, text, width, style);
        return;
    }
    let (mut at, mut col) = (0, 0u16);
    for (i, _) in hay.match_indices(q) {
        if i < at {
            continue;
        }
        col += put(
            buf,
            x + col,
            y,
            &text[at..i],
            width.saturating_sub(col),
            style,
        );
        col += put(
            buf,
            x + col,
            y,
            &text[i..i + q.len()],
            width.saturating_sub(col),
            mark,
        );
        at = i + q.len();
    }
    put(
        buf,
        x + col,
        y,
        &text[at..],
        width.saturating_sub(col),
        style,
    );
}

pub fn render(s: &State, area: Rect, buf: &mut Buffer) {
    let v = &s.output;
    let t = &s.theme;
    let mut title = vec![Span::raw("Output")];
    if !v.follow && !v.store.is_empty() {
        title.push(Span::raw(format!(
            " · line {}/{}",
            v.cursor + 1,
            v.store.len()
        )));
    }
    if v.wrap {
        title.push(Span::raw(" · wrap"));
    }
    let block = pane_block(s, Pane::Output, title);
    let inner = block.inner(area);
    block.render(area, buf);
    if inner.width == 0 || inner.height == 0 {
        return;
    }
    // The last row is the search input while one is typed.
    let mut body = inner;
    if let Some(input) = &v.search_input {
        body.height -= 1;
        put(
            buf,
            inner.x,
            inner.bottom() - 1,
            &format!("/{input}▏"),
            inner.width,
            Style::default().fg(t.text).add_modifier(Modifier::BOLD),
        );
    }
    let (w, h) = (body.width as usize, body.height as usize);
    if v.store.is_empty() {
        put(
            buf,
            body.x,
            body.y,
            "Output, tool calls and the model's words appear here as they stream.",
            body.width,
            Style::default().fg(t.dim),
        );
        return;
    }
    let top = if v.follow {
        bottom_top(&v.store, w, h, v.wrap)
    } else {
        v.top.min(v.store.len() - 1)
    };
    let focused = s.focus == Pane::Output;
    let selected = Style::default().fg(t.selection_fg).bg(t.selection_bg);
    let marks = Marks {
        query: v.search.as_deref(),
        style: Style::default()
            .bg(t.search_match)
            .fg(ratatui::style::Color::Black),
    };
    let mut y = body.y;
    let mut i = top;
    while y < body.bottom() && i < v.store.len() {
        let Some(line) = v.store.line(i) else { break };
        let is_cursor = focused && i == v.cursor && !v.follow;
        if let Some(call) = line.call {
            let spans = call_spans(call, s);
            // The label gives way to the outcome when the line is too long.
            let fixed: u16 = spans
                .iter()
                .enumerate()
                .filter(|(k, _)| *k != 1)
                .map(|(_, sp)| sp.content.width() as u16)
                .sum();
            let mut x = body.x;
            for (k, span) in spans.iter().enumerate() {
                let style = if is_cursor { selected } else { span.style };
                let room = body.right().saturating_sub(x);
                let room = if k == 1 && spans.len() > 2 {
                    room.saturating_sub(fixed.saturating_sub(spans[0].content.width() as u16))
                } else {
                    room
                };
                let text = if k == 1 && (span.content.width() as u16) > room {
                    crate::record::clip(&span.content, room.saturating_sub(1) as usize)
                } else {
                    span.content.to_string()
                };
                x += put(buf, x, y, &text, room, style);
            }
            y += 1;
            if call.expanded {
                for d in call.detail() {
                    if y >= body.bottom() {
                        break;
                    }
                    put(buf, body.x, y, &d, body.width, Style::default().fg(t.dim));
                    y += 1;
                }
            }
        } else {
            let style = if is_cursor {
                selected
            } else {
                style_of(line.kind, t)
            };
            let gutter = gutter(line.kind);
            let gw = gutter.width() as u16;
            let pieces = if v.wrap {
                wrap_pieces(line.text, w.saturating_sub(gw as usize).max(1))
            } else {
                vec![line.text]
            };
            for (k, piece) in pieces.into_iter().enumerate() {
                if y >= body.bottom() {
                    break;
                }
                if is_cursor {
                    buf.set_style(Rect::new(body.x, y, body.width, 1), selected);
                }
                if k == 0 && gw > 0 {
                    put(buf, body.x, y, gutter, body.width, style_of(line.kind, t));
                }
                let x = body.x + gw.min(body.width);
                put_marked(buf, x, y, piece, body.right() - x, style, &marks);
                y += 1;
            }
        }
        i += 1;
    }
    if v.store.len() > h {
        let mut state = ScrollbarState::new(v.store.len().saturating_sub(h)).position(top);
        Scrollbar::new(ScrollbarOrientation::VerticalRight)
            .begin_symbol(None)
            .end_symbol(None)
            .thumb_style(Style::default().fg(t.border_focused))
            .track_style(Style::default().fg(t.border))
            .render(
                Rect::new(area.right() - 1, inner.y, 1, inner.height),
                buf,
                &mut state,
            );
    }
}
