//! The engine: the one in-process core every front end drives — the CLI now, the console
//! and the MCP server mode next.
//!
//! A front end fills in a [`SessionSpec`] and [`start`]s a session: the session runs as an
//! owner task that takes [`Op`]erations (run a task or a cell, cancel, rewind, fork, list
//! the kernel's names, answer for manual mode, shut down) and sends [`crate::event::Event`]s out, in order,
//! each operation ending with `OpEnded`. Opening assembles everything once: model, kernel
//! launcher and sandbox, MCP tools, skills, `ask_llm`, the session record (a recorded
//! session's state is rebuilt by replay). Queries — the record (step views, the timeline across forks and rewinds, diffs,
//! sessions, search), the skill library and the tool catalog — are plain library calls
//! returning serialisable data, in [`query`].

pub mod approvals;
pub mod checkpoint;
pub mod emit;
pub mod error;
pub mod frozen;
pub mod inspect;
pub mod live;
pub mod live_fork;
pub mod manual;
pub mod owner;
pub mod query;
pub mod record;
pub mod spec;
pub mod warm;

pub use emit::Emitter;
pub use error::EngineError;
pub use live::{Context, LiveSession};
pub use owner::{Op, Ops, SessionHandle, start};
pub use spec::{ModelSpec, SessionSpec, SpecError, Start};
