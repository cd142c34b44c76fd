//! The agent loop.
pub mod extract;
