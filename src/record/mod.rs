//! The session record: an append-only log per session ([`log`]), a content-addressed
//! object store ([`objects`]) with packs and chunks ([`pack`]), workspace snapshots ([`snapshot`]), the SQLite index over
//! them ([`index`]), the recorder that writes a running session ([`recorder`]), time
//! travel by re-execution with recorded effects ([`replay`]), bundles ([`bundle`]) and
//! garbage collection of unreferenced objects ([`gc`]), and saved kernel checkpoints
//! ([`checkpoint`]).

pub mod bundle;
pub mod checkpoint;
pub mod gc;
pub mod index;
mod journal;
pub mod log;
pub mod objects;
pub mod pack;
mod racy;
pub mod recorder;
pub mod replay;
mod scan;
pub mod snapshot;

/// `text` cut to `max` characters, with `…` when something was cut.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn clip_counts_characters_not_bytes() {
        assert_eq!(super::clip("héllo", 5), "héllo");
        assert_eq!(super::clip("héllo", 2), "hé…");
    }
}
