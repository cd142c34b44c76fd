//! The in-process core every front end uses (the CLI now; a console and an MCP server
//! mode next): library calls taking and returning plain, serialisable data, so that a
//! front end only parses its input and prints or draws the result.
//!
//! - [`query`]: what a front end asks about the record, the skill library and the tool
//!   catalog — step views, the timeline of a session across forks and rewinds, diffs,
//!   sessions, search, skills and tools — with typed errors ([`query::QueryError`]).

pub mod query;
