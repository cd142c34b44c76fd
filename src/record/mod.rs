//! The session record: an append-only log per session ([`log`]), a content-addressed
//! object store ([`objects`]), workspace snapshots ([`snapshot`]), the SQLite index over
//! them ([`index`]), the recorder that writes a running session ([`recorder`]), time
//! travel by re-execution with recorded effects ([`replay`]), and bundles ([`bundle`]).

pub mod bundle;
pub mod index;
pub mod log;
pub mod objects;
pub mod recorder;
pub mod replay;
pub mod snapshot;
