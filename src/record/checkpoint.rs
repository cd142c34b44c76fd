//! Saved checkpoints: the kernel's picklable globals at a step boundary, kept in the
//! object store so that a new process continues a session without re-running its cells.
//!
//! A `checkpoint` line in the session log names, for one step, each saved global's
//! pickle (an object, content-addressed: a value unchanged since an earlier step is the
//! same object and costs nothing), the modules to import again, names bound to the same
//! object, the names that could not be saved (with why) and the step that last bound
//! each name, so that a continuation re-runs only the steps defining what is missing.
//! The line is the only thing that refers to the pickles, so `mcpr replay gc` keeps them
//! exactly as long as the log. It never holds a secret: a pickle holding a secret value
//! is not stored and its name is listed as unsaved. A checkpoint is trusted only if its
//! format, its Python version and its digest (a hash over everything it restores) match;
//! otherwise the continuation replays, and says why.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

use super::objects::ObjectStore;
use crate::secrets::Secrets;

/// Version of the kernel side's manifest (`mcpr/_checkpoint.py` `FORMAT`).
pub const FORMAT: u32 = 1;

/// One step's saved checkpoint, as its log line holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub step: u64,
    pub format: u32,
    /// The Python version that wrote the pickles (`3.12.3`); another minor version is
    /// not trusted.
    pub python: String,
    /// name → object hash of its pickle.
    #[serde(default)]
    pub saved: BTreeMap<String, String>,
    /// name → module to import again.
    #[serde(default)]
    pub modules: BTreeMap<String, String>,
    /// name → the saved name bound to the same object.
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
    /// name → why it could not be saved.
    #[serde(default)]
    pub unsaved: BTreeMap<String, String>,
    /// name → the step whose cells last bound it.
    #[serde(default)]
    pub defined: BTreeMap<String, u64>,
    /// Bytes of pickles this step added to the store (unchanged ones cost nothing).
    #[serde(default)]
    pub bytes: u64,
    /// SHA-256 over everything above that a restore uses (see [`digest`]).
    pub digest: String,
}

/// Why a checkpoint is not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Untrusted {
    #[error("it was written in checkpoint format {found}, this mcpr reads {FORMAT}")]
    Format { found: u32 },
    #[error("it was written by Python {saved}, the kernel now runs Python {now}")]
    Python { saved: String, now: String },
    #[error("its digest does not match what it lists (the log line was changed)")]
    Digest,
}

/// The hash that binds a checkpoint's names to its values: names, pickle hashes,
/// modules, aliases, unsaved names and defining steps, in a fixed order.
pub fn digest(c: &Checkpoint) -> String {
    let body = serde_json::json!({
        "step": c.step,
        "format": c.format,
        "python": c.python,
        "saved": c.saved,
        "modules": c.modules,
        "aliases": c.aliases,
        "unsaved": c.unsaved.keys().collect::<Vec<_>>(),
        "defined": c.defined,
    });
    super::objects::sha256_hex(body.to_string().as_bytes())
}

/// `major.minor` of a version string.
fn minor(version: &str) -> &str {
    let mut dots = version.match_indices('.');
    match (dots.next(), dots.next()) {
        (Some(_), Some((second, _))) => &version[..second],
        _ => version,
    }
}

impl Checkpoint {
    /// Whether a kernel running Python `python` may load this checkpoint.
    pub fn check(&self, python: &str) -> Result<(), Untrusted> {
        if self.format != FORMAT {
            return Err(Untrusted::Format { found: self.format });
        }
        if minor(&self.python) != minor(python) {
            return Err(Untrusted::Python {
                saved: self.python.clone(),
                now: python.to_string(),
            });
        }
        if digest(self) != self.digest {
            return Err(Untrusted::Digest);
        }
        Ok(())
    }

    /// The steps to re-run to re-create `missing` names (oldest first), and the names
    /// no recorded step defines.
    pub fn steps_defining(&self, missing: &[String]) -> (Vec<u64>, Vec<String>) {
        let mut steps: Vec<u64> = Vec::new();
        let mut orphans = Vec::new();
        for name in missing {
            match self.defined.get(name) {
                Some(&step) if step <= self.step => steps.push(step),
                _ => orphans.push(name.clone()),
            }
        }
        steps.sort_unstable();
        steps.dedup();
        (steps, orphans)
    }
}

/// Pickles sent by the kernel during one save, assembled from their parts.
#[derive(Debug, Default)]
pub struct Incoming {
    parts: HashMap<String, Vec<Option<Vec<u8>>>>,
}

impl Incoming {
    /// Takes part `part` of `parts` of the pickle `hash`.
    pub fn put(
        &mut self,
        hash: &str,
        part: usize,
        parts: usize,
        data: Vec<u8>,
    ) -> Result<(), String> {
        if !super::objects::is_hash(hash) || parts == 0 || part >= parts || parts > 1 << 16 {
            return Err(format!("bad checkpoint part {part}/{parts} of {hash:?}"));
        }
        let slots = self
            .parts
            .entry(hash.to_string())
            .or_insert_with(|| vec![None; parts]);
        if slots.len() != parts {
            return Err(format!(
                "checkpoint object {hash} sent with two part counts"
            ));
        }
        slots[part] = Some(data);
        Ok(())
    }

    /// The complete pickles, each checked against its hash.
    fn complete(self) -> Result<Vec<(String, Vec<u8>)>, String> {
        let mut out = Vec::new();
        for (hash, slots) in self.parts {
            let mut bytes = Vec::new();
            for (i, slot) in slots.into_iter().enumerate() {
                bytes.extend(slot.ok_or_else(|| format!("part {i} of {hash} never came"))?);
            }
            if super::objects::sha256_hex(&bytes) != hash {
                return Err(format!("checkpoint object {hash} does not match its hash"));
            }
            out.push((hash, bytes));
        }
        Ok(out)
    }
}

/// Whether `bytes` hold one of the secret values (as UTF-8, the way pickle keeps a str).
fn holds_secret(secrets: &Secrets, bytes: &[u8]) -> bool {
    !secrets.is_empty() && secrets.found_in(&String::from_utf8_lossy(bytes))
}

/// Stores the pickles of one save in one batch (one sync) and completes the checkpoint:
/// names whose pickle holds a secret (new ones here; stored ones were checked when
/// written) are moved to `unsaved`, and the digest is set.
pub fn store(
    store: &ObjectStore,
    mut checkpoint: Checkpoint,
    incoming: Incoming,
    secrets: &Secrets,
) -> Result<Checkpoint, String> {
    let mut batch = store.batch();
    let mut bytes = 0u64;
    let mut secret = Vec::new();
    for (hash, data) in incoming.complete()? {
        if holds_secret(secrets, &data) {
            secret.push(hash);
            continue;
        }
        bytes += data.len() as u64;
        batch
            .put_reader(&mut data.as_slice(), std::path::Path::new("checkpoint"))
            .map_err(|e| format!("could not store a checkpoint object: {e}"))?;
    }
    batch
        .finish()
        .map_err(|e| format!("could not store the checkpoint: {e}"))?;
    let names: Vec<String> = checkpoint
        .saved
        .iter()
        .filter(|(_, h)| secret.contains(h) || !store.contains(h))
        .map(|(n, _)| n.clone())
        .collect();
    for name in names {
        checkpoint.saved.remove(&name);
        checkpoint.unsaved.insert(
            name,
            "holds a secret value, which the record never keeps".into(),
        );
    }
    // An alias of a name that was not saved cannot be restored either.
    let dangling: Vec<String> = checkpoint
        .aliases
        .iter()
        .filter(|(_, owner)| !checkpoint.saved.contains_key(*owner))
        .map(|(n, _)| n.clone())
        .collect();
    for name in dangling {
        if let Some(owner) = checkpoint.aliases.remove(&name) {
            checkpoint.unsaved.insert(
                name,
                format!("the same object as {owner}, which is not saved"),
            );
        }
    }
    checkpoint.bytes = bytes;
    checkpoint.digest = digest(&checkpoint);
    Ok(checkpoint)
}

/// Part `part` of a stored pickle, `part_size` bytes each; and how many parts there are.
pub fn part(
    store: &ObjectStore,
    hash: &str,
    part: usize,
    part_size: usize,
) -> std::io::Result<(Vec<u8>, usize)> {
    let bytes = store.get(hash)?;
    if super::objects::sha256_hex(&bytes) != hash {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("object {hash} does not match its hash"),
        ));
    }
    let size = part_size.max(1);
    let parts = bytes.len().div_ceil(size).max(1);
    let start = (part * size).min(bytes.len());
    let end = (start + size).min(bytes.len());
    Ok((bytes[start..end].to_vec(), parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        let mut c = Checkpoint {
            step: 3,
            format: FORMAT,
            python: "3.12.3".into(),
            saved: BTreeMap::from([("x".into(), "a".repeat(64))]),
            modules: BTreeMap::from([("np".into(), "numpy".into())]),
            aliases: BTreeMap::new(),
            unsaved: BTreeMap::from([("f".into(), "session code".into())]),
            defined: BTreeMap::from([("x".into(), 1), ("f".into(), 2), ("np".into(), 1)]),
            bytes: 0,
            digest: String::new(),
        };
        c.digest = digest(&c);
        c
    }

    #[test]
    fn a_checkpoint_is_trusted_only_as_written() {
        let c = sample();
        assert_eq!(c.check("3.12.7"), Ok(()));
        assert!(matches!(c.check("3.13.0"), Err(Untrusted::Python { .. })));
        let mut changed = c.clone();
        changed.saved.insert("x".into(), "b".repeat(64));
        assert_eq!(changed.check("3.12.3"), Err(Untrusted::Digest));
        let mut newer = c;
        newer.format = FORMAT + 1;
        assert!(matches!(
            newer.check("3.12.3"),
            Err(Untrusted::Format { .. })
        ));
    }

    #[test]
    fn missing_names_map_to_their_defining_steps() {
        let c = sample();
        let (steps, orphans) = c.steps_defining(&["f".into(), "x".into(), "nope".into()]);
        assert_eq!(steps, vec![1, 2]);
        assert_eq!(orphans, vec!["nope".to_string()]);
    }

    #[test]
    fn parts_are_assembled_and_checked() {
        let data = b"hello checkpoint".to_vec();
        let hash = super::super::objects::sha256_hex(&data);
        let mut incoming = Incoming::default();
        incoming.put(&hash, 1, 2, data[8..].to_vec()).unwrap();
        incoming.put(&hash, 0, 2, data[..8].to_vec()).unwrap();
        assert!(incoming.put(&hash, 2, 2, vec![]).is_err());
        assert_eq!(incoming.complete().unwrap(), vec![(hash.clone(), data)]);
        let mut bad = Incoming::default();
        bad.put(&hash, 0, 1, b"other".to_vec()).unwrap();
        assert!(bad.complete().is_err());
    }

    #[test]
    fn a_pickle_holding_a_secret_is_not_stored() {
        let dir = std::env::temp_dir().join(format!("mcpr-ckpt-{}", std::process::id()));
        let objects = ObjectStore::open(&dir).unwrap();
        let secret = b"\x80\x04sk-live-abcdef123456".to_vec();
        let plain = b"\x80\x04plain".to_vec();
        let (hs, hp) = (
            super::super::objects::sha256_hex(&secret),
            super::super::objects::sha256_hex(&plain),
        );
        let mut incoming = Incoming::default();
        incoming.put(&hs, 0, 1, secret).unwrap();
        incoming.put(&hp, 0, 1, plain).unwrap();
        let mut c = sample();
        c.saved = BTreeMap::from([("key".into(), hs.clone()), ("y".into(), hp.clone())]);
        c.aliases = BTreeMap::from([("k2".into(), "key".into())]);
        let secrets = Secrets::new(["sk-live-abcdef123456".to_string()]);
        let c = store(&objects, c, incoming, &secrets).unwrap();
        assert!(!objects.contains(&hs));
        assert!(objects.contains(&hp));
        assert_eq!(c.saved.keys().collect::<Vec<_>>(), vec!["y"]);
        assert!(c.unsaved["key"].contains("secret"));
        assert!(c.unsaved.contains_key("k2"));
        assert_eq!(c.check("3.12.1"), Ok(()));
        assert_eq!(part(&objects, &hp, 0, 3).unwrap().1, 3);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
