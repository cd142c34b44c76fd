//! Drawing the timeline pane and its windows (rewind confirmation and progress, a
//! divergence, the fork's name, the diff, the session list). Pure: reads the state, lays
//! out only the rows on screen.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Gauge, Paragraph, Widget, Wrap};

use super::diverged::{Divergence, sides};
use super::{DiffView, SessionItem, SessionsView, TimelineOverlay};
use crate::engine::query::{DiffTag, RewindPlan, StepDetail, StepStatus, TimelineNode};
use crate::tui::layout::Pane;
use crate::tui::output::human_ms;
use crate::tui::render::overlay::dialog;
use crate::tui::render::{centered, pane_block, put};
use crate::tui::state::State;
use crate::tui::theme::Theme;

/// The glyph and colour of a step's status (a replay that came back different shows as
/// diverged whatever the status).
pub fn glyph(t: &Theme, node: &TimelineNode) -> (char, Color) {
    if !node.replay_differed.is_empty() {
        return ('≠', t.warning);
    }
    match node.status {
        StepStatus::Ok => ('●', t.success),
        StepStatus::Failed => ('✗', t.error),
        StepStatus::Cancelled => ('⊘', t.warning),
        StepStatus::Interrupted => ('!', t.warning),
    }
}

const SPINNER: [char; 4] = ['◐', '◓', '◑', '◒'];

fn tokens_text(n: u64) -> String {
    if n >= 10_000 {
        format!("{}k", n / 1000)
    } else if n >= 1000 {
        format!("{:.1}k", n as f64 / 1000.0)
    } else {
        n.to_string()
    }
}

pub fn render_pane(s: &State, area: Rect, buf: &mut Buffer) {
    let t = &s.theme;
    let v = &s.timeline;
    let steps = v.tree.as_ref().map_or(0, |tree| tree.nodes.len());
    let mut title = vec![Span::raw("Timeline")];
    if let Some(name) = &v.session {
        title.push(Span::raw(format!(" · {name} · {steps} steps")));
    }
    let mode = if v.play.is_some() {
        format!(" ▶ {}", speed(v.speed_ms()))
    } else if v.browse {
        " browse".to_string()
    } else if v.live {
        " live".to_string()
    } else {
        String::new()
    };
    if !mode.is_empty() {
        title.push(Span::styled(mode, Style::default().fg(t.agent)));
    }
    let block = pane_block(s, Pane::Timeline, title);
    let inner = block.inner(area);
    block.render(area, buf);
    if inner.width == 0 || inner.height == 0 {
        return;
    }
    if v.rows.is_empty() {
        let text = if v.loading.is_some() {
            "reading the record…".to_string()
        } else if let Some(note) = &v.note {
            note.clone()
        } else {
            "No steps yet: each task or cell becomes a step here.".to_string()
        };
        Paragraph::new(text)
            .style(Style::default().fg(t.dim))
            .wrap(Wrap { trim: true })
            .render(inner, buf);
        return;
    }
    let h = inner.height as usize;
    // The focus stays on screen even when the scroll lags (a resize).
    let mut first = v.scroll.min(v.rows.len().saturating_sub(1));
    if v.focus < first {
        first = v.focus;
    } else if v.focus >= first + h {
        first = v.focus + 1 - h;
    }
    for (i, row) in v.rows.iter().enumerate().skip(first).take(h) {
        let y = inner.y + (i - first) as u16;
        let focused = i == v.focus;
        draw_row(s, row, focused, inner.x, y, inner.width, buf);
    }
}

fn speed(ms: u64) -> String {
    if ms >= 1000 {
        format!("{} s", ms as f64 / 1000.0)
    } else {
        format!("{ms} ms")
    }
}

fn draw_row(
    s: &State,
    row: &super::rows::Row,
    focused: bool,
    x: u16,
    y: u16,
    width: u16,
    buf: &mut Buffer,
) {
    let t = &s.theme;
    let v = &s.timeline;
    let node = row.node.and_then(|i| v.tree.as_ref()?.nodes.get(i));
    let base = if focused {
        Style::default().fg(t.selection_fg).bg(t.selection_bg)
    } else {
        Style::default().fg(t.text)
    };
    if focused {
        buf.set_style(Rect::new(x, y, width, 1), base);
    }
    let (mark, mark_color) = match node {
        Some(n) => glyph(t, n),
        None => {
            let phase = s.running.as_ref().map_or(0, |r| {
                (s.now.duration_since(r.since).as_millis() / 150) as usize
            });
            (SPINNER[phase % SPINNER.len()], t.agent)
        }
    };
    let mut at = x;
    let end = x + width;
    for c in row.rails.chars() {
        if at >= end {
            return;
        }
        let (ch, style) = if c == '●' {
            (mark, base.fg(mark_color).add_modifier(Modifier::BOLD))
        } else {
            (c, base.fg(t.border))
        };
        buf.set_string(at, y, ch.to_string(), style);
        at += 1;
    }
    at += put(buf, at, y, " ", end.saturating_sub(at), base);
    let Some(node) = node else {
        // The live session's code pane knows the task, wherever it is held.
        let live_code = s.timeline.live_panes.as_ref().map_or(&s.code, |(_, c)| c);
        let task = live_code.task.clone().unwrap_or_else(|| "a cell".into());
        put(
            buf,
            at,
            y,
            &format!("   running · {}", first_line(&task)),
            end.saturating_sub(at),
            base.fg(t.agent),
        );
        return;
    };
    let is_mark = v.mark.as_ref() == Some(&node.node_ref());
    let flag = match (node.head, is_mark) {
        (_, true) => "*",
        (true, _) => "◀",
        _ => " ",
    };
    let num = format!("{:>3}{flag}", node.step);
    at += put(
        buf,
        at,
        y,
        &num,
        end.saturating_sub(at),
        base.add_modifier(Modifier::BOLD),
    );
    at += put(buf, at, y, " ", end.saturating_sub(at), base);
    // Right side: duration, tokens, skills; only when there is room for a title too.
    let tokens = node.prompt_tokens + node.completion_tokens;
    let mut meta = human_ms(node.duration_ms);
    if tokens > 0 {
        meta.push_str(&format!(" {}t", tokens_text(tokens)));
    }
    if !node.skills_used.is_empty() {
        meta.push_str(&format!(" ⚙{}", node.skills_used.len()));
    }
    if !node.skills_created.is_empty() {
        meta.push_str(&format!(" +{}", node.skills_created.len()));
    }
    let room = end.saturating_sub(at) as usize;
    let meta_w = meta.chars().count() + 1;
    let show_meta = room >= meta_w + 12;
    let title_w = if show_meta { room - meta_w } else { room };
    let mut title = node.title.clone();
    if let Some(b) = &row.branch {
        title = format!("[{b}] {title}");
    }
    let style = if node.inherited {
        base.fg(if focused { t.selection_fg } else { t.dim })
    } else {
        base
    };
    put(buf, at, y, &first_line(&title), title_w as u16, style);
    if show_meta {
        let mx = end - meta.chars().count() as u16;
        put(
            buf,
            mx,
            y,
            &meta,
            meta.chars().count() as u16,
            base.fg(if focused { t.selection_fg } else { t.dim }),
        );
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

/// The timeline's windows.
pub fn render_overlay(s: &State, o: &TimelineOverlay, screen: Rect, buf: &mut Buffer) {
    match o {
        TimelineOverlay::ConfirmRewind { plan, opens } => confirm(s, plan, *opens, screen, buf),
        TimelineOverlay::Rewinding { plan, cells, calls } => {
            progress(s, plan, *cells, *calls, screen, buf)
        }
        TimelineOverlay::Diverged(d) => diverged(s, d, screen, buf),
        TimelineOverlay::ForkName {
            from,
            step,
            input,
            then_run,
        } => {
            let area = centered(screen, 64, 8);
            let inner = dialog(s, &format!("Fork {from} at step {step}"), area, buf);
            let t = &s.theme;
            let mut lines = vec![
                Line::raw("Name of the new session (Enter keeps the default):"),
                Line::from(vec![Span::styled(
                    format!("{input}▏"),
                    Style::default().fg(t.text).add_modifier(Modifier::BOLD),
                )]),
                Line::styled(
                    format!("It shares steps 1…{step} with {from}, which stays as it is."),
                    Style::default().fg(t.dim),
                ),
            ];
            if then_run.is_some() {
                lines.push(Line::styled(
                    "Then the edited code runs there as a cell.",
                    Style::default().fg(t.dim),
                ));
            }
            lines.push(Line::styled(
                "Enter forks and switches to it · Esc cancels",
                Style::default().fg(t.dim),
            ));
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .render(inner, buf);
        }
        TimelineOverlay::Diff(d) => diff(s, d, screen, buf),
        TimelineOverlay::Sessions(v) => sessions(s, v, screen, buf),
    }
}

/// The confirmation's lines: exactly what the rewind does, with the record's counts.
pub fn plan_lines(plan: &RewindPlan, opens: bool) -> Vec<String> {
    let mut lines = vec![
        format!(
            "Session {} goes back to step {} in a fresh kernel:",
            plan.session, plan.step
        ),
        format!(
            "  • {} cell(s) of {} step(s) re-run to rebuild the state",
            plan.cells, plan.steps
        ),
        format!(
            "  • {} tool call(s) and {} model call(s) served from the record{}",
            plan.tool_calls,
            plan.model_calls,
            if plan.other_calls > 0 {
                format!(" (and {} other host call(s))", plan.other_calls)
            } else {
                String::new()
            }
        ),
        "  • nothing external is called: no tool server, no model".to_string(),
        format!(
            "  • the workspace's files are restored to step {}",
            plan.step
        ),
    ];
    lines.push(if plan.later_steps > 0 {
        format!(
            "  • the {} later step(s) stay in the record as a branch",
            plan.later_steps
        )
    } else {
        "  • later steps, if any, stay in the record as a branch".to_string()
    });
    if opens {
        lines.push(format!(
            "  • the console then continues live in {} (the session open now closes)",
            plan.session
        ));
    }
    lines
}

fn confirm(s: &State, plan: &RewindPlan, opens: bool, screen: Rect, buf: &mut Buffer) {
    let t = &s.theme;
    let body = plan_lines(plan, opens);
    let area = centered(screen, 76, body.len() as u16 + 5);
    let inner = dialog(s, &format!("Rewind to step {}?", plan.step), area, buf);
    let mut lines: Vec<Line> = body.into_iter().map(Line::raw).collect();
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "Enter rewinds · any other key cancels",
        Style::default().fg(t.dim),
    ));
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .render(inner, buf);
}

fn progress(s: &State, plan: &RewindPlan, cells: u64, calls: u64, screen: Rect, buf: &mut Buffer) {
    let t = &s.theme;
    let area = centered(screen, 64, 8);
    let inner = dialog(s, &format!("Rewinding to step {}", plan.step), area, buf);
    let [text, gauge, foot] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(1),
        Constraint::Min(1),
    ])
    .areas(inner);
    Paragraph::new(vec![
        Line::raw(format!(
            "cells re-run: {cells} of {}",
            plan.cells.max(cells as usize)
        )),
        Line::raw(format!(
            "calls served from the record: {calls} of {}",
            plan.tool_calls + plan.model_calls + plan.other_calls
        )),
        Line::styled("nothing external is called", Style::default().fg(t.dim)),
    ])
    .render(text, buf);
    let ratio = if plan.cells == 0 {
        0.0
    } else {
        (cells as f64 / plan.cells as f64).clamp(0.0, 1.0)
    };
    Gauge::default()
        .gauge_style(Style::default().fg(t.success).bg(t.status_bg))
        .ratio(ratio)
        .render(gauge, buf);
    Paragraph::new(Line::styled(
        "Esc hides this window (the rewind goes on)",
        Style::default().fg(t.dim),
    ))
    .render(foot, buf);
}

fn diverged(s: &State, d: &Divergence, screen: Rect, buf: &mut Buffer) {
    let t = &s.theme;
    let area = centered(
        screen,
        screen.width.saturating_sub(4).min(110),
        screen.height.saturating_sub(2).min(22),
    );
    let inner = dialog(
        s,
        &format!(
            "Replay diverged at step {} of {} (cell {})",
            d.at.step, d.at.session, d.cell
        ),
        area,
        buf,
    );
    let [head, cols, foot] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(3),
        Constraint::Length(2),
    ])
    .areas(inner);
    Paragraph::new(Line::raw(d.difference.clone()))
        .style(Style::default().fg(t.warning))
        .wrap(Wrap { trim: true })
        .render(head, buf);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(cols);
    let (ran, recorded) = sides(&d.difference);
    let detail = s.timeline.details.get(&d.at);
    let cell = detail.and_then(|x| x.view.cells.get(d.cell.saturating_sub(1)));
    let mut rec: Vec<Line> = vec![Line::styled(
        "the record",
        Style::default()
            .fg(t.title_focused)
            .add_modifier(Modifier::BOLD),
    )];
    rec.push(Line::styled(recorded, Style::default().fg(t.success)));
    let mut now: Vec<Line> = vec![Line::styled(
        "the re-run",
        Style::default()
            .fg(t.title_focused)
            .add_modifier(Modifier::BOLD),
    )];
    now.push(Line::styled(ran, Style::default().fg(t.error)));
    if let Some(cell) = cell {
        rec.push(Line::raw(""));
        rec.push(Line::styled("recorded calls:", Style::default().fg(t.dim)));
        for c in &cell.calls {
            rec.push(Line::raw(format!(
                "  {} {}",
                c.name,
                clip(&c.args.to_string(), 60)
            )));
        }
        now.push(Line::raw(""));
        now.push(Line::styled("the cell's code:", Style::default().fg(t.dim)));
        for l in cell.code.lines() {
            now.push(Line::raw(format!("  {l}")));
        }
    }
    Paragraph::new(rec)
        .wrap(Wrap { trim: false })
        .render(left, buf);
    Paragraph::new(now)
        .wrap(Wrap { trim: false })
        .render(right, buf);
    Paragraph::new(Line::styled(
        "The session stays where it was. Enter focuses that step; rewind to the step before it, or fork there · Esc closes",
        Style::default().fg(t.dim),
    ))
    .wrap(Wrap { trim: true })
    .render(foot, buf);
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// The lines of one side of a step diff: code, output, calls, files.
fn step_lines(d: Option<&StepDetail>) -> Vec<(String, Option<DiffTag>)> {
    let Some(d) = d else {
        return vec![("reading the step…".into(), None)];
    };
    let mut out = Vec::new();
    let v = &d.view;
    out.push((
        format!("step {} of {} · {}", v.step, v.session, v.status),
        None,
    ));
    if let Some(task) = &v.task {
        out.push((format!("task: {}", first_line(task)), None));
    }
    for (i, c) in v.cells.iter().enumerate() {
        out.push((format!("── code (attempt {})", i + 1), None));
        out.extend(
            c.code
                .lines()
                .map(|l| (l.to_string(), Some(DiffTag::Equal))),
        );
        if !c.calls.is_empty() {
            out.push(("── tool calls".into(), None));
            for call in &c.calls {
                out.push((
                    format!("{} {}", call.name, clip(&call.args.to_string(), 70)),
                    Some(DiffTag::Equal),
                ));
            }
        }
        if !c.output.is_empty() {
            out.push(("── output".into(), None));
            out.extend(
                c.output
                    .lines()
                    .map(|l| (l.to_string(), Some(DiffTag::Equal))),
            );
        }
    }
    out.push(("── files".into(), None));
    if d.files.is_empty() {
        out.push(("(none changed)".into(), None));
    }
    for f in &d.files {
        out.push((
            format!("{} {}", f.change.sign(), f.path),
            Some(DiffTag::Equal),
        ));
    }
    out
}

/// Marks lines of one side that the other side lacks.
fn mark_differences(
    mine: &mut [(String, Option<DiffTag>)],
    theirs: &[(String, Option<DiffTag>)],
    tag: DiffTag,
) {
    let others: std::collections::HashSet<&str> = theirs.iter().map(|(l, _)| l.as_str()).collect();
    for (line, t) in mine.iter_mut() {
        if t.is_some() && !others.contains(line.as_str()) {
            *t = Some(tag);
        }
    }
}

fn diff(s: &State, d: &DiffView, screen: Rect, buf: &mut Buffer) {
    let t = &s.theme;
    let area = centered(
        screen,
        screen.width.saturating_sub(2),
        screen.height.saturating_sub(1),
    );
    let title = if d.branches {
        format!("Branches step by step: {} ⟷ {}", d.a, d.b)
    } else {
        format!("Diff: {} ⟷ {}", d.a, d.b)
    };
    let inner = dialog(s, &title, area, buf);
    let [body, foot] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(inner);
    put(
        buf,
        foot.x,
        foot.y,
        "j/k scroll · b steps/branches · Esc closes",
        foot.width,
        Style::default().fg(t.dim),
    );
    if d.branches {
        return branch_rows(s, d, body, buf);
    }
    let mut left = step_lines(s.timeline.details.get(&d.a).map(|x| x.as_ref()));
    let mut right = step_lines(s.timeline.details.get(&d.b).map(|x| x.as_ref()));
    let l2 = left.clone();
    mark_differences(&mut left, &right, DiffTag::Delete);
    mark_differences(&mut right, &l2, DiffTag::Insert);
    let [lc, rc] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(body);
    for (col, lines) in [(lc, &left), (rc, &right)] {
        for (row, (text, tag)) in lines
            .iter()
            .skip(d.scroll)
            .take(col.height as usize)
            .enumerate()
        {
            let (sign, style) = match tag {
                None => (" ", Style::default().fg(t.title_focused)),
                Some(DiffTag::Equal) => (" ", Style::default().fg(t.text)),
                Some(DiffTag::Delete) => ("-", Style::default().fg(t.error)),
                Some(DiffTag::Insert) => ("+", Style::default().fg(t.success)),
            };
            put(
                buf,
                col.x,
                col.y + row as u16,
                &format!("{sign}{text}"),
                col.width.saturating_sub(1),
                style,
            );
        }
    }
}

fn branch_rows(s: &State, d: &DiffView, area: Rect, buf: &mut Buffer) {
    let t = &s.theme;
    let diff = match &d.diff {
        None => {
            put(
                buf,
                area.x,
                area.y,
                "comparing…",
                area.width,
                Style::default().fg(t.dim),
            );
            return;
        }
        Some(Err(e)) => {
            Paragraph::new(e.clone())
                .style(Style::default().fg(t.error))
                .wrap(Wrap { trim: true })
                .render(area, buf);
            return;
        }
        Some(Ok(diff)) => diff,
    };
    let mut lines: Vec<(String, Style)> = Vec::new();
    for row in &diff.rows {
        let side = |x: &Option<(String, u64)>| {
            x.as_ref()
                .map_or("—".to_string(), |(s, n)| format!("{s}@{n}"))
        };
        let verdict = if row.shared {
            "shared"
        } else if row.same() {
            "same"
        } else {
            "differs"
        };
        let style = match verdict {
            "differs" => Style::default().fg(t.warning),
            _ => Style::default().fg(t.dim),
        };
        lines.push((
            format!(
                "{:>3}  {:<28} {:<28} {verdict}",
                row.position,
                side(&row.a),
                side(&row.b)
            ),
            style,
        ));
        for l in row.code.iter().chain(row.output.iter()) {
            let style = match l.tag {
                DiffTag::Equal => Style::default().fg(t.text),
                DiffTag::Delete => Style::default().fg(t.error),
                DiffTag::Insert => Style::default().fg(t.success),
            };
            lines.push((format!("       {}{}", l.tag.sign(), l.text), style));
        }
    }
    for (row, (text, style)) in lines
        .iter()
        .skip(d.scroll)
        .take(area.height as usize)
        .enumerate()
    {
        put(buf, area.x, area.y + row as u16, text, area.width, *style);
    }
}

fn sessions(s: &State, v: &SessionsView, screen: Rect, buf: &mut Buffer) {
    let t = &s.theme;
    let area = centered(
        screen,
        screen.width.saturating_sub(4).min(120),
        screen.height.saturating_sub(2),
    );
    let inner = dialog(s, "Sessions", area, buf);
    let [search, head, body, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    put(
        buf,
        search.x,
        search.y,
        &format!("search tasks and code: {}▏", v.query),
        search.width,
        Style::default().fg(t.text),
    );
    let name_w = 24usize;
    put(
        buf,
        head.x,
        head.y,
        &format!(
            "{:<name_w$} {:<16} {:>5} {:>4}  LAST TASK",
            "SESSION", "CREATED", "STEPS", "BR"
        ),
        head.width,
        Style::default().fg(t.dim).add_modifier(Modifier::BOLD),
    );
    let items = v.items();
    if items.is_empty() {
        let text = if v.loading {
            "reading the record…".to_string()
        } else if let Some(n) = &v.note {
            n.clone()
        } else if v.query.is_empty() {
            "No recorded sessions yet.".to_string()
        } else {
            format!("Nothing matches {:?}.", v.query)
        };
        put(
            buf,
            body.x,
            body.y,
            &text,
            body.width,
            Style::default().fg(t.dim),
        );
    }
    let h = body.height as usize;
    let first = v.selected.saturating_sub(h.saturating_sub(1));
    for (i, item) in items.iter().enumerate().skip(first).take(h) {
        let y = body.y + (i - first) as u16;
        let style = if i == v.selected {
            Style::default().fg(t.selection_fg).bg(t.selection_bg)
        } else {
            Style::default().fg(t.text)
        };
        if i == v.selected {
            buf.set_style(Rect::new(body.x, y, body.width, 1), style);
        }
        let text = match item {
            SessionItem::Session(r) => {
                let created: String = r
                    .created
                    .chars()
                    .take(16)
                    .collect::<String>()
                    .replace('T', " ");
                let mut last = r.last_task.clone().unwrap_or_default();
                if let Some(f) = &r.fork {
                    last = format!("(fork of {}@{}) {last}", f.session, f.step);
                }
                format!(
                    "{:<name_w$} {:<16} {:>5} {:>4}  {}",
                    clip(&r.name, name_w),
                    created,
                    r.steps,
                    r.branches,
                    first_line(&last)
                )
            }
            SessionItem::Step(h) => {
                format!("  ↳ {}@{}  {}", h.session, h.step, first_line(&h.title))
            }
        };
        put(buf, body.x, y, &text, body.width, style);
    }
    put(
        buf,
        foot.x,
        foot.y,
        "type to search · ↑/↓ choose · Enter opens its timeline · Esc closes",
        foot.width,
        Style::default().fg(t.dim),
    );
}
