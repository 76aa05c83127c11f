//! TLS for the coordinator's HTTP listener (metrics and the dashboard), with the rustls
//! (ring) that tonic's gRPC TLS uses too, so there is one TLS stack in the binary.
//!
//! Handshakes run beside the accept loop, each within [`HANDSHAKE_TIMEOUT`], so a peer
//! that connects and says nothing holds up no one else. A peer that speaks plain HTTP to
//! the TLS port is answered, in plain HTTP, that this port wants `https://`: a clean
//! refusal it can show, where a failed handshake would only be a reset connection.
//!
//! The configuration is kept in a [`TlsConfig`] whose certificate can be replaced while
//! serving: the next handshake uses the new one, open connections keep theirs.

use crate::server::ServerTls;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};
use tokio_rustls::server::TlsStream;

/// How long a connection may take to complete its TLS handshake (as on the gRPC port).
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes in progress at most; past that, new connections wait to be accepted, so a
/// crowd of silent peers cannot make the listener hold unbounded sockets and tasks.
const MAX_HANDSHAKES: usize = 256;

/// The answer to plain HTTP on the TLS port.
const PLAIN_TEXT_REFUSAL: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Connection: close\r\n\
Content-Length: 74\r\n\
\r\n\
this port speaks HTTPS only: use an https:// URL and the coordinator's CA\n";

/// Why a certificate, key or authority could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {message}")]
pub(crate) struct TlsError {
    what: &'static str,
    message: String,
}

impl TlsError {
    fn new(what: &'static str, err: impl std::fmt::Display) -> TlsError {
        TlsError {
            what,
            message: err.to_string(),
        }
    }
}

fn certificates(pem: &[u8], what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| TlsError::new(what, err))?;
    if certs.is_empty() {
        return Err(TlsError::new(what, "no PEM certificate in it"));
    }
    Ok(certs)
}

/// A rustls server configuration of `tls`, offering the application protocols `alpn`.
fn server_config(tls: &ServerTls, alpn: &[Vec<u8>]) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = certificates(&tls.cert_pem, "the certificate")?;
    let key = PrivateKeyDer::from_pem_slice(&tls.key_pem)
        .map_err(|err| TlsError::new("the private key", err))?;
    // The process's provider, from the crate features (ring only), as tonic's TLS takes it.
    let builder = ServerConfig::builder();
    let builder = match &tls.client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates(ca, "the client authority")? {
                roots
                    .add(cert)
                    .map_err(|err| TlsError::new("the client authority", err))?;
            }
            let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .map_err(|err| TlsError::new("the client authority", err))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|err| TlsError::new("the certificate and its key", err))?;
    config.alpn_protocols = alpn.to_vec();
    Ok(Arc::new(config))
}

/// The TLS configuration new connections get, replaceable while serving.
#[derive(Clone)]
pub(crate) struct TlsConfig {
    current: Arc<RwLock<Arc<ServerConfig>>>,
    alpn: Vec<Vec<u8>>,
}

impl TlsConfig {
    /// The configuration of `tls` for HTTP/1.1 (what the metrics listener speaks).
    pub(crate) fn http1(tls: &ServerTls) -> Result<TlsConfig, TlsError> {
        let alpn = vec![b"http/1.1".to_vec()];
        Ok(TlsConfig {
            current: Arc::new(RwLock::new(server_config(tls, &alpn)?)),
            alpn,
        })
    }

    /// Replaces the certificate (and key and client authority) for the connections to
    /// come; on an error the one in use stays.
    #[allow(dead_code)] // Used by the reload of certificates, which comes next.
    pub(crate) fn reload(&self, tls: &ServerTls) -> Result<(), TlsError> {
        let config = server_config(tls, &self.alpn)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = config;
        Ok(())
    }

    fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(Arc::clone(
            &self.current.read().unwrap_or_else(|e| e.into_inner()),
        ))
    }
}

/// A listener whose connections have completed a TLS handshake: what `axum::serve` takes.
/// Dropping it stops accepting.
pub(crate) struct TlsListener {
    addr: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    accepting: JoinHandle<()>,
}

impl TlsListener {
    /// Accepts on `listener` and hands over connections that completed a handshake with
    /// `config`. Must run inside a Tokio runtime.
    pub(crate) fn new(listener: TcpListener, config: TlsConfig) -> std::io::Result<TlsListener> {
        let addr = listener.local_addr()?;
        let (ready_tx, ready) = mpsc::channel(16);
        let accepting = tokio::spawn(accept(listener, config, ready_tx));
        Ok(TlsListener {
            addr,
            ready,
            accepting,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accept loop only ends when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

async fn accept(
    listener: TcpListener,
    config: TlsConfig,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let Ok(permit) = Arc::clone(&handshakes).acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and the like: a busy loop would not help.
                tracing::warn!("metrics listener: accepting a connection failed: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Small request/response pairs (scrapes, the event stream): no Nagle delay.
        let _ = stream.set_nodelay(true);
        let acceptor = config.acceptor();
        let handed = ready.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(stream, acceptor)).await {
                Ok(Ok(tls)) => {
                    let _ = handed.send((tls, peer)).await;
                }
                Ok(Err(err)) => tracing::debug!(%peer, "metrics listener: {err}"),
                Err(_) => tracing::debug!(%peer, "metrics listener: no TLS handshake in time"),
            }
        });
        if ready.is_closed() {
            return;
        }
    }
}

/// The TLS handshake, or a plain-HTTP refusal for a peer that does not start one.
async fn handshake(
    mut stream: TcpStream,
    acceptor: TlsAcceptor,
) -> std::io::Result<TlsStream<TcpStream>> {
    let mut first = [0u8; 1];
    let n = stream.peek(&mut first).await?;
    // 22 is a TLS handshake record; a plain request starts with a method's letter.
    if n == 1 && first[0] != 22 {
        // Read the request before answering: closing a socket with unread data resets the
        // connection, and the peer would lose the answer.
        let mut request = Vec::with_capacity(1024);
        let mut buf = [0u8; 1024];
        while request.len() < 8192 && !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        stream.write_all(PLAIN_TEXT_REFUSAL).await?;
        stream.shutdown().await?;
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "plain text on the TLS port: answered 400",
        ));
    }
    acceptor.accept(stream).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_not_a_certificate_or_key_is_named() {
        let tls = ServerTls {
            cert_pem: b"not a certificate".to_vec(),
            key_pem: Vec::new(),
            client_ca_pem: None,
        };
        let err = TlsConfig::http1(&tls).err().unwrap().to_string();
        assert!(err.starts_with("the certificate:"), "{err}");
    }

    #[test]
    fn the_refusal_declares_its_length() {
        let (head, body) = std::str::from_utf8(PLAIN_TEXT_REFUSAL)
            .unwrap()
            .split_once("\r\n\r\n")
            .unwrap();
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{head}"
        );
    }
}
