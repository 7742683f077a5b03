//! The tracking service fed by the in-process bus ([`bus::InProcessTransport`]) instead of
//! Pulsar: when `alpes serve` runs without a broker, its relay hands each integration event
//! straight to [`TrackingSubscriber`] in the same process.
//!
//! The view and its idempotency are the same as on the Pulsar feed (the same
//! [`crate::consumer::handle`]); what differs is what happens to a message that fails:
//! - the database is away: the delivery fails ([`DeliveryError::Unavailable`]), the
//!   relay's receipt fails and its checkpoint stays put; it backs off and resends. (The
//!   Pulsar consumer retries in place instead, as the broker keeps the message.)
//! - the message cannot be processed (undecodable, refused by the database for good): it is
//!   rejected, delivered again a few times by the bus, then recorded in the dead-letter
//!   table ([`Subscriber::dead_letter`]) and acknowledged, as the Pulsar feed sends it to
//!   its dead-letter topic.
//! - the service was shut down: deliveries fail as unavailable, so the relay does not
//!   move its checkpoint past events nobody applied.

use async_trait::async_trait;
use bus::{DeliveryError, OutgoingMessage, Subscriber};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::watch;

use crate::consumer::{self, handle, ConsumerState, Handled, TopicProgress};
use crate::storage::{DeadLetter, TrackingStore};

/// The name the in-process consumer shows in `GET /tracking/status`.
pub const IN_PROCESS_TOPIC: &str = "in-process";

/// Applies the in-process bus's messages to the tracking view.
pub struct TrackingSubscriber {
    store: Arc<dyn TrackingStore>,
    subscription: String,
    progress: watch::Sender<TopicProgress>,
    stopped: AtomicBool,
}

impl TrackingSubscriber {
    pub(crate) fn new(
        store: Arc<dyn TrackingStore>,
        subscription: String,
    ) -> (Self, watch::Receiver<TopicProgress>) {
        let (progress, receiver) =
            watch::channel(TopicProgress::new(IN_PROCESS_TOPIC, ConsumerState::Consuming));
        let subscriber = Self {
            store,
            subscription,
            progress,
            stopped: AtomicBool::new(false),
        };
        (subscriber, receiver)
    }

    /// Refuses every later delivery (as unavailable): the service is going away.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.set_state(ConsumerState::Stopped);
    }

    fn set_state(&self, state: ConsumerState) {
        consumer::set_state(&self.progress, state);
    }

    fn report_error(&self, error: &str) {
        tracing::warn!(%error, "tracking could not apply an in-process message; the relay resends it");
        consumer::record_error(&self.progress, error);
    }
}

#[async_trait]
impl Subscriber for TrackingSubscriber {
    fn name(&self) -> &str {
        "tracking"
    }

    async fn deliver(&self, message: &OutgoingMessage) -> Result<(), DeliveryError> {
        if self.stopped.load(Ordering::Acquire) {
            return Err(DeliveryError::Unavailable(
                "the tracking service is stopped".into(),
            ));
        }
        self.progress.send_modify(|p| p.received += 1);
        match handle(
            &*self.store,
            &self.subscription,
            IN_PROCESS_TOPIC,
            &message.payload,
        )
        .await
        {
            Handled::Applied => {
                self.set_state(ConsumerState::Consuming);
                Ok(())
            }
            Handled::Rejected(reason) => {
                tracing::warn!(%reason, event_id = %message.event_id,
                    "cannot process an in-process message; it is redelivered, then dead-lettered");
                self.progress.send_modify(|p| p.rejected += 1);
                Err(DeliveryError::Rejected(reason))
            }
            Handled::Unavailable(error) => {
                self.report_error(&error);
                Err(DeliveryError::Unavailable(error))
            }
        }
    }

    async fn dead_letter(&self, message: &OutgoingMessage, reason: &str) -> Result<(), String> {
        metrics::counter!(observability::metrics::TRACKING_DEAD_LETTERED, "consumer" => IN_PROCESS_TOPIC)
            .increment(1);
        let letter = DeadLetter {
            subscription: &self.subscription,
            event_id: message.event_id,
            key: &message.key,
            payload: &message.payload,
            properties: &message.properties,
            reason,
        };
        self.store.record_dead_letter(&letter).await.map_err(|error| {
            let error = format!("recording a dead letter: {error}");
            self.report_error(&error);
            error
        })
    }
}
