//! A warm pool of ready kernels, so a new session does not pay Python's start-up.
//!
//! Each pooled kernel is started in a fresh folder `workspace/.pool-PID-*` (PID: the
//! mcpr process that owns it, so that a later mcpr can sweep the folders of one that was
//! killed, see [`sweep_stale`]); handing it to a session renames that folder to the
//! session's workspace (the kernel keeps its working directory and, under bubblewrap, its
//! mount, because a rename keeps the inode). A kernel leaves the pool once and is never
//! reused by a second session; one that died while it waited is discarded, never handed
//! out.
//!
//! With an idle time set, ready kernels nobody took for that long are shut down (for the
//! Docker backend: their containers removed) and the pool fills again only when the next
//! session is asked for, so an unused pool holds no processes or containers.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

use crate::hostcall::HostCalls;
use crate::kernel::{Kernel, KernelError};
use crate::sandbox::identity;
use crate::session::{Launcher, Session};

struct Ready {
    kernel: Kernel,
    dir: PathBuf,
}

struct Shared {
    launcher: Launcher,
    root: PathBuf,
    size: usize,
    ready: Mutex<VecDeque<Ready>>,
    wanted: Notify,
    filled: Notify,
    last_error: Mutex<Option<String>>,
    /// The folder of a kernel being started, removed if the pool goes away meanwhile.
    starting: Mutex<Option<PathBuf>>,
    /// Ready kernels not taken for this long are reaped; None keeps them.
    idle: Option<Duration>,
    /// When a session last took a kernel; None once reaped, until the next one does.
    last_taken: Mutex<Option<Instant>>,
}

pub struct KernelPool {
    shared: Arc<Shared>,
    refill: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// The prefix of every pool folder in a workspace root; no session name can start so.
pub const FOLDER_PREFIX: &str = ".pool-";

impl KernelPool {
    /// Starts filling a pool of `size` kernels whose workspaces live under `root`.
    pub fn new(launcher: Launcher, root: PathBuf, size: usize) -> KernelPool {
        Self::with_idle(launcher, root, size, None)
    }

    /// Like [`KernelPool::new`], reaping ready kernels that nobody took for `idle`.
    pub fn with_idle(
        launcher: Launcher,
        root: PathBuf,
        size: usize,
        idle: Option<Duration>,
    ) -> KernelPool {
        let shared = Arc::new(Shared {
            launcher,
            root,
            size,
            ready: Mutex::new(VecDeque::new()),
            wanted: Notify::new(),
            filled: Notify::new(),
            last_error: Mutex::new(None),
            starting: Mutex::new(None),
            idle,
            last_taken: Mutex::new(Some(Instant::now())),
        });
        let refill = tokio::spawn(refill_loop(shared.clone()));
        shared.wanted.notify_one();
        KernelPool {
            shared,
            refill: Mutex::new(Some(refill)),
        }
    }

    pub fn ready_count(&self) -> usize {
        lock(&self.shared.ready).len()
    }

    /// Waits until the pool is full (or a start failed, which is returned).
    pub async fn wait_full(&self) -> Result<(), String> {
        loop {
            let filled = self.shared.filled.notified();
            if self.ready_count() >= self.shared.size {
                return Ok(());
            }
            if let Some(e) = lock(&self.shared.last_error).take() {
                return Err(e);
            }
            filled.await;
        }
    }

    /// The host pids of the ready kernels (None for a container), oldest first.
    pub fn ready_pids(&self) -> Vec<Option<u32>> {
        lock(&self.shared.ready)
            .iter()
            .map(|r| r.kernel.info().host_pid)
            .collect()
    }

    /// A ready kernel moved into `workspace` (whatever the folder already holds is kept),
    /// or None when none is ready. Kernels that died while they waited are discarded on
    /// the way. Taking one asks the pool to fill again behind it.
    pub fn take(&self, workspace: &Path) -> Option<Kernel> {
        *lock(&self.shared.last_taken) = Some(Instant::now());
        self.shared.wanted.notify_one();
        loop {
            let Ready { kernel, dir } = lock(&self.shared.ready).pop_front()?;
            if !alive(&kernel) {
                kernel.kill();
                let _ = std::fs::remove_dir_all(&dir);
                continue;
            }
            if let Err(e) = adopt_folder(&dir, workspace) {
                // Whatever moved stays the session's: put it back, and start cold.
                kernel.kill();
                give_back(&dir, workspace);
                *lock(&self.shared.last_error) = Some(format!(
                    "handing a pooled kernel to {}: {e}",
                    workspace.display()
                ));
                return None;
            }
            let uid = kernel.info().uid;
            if uid != nix::unistd::geteuid().as_raw()
                && identity::chown_tree(workspace, uid, uid).is_err()
            {
                // The kernel could not write there: a cold start chowns on its own.
                kernel.kill();
                return None;
            }
            return Some(kernel);
        }
    }

    /// A session named `name` in `workspace`, on a pooled kernel when one is ready,
    /// otherwise on a cold one.
    pub async fn session(
        &self,
        calls: HostCalls,
        name: String,
        workspace: PathBuf,
    ) -> Result<Session, KernelError> {
        let launcher = self.shared.launcher.clone();
        match self.take(&workspace) {
            Some(kernel) => Ok(Session::with_kernel(
                launcher, calls, name, workspace, kernel,
            )),
            None => {
                std::fs::create_dir_all(&workspace)
                    .map_err(crate::backend::LaunchError::Prepare)?;
                Session::start(launcher, calls, name, workspace).await
            }
        }
    }

    /// Stops filling, shuts every ready kernel down (for the Docker backend: removes its
    /// container) and removes the pool's folders. The pool hands out nothing afterwards.
    pub async fn shutdown(&self) {
        let refill = lock(&self.refill).take();
        if let Some(refill) = refill {
            refill.abort();
            // A start under way is dropped with the task: wait for that to happen.
            let _ = refill.await;
        }
        if let Some(dir) = lock(&self.shared.starting).take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        reap_ready(&self.shared).await;
    }
}

/// Whether a pooled kernel can still be handed out: its exit not seen, and its process
/// (when it has one on this host) neither gone nor a zombie. The exit is noticed by a
/// task; the process table says it at once.
fn alive(kernel: &Kernel) -> bool {
    if !kernel.is_alive() {
        return false;
    }
    let Some(pid) = kernel.info().host_pid else {
        return true;
    };
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses.
        Ok(stat) => stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next())
            .is_some_and(|state| !matches!(state, 'Z' | 'X')),
        Err(_) => false,
    }
}

/// Moves what `adopt_folder` had moved from `workspace` into `dir` back, and removes
/// `dir`.
fn give_back(dir: &Path, workspace: &Path) {
    if dir.is_dir() {
        let _ = std::fs::create_dir_all(workspace);
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let _ = std::fs::rename(entry.path(), workspace.join(entry.file_name()));
            }
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Removes the pool folders under `root` left by mcpr processes that are gone (killed
/// before they could remove them). Folders of a live process, and names not made by
/// this pool, are left alone. Returns how many were removed.
pub fn sweep_stale(root: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(root) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(FOLDER_PREFIX)
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() || std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        // A symlink planted there is removed itself: remove_dir_all never follows one.
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        let gone = if is_dir {
            std::fs::remove_dir_all(entry.path())
        } else {
            std::fs::remove_file(entry.path())
        };
        if gone.is_ok() {
            removed += 1;
        }
    }
    removed
}

impl Drop for KernelPool {
    fn drop(&mut self) {
        if let Some(refill) = lock(&self.refill).take() {
            refill.abort();
        }
        if let Some(dir) = lock(&self.shared.starting).take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        for ready in lock(&self.shared.ready).drain(..) {
            ready.kernel.kill();
            let _ = std::fs::remove_dir_all(&ready.dir);
        }
    }
}

async fn refill_loop(shared: Arc<Shared>) {
    loop {
        let idle_at = shared
            .idle
            .zip(*lock(&shared.last_taken))
            .map(|(idle, taken)| taken + idle);
        let reap = async move {
            match idle_at {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shared.wanted.notified() => {}
            _ = reap => {
                let idle_for = lock(&shared.last_taken).map(|t| t.elapsed());
                if shared.idle.zip(idle_for).is_some_and(|(idle, idle_for)| idle_for >= idle) {
                    // Idle until a session is asked for: then the pool fills again.
                    *lock(&shared.last_taken) = None;
                    reap_ready(&shared).await;
                }
                continue;
            }
        }
        while lock(&shared.ready).len() < shared.size {
            let dir = shared.root.join(format!(
                "{FOLDER_PREFIX}{}-{}",
                std::process::id(),
                crate::project::new_session_name()
            ));
            if let Err(e) = std::fs::create_dir_all(&dir) {
                *lock(&shared.last_error) = Some(format!("creating {}: {e}", dir.display()));
                shared.filled.notify_waiters();
                break;
            }
            *lock(&shared.starting) = Some(dir.clone());
            let started = shared.launcher.start(&dir).await;
            lock(&shared.starting).take();
            match started {
                Ok(kernel) => {
                    lock(&shared.ready).push_back(Ready { kernel, dir });
                    // A kernel is idle from when it is ready: its clock starts now.
                    let mut taken = lock(&shared.last_taken);
                    if taken.is_some() {
                        *taken = Some(Instant::now());
                    }
                }
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    *lock(&shared.last_error) = Some(e.to_string());
                    shared.filled.notify_waiters();
                    break;
                }
            }
        }
        shared.filled.notify_waiters();
    }
}

/// Shuts down every ready kernel and removes its folder.
async fn reap_ready(shared: &Shared) {
    let ready: Vec<Ready> = lock(&shared.ready).drain(..).collect();
    for Ready { kernel, dir } in ready {
        kernel.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
    shared.filled.notify_waiters();
}

/// Makes `from` become `to`, keeping whatever `to` already held.
fn adopt_folder(from: &Path, to: &Path) -> std::io::Result<()> {
    if to.exists() {
        for entry in std::fs::read_dir(to)? {
            let entry = entry?;
            std::fs::rename(entry.path(), from.join(entry.file_name()))?;
        }
        std::fs::remove_dir(to)?;
    } else if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::rename(from, to)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep using it.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
