//! The warm kernels of a long-lived front end (the console, `mcpr serve`): one
//! [`KernelPool`] per launcher, made on the first session that launcher starts, so that
//! opening, continuing, rewinding or forking a session takes a ready kernel instead of
//! starting Python (or a container) cold. One-shot commands have none.
//!
//! Two sessions share a pool only when their launchers start kernels the same way
//! ([`Launcher::pool_key`]); a pooled kernel is started before any session is known, so
//! nothing session-specific may be in it: the launcher holds no secrets, and the tools
//! and skills packages are files in the workspace that the hand-over (a rename of the
//! folder) brings along. This module owns the pools' lifetime: made lazily, shut down at
//! exit, and the folders of an earlier mcpr that was killed swept at start.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::pool::{KernelPool, sweep_stale};
use crate::project::Project;
use crate::sandbox::Isolation;
use crate::session::Launcher;

/// The pools of one process, by launcher.
pub struct WarmPools {
    root: std::path::PathBuf,
    kernels: usize,
    containers: usize,
    idle: Duration,
    pools: Mutex<Vec<(String, Arc<KernelPool>)>>,
    closed: std::sync::atomic::AtomicBool,
}

impl WarmPools {
    /// The pools of `project`, sized by `[kernel] warm_pool` and `[docker] pool_size`.
    /// Pool folders left by an mcpr that was killed are removed now.
    pub fn new(project: &Project) -> Arc<WarmPools> {
        let root = project.workspace_root();
        sweep_stale(&root);
        let kernel = &project.config.kernel;
        Arc::new(WarmPools {
            root,
            kernels: kernel.warm_pool,
            containers: project.config.docker.pool_size,
            idle: Duration::from_secs_f64(kernel.warm_pool_idle_seconds.max(1.0)),
            pools: Mutex::new(Vec::new()),
            closed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The pool for `launcher`'s kernels, made (and starting to fill) on first use.
    /// None when pools are off for it (size 0, a kernel that cannot change folders, or
    /// after [`WarmPools::shutdown`]).
    pub fn for_launcher(&self, launcher: &Launcher) -> Option<Arc<KernelPool>> {
        let size = match launcher.isolation() {
            Isolation::Docker => self.containers,
            _ => self.kernels,
        };
        if size == 0 || !launcher.poolable() {
            return None;
        }
        let key = launcher.pool_key();
        let mut pools = lock(&self.pools);
        if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return None;
        }
        if let Some((_, pool)) = pools.iter().find(|(k, _)| *k == key) {
            return Some(pool.clone());
        }
        let pool = Arc::new(KernelPool::with_idle(
            launcher.clone(),
            self.root.clone(),
            size,
            Some(self.idle),
        ));
        pools.push((key, pool.clone()));
        Some(pool)
    }

    /// How many pools there are (one per launcher used so far).
    pub fn len(&self) -> usize {
        lock(&self.pools).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The host pids of every ready kernel (None for a container).
    pub fn ready_pids(&self) -> Vec<Option<u32>> {
        lock(&self.pools)
            .iter()
            .flat_map(|(_, p)| p.ready_pids())
            .collect()
    }

    /// Waits until every pool is full (or says why one could not fill).
    pub async fn wait_full(&self) -> Result<(), String> {
        let pools: Vec<Arc<KernelPool>> =
            lock(&self.pools).iter().map(|(_, p)| p.clone()).collect();
        for pool in pools {
            pool.wait_full().await?;
        }
        Ok(())
    }

    /// Shuts every ready kernel down and removes its folder; no pool is made afterwards.
    /// Sessions that took a kernel keep it.
    pub async fn shutdown(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        let pools: Vec<Arc<KernelPool>> = lock(&self.pools).drain(..).map(|(_, p)| p).collect();
        for pool in pools {
            pool.shutdown().await;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep using it.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
