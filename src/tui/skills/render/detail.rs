//! One skill: description, signature, stats, where it was made, its last test, and its
//! code with line numbers, highlighted from the cache.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use super::{dim_note, footer, when};
use crate::tui::keymap::Command;
use crate::tui::skills::state::TestState;
use crate::tui::state::State;

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

pub(super) fn detail(s: &State, area: Rect, buf: &mut Buffer) {
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
