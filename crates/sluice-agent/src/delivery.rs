//! Delivery tracking: how an input that must acknowledge its messages (an MQTT
//! persistent session) learns that their metrics have left the agent's hands.
//!
//! The input attaches a [`Delivery`] to every metric parsed from one message. Metrics
//! carry it through processors, and each output's buffer holds its own copy; the
//! delivery is done when the last metric carrying it is dropped: written by every output
//! that selected it (or saved in a disk buffer, which is synced), filtered out,
//! aggregated, or dropped by a full buffer. A metric still waiting in a memory buffer
//! keeps its message unacknowledged, so a crash or `kill -9` leaves it with the broker,
//! which sends it again.
//!
//! ```text
//!  message ──► Delivery ──► metrics ─┬─► output A's buffer ──► written, dropped ─┐
//!                                    └─► output B's buffer ──► written, dropped ─┴─► done(id)
//! ```

use std::fmt;
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;

/// A message's claim on the metrics parsed from it; cloned with them. When the last
/// clone is dropped, the message's id is sent to its input.
#[derive(Clone)]
pub struct Delivery(Arc<Claim>);

struct Claim {
    id: u64,
    done: UnboundedSender<u64>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        // The input may have stopped (shutdown, reload): then nobody waits for it.
        let _ = self.done.send(self.id);
    }
}

impl Delivery {
    /// A claim for message `id`, reported on `done` once every metric holding it is gone.
    pub fn new(id: u64, done: UnboundedSender<u64>) -> Delivery {
        Delivery(Arc::new(Claim { id, done }))
    }
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Delivery({})", self.0.id)
    }
}

/// Deliveries say nothing about a metric's content: metrics compare equal whatever they
/// carry.
impl PartialEq for Delivery {
    fn eq(&self, _: &Delivery) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_is_reported_once_when_the_last_copy_is_dropped() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let delivery = Delivery::new(7, tx);
        let copies = vec![delivery.clone(), delivery.clone()];
        drop(delivery);
        assert!(rx.try_recv().is_err());
        drop(copies);
        assert_eq!(rx.try_recv().ok(), Some(7));
        assert!(rx.try_recv().is_err());
    }
}
