//! Drawing the skills pane: the table, a skill's detail (code from the highlight cache,
//! never highlighted here), the trash, the prune policy and preview, and a question
//! over them. Reads the state only.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Widget, Wrap};

use super::state::{Confirm, DAYS, Load, RATES, SortColumn, TestState, View, matched_in_code_only};
use crate::engine::query::skills::SkillShown;
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
        View::Table => table(s, inner, buf),
        View::Detail => detail(s, inner, buf),
        View::Trash => trash(s, inner, buf),
        View::PrunePolicy => policy(s, inner, buf),
        View::PrunePreview => preview(s, inner, buf),
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

fn table(s: &State, area: Rect, buf: &mut Buffer) {
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

const LABEL: usize = 11;

/// A label and its value, the value wrapped at spaces to `width` under itself.
fn field(s: &State, label: &str, value: &str, style: Style, width: u16) -> Vec<Line<'static>> {
    let room = (width as usize).saturating_sub(LABEL).max(8);
    let mut out = Vec::new();
    let mut line = String::new();
    let mut rows: Vec<String> = Vec::new();
    for word in value.split(' ') {
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > room {
            rows.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    rows.push(line);
    for (i, row) in rows.into_iter().enumerate() {
        let label = if i == 0 { label } else { "" };
        out.push(Line::from(vec![
            Span::styled(format!("{label:<LABEL$}"), Style::default().fg(s.theme.dim)),
            Span::styled(row, style),
        ]));
    }
    out
}

fn detail(s: &State, area: Rect, buf: &mut Buffer) {
    let v = &s.skills;
    let t = &s.theme;
    let Some((name, key)) = &v.detail else {
        return;
    };
    let Some(row) = v.skill(name) else {
        return dim_note(
            s,
            &format!("{name} is no longer in the library."),
            area,
            buf,
        );
    };
    let area = footer(
        s,
        area,
        &[
            (Command::SkillTest, "test"),
            (Command::SkillJump, "go to the step"),
            (Command::SkillDelete, "delete"),
            (Command::SkillsBack, "back"),
        ],
        "",
        buf,
    );
    let sk = &row.skill;
    let h = &sk.header;
    let w = area.width;
    let text = Style::default().fg(t.text);
    let mut lines: Vec<Line> = Vec::new();
    let mut head = vec![Span::styled(
        sk.name.clone(),
        Style::default()
            .fg(t.title_focused)
            .add_modifier(Modifier::BOLD),
    )];
    if !sk.description.is_empty() {
        head.push(Span::styled(
            format!(" — {}", sk.description),
            Style::default().fg(t.text),
        ));
    }
    lines.push(head.into());
    lines.extend(field(s, "signature", &sk.signature, text, w));
    let st = &sk.stats;
    let used = format!(
        "{} time{}: {} ok, {} failed; last {}; written again {}",
        st.uses,
        if st.uses == 1 { "" } else { "s" },
        st.successes,
        st.failures,
        when(st.last_used.as_deref(), false),
        st.rederived
    );
    lines.extend(field(s, "used", &used, text, w));
    let mut made = Vec::new();
    if !h.session.is_empty() {
        made.push(format!("session {}", h.session));
    }
    if let Some(step) = h.step {
        made.push(format!("step {step}"));
    }
    if !h.model.is_empty() {
        made.push(format!("model {}", h.model));
    }
    if !h.created.is_empty() {
        made.push(format!("on {}", when(Some(&h.created), false)));
    }
    let mut provenance = if made.is_empty() {
        "not recorded (written by hand)".to_string()
    } else {
        made.join(", ")
    };
    if !h.session.is_empty() && h.step.is_some() {
        let keys = s.keymap.describe(Command::SkillJump);
        provenance.push_str(&format!("  ({keys}: go to the step)"));
    }
    lines.extend(field(s, "made in", &provenance, text, w));
    if !h.task.is_empty() {
        lines.extend(field(s, "task", &h.task, text, w));
    }
    if !sk.tools.is_empty() {
        lines.extend(field(s, "tools", &sk.tools.join(", "), text, w));
    }
    for problem in &sk.header_problems {
        lines.extend(field(
            s,
            "header",
            problem,
            Style::default().fg(t.warning),
            w,
        ));
    }
    let (test, style) = match v.tests.get(&sk.name) {
        None => (
            format!(
                "not tested here ({}: test in a fresh kernel)",
                s.keymap.describe(Command::SkillTest)
            ),
            Style::default().fg(t.dim),
        ),
        Some(TestState::Running) => (
            "running in a fresh kernel…".to_string(),
            Style::default().fg(t.tool_running),
        ),
        Some(TestState::Passed(sig)) => (
            format!("✓ passed: imports cleanly, {sig} accepts its arguments"),
            Style::default().fg(t.success),
        ),
        Some(TestState::Failed(why)) => (format!("✗ failed: {why}"), Style::default().fg(t.error)),
    };
    lines.extend(field(s, "test", &test, style, w));
    lines.push(Line::styled(
        "─".repeat(area.width as usize),
        Style::default().fg(t.border),
    ));
    let highlighted = s.highlights.get(key);
    let n = row.code.lines().count();
    let gutter = n.to_string().len().max(2);
    for (i, code) in row.code.lines().enumerate() {
        let mut spans = vec![Span::styled(
            format!("{:>gutter$} ", i + 1),
            Style::default().fg(t.line_number),
        )];
        match highlighted.and_then(|h| h.get(i)) {
            Some(line) => spans.extend(line.spans.iter().cloned()),
            None => spans.push(Span::styled(code.to_string(), Style::default().fg(t.text))),
        }
        lines.push(spans.into());
    }
    let top = v.detail_scroll.min(lines.len().saturating_sub(1));
    for (i, line) in lines
        .iter()
        .skip(top)
        .take(area.height as usize)
        .enumerate()
    {
        buf.set_line(area.x, area.y + i as u16, line, area.width);
    }
}

fn trash(s: &State, area: Rect, buf: &mut Buffer) {
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

fn policy(s: &State, area: Rect, buf: &mut Buffer) {
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

fn preview(s: &State, area: Rect, buf: &mut Buffer) {
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
