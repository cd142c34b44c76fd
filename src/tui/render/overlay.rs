//! Windows over the panes: the approval dialog (always on top while a call waits), the
//! quit question, help and the palette (both from the command registry), history search
//! and the pager.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Widget, Wrap};

use super::{centered, put};
use crate::tools::policy::ApprovalRequest;
use crate::tui::keymap::{Command, Context};
use crate::tui::output::python_repr;
use crate::tui::state::{Overlay, State};
use crate::tui::update::{help_rows, history_matches, palette_items};

pub fn dialog(s: &State, title: &str, area: Rect, buf: &mut Buffer) -> Rect {
    Clear.render(area, buf);
    let block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(Style::default().fg(s.theme.dialog_border))
        .title(Span::styled(
            format!(" {title} "),
            Style::default()
                .fg(s.theme.title_focused)
                .add_modifier(Modifier::BOLD),
        ));
    let inner = block.inner(area);
    block.render(area, buf);
    inner
}

pub fn render(s: &State, screen: Rect, buf: &mut Buffer) {
    if let Some(request) = s.approvals.front() {
        return approval(s, request, screen, buf);
    }
    match &s.overlay {
        None => {}
        Some(Overlay::ConfirmQuit) => {
            let area = centered(screen, 52, 5);
            let inner = dialog(s, "Quit?", area, buf);
            Paragraph::new(vec![
                Line::raw("A step is still running; quitting cancels it."),
                Line::styled(
                    "y quit · any other key stays",
                    Style::default().fg(s.theme.dim),
                ),
            ])
            .wrap(Wrap { trim: true })
            .render(inner, buf);
        }
        Some(Overlay::Help { filter, scroll }) => help(s, filter, *scroll, screen, buf),
        Some(Overlay::Palette { filter, selected }) => palette(s, filter, *selected, screen, buf),
        Some(Overlay::HistorySearch { query, selected }) => {
            history(s, query, *selected, screen, buf)
        }
        Some(Overlay::Pager {
            title,
            lines,
            scroll,
        }) => {
            let area = centered(
                screen,
                screen.width.saturating_sub(4),
                screen.height.saturating_sub(2),
            );
            let inner = dialog(s, title, area, buf);
            for (row, line) in lines
                .iter()
                .skip(*scroll)
                .take(inner.height as usize)
                .enumerate()
            {
                put(
                    buf,
                    inner.x,
                    inner.y + row as u16,
                    line,
                    inner.width,
                    Style::default().fg(s.theme.text),
                );
            }
            // Where the reader is, on the bottom border.
            let shown = lines
                .len()
                .saturating_sub(*scroll)
                .min(inner.height as usize);
            let from = (*scroll + 1).min(lines.len());
            let to = *scroll + shown;
            let footer = format!(
                " {from}–{to} of {} · g/G top/end · esc closes ",
                lines.len()
            );
            let width = footer.chars().count() as u16;
            if area.width > width + 4 && area.height > 1 {
                put(
                    buf,
                    area.right() - width - 2,
                    area.bottom() - 1,
                    &footer,
                    width,
                    Style::default().fg(s.theme.dim),
                );
            }
        }
        Some(Overlay::Timeline(o)) => {
            crate::tui::timeline::render::render_overlay(s, o, screen, buf)
        }
    }
}

fn approval(s: &State, r: &ApprovalRequest, screen: Rect, buf: &mut Buffer) {
    let t = &s.theme;
    let args: Vec<String> = match &r.args {
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("  {k} = {}", python_repr(v, 200)))
            .collect(),
        other => vec![format!("  {}", python_repr(other, 200))],
    };
    let h = (args.len() as u16 + 9).min(screen.height);
    let area = centered(screen, 72, h);
    let title = if s.approvals.len() > 1 {
        format!("Allow this tool call? (1 of {})", s.approvals.len())
    } else {
        "Allow this tool call?".to_string()
    };
    let inner = dialog(s, &title, area, buf);
    let bold = Style::default().fg(t.text).add_modifier(Modifier::BOLD);
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("{}.{}", r.server, r.tool), bold),
            Span::styled(
                format!("  ({})", r.class.key()),
                Style::default().fg(t.warning),
            ),
        ]),
        Line::styled(r.reason.clone(), Style::default().fg(t.dim)),
        Line::raw("arguments:"),
    ];
    lines.extend(args.into_iter().map(Line::raw));
    lines.push(Line::raw(""));
    let keys = |c: Command| s.keymap.describe(c);
    lines.push(Line::from(vec![
        Span::styled(format!("[{}] ", keys(Command::AllowOnce)), bold),
        Span::raw("allow once   "),
        Span::styled(format!("[{}] ", keys(Command::AllowSession)), bold),
        Span::raw("allow for the session   "),
        Span::styled(format!("[{}] ", keys(Command::Deny)), bold),
        Span::raw("deny"),
    ]));
    lines.push(Line::styled(
        "The cell waits for your answer; nothing else is blocked.",
        Style::default().fg(t.dim),
    ));
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .render(inner, buf);
}

fn help(s: &State, filter: &str, scroll: usize, screen: Rect, buf: &mut Buffer) {
    let t = &s.theme;
    let area = centered(screen, 96, screen.height.saturating_sub(2));
    let inner = dialog(s, "Keys", area, buf);
    let rows = help_rows(&s.keymap, filter);
    let mut lines: Vec<Line> = vec![Line::from(vec![
        Span::styled("search: ", Style::default().fg(t.dim)),
        Span::styled(format!("{filter}▏"), Style::default().fg(t.text)),
        Span::styled("   esc closes", Style::default().fg(t.dim)),
    ])];
    // Keys take at most a third of the width; the text wraps under itself, so nothing
    // is cut off on a narrow terminal.
    let keys_w = rows
        .iter()
        .map(|(_, keys, _, _)| keys.chars().count())
        .max()
        .unwrap_or(0)
        .min(32)
        .min(inner.width as usize / 3);
    let text_w = (inner.width as usize).saturating_sub(keys_w + 4).max(8);
    let mut last: Option<Context> = None;
    for (ctx, keys, name, text) in rows {
        if last != Some(ctx) {
            lines.push(Line::styled(
                ctx.title().to_string(),
                Style::default()
                    .fg(t.title_focused)
                    .add_modifier(Modifier::BOLD),
            ));
            last = Some(ctx);
        }
        let key_style = Style::default().fg(t.text).add_modifier(Modifier::BOLD);
        if keys.chars().count() > keys_w {
            lines.push(Line::styled(format!("  {keys}"), key_style));
        }
        let described = format!("{text}  ({name})");
        for (i, part) in wrap_words(&described, text_w).into_iter().enumerate() {
            let shown_keys = if i == 0 && keys.chars().count() <= keys_w {
                keys.as_str()
            } else {
                ""
            };
            let (text_part, name_part) = match part.find(&format!("({name})")) {
                Some(at) => (part[..at].to_string(), part[at..].to_string()),
                None => (part, String::new()),
            };
            lines.push(Line::from(vec![
                Span::styled(format!("  {shown_keys:<keys_w$}  "), key_style),
                Span::styled(text_part, Style::default().fg(t.text)),
                Span::styled(name_part, Style::default().fg(t.dim)),
            ]));
        }
    }
    let max = lines.len().saturating_sub(inner.height as usize);
    let first = scroll.min(max);
    for (row, line) in lines
        .iter()
        .skip(first)
        .take(inner.height as usize)
        .enumerate()
    {
        let mut x = inner.x;
        for span in &line.spans {
            if x >= inner.right() {
                break;
            }
            x += put(
                buf,
                x,
                inner.y + row as u16,
                &span.content,
                inner.right() - x,
                span.style,
            );
        }
    }
}

/// Splits `text` at spaces into lines of at most `width` characters (a longer word is
/// cut).
pub(super) fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let needed = line.chars().count() + usize::from(!line.is_empty()) + word.chars().count();
        if !line.is_empty() && needed > width {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
        while line.chars().count() > width {
            let cut: String = line.chars().take(width).collect();
            line = line.chars().skip(width).collect();
            out.push(cut);
        }
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    out
}

fn palette(s: &State, filter: &str, selected: usize, screen: Rect, buf: &mut Buffer) {
    let t = &s.theme;
    let items = palette_items(filter);
    let h = (items.len() as u16 + 3).clamp(5, 18);
    let area = Rect {
        y: screen.y + 2.min(screen.height.saturating_sub(h)),
        ..centered(screen, 72, h)
    };
    let inner = dialog(s, "Commands", area, buf);
    put(
        buf,
        inner.x,
        inner.y,
        &format!("› {filter}▏"),
        inner.width,
        Style::default().fg(t.text).add_modifier(Modifier::BOLD),
    );
    let selected = selected.min(items.len().saturating_sub(1));
    let room = inner.height.saturating_sub(1) as usize;
    let first = selected.saturating_sub(room.saturating_sub(1));
    for (row, c) in items.iter().enumerate().skip(first).take(room) {
        let y = inner.y + 1 + (row - first) as u16;
        let style = if row == selected {
            Style::default().fg(t.selection_fg).bg(t.selection_bg)
        } else {
            Style::default().fg(t.text)
        };
        buf.set_style(Rect::new(inner.x, y, inner.width, 1), style);
        let keys = s.keymap.describe(c.command);
        let x = inner.x + put(buf, inner.x, y, &format!(" {}", c.help), inner.width, style);
        let kx = inner
            .right()
            .saturating_sub(keys.chars().count() as u16 + 1);
        if kx > x {
            put(
                buf,
                kx,
                y,
                &keys,
                inner.right() - kx,
                style.add_modifier(Modifier::DIM),
            );
        }
    }
}

fn history(s: &State, query: &str, selected: usize, screen: Rect, buf: &mut Buffer) {
    let t = &s.theme;
    let matches = history_matches(&s.prompt.history, query);
    let area = centered(screen, 80, 14);
    let inner = dialog(s, "History", area, buf);
    put(
        buf,
        inner.x,
        inner.y,
        &format!("search: {query}▏"),
        inner.width,
        Style::default().fg(t.text).add_modifier(Modifier::BOLD),
    );
    if matches.is_empty() {
        put(
            buf,
            inner.x,
            inner.y + 1,
            "nothing matches",
            inner.width,
            Style::default().fg(t.dim),
        );
    }
    let selected = selected.min(matches.len().saturating_sub(1));
    for (row, entry) in matches
        .iter()
        .take(inner.height.saturating_sub(1) as usize)
        .enumerate()
    {
        let y = inner.y + 1 + row as u16;
        let style = if row == selected {
            Style::default().fg(t.selection_fg).bg(t.selection_bg)
        } else {
            Style::default().fg(t.text)
        };
        let one_line = entry.replace('\n', " ⏎ ");
        buf.set_style(Rect::new(inner.x, y, inner.width, 1), style);
        put(buf, inner.x, y, &one_line, inner.width, style);
    }
}
