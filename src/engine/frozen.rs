//! The live checkpoints of one running session: which steps have a frozen copy of the
//! kernel, how much memory those copies hold, and which to end when the bounds are
//! passed.
//!
//! Bounds: a count (`[checkpoints] live_count`, and never more than the sandbox's process
//! limit leaves room for: the copies count against it), and memory (`live_memory_mb`:
//! the sum of the copies' proportional set sizes). PSS gives each page to the processes
//! sharing it in equal parts, so the sum counts every page only a copy holds, every page
//! copies share among themselves, and a part of what they share with the kernel: never
//! less than what ending all copies would free. All copies are measured again at each
//! freeze, and again after each eviction (a page left to fewer sharers weighs more), until
//! the sum is within the bound.
//! Eviction ends the oldest copy first, but keeps the newest and a few spread over the
//! history, so that a rewind far back still lands near a copy and replays little.

use std::collections::BTreeMap;

use crate::project::CheckpointSettings;
use crate::session::Session;

/// Processes and threads left to the kernel itself and the code it runs: the active
/// kernel's threads, the anchor's, and room for subprocesses.
const PROCESS_RESERVE: u64 = 24;
/// Copies kept spread over the history besides the newest.
const SPREAD: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Copy {
    pid: u32,
    /// Its proportional set size in bytes, as last measured.
    pss: u64,
}

/// Evictions and re-measures after one freeze: each round ends at least one copy.
const EVICTION_ROUNDS: usize = 64;

/// The frozen copies of one kernel (the launched process they all belong to).
#[derive(Debug, Default)]
pub struct FrozenCopies {
    copies: BTreeMap<u64, Copy>,
    /// The launched process the copies live in; another means they are gone.
    anchor: Option<u32>,
    max_count: usize,
    max_bytes: u64,
}

/// Which copies to end so that at most `max_count` remain and their bytes stay within
/// `max_bytes`: oldest first, sparing the newest and `SPREAD` copies nearest to
/// evenly spaced points of the history.
pub fn evictions(copies: &[(u64, u64)], max_count: usize, max_bytes: u64) -> Vec<u64> {
    let mut kept: Vec<(u64, u64)> = copies.to_vec();
    kept.sort_unstable();
    let mut out = Vec::new();
    let over = |kept: &[(u64, u64)]| {
        kept.len() > max_count || kept.iter().map(|c| c.1).sum::<u64>() > max_bytes
    };
    while over(&kept) && !kept.is_empty() {
        let spared = spared(&kept);
        let victim = kept
            .iter()
            .position(|c| !spared.contains(&c.0))
            .unwrap_or(0);
        out.push(kept.remove(victim).0);
    }
    out
}

/// The newest step and the ones nearest to `SPREAD` evenly spaced points of the whole
/// history (steps 1 to the newest), so the spared copies do not drift toward the end.
fn spared(kept: &[(u64, u64)]) -> Vec<u64> {
    let Some(last) = kept.last() else {
        return Vec::new();
    };
    let mut spared = vec![last.0];
    for i in 1..=SPREAD as u64 {
        let point = 1 + last.0.saturating_sub(1) * i / (SPREAD as u64 + 1);
        if let Some(near) = kept.iter().min_by_key(|c| c.0.abs_diff(point)).map(|c| c.0) {
            spared.push(near);
        }
    }
    spared
}

impl FrozenCopies {
    pub fn new(settings: &CheckpointSettings, processes: u64) -> FrozenCopies {
        let room = processes.saturating_sub(PROCESS_RESERVE) as usize;
        FrozenCopies {
            copies: BTreeMap::new(),
            anchor: None,
            max_count: settings.live_count.min(room),
            max_bytes: settings.live_memory_mb.saturating_mul(1024 * 1024),
        }
    }

    /// Whether any copy may be kept at all.
    pub fn enabled(&self) -> bool {
        self.max_count > 0
    }

    /// The steps with a copy, oldest first.
    pub fn steps(&self) -> Vec<u64> {
        self.copies.keys().copied().collect()
    }

    /// The memory of all copies (the sum of their PSS, as last measured).
    pub fn bytes(&self) -> u64 {
        self.copies.values().map(|c| c.pss).sum()
    }

    /// Takes the measures of the copies `steps` (same order; None: the copy is gone).
    fn measured(&mut self, steps: &[u64], pss: &[Option<u64>]) {
        for (s, bytes) in steps.iter().zip(pss) {
            match bytes {
                Some(b) => {
                    if let Some(c) = self.copies.get_mut(s) {
                        c.pss = *b;
                    }
                }
                // The copy is gone (killed from inside the sandbox): forget it.
                None => {
                    self.copies.remove(s);
                }
            }
        }
    }

    /// Forgets copies that belonged to a kernel since replaced (restarted, died).
    fn check_anchor(&mut self, session: &Session) {
        let now = session.kernel().and_then(|k| k.info().host_pid);
        if self.anchor != now {
            self.copies.clear();
            self.anchor = now;
        }
    }

    /// Keeps a copy for `step` (the kernel as it is now), then ends the copies the
    /// bounds no longer allow. Returns the steps whose copies were ended.
    pub async fn freeze(&mut self, session: &mut Session, step: u64) -> Result<Vec<u64>, String> {
        self.check_anchor(session);
        let Some(kernel) = session.kernel_mut().filter(|k| k.is_alive()) else {
            return Ok(Vec::new());
        };
        let steps: Vec<u64> = self.steps();
        let pids: Vec<u32> = steps.iter().map(|s| self.copies[s].pid).collect();
        let frozen = kernel.freeze(step, pids).await;
        let (copy, pss) = match frozen {
            Ok(done) => done,
            Err(e) => {
                // Likely the process limit: make room for the next step's copy.
                let oldest = self.copies.keys().next().copied();
                if let (Some(old), Some(k)) = (oldest, session.kernel_mut()) {
                    let _ = k.drop_frozen(vec![old]).await;
                    self.copies.remove(&old);
                }
                return Err(e.to_string());
            }
        };
        self.copies.insert(
            step,
            Copy {
                pid: copy.pid,
                pss: 0,
            },
        );
        let mut all = steps;
        all.push(step);
        self.measured(&all, &pss);
        let mut evicted = Vec::new();
        for _ in 0..EVICTION_ROUNDS {
            let list: Vec<(u64, u64)> = self.copies.iter().map(|(s, c)| (*s, c.pss)).collect();
            let ended = evictions(&list, self.max_count, self.max_bytes);
            if ended.is_empty() {
                break;
            }
            for s in &ended {
                self.copies.remove(s);
            }
            let (left, pids): (Vec<u64>, Vec<u32>) =
                self.copies.iter().map(|(s, c)| (*s, c.pid)).unzip();
            let Some(k) = session.kernel_mut() else {
                break;
            };
            let pss = k
                .drop_and_measure(ended.clone(), pids)
                .await
                .map_err(|e| e.to_string())?;
            evicted.extend(ended);
            // The pages the ended copies shared now weigh more on the ones left.
            self.measured(&left, &pss);
        }
        Ok(evicted)
    }

    /// The latest of `path` (steps from the root to the target, oldest first) that has
    /// a copy.
    pub fn nearest(&mut self, session: &Session, path: &[u64]) -> Option<u64> {
        self.check_anchor(session);
        path.iter()
            .rev()
            .find(|s| self.copies.contains_key(s))
            .copied()
    }

    /// Wakes the copy of `step` as the session's kernel. On failure the copy is
    /// forgotten and the kernel is as it was.
    pub async fn thaw(&mut self, session: &mut Session, step: u64) -> Result<(), String> {
        let Some(kernel) = session.kernel_mut() else {
            return Err("no kernel is running".into());
        };
        match kernel.thaw(step).await {
            Ok(_) => Ok(()),
            Err(e) => {
                self.copies.remove(&step);
                Err(e.to_string())
            }
        }
    }

    /// Ends the copies of steps not on `path` (a fork keeps only its own history's).
    pub async fn retain_path(&mut self, session: &mut Session, path: &[u64]) {
        self.check_anchor(session);
        let others: Vec<u64> = self
            .copies
            .keys()
            .filter(|s| !path.contains(s))
            .copied()
            .collect();
        for s in &others {
            self.copies.remove(s);
        }
        if let Some(k) = session.kernel_mut() {
            let _ = k.drop_frozen(others).await;
        }
    }

    /// Ends every copy (the session closes).
    pub async fn drop_all(&mut self, session: &mut Session) {
        let steps = self.steps();
        self.copies.clear();
        if let Some(k) = session.kernel_mut() {
            let _ = k.drop_frozen(steps).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_go_first_but_the_newest_and_a_spread_stay() {
        let copies: Vec<(u64, u64)> = (1..=20).map(|s| (s, 0)).collect();
        let out = evictions(&copies, 8, u64::MAX);
        assert_eq!(out.len(), 12);
        let kept: Vec<u64> = (1..=20).filter(|s| !out.contains(s)).collect();
        assert!(kept.contains(&20), "{kept:?}");
        // Copies spread over the history are still there.
        assert!(kept.iter().any(|&s| s <= 6), "{kept:?}");
        assert!(kept.iter().any(|&s| (8..=12).contains(&s)), "{kept:?}");
        assert!(evictions(&copies, 20, u64::MAX).is_empty());
    }

    #[test]
    fn memory_evicts_until_within_the_bound() {
        let copies = vec![(1, 50), (2, 50), (3, 50), (4, 0)];
        let out = evictions(&copies, 10, 60);
        let left: u64 = copies
            .iter()
            .filter(|c| !out.contains(&c.0))
            .map(|c| c.1)
            .sum();
        assert!(left <= 60, "{out:?}");
        assert!(!out.contains(&4));
    }

    #[test]
    fn the_process_limit_bounds_the_count() {
        let settings = CheckpointSettings::default();
        assert_eq!(FrozenCopies::new(&settings, 64).max_count, 16);
        assert_eq!(FrozenCopies::new(&settings, 30).max_count, 6);
        assert!(!FrozenCopies::new(&settings, 20).enabled());
    }
}
