//! Several engines as one pool: where a new kernel container goes.
//!
//! Free capacity of an engine = its size minus the kernel containers running there
//! (every mcpr's, found by label) minus the containers this process is still creating
//! there. Its size is `[docker] capacity` when set, else what the engine reports: the
//! fewer of its CPUs / `[docker] cpus` and its memory / `[kernel.limits] memory_mb`. The
//! engine with the most free capacity wins (the first listed on a tie); an engine that
//! is full still takes kernels when every engine is, so a pool is never refused for being
//! busy, only for being down. An engine that does not answer is marked down (see
//! [`Engine::mark_down`]) and left out until its back-off has passed.

use bollard::query_parameters::ListContainersOptionsBuilder;
use futures::future::join_all;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::engine::{Engine, EngineError, KERNEL_LABEL};

/// How long one engine may take to say how busy it is before it is marked down.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// One engine of the pool and the containers this process is creating on it.
pub struct Member {
    pub engine: Arc<Engine>,
    placing: AtomicUsize,
}

/// A placement taken: counts as a container on its engine until dropped, once the
/// container exists (the engine's list counts it then) or never will.
pub struct Placement {
    pub engine: Arc<Engine>,
    member: Arc<Member>,
}

impl Drop for Placement {
    fn drop(&mut self) {
        self.member.placing.fetch_sub(1, Ordering::SeqCst);
    }
}

pub struct EnginePool {
    members: Vec<Arc<Member>>,
    /// `[docker] capacity`; 0 asks each engine.
    capacity: usize,
    cpus: f64,
}

impl EnginePool {
    pub fn new(engines: Vec<Arc<Engine>>, capacity: usize, cpus: f64) -> EnginePool {
        EnginePool {
            members: engines
                .into_iter()
                .map(|engine| {
                    Arc::new(Member {
                        engine,
                        placing: AtomicUsize::new(0),
                    })
                })
                .collect(),
            capacity,
            cpus,
        }
    }

    pub fn engines(&self) -> impl Iterator<Item = &Arc<Engine>> {
        self.members.iter().map(|m| &m.engine)
    }

    /// The engine for a new kernel that needs `memory_mb`, or why none can take it.
    pub async fn place(&self, memory_mb: u64) -> Result<Placement, EngineError> {
        let take = |member: &Arc<Member>| {
            member.placing.fetch_add(1, Ordering::SeqCst);
            Placement {
                engine: member.engine.clone(),
                member: member.clone(),
            }
        };
        if let [only] = self.members.as_slice() {
            return Ok(take(only));
        }
        let asked = join_all(self.members.iter().map(|m| self.free(m, memory_mb))).await;
        let mut best: Option<(i64, &Arc<Member>)> = None;
        let mut why_not = Vec::new();
        for (member, free) in self.members.iter().zip(asked) {
            match free {
                Ok(free) if best.is_none_or(|(b, _)| free > b) => best = Some((free, member)),
                Ok(_) => {}
                Err(e) => why_not.push(e.to_string()),
            }
        }
        match best {
            Some((_, member)) => Ok(take(member)),
            None => Err(EngineError::NoneUp(format!(
                "no engine of [docker] engines can take a kernel: {}",
                why_not.join("; ")
            ))),
        }
    }

    /// Free capacity of `member` now (may be negative when it is over-full).
    async fn free(&self, member: &Member, memory_mb: u64) -> Result<i64, EngineError> {
        let engine = &member.engine;
        let asked = tokio::time::timeout(ASK_TIMEOUT, async {
            let docker = engine.client().await?;
            let lost = |e: bollard::errors::Error| {
                engine.mark_down(&e.to_string());
                EngineError::Unreachable {
                    address: engine.address().to_string(),
                    reason: e.to_string(),
                }
            };
            let size = if self.capacity > 0 {
                self.capacity as i64
            } else {
                let info = docker.info().await.map_err(lost)?;
                let by_cpu = info.ncpu.unwrap_or(1) as f64 / self.cpus;
                let by_memory =
                    info.mem_total.unwrap_or(0) as f64 / (memory_mb.max(1) as f64 * 1048576.0);
                by_cpu.min(by_memory).floor() as i64
            };
            let filters =
                HashMap::from([("label", vec![KERNEL_LABEL]), ("status", vec!["running"])]);
            let options = ListContainersOptionsBuilder::default()
                .filters(&filters)
                .build();
            let running = docker
                .list_containers(Some(options))
                .await
                .map_err(lost)?
                .len() as i64;
            Ok(size - running - member.placing.load(Ordering::SeqCst) as i64)
        })
        .await;
        match asked {
            Ok(free) => free,
            Err(_) => {
                let reason = format!("it did not answer within {} s", ASK_TIMEOUT.as_secs());
                engine.mark_down(&reason);
                Err(EngineError::Unreachable {
                    address: engine.address().to_string(),
                    reason,
                })
            }
        }
    }
}
