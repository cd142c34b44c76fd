//! The session record: an append-only log per session, a content-addressed object
//! store, workspace snapshots, and the SQLite index over them.

pub mod objects;
pub mod snapshot;
