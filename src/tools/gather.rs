//! Every server's catalog at once, for search and for the prompt's tool suggestions.
//!
//! Known and cached catalogs come at once. Servers without one are asked concurrently, each
//! by a background task that outlives the wait: with a budget (the prompt's), a server
//! slower than the budget is left out and named, and it keeps starting for the next step,
//! which does not wait for it again. A server that failed is backed off (left out, with
//! its error, until a growing delay has passed) instead of being started, and waited
//! for, by every search and every step. An explicit use of the server (a call, an import)
//! still starts it; one that answers clears its back-off.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

use super::catalog::{Catalog, first_line};
use super::hub::ToolHub;

/// The first back-off after a failure; it doubles with each further failure.
const FIRST_BACKOFF: Duration = Duration::from_secs(30);
const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// What gathering found.
#[derive(Debug, Clone, Default)]
pub struct Gathered {
    pub catalogs: Vec<Catalog>,
    /// Servers still starting when the budget ran out.
    pub slow: Vec<String>,
    /// Servers that failed (now or recently, still backed off), with why.
    pub failed: Vec<(String, String)>,
}

impl Gathered {
    /// One line per server left out, for users and for code's `problems`.
    pub fn problems(&self, budget: Option<Duration>) -> Vec<String> {
        let waited = budget
            .map(|b| format!(" within {} s", b.as_secs_f64()))
            .unwrap_or_default();
        self.slow
            .iter()
            .map(|s| {
                format!(
                    "MCP server {s:?} has not listed its tools{waited}; they are left out (it keeps starting in the background)"
                )
            })
            .chain(
                self.failed
                    .iter()
                    .map(|(s, why)| format!("MCP server {s:?} is left out: {why}")),
            )
            .collect()
    }
}

/// Fetches in flight and recent failures, per module.
#[derive(Default)]
pub struct GatherState {
    pending: BTreeMap<String, Pending>,
    failures: BTreeMap<String, Failure>,
}

struct Pending {
    done: watch::Receiver<bool>,
    since: Instant,
    task: tokio::task::AbortHandle,
}

struct Failure {
    message: String,
    retry_at: Instant,
    count: u32,
}

impl ToolHub {
    /// Every server's catalog and the problems of those left out; waits for every server
    /// that is not backed off.
    pub async fn all_catalogs(self: &Arc<Self>) -> (Vec<Catalog>, Vec<String>) {
        let gathered = self.gather(None).await;
        let problems = gathered.problems(None);
        (gathered.catalogs, problems)
    }

    /// Every server's catalog that is known, cached, or comes within `budget` (counted for
    /// each server from when it was first asked); `None` waits for all.
    pub async fn gather(self: &Arc<Self>, budget: Option<Duration>) -> Gathered {
        let mut gathered = Gathered::default();
        let mut waits = Vec::new();
        for server in &self.config.servers {
            if let Some(catalog) = self.known_catalog(&server.module).await {
                gathered.catalogs.push(catalog);
                continue;
            }
            let now = Instant::now();
            let Ok(mut state) = self.gather.lock() else {
                continue;
            };
            if let Some(failure) = state.failures.get(&server.module)
                && failure.retry_at > now
            {
                let wait = failure.retry_at.duration_since(now).as_secs();
                gathered.failed.push((
                    server.name.clone(),
                    format!("{} (not asked again for {wait} s)", failure.message),
                ));
                continue;
            }
            let pending = state
                .pending
                .entry(server.module.clone())
                .or_insert_with(|| self.fetch(server.name.clone(), server.module.clone()));
            let until = budget.map(|b| pending.since + b);
            waits.push((server, pending.done.clone(), until));
        }
        // The deadlines are absolute, so waiting in turn takes as long as the latest.
        for (server, mut done, until) in waits {
            let finished = done.wait_for(|d| *d);
            let _ = match until {
                Some(until) => tokio::time::timeout_at(until, finished).await.ok(),
                None => Some(finished.await),
            };
            if let Some(catalog) = self.known_catalog(&server.module).await {
                gathered.catalogs.push(catalog);
            } else if let Some(failure) = self
                .gather
                .lock()
                .ok()
                .and_then(|s| s.failures.get(&server.module).map(|f| f.message.clone()))
            {
                gathered.failed.push((server.name.clone(), failure));
            } else {
                gathered.slow.push(server.name.clone());
            }
        }
        gathered
    }

    /// Starts a background task that gets the server's catalog and records how it went.
    fn fetch(self: &Arc<Self>, server: String, module: String) -> Pending {
        let (tx, done) = watch::channel(false);
        let hub = self.clone();
        let task = tokio::spawn(async move {
            let outcome = hub.catalog(&server).await;
            if let Ok(mut state) = hub.gather.lock() {
                state.pending.remove(&module);
                match outcome {
                    Ok(_) => {
                        state.failures.remove(&module);
                    }
                    Err(e) => {
                        let count = state.failures.get(&module).map_or(1, |f| f.count + 1);
                        let backoff = FIRST_BACKOFF
                            .saturating_mul(1 << (count - 1).min(10))
                            .min(MAX_BACKOFF);
                        state.failures.insert(
                            module,
                            Failure {
                                message: first_line(&e.message),
                                retry_at: Instant::now() + backoff,
                                count,
                            },
                        );
                    }
                }
            }
            let _ = tx.send(true);
        });
        Pending {
            done,
            since: Instant::now(),
            task: task.abort_handle(),
        }
    }

    /// The server answered: it is no longer backed off.
    pub(super) fn server_answered(&self, module: &str) {
        if let Ok(mut state) = self.gather.lock() {
            state.failures.remove(module);
        }
    }

    /// Stops every fetch in flight (their server starts are stopped with them).
    pub(super) fn stop_gathering(&self) {
        if let Ok(mut state) = self.gather.lock() {
            for (_, pending) in std::mem::take(&mut state.pending) {
                pending.task.abort();
            }
        }
    }
}
