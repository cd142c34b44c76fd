//! Tools from real MCP servers, exposed to code in the kernel as typed Python modules.
//!
//! [`config`] reads the `mcpServers` configuration; [`client`] connects to one server
//! through `rmcp`; [`catalog`] keeps each server's tool list and its cache; [`search`]
//! ranks tools for a task; [`codegen`] writes the `tools.<server>` modules; [`hub`] ties
//! them to a session's workspace, keeps catalogs current and makes calls (as far as
//! [`policy`] allows, asking a front end's approver when it says so), with
//! [`results`] turning results into plain data, [`host_calls`] serving the kernel and
//! [`gather`] asking every server at once; [`suggest`] picks the tools a prompt names.

pub mod catalog;
pub mod client;
pub mod codegen;
pub mod config;
pub mod demo;
pub mod gather;
pub mod host_calls;
pub mod hub;
pub mod instructions;
pub mod policy;
pub mod results;
pub mod search;
pub mod suggest;

/// Installs the ring TLS provider for HTTPS transports (once per process).
pub fn install_tls_provider() {
    // Fails only when a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
