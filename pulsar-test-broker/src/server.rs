//! The network side: the listener (which can be taken down and brought back up on the same
//! port) and one task per client connection.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use pulsar::error::ConnectionError;
use pulsar::message::proto::BaseCommand;
use pulsar::message::Message;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_util::codec::Framed;

use crate::broker::{authentication_refused, connected, lock, Broker, Outbound, Outbox};
use crate::codec::FrameCodec;

/// How long a new connection has to send its CONNECT.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts connections while `up` says so. Going down closes the listening socket, so that
/// clients get "connection refused" (which they retry) rather than a connection that closes
/// (which the Rust client does not retry); coming back up binds the same address again.
/// `listening` reports the actual state. Ends when the `up` sender is dropped.
pub(crate) async fn listen(
    addr: SocketAddr,
    listener: TcpListener,
    broker: Arc<Mutex<Broker>>,
    mut up: watch::Receiver<bool>,
    listening: watch::Sender<bool>,
) {
    let mut listener = Some(listener);
    loop {
        let want_up = *up.borrow_and_update();
        match (listener.as_ref(), want_up) {
            (Some(socket), true) => tokio::select! {
                accepted = socket.accept() => match accepted {
                    Ok((stream, peer)) => {
                        tokio::spawn(serve(stream, peer, broker.clone()));
                    }
                    Err(e) => {
                        // e.g. out of file descriptors: do not spin on it
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
                changed = up.changed() => if changed.is_err() {
                    return;
                },
            },
            (Some(_), false) => {
                listener = None;
                listening.send_replace(false);
            }
            (None, true) => match TcpListener::bind(addr).await {
                Ok(socket) => {
                    listener = Some(socket);
                    listening.send_replace(true);
                }
                Err(e) => {
                    tracing::warn!("cannot listen on {addr} again yet: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            (None, false) => {
                if up.changed().await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Serves one client connection: the CONNECT handshake, then commands in and frames out until
/// either side closes it.
async fn serve(stream: TcpStream, peer: SocketAddr, broker: Arc<Mutex<Broker>>) {
    let _ = stream.set_nodelay(true);
    let mut framed = Framed::new(stream, FrameCodec);
    let connect = match tokio::time::timeout(HANDSHAKE_TIMEOUT, framed.next()).await {
        Ok(Some(Ok(Message {
            command: BaseCommand {
                connect: Some(connect),
                ..
            },
            ..
        }))) => connect,
        Ok(Some(Err(e))) => return tracing::warn!(%peer, "closing a connection on a malformed frame: {e}"),
        Ok(Some(Ok(_))) => {
            return tracing::warn!(%peer, "closing a connection that did not start with CONNECT")
        }
        Ok(None) => return,
        Err(_) => return tracing::warn!(%peer, "closing a connection that sent no CONNECT"),
    };
    let authenticated = lock(&broker).authenticate(&connect);
    if let Err(reason) = authenticated {
        tracing::info!(%peer, "refusing a connection: {reason}");
        let refusal = Message {
            command: authentication_refused(reason),
            payload: None,
        };
        // Then the connection closes (dropping it), as Pulsar closes it after the error.
        let _ = framed.send(refusal).await;
        return;
    }
    let (sender, mut outbound) = mpsc::unbounded_channel();
    let outbox = Outbox(sender);
    let Some(conn) = lock(&broker).connect(outbox.clone()) else {
        return tracing::debug!(%peer, "refusing a connection: the broker is down");
    };
    tracing::debug!(%peer, conn, client = connect.client_version, "connected");
    outbox.send(connected(&connect));
    loop {
        tokio::select! {
            frame = framed.next() => match frame {
                Some(Ok(message)) => {
                    if let Err(reason) = lock(&broker).handle(conn, message) {
                        tracing::warn!(%peer, "closing the connection: {reason}");
                        break;
                    }
                }
                Some(Err(ConnectionError::Io(e))) => {
                    tracing::debug!(%peer, "read failed: {e}");
                    break;
                }
                Some(Err(e)) => {
                    tracing::warn!(%peer, "closing the connection on a malformed frame: {e}");
                    break;
                }
                None => break,
            },
            queued = outbound.recv() => match queued {
                Some(Outbound::Frame(message)) => {
                    if !write_queued(&mut framed, message, &mut outbound).await {
                        break;
                    }
                }
                Some(Outbound::Close) | None => break,
            },
        }
    }
    lock(&broker).disconnect(conn);
    tracing::debug!(%peer, conn, "disconnected");
}

/// Writes a frame and every other one already queued, then flushes once. Returns false when the
/// connection must end: the write failed or a close was queued.
async fn write_queued(
    framed: &mut Framed<TcpStream, FrameCodec>,
    first: Box<Message>,
    outbound: &mut mpsc::UnboundedReceiver<Outbound>,
) -> bool {
    let mut next = Some(Outbound::Frame(first));
    while let Some(queued) = next.take() {
        match queued {
            Outbound::Frame(message) => {
                if let Err(e) = framed.feed(*message).await {
                    tracing::debug!("write failed: {e}");
                    return false;
                }
            }
            Outbound::Close => {
                let _ = framed.flush().await;
                return false;
            }
        }
        next = outbound.try_recv().ok();
    }
    framed.flush().await.is_ok()
}
