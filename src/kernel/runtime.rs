//! The Python runtime that ships inside the mcpr binary.
//!
//! Its source is embedded at build time and written out once per content hash to a
//! folder owned by the current user (`$TMPDIR/mcpr-<uid>/runtime-<hash>`), readable by
//! all so a kernel running as another uid can load it. Nothing is pip-installed.

use std::hash::{Hash, Hasher};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

const FILES: &[(&str, &str)] = &[
    ("mcpr/__init__.py", include_str!("runtime/mcpr/__init__.py")),
    ("mcpr/_kernel.py", include_str!("runtime/mcpr/_kernel.py")),
    (
        "mcpr/_checkpoint.py",
        include_str!("runtime/mcpr/_checkpoint.py"),
    ),
    ("mcpr/_live.py", include_str!("runtime/mcpr/_live.py")),
];

/// Code run by `python -c` to start the kernel; `{dir}` is the runtime folder.
pub fn boot_code(dir: &Path) -> String {
    let dir = dir
        .to_string_lossy()
        .replace('\\', "\\\\")
        .replace('\'', "\\'");
    format!("import sys;sys.path.insert(0,'{dir}');import mcpr._kernel as k;sys.exit(k.main())")
}

/// Code run by `python -c` that carries the runtime itself: it writes the files to `dir`
/// (a private tmpfs inside a container that cannot mount the host's runtime folder),
/// then starts the kernel from there. The sources travel as a Python dict literal (a JSON
/// object of strings is one), about 50 KB, well under the 128 KiB limit of one argument.
pub fn self_contained_boot_code(dir: &str) -> String {
    let files: std::collections::BTreeMap<&str, &str> = FILES.iter().copied().collect();
    let literal = serde_json::to_string(&files).unwrap_or_else(|_| "{}".into());
    let dir = dir.replace('\\', "\\\\").replace('\'', "\\'");
    format!(
        "import os,sys\nd='{dir}'\nfor n,t in {literal}.items():\n p=os.path.join(d,n);os.makedirs(os.path.dirname(p),exist_ok=True)\n with open(p,'w') as f:f.write(t)\nsys.path.insert(0,d);import mcpr._kernel as k;sys.exit(k.main())"
    )
}

/// Writes the runtime out if this version is not there yet; returns its folder.
pub fn install() -> std::io::Result<PathBuf> {
    let mut hasher = std::hash::DefaultHasher::new();
    FILES.hash(&mut hasher);
    env!("CARGO_PKG_VERSION").hash(&mut hasher);
    let uid = nix::unistd::geteuid().as_raw();
    let base = std::env::temp_dir().join(format!("mcpr-{uid}"));
    ensure_private_base(&base, uid)?;
    let dir = base.join(format!("runtime-{:016x}", hasher.finish()));
    if dir.join(".complete").is_file() {
        return Ok(dir);
    }
    // Unique per call: two threads of one process may install at once.
    static STAGING: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let staging = base.join(format!(
        ".staging-{}-{}-{:x}",
        std::process::id(),
        STAGING.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        hasher.finish()
    ));
    let _ = std::fs::remove_dir_all(&staging);
    for (name, text) in FILES {
        let path = staging.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
            std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755))?;
        }
        std::fs::write(&path, text)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
    }
    std::fs::write(staging.join(".complete"), b"")?;
    std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(0o755))?;
    match std::fs::rename(&staging, &dir) {
        Ok(()) => Ok(dir),
        // Another mcpr process installed the same version first.
        Err(_) if dir.join(".complete").is_file() => {
            let _ = std::fs::remove_dir_all(&staging);
            Ok(dir)
        }
        Err(e) => Err(e),
    }
}

/// The per-user base folder must be ours and not writable by others: on a shared /tmp
/// another user could otherwise plant code the kernel would run.
fn ensure_private_base(base: &Path, uid: u32) -> std::io::Result<()> {
    match std::fs::create_dir(base) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(base)?;
    if !meta.is_dir() || meta.uid() != uid {
        return Err(std::io::Error::other(format!(
            "{} is not a folder owned by uid {uid}; remove it and try again",
            base.display()
        )));
    }
    std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o755))
}
