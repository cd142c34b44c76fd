//! `mcpr tui`, the developer console: a full-screen terminal app over one engine session,
//! driven in-process (operations in, events out) — it never runs the CLI nor reads the
//! session record's files itself.
//!
//! The shape: [`state::State`] is everything on screen; [`action::Action`] is everything
//! that can happen (a key, the mouse, a paste, a resize, an engine event, a finished
//! effect, a tick); [`update::update`] changes the state and returns
//! [`action::Effect`]s; [`render::render`] draws the state and nothing else; the
//! [`runtime`] loop feeds actions in, runs effects, and draws on demand.

pub mod action;
pub mod editor;
pub mod events;
pub mod highlight;
pub mod keymap;
pub mod layout;
pub mod output;
pub mod pager;
pub mod render;
pub mod runtime;
pub mod skills;
#[cfg(test)]
mod snapshot_tests;
pub mod state;
pub mod terminal;
#[cfg(test)]
mod testing;
pub mod theme;
pub mod timeline;
pub mod update;

pub use runtime::{Options, run};
