//! Forking a live session at a step that has a live checkpoint: the new session adopts
//! the running kernel — its sandbox and its frozen copies — and wakes a clone of the
//! copy frozen at that step (the copy itself stays frozen), so the fork starts with the
//! step's exact state and no cell re-run.
//!
//! The sandbox sees its workspace as one folder (bound, for bubblewrap and Docker, by
//! inode). A fork needs a folder of its own, so the folder moves with the kernel: the
//! parent's workspace is snapshotted, renamed to the fork's name (the kernel keeps it, as
//! the kernel pool's hand-over does) and rebuilt for the parent from the snapshot, files
//! changed by hand included. Only the project's workspace root is touched by name (never
//! mounted into a sandbox); everything inside a workspace goes through the snapshotter's
//! confined reads and writes.
//!
//! Never hand the fork a copy of a step that is not on its own path: later steps of the
//! fork get new ids that a copy on another branch of the parent may hold. Never adopt a
//! kernel running without isolation: it knows its workspace by host path (`HOME`), so it
//! would go on writing into the parent's folder.

use std::io;
use std::path::Path;

use super::EngineError;
use super::frozen::FrozenCopies;
use crate::kernel::Kernel;
use crate::project::Project;
use crate::record::recorder::ReplayDir;
use crate::record::snapshot::Snapshotter;

/// What a fork takes over from its parent.
pub(crate) struct Adopted {
    pub kernel: Kernel,
    pub frozen: FrozenCopies,
    /// The parent's workspace, moved to the fork.
    pub parent_workspace: std::path::PathBuf,
    /// The parent's snapshotter (its stat cache makes the snapshot of the moved folder
    /// cheap).
    pub snapshots: Snapshotter,
}

/// Makes the fork `name` of `from` at `step` in the record and moves the parent's
/// workspace folder to it (the parent's is rebuilt from a snapshot). Returns the name.
/// The moved folder still holds the parent's files; waking the copy restores the
/// step's.
pub(crate) fn fork_moving_workspace(
    project: &Project,
    dir: &ReplayDir,
    from: &str,
    step: u64,
    name: Option<&str>,
    adopted: &mut Adopted,
) -> Result<String, EngineError> {
    let name = match name {
        Some(n) => n.to_string(),
        None => super::record::fork_name(dir, from),
    };
    crate::project::validate_session_name(&name)?;
    let target = project.workspace_root().join(&name);
    if !vacant(&target) {
        return Err(EngineError::io(
            format!(
                "the fork's workspace {} already holds files; name the fork differently or remove that folder",
                target.display()
            ),
            io::Error::from(io::ErrorKind::AlreadyExists),
        ));
    }
    dir.fork(from, step, &name)?;
    move_workspace(
        &adopted.parent_workspace,
        &target,
        &mut adopted.snapshots,
        dir,
    )
    .map_err(|e| {
        EngineError::io(
            format!(
                "could not move the workspace {} to the fork {name}",
                adopted.parent_workspace.display()
            ),
            e,
        )
    })?;
    Ok(name)
}

/// Whether `path` is missing or an empty folder (a rename may take its place).
pub(crate) fn vacant(path: &Path) -> bool {
    match std::fs::symlink_metadata(path) {
        Err(e) => e.kind() == io::ErrorKind::NotFound,
        Ok(meta) if meta.is_dir() => std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_none()),
        Ok(_) => false,
    }
}

/// Renames `parent` to `target` (the kernel keeps the folder) and makes `parent` again
/// from a snapshot taken first, so that neither session loses a file.
fn move_workspace(
    parent: &Path,
    target: &Path,
    snapshots: &mut Snapshotter,
    dir: &ReplayDir,
) -> io::Result<()> {
    let (kept, _) = snapshots.snapshot(parent, dir.store())?;
    // An empty folder left by an earlier attempt makes way (rename cannot replace a
    // folder that holds files, which `vacant` ruled out).
    if target.is_dir() {
        std::fs::remove_dir(target)?;
    }
    std::fs::rename(parent, target)?;
    let rebuilt = Snapshotter::new().restore(parent, dir.store(), &kept);
    if let Err(e) = rebuilt {
        // Give the parent its folder back rather than leave it without one.
        let _ = std::fs::remove_dir_all(parent);
        let _ = std::fs::rename(target, parent);
        return Err(e);
    }
    Ok(())
}
