//! `mcpr bench agents`: code mode against JSON function calling, on the same tasks, real
//! MCP servers and the same model. Tasks are files ([`task`]), laid out per run
//! ([`setup`]), solved by an arm ([`arms`], [`function_calling`]), judged by their
//! validator ([`validate`]); the [`harness`] runs the grid and keeps JSON Lines results
//! that [`report`] and [`chart`] turn into Markdown and SVG.

pub mod arms;
pub mod chart;
pub mod function_calling;
pub mod harness;
pub mod report;
pub mod setup;
pub mod task;
pub mod validate;
