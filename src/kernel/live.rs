//! Live checkpoints on the host side of one kernel: asking it to keep a frozen copy of
//! itself after a step, to hand over to such a copy (a rewind), and to end copies.
//!
//! The copies are processes of the same sandbox (see `mcpr/_live.py`): they count
//! against its process limit and are killed with the kernel. The [`Kernel`] stays bound
//! to the same launched process (the sandbox's anchor); after a hand-over the protocol
//! pipes are the woken copy's, and [`KernelInfo::pid`](super::KernelInfo) says which
//! process answers.

use std::time::{Duration, Instant};

use super::protocol::{HostMsg, KernelMsg};
use super::{Incoming, Kernel};

/// Longest a freeze, thaw or drop may take before the kernel is deemed stuck.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// A frozen copy kept by the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frozen {
    pub pid: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LiveError {
    /// The kernel refused or failed (the copy is gone, fork failed at the process limit…).
    #[error("{0}")]
    Refused(String),
    /// The kernel is gone or stopped answering.
    #[error("the kernel {0}")]
    Gone(String),
}

impl Kernel {
    /// Sends `msg` between cells and waits for its answer (output trailing in from
    /// background threads is dropped: no cell shows it).
    async fn ask(&mut self, msg: HostMsg) -> Result<KernelMsg, LiveError> {
        if let Some(death) = &self.death {
            return Err(LiveError::Gone(format!("is gone ({death})")));
        }
        self.send(&msg).await;
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        loop {
            let next = tokio::time::timeout_at(deadline.into(), self.reader.next()).await;
            match next {
                Err(_) => {
                    self.process.kill();
                    self.death = Some("stopped answering".into());
                    return Err(LiveError::Gone("stopped answering".into()));
                }
                Ok(Incoming::Closed) => {
                    self.death = Some("exited".into());
                    return Err(LiveError::Gone("exited".into()));
                }
                Ok(Incoming::Msg(
                    m @ (KernelMsg::Frozen { .. }
                    | KernelMsg::Thawed { .. }
                    | KernelMsg::Dropped { .. }),
                )) => return Ok(m),
                Ok(_) => {}
            }
        }
    }

    /// Keeps a frozen copy of the kernel as it is now, for `step`. `measure`: pids of
    /// earlier copies whose memory (PSS, see `mcpr/_live.py`) to report, in order; the
    /// new copy's comes last.
    pub async fn freeze(
        &mut self,
        step: u64,
        measure: Vec<u32>,
    ) -> Result<(Frozen, Vec<Option<u64>>), LiveError> {
        match self.ask(HostMsg::Freeze { step, measure }).await? {
            KernelMsg::Frozen {
                pid: Some(pid),
                pss,
                ..
            } => Ok((Frozen { pid }, pss)),
            KernelMsg::Frozen { error, .. } => Err(LiveError::Refused(
                error.unwrap_or_else(|| "the kernel kept no copy".into()),
            )),
            other => Err(LiveError::Refused(format!("unexpected answer {other:?}"))),
        }
    }

    /// Wakes the copy frozen at `step` as this session's kernel; the current state is
    /// abandoned. On failure the current kernel goes on as it was.
    pub async fn thaw(&mut self, step: u64) -> Result<u32, LiveError> {
        match self.ask(HostMsg::Thaw { step }).await? {
            KernelMsg::Thawed { pid: Some(pid), .. } => {
                self.info.pid = pid;
                Ok(pid)
            }
            KernelMsg::Thawed { error, .. } => Err(LiveError::Refused(
                error.unwrap_or_else(|| "the copy did not wake".into()),
            )),
            other => Err(LiveError::Refused(format!("unexpected answer {other:?}"))),
        }
    }

    /// Ends the copies frozen at `steps` (ones already gone are skipped).
    pub async fn drop_frozen(&mut self, steps: Vec<u64>) -> Result<(), LiveError> {
        if steps.is_empty() {
            return Ok(());
        }
        self.drop_and_measure(steps, Vec::new()).await.map(drop)
    }

    /// Ends the copies frozen at `steps`, then reports the memory (PSS) of the copies
    /// `measure` (pids, in order; None: gone), which the ended ones no longer share.
    pub async fn drop_and_measure(
        &mut self,
        steps: Vec<u64>,
        measure: Vec<u32>,
    ) -> Result<Vec<Option<u64>>, LiveError> {
        match self.ask(HostMsg::Drop { steps, measure }).await? {
            KernelMsg::Dropped { pss, .. } => Ok(pss),
            other => Err(LiveError::Refused(format!("unexpected answer {other:?}"))),
        }
    }
}
