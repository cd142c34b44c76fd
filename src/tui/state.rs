//! The console's whole state: what the session said (status, output, code, variables,
//! pending approvals), what the user is doing (prompt, focus, zoom, overlays) and the
//! caches rendering reads (highlighted code). Only `update` changes it; `render` reads it.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui_textarea::TextArea;
use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use super::highlight::Highlighted;
use super::keymap::Keymap;
use super::layout::{Areas, Pane, areas};
use super::output::OutputStore;
use super::theme::Theme;
use crate::event::{CellStatus, NoticeLevel};
use crate::tools::policy::ApprovalRequest;

/// Where the prompt's text goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A task in plain words for the agent loop.
    Task,
    /// Python run as a cell in the session's kernel, no model.
    Code,
}

/// How far opening the session got.
#[derive(Debug, Clone, PartialEq)]
pub enum Opening {
    Opening,
    Open,
    Failed(String),
    /// Shut down (the console is quitting).
    Closed,
}

/// A task or cell the console waits for.
#[derive(Debug, Clone, PartialEq)]
pub struct Running {
    /// The operation's id once sent.
    pub id: Option<u64>,
    pub mode: Mode,
    pub since: Instant,
    pub cancelling: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionInfo {
    pub name: Option<String>,
    /// The session's workspace on the host (where offloaded results and output are).
    pub workspace: Option<std::path::PathBuf>,
    pub isolation: Option<String>,
    /// The model and why it was chosen.
    pub model: Option<String>,
    /// None until the model is chosen.
    pub model_available: Option<bool>,
    /// Why there is no model, when there is none.
    pub no_model_why: Option<String>,
    /// A kernel restart not yet followed by a successful cell.
    pub restarted: Option<String>,
    pub tokens: u64,
    /// The latest notice and when it came.
    pub notice: Option<(NoticeLevel, String, Instant)>,
}

/// How long the status bar shows a notice.
pub const NOTICE_SECONDS: u64 = 10;

/// The prompt: its text, mode and history.
#[derive(Debug)]
pub struct Prompt {
    pub text: TextArea<'static>,
    pub mode: Mode,
    pub history: Vec<String>,
    /// The history entry shown, while walking it.
    pub browsing: Option<usize>,
    /// What was typed before walking the history.
    pub draft: String,
    /// Manual mode: the step whose code the prompt answers.
    pub answering: Option<u64>,
}

impl Prompt {
    pub fn new(mode: Mode) -> Prompt {
        Prompt {
            text: textarea(Vec::new()),
            mode,
            history: Vec::new(),
            browsing: None,
            draft: String::new(),
            answering: None,
        }
    }

    pub fn content(&self) -> String {
        self.text.lines().join("\n")
    }

    /// Replaces the text, cursor at its end.
    pub fn set_content(&mut self, text: &str) {
        let focused = self.text.cursor_style() != Style::default();
        let lines: Vec<String> = text.split('\n').map(str::to_string).collect();
        self.text = textarea(lines);
        self.set_focused(focused);
        self.text.move_cursor(ratatui_textarea::CursorMove::Bottom);
        self.text.move_cursor(ratatui_textarea::CursorMove::End);
    }

    /// Shows the cursor only while the prompt has focus.
    pub fn set_focused(&mut self, focused: bool) {
        self.text.set_cursor_style(if focused {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default()
        });
    }
}

fn textarea(lines: Vec<String>) -> TextArea<'static> {
    let mut t = if lines.is_empty() {
        TextArea::default()
    } else {
        TextArea::new(lines)
    };
    t.set_cursor_line_style(Style::default());
    t.set_placeholder_text("type a task, or Python in code mode (ctrl+t) — ? shows the keys");
    t.set_placeholder_style(Style::default().add_modifier(Modifier::DIM));
    t
}

/// The output pane's view of the store.
#[derive(Debug, Default)]
pub struct OutputView {
    pub store: OutputStore,
    /// The selected line (copy, expand, search start).
    pub cursor: usize,
    /// The first line shown, when not following.
    pub top: usize,
    /// Keep the end in view (and the cursor on the last line).
    pub follow: bool,
    pub wrap: bool,
    /// The last search.
    pub search: Option<String>,
    /// A search being typed after `/`.
    pub search_input: Option<String>,
    /// Lines that name a file of the workspace the pager opens: title and path.
    pub files: HashMap<usize, (String, String)>,
}

/// One run of a step's code.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub code: String,
    /// The highlight cache key.
    pub key: u64,
    pub status: Option<CellStatus>,
    /// The cell's own line an error points at.
    pub error_line: Option<u32>,
    /// Against the previous attempt: `' '`, `'+'` or `'-'` with each line.
    pub diff: Vec<(char, String)>,
    pub added: usize,
    pub removed: usize,
}

/// The code pane: the current step's attempts.
#[derive(Debug, Default)]
pub struct CodeView {
    /// The task, or None for a cell typed in code mode.
    pub task: Option<String>,
    pub step: u64,
    pub attempts: Vec<Attempt>,
    pub selected: usize,
    pub diff: bool,
    pub scroll: usize,
}

#[derive(Debug, Default)]
pub struct VariablesView {
    pub rows: Vec<crate::event::Variable>,
    pub selected: usize,
    /// Why there are none (or the last listing failed).
    pub note: Option<String>,
    /// The id of the listing asked for and not yet answered.
    pub inspecting: Option<u64>,
}

/// A window over the panes.
#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    Help {
        filter: String,
        scroll: usize,
    },
    Palette {
        filter: String,
        selected: usize,
    },
    ConfirmQuit,
    HistorySearch {
        query: String,
        selected: usize,
    },
    Pager {
        title: String,
        lines: Vec<String>,
        scroll: usize,
    },
    /// The timeline's windows (rewind, fork, diff, sessions).
    Timeline(super::timeline::TimelineOverlay),
}

pub struct State {
    /// The time update and render go by (set by the runtime, or a test).
    pub now: Instant,
    pub size: Rect,
    pub theme: Theme,
    pub keymap: Keymap,
    pub focus: Pane,
    /// The pane last focused other than the prompt (what a shared slot shows).
    pub shown: Pane,
    /// The last of Variables and Skills shown: the wide layout's third column keeps it.
    pub side: Pane,
    pub zoom: Option<Pane>,
    pub mouse: bool,
    pub opening: Opening,
    pub session: SessionInfo,
    pub running: Option<Running>,
    /// A task or cell submitted while another ran: it goes out when that one ends.
    pub queued: Option<(Mode, String)>,
    pub prompt: Prompt,
    pub output: OutputView,
    pub code: CodeView,
    pub vars: VariablesView,
    /// Tool calls waiting for an answer, oldest first (the dialog shows the first).
    pub approvals: VecDeque<ApprovalRequest>,
    pub overlay: Option<Overlay>,
    pub last_cancel: Option<Instant>,
    pub highlights: HashMap<u64, Highlighted>,
    /// A cell's value and traceback, held until the cell ends: its last output can
    /// arrive after them.
    pub held: Vec<Held>,
    /// Set once a quit was decided.
    pub quitting: bool,
    pub skills: super::skills::SkillsView,
    /// The timeline pane, the focus step and browse mode.
    pub timeline: super::timeline::TimelineView,
}

/// What a cell said last, shown once its output is complete.
#[derive(Debug, Clone, PartialEq)]
pub enum Held {
    Value(String),
    Traceback { text: String, line: Option<u32> },
}

impl State {
    pub fn new(theme: Theme, keymap: Keymap, size: Rect, now: Instant) -> State {
        State {
            now,
            size,
            theme,
            keymap,
            focus: Pane::Prompt,
            shown: Pane::Output,
            side: Pane::Variables,
            zoom: None,
            mouse: true,
            opening: Opening::Opening,
            session: SessionInfo::default(),
            running: None,
            queued: None,
            prompt: Prompt::new(Mode::Task),
            output: OutputView {
                follow: true,
                wrap: true,
                ..OutputView::default()
            },
            code: CodeView::default(),
            vars: VariablesView::default(),
            approvals: VecDeque::new(),
            overlay: None,
            last_cancel: None,
            highlights: HashMap::new(),
            held: Vec::new(),
            quitting: false,
            skills: super::skills::SkillsView::default(),
            timeline: super::timeline::TimelineView::default(),
        }
    }

    /// Where everything is on screen now.
    pub fn areas(&self) -> Areas {
        // Wide, `shown` only picks the third column: the last of Variables and Skills.
        let shown = if self.size.width >= super::layout::WIDE
            && !matches!(self.shown, Pane::Variables | Pane::Skills)
        {
            self.side
        } else {
            self.shown
        };
        areas(self.size, self.zoom, shown, self.prompt.text.lines().len())
    }

    /// The inner size (inside the border) of a pane on screen.
    pub fn inner(&self, pane: Pane) -> Option<Rect> {
        self.areas().rect(pane).map(|r| {
            Rect::new(
                r.x + 1,
                r.y + 1,
                r.width.saturating_sub(2),
                r.height.saturating_sub(2),
            )
        })
    }

    /// The notice the status bar shows, while it is recent.
    pub fn visible_notice(&self) -> Option<(NoticeLevel, &str)> {
        let (level, message, at) = self.session.notice.as_ref()?;
        (self.now.saturating_duration_since(*at).as_secs() < NOTICE_SECONDS)
            .then_some((*level, message.as_str()))
    }

    /// When the next tick is due: only while something counts or spins, or a notice
    /// is to disappear.
    pub fn next_tick(&self) -> Option<std::time::Duration> {
        use std::time::Duration;
        let spinning = self.running.is_some() || self.output.store.calls_running();
        if spinning {
            return Some(Duration::from_millis(100));
        }
        if let Some(play) = self.timeline.next_tick(self.now) {
            return Some(play);
        }
        let (_, _, at) = self.session.notice.as_ref()?;
        let shown = self.now.saturating_duration_since(*at);
        Duration::from_secs(NOTICE_SECONDS).checked_sub(shown)
    }
}
