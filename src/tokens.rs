//! Token counting with the o200k_base vocabulary (GPT-4o family), for prompt budgets,
//! usage estimates when a server does not report them, and benchmarks.

use std::sync::OnceLock;
use tiktoken_rs::CoreBPE;

fn bpe() -> Option<&'static CoreBPE> {
    static BPE: OnceLock<Option<CoreBPE>> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::o200k_base().ok()).as_ref()
}

/// Tokens in `text`; falls back to a 4-characters-per-token estimate if the vocabulary
/// cannot be loaded (it is embedded, so that should not happen).
pub fn count(text: &str) -> usize {
    match bpe() {
        Some(bpe) => bpe.encode_ordinary(text).len(),
        None => text.len().div_ceil(4),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_tokens_not_characters() {
        assert_eq!(super::count("hello world"), 2);
        assert!(super::count(&"word ".repeat(100)) >= 100);
    }
}
