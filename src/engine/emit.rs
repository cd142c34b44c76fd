//! Where a session's events go: to the front end, in order, and (for the step running)
//! into the session record first.

use std::sync::{Arc, Mutex};

use crate::event::{Event, NoticeLevel};
use crate::record::recorder::Recorder;

/// Sends events out; cheap to clone. Events a step produces pass through the recorder
/// (when one is attached) before they leave, so what a front end sees is on disk first.
#[derive(Clone)]
pub struct Emitter {
    out: Arc<dyn Fn(Event) + Send + Sync>,
    recorder: Arc<Mutex<Option<Recorder>>>,
}

impl Emitter {
    pub fn new(out: impl Fn(Event) + Send + Sync + 'static) -> Emitter {
        Emitter {
            out: Arc::new(out),
            recorder: Arc::new(Mutex::new(None)),
        }
    }

    /// Events into an unbounded channel (dropped silently once its receiver is gone).
    pub fn channel() -> (Emitter, tokio::sync::mpsc::UnboundedReceiver<Event>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (
            Emitter::new(move |e| {
                let _ = tx.send(e);
            }),
            rx,
        )
    }

    /// An emitter to the same place with a recorder slot of its own (for another session).
    pub fn fresh(&self) -> Emitter {
        Emitter {
            out: self.out.clone(),
            recorder: Arc::new(Mutex::new(None)),
        }
    }

    /// Records, then sends.
    pub fn emit(&self, event: Event) {
        if event.recorded()
            && let Ok(mut slot) = self.recorder.lock()
            && let Some(recorder) = slot.as_mut()
        {
            recorder.event(&event);
        }
        (self.out)(event);
    }

    /// Sends without recording (the record's own lifecycle, replays).
    pub fn send(&self, event: Event) {
        (self.out)(event);
    }

    pub fn notice(&self, level: NoticeLevel, message: impl Into<String>) {
        self.send(Event::notice(level, message));
    }

    /// The recorder the session's steps go to.
    pub(crate) fn recorder(&self) -> &Arc<Mutex<Option<Recorder>>> {
        &self.recorder
    }

    /// Runs `f` on the recorder, if one is attached and usable.
    pub(crate) fn with_recorder<T>(&self, f: impl FnOnce(&mut Recorder) -> T) -> Option<T> {
        self.recorder.lock().ok()?.as_mut().map(f)
    }
}
