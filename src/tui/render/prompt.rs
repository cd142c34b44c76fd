//! The prompt pane: the mode in the title (task, code, or the model's turn in manual
//! mode) and the text area.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::pane_block;
use crate::tui::keymap::Command;
use crate::tui::layout::Pane;
use crate::tui::state::{Mode, State};

pub fn render(s: &State, area: Rect, buf: &mut Buffer) {
    let t = &s.theme;
    let p = &s.prompt;
    let (label, color) = match (p.answering, p.mode) {
        (Some(step), _) => (format!("Answer · the model's turn, step {step}"), t.warning),
        (None, Mode::Task) => ("Task".to_string(), t.mode_task),
        (None, Mode::Code) => ("Code · Python cell".to_string(), t.mode_code),
    };
    let mode_style = Style::default().fg(color).add_modifier(Modifier::BOLD);
    let keys = |c: Command| {
        s.keymap
            .keys(c)
            .first()
            .map(ToString::to_string)
            .unwrap_or_default()
    };
    let mut block = pane_block(
        s,
        Pane::Prompt,
        vec![Span::styled(label, mode_style), Span::raw(" ▸")],
    );
    if area.width > 60 {
        let other = match p.mode {
            Mode::Task => "code",
            Mode::Code => "task",
        };
        block = block.title(
            Line::from(Span::styled(
                format!(
                    " {} runs · {} newline · {} {other} mode ",
                    keys(Command::Submit),
                    keys(Command::Newline),
                    keys(Command::ToggleMode)
                ),
                Style::default().fg(t.dim),
            ))
            .right_aligned(),
        );
    }
    let inner = block.inner(area);
    block.render(area, buf);
    (&p.text).render(inner, buf);
}
