//! The publishing side of the relay, behind two small traits so the relay does not know which
//! broker it feeds: [`crate::pulsar_transport::PulsarTransport`], or
//! [`crate::in_process::InProcessTransport`] when there is no broker.
//!
//! A [`Transport`] makes [`Publisher`]s (a connection and what publishing needs over it). A
//! publisher takes messages one at a time and answers each with a [`Receipt`], a future that
//! resolves once the broker has durably stored the message. `send` returns as soon as the
//! message is queued, so many messages are in flight at once; the relay awaits the receipts
//! in order, and only a receipt lets its checkpoint move.

use async_trait::async_trait;
use futures::future::BoxFuture;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::message::OutgoingMessage;

/// Makes publishers. Called again after every failure, so a publisher never has to recover
/// by itself: a broken one is closed and replaced.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    type Publisher: Publisher;

    /// Connects and prepares to publish; fails if the broker cannot be reached now.
    async fn connect(&self) -> Result<Self::Publisher, PublishError>;
}

/// Publishes messages, keeping the order of the messages of one stream and key.
#[async_trait]
pub trait Publisher: Send + 'static {
    /// Queues `message` for sending (waiting if the transport's queue is full) and returns
    /// the receipt to await.
    async fn send(&mut self, message: OutgoingMessage) -> Result<Receipt, PublishError>;

    /// Releases the connection; messages still in flight may or may not be stored.
    async fn close(&mut self);
}

/// Resolves once the transport has durably stored a message, or failed to.
pub struct Receipt(BoxFuture<'static, Result<(), PublishError>>);

impl Receipt {
    pub fn new(future: impl Future<Output = Result<(), PublishError>> + Send + 'static) -> Self {
        Self(Box::pin(future))
    }
}

impl Future for Receipt {
    type Output = Result<(), PublishError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

/// A failure to publish. The relay treats every one alike (close, back off, reconnect,
/// resend from its checkpoint), so a message is enough.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    #[error("cannot connect to the broker: {0}")]
    Connect(String),
    #[error("cannot send: {0}")]
    Send(String),
    #[error("no receipt: {0}")]
    Receipt(String),
}
