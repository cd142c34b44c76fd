//! mcpr: a code-mode runtime for LLM agents.
//!
//! The core is headless: a persistent, sandboxed Python kernel ([`kernel`], [`sandbox`],
//! [`backend`]) driven per [`session::Session`], with host calls ([`hostcall`]) as the one
//! channel from running code back into the host, and one event vocabulary ([`event`])
//! that every front end consumes. The CLI ([`cli`]) is a thin layer over it.

// No unwrap() or expect() outside tests: a failure is an error that says what to do.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod agent;
pub mod backend;
pub mod benchmark;
pub mod cli;
pub mod engine;
pub mod event;
pub mod hostcall;
pub mod kernel;
pub mod llm;
pub mod pool;
pub mod project;
pub mod python;
pub mod record;
pub mod sandbox;
pub mod secrets;
pub mod serve;
pub mod session;
pub mod skills;
pub mod tokens;
pub mod tools;
pub mod tui;
