//! A model's bounded job queue, shared by every engine: handles send without blocking (a full
//! queue is a 429), and the engine's thread may leave when idle without losing a job — leaving
//! and sending happen under one lock.

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{ErrorKind, RuntimeError};

/// The sending side (held by the engine's handle).
pub(crate) struct JobQueue<J> {
    tx: SyncSender<J>,
    alive: Arc<Mutex<bool>>,
}

/// The receiving side (owned by the engine's thread).
pub(crate) struct Jobs<J> {
    rx: Receiver<J>,
    alive: Arc<Mutex<bool>>,
    idle: Option<Duration>,
}

/// A queue holding at most `capacity` waiting jobs; the thread leaves after `idle` without one.
pub(crate) fn bounded<J>(capacity: usize, idle: Option<Duration>) -> (JobQueue<J>, Jobs<J>) {
    let (tx, rx) = std::sync::mpsc::sync_channel(capacity.max(1));
    let alive = Arc::new(Mutex::new(true));
    (
        JobQueue {
            tx,
            alive: Arc::clone(&alive),
        },
        Jobs { rx, alive, idle },
    )
}

fn unloaded() -> RuntimeError {
    RuntimeError::new(ErrorKind::Load, "the model was unloaded")
}

impl<J> JobQueue<J> {
    pub fn send(&self, job: J) -> Result<(), RuntimeError> {
        let alive = self
            .alive
            .lock()
            .map_err(|_| RuntimeError::engine("model state poisoned"))?;
        if !*alive {
            return Err(unloaded());
        }
        match self.tx.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(RuntimeError::new(
                ErrorKind::Busy,
                "the model is busy: its queue is full; retry later",
            )),
            Err(TrySendError::Disconnected(_)) => Err(unloaded()),
        }
    }

    /// False once the thread left (idle).
    pub fn is_alive(&self) -> bool {
        self.alive.lock().map(|a| *a).unwrap_or(false)
    }
}

impl<J> Jobs<J> {
    /// Waits for the next job; `None` when the thread should end (idle, or every handle gone).
    pub fn wait(&self) -> Option<J> {
        let Some(idle) = self.idle else {
            return self.rx.recv().ok();
        };
        match self.rx.recv_timeout(idle) {
            Ok(job) => Some(job),
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => {
                // leave unless a job slipped in meanwhile (senders take the same lock)
                let mut alive = self.alive.lock().ok()?;
                match self.rx.try_recv() {
                    Ok(job) => Some(job),
                    Err(_) => {
                        *alive = false;
                        None
                    }
                }
            }
        }
    }

    /// A job already waiting, if any.
    pub fn ready(&self) -> Result<J, std::sync::mpsc::TryRecvError> {
        self.rx.try_recv()
    }
}
