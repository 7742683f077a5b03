//! A small in-memory Apache Pulsar broker speaking the binary protocol, for tests only.
//!
//! It lets the relay and the tracking service be tested against the real `pulsar` client (and
//! the official C++-based clients) without a Pulsar cluster, and injects the faults their
//! reliability depends on. Framing and protocol types are the `pulsar` crate's own
//! ([`pulsar::message::Codec`], [`pulsar::message::proto`]).
//!
//! ```no_run
//! # async fn example() {
//! let broker = pulsar_test_broker::TestBroker::start().await;
//! let client = pulsar::Pulsar::builder(broker.url(), pulsar::TokioExecutor).build().await.unwrap();
//! // ... produce, consume, then:
//! broker.drop_connections();
//! let stored = broker.messages("my-topic");
//! # }
//! ```
//!
//! # Implemented
//! - CONNECT/CONNECTED, PING/PONG. Any authentication is accepted, unless the broker was
//!   started with [`TestBroker::start_requiring_token`]: then a CONNECT without the `token`
//!   method and that token gets an AuthenticationError and the connection is closed, as a
//!   Pulsar broker with token authentication does.
//! - PARTITIONED_METADATA (every topic is non-partitioned), LOOKUP (answers with this broker's
//!   own URL), GET_TOPICS_OF_NAMESPACE.
//! - PRODUCER (a name is generated when none is given; ProducerBusy for a name already connected
//!   and for exclusive access conflicts; ExclusiveWithFencing closes the other producers; an
//!   initial subscription is created as asked, as dead-letter producers do), SEND/SEND_RECEIPT (a
//!   batch is stored as one entry), CLOSE_PRODUCER.
//! - SUBSCRIBE with Exclusive, Shared, Failover and Key_Shared subscriptions, Earliest/Latest
//!   initial position, readers' non-durable subscriptions from a start message id; FLOW
//!   permits; MESSAGE with `redelivery_count`; ACK individual and cumulative (per batch message
//!   by `batch_index` or `ack_set`); REDELIVER_UNACKNOWLEDGED_MESSAGES; UNSUBSCRIBE;
//!   CLOSE_CONSUMER; GET_LAST_MESSAGE_ID; SEEK (by message id or publish time).
//! - Durable subscriptions keep their cursor across consumer reconnects; messages a consumer
//!   leaves unacknowledged are redelivered with their redelivery count incremented.
//! - GET_SCHEMA / GET_OR_CREATE_SCHEMA and schemas in PRODUCER/SUBSCRIBE: accepted and echoed,
//!   one schema version, never validated.
//! - Fault hooks on [`TestBroker`]: drop every connection, go down for a while (refusing
//!   connections, keeping the data), close producers or consumers from the broker side, delay or
//!   drop send receipts, redeliver everything (duplicates), read back what a topic stores.
//!
//! # Behaviour worth knowing
//! - Short topic names are Pulsar's: "my-topic" is "persistent://public/default/my-topic".
//!   Non-persistent topics behave like persistent ones.
//! - No deduplication: a message resent after a lost receipt is stored twice, as on a Pulsar
//!   broker without deduplication ([`TestBroker::messages`] shows it).
//! - Failover: the first consumer connected is the active one until it leaves. Key_Shared: keys
//!   (ordering key, else partition key) are hashed over the connected consumers.
//! - A redelivered batch is redelivered whole, with an `ack_set` for the C++/Java clients to
//!   skip its acknowledged messages; the Rust client ignores it and gets them again.
//! - SEEK resets the cursor to the given message (the C++ client then skips that message unless
//!   told to include it) and closes the subscription's consumers, which subscribe again, as
//!   Pulsar does.
//!
//! # Not implemented
//! Authentication methods other than `token` (and token expiry, roles, AUTH_CHALLENGE),
//! authorization, TLS, partitioned topics, transactions, deduplication,
//! retention, TTL and backlog quotas (topics live in memory for the broker's lifetime, nothing
//! is ever deleted but unsubscribed subscriptions), compaction, delayed delivery
//! (`deliver_at_time` is ignored), chunking, encryption (payloads are stored as sent),
//! WaitForExclusive producers (refused like Exclusive ones), priority levels, Key_Shared sticky
//! ranges and the ordering guarantees of Key_Shared across consumer changes (keys are hashed over
//! the current consumers), consumer epochs, consumer stats, replication, geo and topic policies,
//! and checksum-less payload frames. Commands with a request id that are not implemented get an
//! error answer; others are logged and ignored.
//!
//! # Layout
//! - `server`: the listener (which fault injection can take down) and the connection loop;
//!   `codec`: framing, with limits on what it accepts.
//! - `broker`: the state behind one mutex and the routing of commands; its `lookup`,
//!   `producers` and `consumers` modules handle them.
//! - `topic`: the topic log and its public views; `subscription`: cursors and dispatch per
//!   subscription type; `faults`: fault injection.

mod broker;
mod codec;
mod faults;
mod server;
mod subscription;
mod topic;

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use topic::{full_topic_name, MessageId, StoredEntry, StoredMessage};

use crate::broker::{lock, Broker};

/// A running broker, serving until it is dropped (then every connection is closed).
pub struct TestBroker {
    inner: Arc<Inner>,
}

struct Inner {
    addr: SocketAddr,
    broker: Arc<Mutex<Broker>>,
    /// Whether the listener should accept connections (see [`server::listen`]).
    up: watch::Sender<bool>,
    /// Whether it does.
    listening: watch::Receiver<bool>,
}

impl TestBroker {
    /// Starts a broker on a free port of 127.0.0.1, in the current tokio runtime.
    ///
    /// # Panics
    /// If no port can be bound: there is no test to run then.
    pub async fn start() -> TestBroker {
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        match Self::bind(any_port).await {
            Ok(broker) => broker,
            Err(e) => panic!("cannot start the test broker on {any_port}: {e}"),
        }
    }

    /// Starts a broker, as [`TestBroker::start`] does, that requires token authentication:
    /// clients must connect with the `token` method and this token
    /// (`pulsar::Authentication { name: "token", data: token }`), or their CONNECT is refused
    /// with an AuthenticationError.
    pub async fn start_requiring_token(token: &str) -> TestBroker {
        let broker = Self::start().await;
        // No client can have connected yet: the URL was not known before this returns.
        broker.lock().required_token = Some(token.as_bytes().to_vec());
        broker
    }

    /// Starts a broker listening on `addr` (port 0 for any free port), in the current tokio
    /// runtime.
    pub async fn bind(addr: SocketAddr) -> io::Result<TestBroker> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let broker = Arc::new(Mutex::new(Broker::new(format!("pulsar://{addr}"))));
        let (up, up_receiver) = watch::channel(true);
        let (listening_sender, listening) = watch::channel(true);
        tokio::spawn(server::listen(
            addr,
            listener,
            broker.clone(),
            up_receiver,
            listening_sender,
        ));
        tracing::info!("test broker listening on pulsar://{addr}");
        Ok(TestBroker {
            inner: Arc::new(Inner {
                addr,
                broker,
                up,
                listening,
            }),
        })
    }

    /// The service URL to give clients: `pulsar://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("pulsar://{}", self.inner.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// Full names of the topics that exist (created by a producer or a subscription).
    pub fn topics(&self) -> Vec<String> {
        self.lock().topics.names()
    }

    /// Every message stored on a topic, in order, batches split into their messages. Short topic
    /// names are accepted ("my-topic" is "persistent://public/default/my-topic").
    pub fn messages(&self, topic: &str) -> Vec<StoredMessage> {
        self.lock()
            .topics
            .get(&full_topic_name(topic))
            .map(|t| t.messages())
            .unwrap_or_default()
    }

    /// Every entry stored on a topic, in order, as sent: one per message or per batch.
    pub fn entries(&self, topic: &str) -> Vec<StoredEntry> {
        self.lock()
            .topics
            .get(&full_topic_name(topic))
            .map(|t| t.entries())
            .unwrap_or_default()
    }

    /// Waits until a topic stores at least `count` messages, for at most `timeout`, and returns
    /// them (fewer if the time ran out).
    pub async fn wait_for_messages(
        &self,
        topic: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<StoredMessage> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let messages = self.messages(topic);
            if messages.len() >= count || tokio::time::Instant::now() >= deadline {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// How many entries of a topic a subscription has not acknowledged yet; `None` if there is no
    /// such subscription.
    pub fn backlog(&self, topic: &str, subscription: &str) -> Option<u64> {
        let broker = self.lock();
        let topic = broker.topics.get(&full_topic_name(topic))?;
        Some(topic.subscriptions.get(subscription)?.backlog(&topic.log))
    }

    /// Names of the producers connected to a topic (e.g. to wait for a client to reconnect).
    pub fn producers(&self, topic: &str) -> Vec<String> {
        let broker = self.lock();
        let producers = broker
            .topics
            .get(&full_topic_name(topic))
            .map(|t| t.producers.values());
        producers.into_iter().flatten().map(|p| p.name.clone()).collect()
    }

    /// How many consumers are connected to a subscription (0 if there is no such subscription).
    pub fn consumers(&self, topic: &str, subscription: &str) -> usize {
        let broker = self.lock();
        let topic = broker.topics.get(&full_topic_name(topic));
        topic
            .and_then(|t| t.subscriptions.get(subscription))
            .map_or(0, |s| s.consumers.len())
    }

    /// Fault: closes every client connection now (clients reconnect). Returns how many.
    pub fn drop_connections(&self) -> usize {
        self.lock().drop_connections()
    }

    /// Fault: takes the broker down (every connection closed, new ones refused) or brings it
    /// back up on the same address; topics and subscriptions are kept. Returns once the listener
    /// is in the new state.
    pub async fn set_down(&self, down: bool) {
        self.inner.set_down(down).await;
    }

    /// Fault: takes the broker down now and brings it back up after `duration`, in the
    /// background.
    pub async fn go_down(&self, duration: Duration) {
        self.inner.set_down(true).await;
        let inner = self.inner.clone();
        tokio::spawn(async move {
            tokio::time::sleep(duration).await;
            inner.set_down(false).await;
        });
    }

    /// Fault: closes the topic's producers from the broker side (CLOSE_PRODUCER), as a topic
    /// unload does; clients re-create them. Returns how many.
    pub fn close_producers(&self, topic: &str) -> usize {
        self.lock().close_producers(topic)
    }

    /// Fault: closes the topic's consumers from the broker side (CLOSE_CONSUMER), as a topic
    /// unload does; clients subscribe again and get their unacknowledged messages again.
    /// Returns how many.
    pub fn close_consumers(&self, topic: &str) -> usize {
        self.lock().close_consumers(topic)
    }

    /// Fault: sends send receipts this long after storing the message (`None`: right away).
    pub fn set_receipt_delay(&self, delay: Option<Duration>) {
        self.lock().faults.receipt_delay = delay;
    }

    /// Fault: stores the next `count` messages but sends no receipt for them, as when a
    /// connection fails between the two.
    pub fn drop_receipts(&self, count: usize) {
        self.lock().faults.receipts_to_drop = count;
    }

    /// Fault: dispatches again every message the subscription already dispatched, acknowledged
    /// or not, with its redelivery count incremented: duplicates, as after lost
    /// acknowledgements. Returns how many entries, `None` without such a subscription.
    pub fn redeliver_all(&self, topic: &str, subscription: &str) -> Option<usize> {
        self.lock().redeliver_all(topic, subscription)
    }

    /// Publishes `payload` on `topic` through a client of the `pulsar` crate, as any
    /// producer would (for tests that need a message no code of theirs would send: an
    /// unreadable one); returns once the broker has confirmed it. The client brings the
    /// token the broker requires, if any.
    pub async fn publish(&self, topic: &str, payload: &[u8]) {
        let builder = pulsar::Pulsar::builder(self.url(), pulsar::TokioExecutor);
        let required_token = self.lock().required_token.clone();
        let builder = match required_token {
            Some(token) => builder.with_auth(pulsar::Authentication {
                name: "token".to_owned(),
                data: token,
            }),
            None => builder,
        };
        let client = builder.build().await.expect("a client of the test broker");
        let mut producer = client
            .producer()
            .with_topic(topic)
            .build()
            .await
            .expect("a producer on the test broker");
        producer
            .send_non_blocking(payload.to_vec())
            .await
            .expect("sent")
            .await
            .expect("a receipt");
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Broker> {
        lock(&self.inner.broker)
    }
}

impl Inner {
    async fn set_down(&self, down: bool) {
        // Down: first stop listening, so that no client connects only to be closed (which the
        // Rust client does not retry), then close the connections. Up: the other way round.
        if down {
            self.switch_listener(false).await;
            let mut broker = lock(&self.broker);
            broker.down = true;
            broker.drop_connections();
        } else {
            lock(&self.broker).down = false;
            self.switch_listener(true).await;
        }
        tracing::info!(down, "fault: broker {}", if down { "down" } else { "up again" });
    }

    async fn switch_listener(&self, up: bool) {
        self.up.send_replace(up);
        let mut listening = self.listening.clone();
        // an error means the listener task ended (runtime shutting down): nothing to wait for
        let _ = listening.wait_for(|&listening| listening == up).await;
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        lock(&self.inner.broker).drop_connections();
    }
}
