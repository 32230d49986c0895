//! TLS for the HTTP API when partners reach it from their own machines (rustls). The node
//! serves its certificate and key from its data directory ([`CERT_FILE`], [`KEY_FILE`]);
//! `mutual tls init` makes a self-signed pair for the names partners use, and partners'
//! `mutual` trusts exactly that certificate (`--node-cert`, `MUTUAL_NODE_CERT`), so no
//! public certificate authority is needed. Handshakes run apart from the accept loop, so a
//! client that stalls one holds up no one else.

use anyhow::{bail, Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;

/// The API's certificate (PEM) in the data directory.
pub const CERT_FILE: &str = "api-cert.pem";
/// The API's private key (PEM, mode 0600) in the data directory.
pub const KEY_FILE: &str = "api-key.pem";
/// Longest a TLS handshake may take before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most handshakes under way at once; further connections wait in the kernel's queue.
pub const MAX_HANDSHAKES: usize = 64;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Makes a self-signed certificate for `names` (host names or IP addresses partners use
/// to reach the node, and always `localhost` and `127.0.0.1`) and its key in `dir`;
/// refuses to replace existing ones. Returns the certificate's PEM.
pub fn init(dir: &Path, names: &[String]) -> Result<String> {
    if names.is_empty() {
        bail!("give at least one --name: the host name or address partners reach the node at");
    }
    for f in [CERT_FILE, KEY_FILE] {
        if dir.join(f).exists() {
            bail!(
                "{} already exists; remove it first to make a new certificate",
                dir.join(f).display()
            );
        }
    }
    // The node's own machine reaches it as localhost (`--dir`), whatever else it is called.
    let mut names = names.to_vec();
    for local in ["localhost", "127.0.0.1"] {
        if !names.iter().any(|n| n == local) {
            names.push(local.to_string());
        }
    }
    let made = rcgen::generate_simple_self_signed(names)
        .context("cannot make a certificate for those names")?;
    crate::daemon::write_private(
        &dir.join(KEY_FILE),
        made.key_pair.serialize_pem().as_bytes(),
    )?;
    let pem = made.cert.pem();
    crate::daemon::write_private(&dir.join(CERT_FILE), pem.as_bytes())?;
    Ok(pem)
}

/// The server side, from the certificate and key in `dir`.
pub fn server_config(dir: &Path) -> Result<Arc<rustls::ServerConfig>> {
    let (cert, key) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .with_context(|| {
            format!(
                "cannot read {}; make one with `mutual tls init --dir {} --name <host>`",
                cert.display(),
                dir.display()
            )
        })?
        .collect::<Result<_, _>>()
        .with_context(|| format!("{} is not a PEM certificate", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(&key)
        .with_context(|| format!("cannot read the private key {}", key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the certificate and key do not go together")?;
    Ok(Arc::new(config))
}

/// The client side, trusting exactly the certificate(s) in the PEM file `cert`.
pub fn client_config(cert: &Path) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read the node's certificate {}", cert.display()))?;
    for c in certs {
        let c = c.with_context(|| format!("{} is not a PEM certificate", cert.display()))?;
        roots
            .add(c)
            .with_context(|| format!("{} cannot be trusted as given", cert.display()))?;
    }
    if roots.is_empty() {
        bail!("{} holds no certificate", cert.display());
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The server name to check a node's certificate against: its host name or address.
pub fn server_name(host: &str) -> Result<ServerName<'static>> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_string())
        .map_err(|_| anyhow::anyhow!("{host:?} is not a host name or address"))
}

/// A TCP listener whose connections are TLS-accepted before axum sees them.
pub struct TlsListener {
    incoming: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Accepts on `tcp` and runs each handshake in its own task (at most
    /// [`MAX_HANDSHAKES`] at once, each within [`HANDSHAKE_TIMEOUT`]).
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> Result<Self> {
        let local = tcp.local_addr()?;
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let (tx, incoming) = tokio::sync::mpsc::channel(MAX_HANDSHAKES);
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
        tokio::spawn(async move {
            loop {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (stream, peer) = match tcp.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::debug!(error = %e, "accepting an API connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    return;
                }
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let _permit = permit;
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "a TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(%peer, "a TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { incoming, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.incoming.recv().await {
            Some(x) => x,
            // The accepting task ended (it never does while the listener lives).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
