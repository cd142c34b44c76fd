//! Approvals for tool calls the policy says to ask about: the request goes out as an
//! event (and into the record), the call waits, and a front end answers with
//! [`super::Op::Approve`]. The answer is recorded too; a replay serves the recorded
//! call's outcome and asks nobody.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

use super::EngineError;
use super::emit::Emitter;
use crate::event::Event;
use crate::tools::policy::{ApprovalRequest, Approver, Decision};

pub struct Approvals {
    pending: Mutex<BTreeMap<u64, oneshot::Sender<Decision>>>,
    out: Emitter,
}

impl Approvals {
    pub fn new(out: Emitter) -> Arc<Approvals> {
        Arc::new(Approvals {
            pending: Mutex::new(BTreeMap::new()),
            out,
        })
    }

    /// Answers request `id`.
    pub fn answer(&self, id: u64, decision: Decision) -> Result<(), EngineError> {
        let waiter = self
            .pending
            .lock()
            .ok()
            .and_then(|mut p| p.remove(&id))
            .ok_or(EngineError::NoApproval(id))?;
        // A call cancelled meanwhile no longer waits: nothing to do.
        let _ = waiter.send(decision);
        Ok(())
    }
}

/// The hub's approver: `Approvals` shared with the session's owner.
pub struct AskFrontEnd(pub Arc<Approvals>);

impl Approver for AskFrontEnd {
    fn decide(&self, request: ApprovalRequest) -> Pin<Box<dyn Future<Output = Decision> + Send>> {
        let approvals = self.0.clone();
        let (tx, rx) = oneshot::channel();
        let id = request.id;
        if let Ok(mut pending) = approvals.pending.lock() {
            pending.insert(id, tx);
        }
        approvals.out.emit(Event::ApprovalRequested(request));
        Box::pin(async move {
            // Nobody left to answer (the session closing) is a denial.
            let decision = rx.await.unwrap_or(Decision::Deny);
            approvals.out.emit(Event::ApprovalAnswered { id, decision });
            decision
        })
    }
}
