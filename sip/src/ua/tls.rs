//! SIP over TLS. Server side: netamp's own accept loop in front of rsipstack's TLS
//! connections. rsipstack's listener leaves Nagle's algorithm on, and a 100 Trying
//! followed at once by the 200 (or a TLS 1.3 session ticket followed by the first
//! response) then waits for the caller's delayed ACK, 40 ms on Linux; here every
//! accepted socket has `TCP_NODELAY`, each handshake takes the certificate in use at
//! that moment (a replaced one without a restart), and a handshake that does not finish
//! within [`HANDSHAKE`] is dropped.
//!
//! Client side ([`dial`]): rsipstack dials TLS itself with one trust store for the whole
//! stack and no way to skip verification, so netamp dials first, with the configuration
//! the daemon gives for this connection (the system's and the certificate store's CAs,
//! or none checked when an operator switched verification off), and hands the connection
//! to the stack, which then sends through it.

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

/// Opens a TLS connection to `host:port` with `config` and gives it to `transport`, so
/// the stack's next request to that address goes through it. The name checked against
/// the certificate is `host` (an IP address or a DNS name).
pub(super) async fn dial(
    transport: &TransportLayer,
    host: &str,
    port: u16,
    config: Arc<rustls::ClientConfig>,
    cancel: &CancellationToken,
) -> Result<(), crate::SipError> {
    use crate::SipError;
    let fail = |what: String| SipError::Transport(format!("TLS to {host}:{port}: {what}"));
    let addr = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => std::net::SocketAddr::new(ip, port),
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| fail(e.to_string()))?
            .next()
            .ok_or_else(|| fail("no address".into()))?,
    };
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| fail(e.to_string()))?;
    let open = async {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| fail(e.to_string()))
    };
    let tls = tokio::time::timeout(HANDSHAKE, open)
        .await
        .map_err(|_| fail("no handshake within 10 s".into()))??;
    let remote = SipAddr {
        r#type: Some(rsipstack::sip::Transport::Tls),
        addr: addr.into(),
    };
    let connection = TlsConnection::from_client_stream(tls, remote, Some(cancel.child_token()))
        .await
        .map_err(|e| fail(e.to_string()))?;
    transport.add_connection(SipConnection::Tls(connection));
    Ok(())
}

impl super::Inner {
    /// Dials TLS to `host:port` for a call or a registration, with the daemon's client
    /// configuration, verifying the server as `verify` says (`None`: as configured);
    /// without a client configuration the stack dials.
    pub(super) async fn dial_tls(
        &self,
        host: &str,
        port: u16,
        verify: Option<bool>,
    ) -> Result<(), crate::SipError> {
        let Some(client) = &self.config.tls_client else {
            return Ok(());
        };
        let verify = verify.unwrap_or(self.config.verify_server);
        let config = (client.0)(verify).map_err(crate::SipError::Transport)?;
        dial(
            &self.endpoint.transport_layer,
            host,
            port,
            config,
            &self.cancel,
        )
        .await
    }
}

/// Where a URI is reached over TLS (`sips:`, or `;transport=tls`): host and port (5061
/// by default); `None` for other transports.
pub(super) fn tls_target(uri: &rsipstack::sip::Uri) -> Option<(String, u16)> {
    let tls = uri.scheme == Some(rsipstack::sip::Scheme::Sips)
        || uri.params.iter().any(|p| {
            matches!(
                p,
                rsipstack::sip::Param::Transport(rsipstack::sip::Transport::Tls)
            )
        });
    tls.then(|| {
        (
            uri.host_with_port.host.to_string(),
            uri.host_with_port.port.as_ref().map_or(5061, |p| p.value()),
        )
    })
}
