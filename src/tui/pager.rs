//! The pager's reading side: a file of the session's workspace (an offloaded tool result,
//! output past the inline cap) read through the workspace's confined handle — no symlink
//! followed, no `..` — on a blocking thread, bounded, JSON shown indented.

use std::io::Read;
use std::path::Path;

use crate::sandbox::confined::ConfinedDir;

/// The pager reads at most this much of a file.
pub const MAX_BYTES: u64 = 16 * 1024 * 1024;

pub fn read(workspace: &Path, rel: &Path) -> Result<Vec<String>, String> {
    let dir = ConfinedDir::open(workspace).map_err(|e| e.to_string())?;
    let file = dir.open_file(rel).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(MAX_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", rel.display()))?;
    let truncated = bytes.len() as u64 == MAX_BYTES;
    let text = String::from_utf8_lossy(&bytes);
    let pretty = (!truncated && rel.extension().is_some_and(|e| e == "json"))
        .then(|| serde_json::from_str::<serde_json::Value>(&text).ok())
        .flatten()
        .and_then(|v| serde_json::to_string_pretty(&v).ok());
    let mut lines: Vec<String> = pretty
        .as_deref()
        .unwrap_or(&text)
        .lines()
        .map(str::to_string)
        .collect();
    if truncated {
        lines.push(format!(
            "… the pager shows the first {} MiB; the whole file is {}",
            MAX_BYTES / (1024 * 1024),
            dir.shown(rel).display()
        ));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_read_through_the_workspace_and_links_refused() {
        let ws = tempfile::tempdir().unwrap();
        let dir = ConfinedDir::open(ws.path()).unwrap();
        dir.write("r.json", br#"{"a":[1,2]}"#, 0o644).unwrap();
        let lines = read(ws.path(), Path::new("r.json")).unwrap();
        assert_eq!(lines.first().map(String::as_str), Some("{"));
        assert!(lines.len() > 3);
        let outside = tempfile::NamedTempFile::new().unwrap();
        std::os::unix::fs::symlink(outside.path(), ws.path().join("link.txt")).unwrap();
        assert!(read(ws.path(), Path::new("link.txt")).is_err());
        assert!(read(ws.path(), Path::new("../etc/passwd")).is_err());
    }
}
