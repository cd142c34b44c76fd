//! Export and import: one self-contained JSON Lines file holding a session, the sessions
//! it was forked from, and every object they refer to.
//!
//! Lines: `{"type":"bundle","format":1,"session":NAME,"sessions":[...]}`, then one
//! `{"type":"log","session":NAME,"text":LOG}` per session (parents first), then one
//! `{"type":"object","hash":SHA256,"data":BASE64}` per object. Import checks every
//! object's hash and never overwrites a session whose log differs.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, Write};

use super::log::{Detail, Line};
use super::objects::sha256_hex;
use super::recorder::{RecordError, ReplayDir};
use super::snapshot::{Entry, manifest_objects};

const BUNDLE_FORMAT: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BundleLine {
    Bundle {
        format: u32,
        session: String,
        sessions: Vec<String>,
    },
    Log {
        session: String,
        text: String,
    },
    Object {
        hash: String,
        data: String,
    },
}

/// What an import did.
#[derive(Debug, Default, Clone)]
pub struct Imported {
    pub session: String,
    pub written: Vec<String>,
    pub unchanged: Vec<String>,
    pub objects: usize,
}

fn io_err(what: &str) -> impl Fn(std::io::Error) -> RecordError + '_ {
    move |e| RecordError::Io(format!("{what}: {e}"))
}

/// Object references in a log line's JSON: `$object` strings.
fn collect_refs(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(h)) = map.get("$object") {
                out.insert(h.clone());
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// Writes the bundle of `name` to `out`.
pub fn export(dir: &ReplayDir, name: &str, out: &mut dyn Write) -> Result<usize, RecordError> {
    let mut chain = vec![name.to_string()];
    while let Some(last) = chain.last() {
        let log = dir.read(last, Detail::Outline)?;
        match log.header.fork {
            Some(f) if !chain.contains(&f.session) => chain.push(f.session),
            _ => break,
        }
    }
    chain.reverse();
    let write = |out: &mut dyn Write, line: &BundleLine| -> Result<(), RecordError> {
        let text = serde_json::to_string(line).map_err(|e| RecordError::Io(e.to_string()))?;
        writeln!(out, "{text}").map_err(io_err("could not write the bundle"))
    };
    write(
        out,
        &BundleLine::Bundle {
            format: BUNDLE_FORMAT,
            session: name.to_string(),
            sessions: chain.clone(),
        },
    )?;
    let mut objects = BTreeSet::new();
    let mut manifests = BTreeSet::new();
    for session in &chain {
        let path = dir.log_path(session);
        let text = std::fs::read_to_string(&path)
            .map_err(io_err(&format!("could not read {}", path.display())))?;
        for raw in text.lines() {
            let Ok(value) = serde_json::from_str::<Value>(raw) else {
                continue;
            };
            collect_refs(&value, &mut objects);
            match serde_json::from_value::<Line>(value) {
                Ok(Line::Session(h)) => {
                    manifests.insert(h.base);
                }
                Ok(Line::End(e)) => {
                    manifests.insert(e.snapshot);
                }
                _ => {}
            }
        }
        write(
            out,
            &BundleLine::Log {
                session: session.clone(),
                text,
            },
        )?;
    }
    for m in &manifests {
        let (manifest, trees) = manifest_objects(dir.store(), m)
            .map_err(io_err(&format!("snapshot {m} of session {name}")))?;
        objects.extend(trees);
        for entry in manifest.entries.values() {
            if let Entry::File { hash, .. } = entry {
                objects.insert(hash.clone());
            }
        }
    }
    let engine = base64::engine::general_purpose::STANDARD;
    for hash in &objects {
        let data = dir
            .store()
            .get(hash)
            .map_err(io_err(&format!("object {hash}")))?;
        write(
            out,
            &BundleLine::Object {
                hash: hash.clone(),
                data: engine.encode(data),
            },
        )?;
    }
    out.flush().map_err(io_err("could not write the bundle"))?;
    Ok(objects.len())
}

/// Reads a bundle into `dir`. Objects are checked against their hashes; a session whose
/// log exists with other content is refused.
///
/// `rename`: import the bundle's session under this name instead (its fork parents keep
/// theirs), for when a different session of that name exists here.
pub fn import(
    dir: &ReplayDir,
    input: &mut dyn BufRead,
    rename: Option<&str>,
) -> Result<Imported, RecordError> {
    let bad = |n: usize, m: String| RecordError::Io(format!("bundle line {n}: {m}"));
    let mut imported = Imported::default();
    let mut logs = Vec::new();
    let engine = base64::engine::general_purpose::STANDARD;
    for (index, line) in input.lines().enumerate() {
        let n = index + 1;
        let line = line.map_err(io_err("could not read the bundle"))?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: BundleLine =
            serde_json::from_str(&line).map_err(|e| bad(n, format!("not a bundle line ({e})")))?;
        match parsed {
            BundleLine::Bundle {
                format, session, ..
            } => {
                if format > BUNDLE_FORMAT {
                    return Err(bad(
                        n,
                        format!("bundle format {format}; this mcpr reads {BUNDLE_FORMAT}"),
                    ));
                }
                imported.session = session;
            }
            BundleLine::Log { session, text } => {
                crate::project::validate_session_name(&session)
                    .map_err(|e| bad(n, e.to_string()))?;
                logs.push((session, text));
            }
            BundleLine::Object { hash, data } => {
                let bytes = engine
                    .decode(data.as_bytes())
                    .map_err(|e| bad(n, format!("object {hash} is not base64 ({e})")))?;
                if sha256_hex(&bytes) != hash {
                    return Err(bad(
                        n,
                        format!("object {hash} does not match its hash: the bundle is damaged"),
                    ));
                }
                dir.store()
                    .put(&bytes)
                    .map_err(io_err("could not store an object"))?;
                imported.objects += 1;
            }
        }
    }
    if imported.session.is_empty() {
        return Err(RecordError::Io(
            "not an mcpr bundle: it has no `bundle` line (make one with `mcpr replay export`)"
                .into(),
        ));
    }
    if let Some(new_name) = rename {
        crate::project::validate_session_name(new_name)
            .map_err(|e| RecordError::Io(e.to_string()))?;
        let original = imported.session.clone();
        for (session, text) in logs.iter_mut() {
            if *session == original {
                *text = renamed_log(text, new_name)?;
                *session = new_name.to_string();
            }
        }
        imported.session = new_name.to_string();
    }
    for (session, text) in &logs {
        let path = dir.log_path(session);
        if let Ok(existing) = std::fs::read_to_string(&path) {
            // The same log, or one that has grown since the export.
            if existing.starts_with(text.as_str()) {
                imported.unchanged.push(session.clone());
                continue;
            }
            return Err(RecordError::Io(format!(
                "a different session named {session} is recorded here already; import the bundle under another name with `mcpr replay import BUNDLE --as NEW_NAME`, or rename .replay/{session}.jsonl first"
            )));
        }
    }
    for (session, text) in logs {
        if imported.unchanged.contains(&session) {
            continue;
        }
        let path = dir.log_path(&session);
        let tmp = path.with_extension("jsonl.part");
        std::fs::write(&tmp, text.as_bytes())
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(io_err(&format!("could not write {}", path.display())))?;
        imported.written.push(session);
    }
    Ok(imported)
}

/// A session log's text with its `session` line naming `name` (and a new id, since it is
/// now another session).
fn renamed_log(text: &str, name: &str) -> Result<String, RecordError> {
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let mut header: serde_json::Value = serde_json::from_str(first).map_err(|e| {
        RecordError::Io(format!("the bundle's log has no readable first line: {e}"))
    })?;
    header["name"] = serde_json::Value::from(name);
    header["id"] = serde_json::Value::from(super::log::new_session_id(name));
    Ok(format!("{header}\n{rest}"))
}
