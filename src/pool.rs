//! A warm pool of ready kernels, so a new session does not pay Python's start-up.
//!
//! Each pooled kernel is started in a fresh folder `workspace/.pool-*`; handing it to a
//! session renames that folder to the session's workspace (the kernel keeps its working
//! directory and, under bubblewrap, its mount, because a rename keeps the inode). A
//! kernel leaves the pool once and is never reused by a second session.
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
    refill: tokio::task::JoinHandle<()>,
}

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
        KernelPool { shared, refill }
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

    /// A session named `name` in `workspace`, on a pooled kernel when one is ready,
    /// otherwise on a cold one.
    pub async fn session(
        &self,
        calls: HostCalls,
        name: String,
        workspace: PathBuf,
    ) -> Result<Session, KernelError> {
        let taken = lock(&self.shared.ready).pop_front();
        *lock(&self.shared.last_taken) = Some(Instant::now());
        self.shared.wanted.notify_one();
        let launcher = self.shared.launcher.clone();
        let Some(Ready { kernel, dir }) = taken else {
            std::fs::create_dir_all(&workspace).map_err(crate::backend::LaunchError::Prepare)?;
            return Session::start(launcher, calls, name, workspace).await;
        };
        adopt_folder(&dir, &workspace).map_err(crate::backend::LaunchError::Prepare)?;
        let uid = kernel.info().uid;
        if uid != nix::unistd::geteuid().as_raw() {
            identity::chown_tree(&workspace, uid, uid)
                .map_err(crate::backend::LaunchError::Prepare)?;
        }
        Ok(Session::with_kernel(
            launcher, calls, name, workspace, kernel,
        ))
    }
}

impl Drop for KernelPool {
    fn drop(&mut self) {
        self.refill.abort();
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
            let dir = shared
                .root
                .join(format!(".pool-{}", crate::project::new_session_name()));
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
