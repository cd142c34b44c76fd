//! What goes into the console's update function (`Action`: keys, mouse, paste, resize,
//! the engine's events, finished effects, timer ticks) and what comes out of it
//! (`Effect`: work the runtime loop does — send an operation, highlight, copy, edit,
//! suspend, quit). Plain data.

use crossterm::event::{KeyEvent, MouseEvent};
use ratatui::text::Line;

use crate::engine::Op;
use crate::event::Event;

#[derive(Debug, Clone)]
pub enum Action {
    Key(KeyEvent),
    Mouse(MouseEvent),
    /// Bracketed paste: text that never submits.
    Paste(String),
    Resize(u16, u16),
    /// An event from the session.
    Engine(Event),
    /// Whether the session was opened with a model, and why (or why not).
    ModelChosen {
        available: bool,
        why: String,
    },
    /// An operation went out with this id; its `OpEnded` carries it.
    Sent {
        op: Op,
        id: u64,
    },
    /// Highlighted code came back from the worker.
    Highlighted {
        key: u64,
        lines: Vec<Line<'static>>,
    },
    /// `$EDITOR` closed: the edited code, or why it failed.
    Edited(Result<String, String>),
    /// A file of the workspace read for the pager, or why it could not be.
    Paged {
        title: String,
        lines: Result<Vec<String>, String>,
    },
    /// Time passed (only sent while something animates or counts).
    Tick,
    /// A job of the skills pane finished.
    Skills(super::skills::Reply),
    /// Focus the step that made a skill (the runtime's answer to `Effect::JumpToStep`).
    JumpToStep {
        session: String,
        step: u64,
    },
    /// A query of the timeline came back.
    Timeline(Box<super::timeline::TimelineAction>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send an operation to the session (`Action::Sent` says with which id).
    Send(Op),
    /// Highlight `code` with the syntax theme `theme`; the answer comes back keyed.
    Highlight {
        key: u64,
        code: String,
        theme: String,
    },
    /// Put text on the clipboard through the terminal (OSC 52).
    Copy(String),
    /// Read a file of the session's workspace (an offloaded result or output) for the
    /// pager; `Action::Paged` brings it back.
    Page {
        title: String,
        workspace: std::path::PathBuf,
        rel: std::path::PathBuf,
    },
    /// Open the text in `$EDITOR`; `Action::Edited` brings it back.
    Edit(String),
    /// Turn mouse capture on or off.
    SetMouse(bool),
    /// Give the terminal back to the shell (Ctrl+Z) until resumed.
    Suspend,
    /// Clear and redraw everything.
    Redraw,
    /// Read or change the skill library off the UI thread; `Action::Skills` answers.
    Skills(super::skills::Job),
    /// Show the step that made a skill (the timeline focuses it).
    JumpToStep {
        session: String,
        step: u64,
    },
    Quit,
    /// A query of the record for the timeline, or a new live session to open.
    Timeline(super::timeline::TimelineEffect),
}
