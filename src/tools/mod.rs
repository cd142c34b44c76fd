//! Tools from real MCP servers, exposed to code in the kernel.
//!
//! So far: the server configuration ([`config`]). Connections through the official
//! `rmcp` SDK, the generated `tools.<server>` Python modules and discovery build on it.

pub mod config;
