//! Which user the kernel runs as.
//!
//! RLIMIT_NPROC is ignored for root, so when mcpr runs as root each kernel drops to an
//! unprivileged uid of its own (one per kernel, so one kernel's fork bomb cannot eat
//! another's budget); the workspace is handed to that uid. Without root the kernel keeps
//! the caller's uid and, under `namespaces`, the user namespace scopes the count.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

/// First uid handed to kernels; far above the ranges distributions allocate.
const UID_BASE: u32 = 3_100_000;
const UID_SPAN: u32 = 400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelUser {
    /// Run as the caller.
    Inherit,
    /// Switch to this uid/gid before any user code runs.
    Unprivileged { uid: u32, gid: u32 },
}

impl KernelUser {
    /// A fresh unprivileged identity, distinct from other live kernels of this process.
    pub fn fresh() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let salt = std::process::id().wrapping_mul(97);
        let uid = UID_BASE + (salt.wrapping_add(n) % UID_SPAN);
        KernelUser::Unprivileged { uid, gid: uid }
    }
}

/// True when every folder on the way to `path` can be entered by other users, so an
/// unprivileged uid can reach it without a bind mount.
pub fn reachable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.ancestors().skip(1).all(|dir| {
        dir.metadata()
            .map(|m| m.permissions().mode() & 0o001 != 0)
            .unwrap_or(false)
    })
}

/// Gives `root` and everything below it to `uid:gid` (symlinks themselves, not targets,
/// and folders entered only through handles that refuse symlinks: the tree is the
/// sandbox's, and a folder swapped for a symlink must not give a host folder away).
pub fn chown_tree(root: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    super::confined::ConfinedDir::open(root)?.chown_tree(uid, gid)
}
