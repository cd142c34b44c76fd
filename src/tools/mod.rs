//! Tools from real MCP servers, exposed to code in the kernel as typed Python modules.
//!
//! [`config`] reads the `mcpServers` configuration; [`catalog`] keeps each server's tool
//! list and searches it; [`codegen`] writes the `tools.<server>` modules.

pub mod catalog;
pub mod codegen;
pub mod config;
