//! `$EDITOR` for a step's code: the code goes to a file in a fresh private folder under
//! the host's temporary folder (never a workspace), the editor runs on the terminal the
//! console gave back, and what was saved comes back.

/// Opens `code` in `$VISUAL`/`$EDITOR` (else `vi`) and returns what was saved.
pub fn edit(code: &str) -> Result<String, String> {
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
    let dir = tempfile_dir()?;
    let path = dir.join("cell.py");
    std::fs::write(&path, code).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut words = editor.split_whitespace();
    let program = words.next().unwrap_or("vi");
    let status = std::process::Command::new(program)
        .args(words)
        .arg(&path)
        .status()
        .map_err(|e| format!("cannot start the editor {editor:?}: {e}"))?;
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()));
    let _ = std::fs::remove_dir_all(&dir);
    if !status.success() {
        return Err(format!(
            "the editor {editor:?} exited with {status}; nothing changed"
        ));
    }
    text
}

/// A private folder for the file being edited (the host's temp folder, never a workspace).
fn tempfile_dir() -> Result<std::path::PathBuf, String> {
    let dir = std::env::temp_dir().join(format!(
        "mcpr-edit-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}
