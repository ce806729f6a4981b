//! SIP over TLS, server side: netamp's own accept loop in front of rsipstack's TLS
//! connections. rsipstack's listener leaves Nagle's algorithm on, and a 100 Trying
//! followed at once by the 200 (or a TLS 1.3 session ticket followed by the first
//! response) then waits for the caller's delayed ACK, 40 ms on Linux; here every
//! accepted socket has `TCP_NODELAY`, each handshake takes the certificate in use at
//! that moment (a replaced one without a restart), and a handshake that does not finish
//! within [`HANDSHAKE`] is dropped.

use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::time::Duration;

use rsipstack::transport::tls::TlsConnection;
use rsipstack::transport::{SipAddr, SipConnection, TransportLayer};
use tokio_util::sync::CancellationToken;

use super::ServerConfigSource;

/// Longest a TLS handshake may take.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// Another handle on the same transport layer (rsipstack's handle is not `Clone`; its
/// fields are public). Dropping a `TransportLayer` cancels the whole layer, so this one
/// is never dropped: it holds one reference to the layer for the process's life.
pub(super) fn handle(t: &TransportLayer) -> Arc<ManuallyDrop<TransportLayer>> {
    Arc::new(ManuallyDrop::new(TransportLayer {
        outbound: t.outbound.clone(),
        inner: t.inner.clone(),
    }))
}

/// Accepts TLS connections on `listener` until `cancel`, handing each to `transport`.
pub(super) async fn serve(
    listener: tokio::net::TcpListener,
    config: ServerConfigSource,
    transport: Arc<ManuallyDrop<TransportLayer>>,
    cancel: CancellationToken,
) {
    let Ok(local) = listener.local_addr() else {
        return;
    };
    let local = SipAddr {
        r#type: Some(rsipstack::sip::Transport::Tls),
        addr: local.into(),
    };
    loop {
        let (stream, remote) = tokio::select! {
            _ = cancel.cancelled() => return,
            r = listener.accept() => match r {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: try again after a breath.
                    tracing::warn!("SIP over TLS: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let acceptor = tokio_rustls::TlsAcceptor::from(config());
        let (transport, local, cancel) = (transport.clone(), local.clone(), cancel.clone());
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE, acceptor.accept(stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!("SIP over TLS: handshake with {remote}: {e}");
                    return;
                }
                Err(_) => return,
            };
            let remote = SipAddr {
                r#type: Some(rsipstack::sip::Transport::Tls),
                addr: remote.into(),
            };
            match TlsConnection::from_server_stream(tls, local, remote, Some(cancel.child_token()))
                .await
            {
                Ok(c) => transport.add_connection(SipConnection::Tls(c)),
                Err(e) => tracing::debug!("SIP over TLS: {e}"),
            }
        });
    }
}
