//! One connection to an upstream: its socket (plain TCP or TLS) and its read buffer, how
//! it is opened, and how a response head is read off it.

use super::Error;
use bytes::{Buf, BytesMut};
use futures::FutureExt;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use socket2::{SockRef, TcpKeepalive};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, pki_types::ServerName};

/// What one read asks the socket for. SSE and NDJSON frames are a few hundred bytes; a
/// larger body just takes more reads.
const READ_SIZE: usize = 4096;
/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Most header fields accepted in a response head.
const MAX_HEADERS: usize = 100;

pub(super) trait Socket: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Socket for T {}

/// Where to connect: host and port, and TLS for `https`.
pub(super) struct Target {
    pub host: String,
    pub port: u16,
    pub tls: Option<Tls>,
}

pub(super) struct Tls {
    pub config: Arc<ClientConfig>,
    pub name: ServerName<'static>,
}

pub(super) struct Conn {
    io: Box<dyn Socket>,
    /// Bytes read and not consumed yet. Emptied (capacity freed) while the connection idles.
    pub buf: BytesMut,
}

/// A response head.
pub(super) struct Head {
    pub status: StatusCode,
    /// `1` for HTTP/1.1, `0` for HTTP/1.0.
    pub minor_version: u8,
    pub headers: HeaderMap,
}

impl Conn {
    /// Opens a TCP connection (and the TLS session for `https`) within `timeout`: the name
    /// is resolved, then each address is tried in turn with an equal share of the time
    /// left, so that one unreachable address (an AAAA record where IPv6 is dropped) does
    /// not use up the whole timeout.
    pub async fn open(target: &Target, timeout: Duration) -> Result<Conn, Error> {
        let deadline = Instant::now() + timeout;
        let addrs: Vec<SocketAddr> = tokio::time::timeout_at(
            deadline,
            tokio::net::lookup_host((target.host.as_str(), target.port)),
        )
        .await
        .map_err(|_| Error::ConnectTimeout)?
        .map_err(Error::Connect)?
        .collect();
        let mut last = None;
        let mut tcp = None;
        for (i, addr) in addrs.iter().enumerate() {
            let left = deadline.saturating_duration_since(Instant::now());
            let share = left / u32::try_from(addrs.len() - i).unwrap_or(u32::MAX);
            match tokio::time::timeout(share, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    tcp = Some(stream);
                    break;
                }
                Ok(Err(err)) => last = Some(Error::Connect(err)),
                Err(_) => last = Some(Error::ConnectTimeout),
            }
        }
        let Some(tcp) = tcp else {
            return Err(last.unwrap_or_else(|| {
                Error::Connect(io::Error::new(
                    io::ErrorKind::NotFound,
                    "the name resolved to no address",
                ))
            }));
        };
        // Stream frames are small: without this, Nagle holds each until the previous is ACKed.
        tcp.set_nodelay(true).map_err(Error::Connect)?;
        // An upstream host that dies without a word (power, network) is noticed within
        // about a minute instead of at the request timeout.
        let keepalive = TcpKeepalive::new()
            .with_time(Duration::from_secs(15))
            .with_interval(Duration::from_secs(15));
        SockRef::from(&tcp)
            .set_tcp_keepalive(&keepalive)
            .map_err(Error::Connect)?;
        let io: Box<dyn Socket> = match &target.tls {
            None => Box::new(tcp),
            Some(tls) => {
                let handshake =
                    TlsConnector::from(tls.config.clone()).connect(tls.name.clone(), tcp);
                Box::new(
                    tokio::time::timeout_at(deadline, handshake)
                        .await
                        .map_err(|_| Error::ConnectTimeout)?
                        .map_err(Error::Connect)?,
                )
            }
        };
        Ok(Conn {
            io,
            buf: BytesMut::new(),
        })
    }

    /// Writes a request: head and body in one vectored write where the socket allows, so
    /// the body (a prompt can be large) is not copied behind the head first.
    pub async fn write(&mut self, head: &[u8], body: &[u8]) -> io::Result<()> {
        self.io.write_all_buf(&mut Buf::chain(head, body)).await?;
        self.io.flush().await
    }

    /// Reads once into the buffer; `Ok(0)` is the end of the connection.
    pub async fn fill(&mut self) -> io::Result<usize> {
        if self.buf.capacity() - self.buf.len() < READ_SIZE / 4 {
            // Reuses the buffer's own memory when every piece split off it has been dropped.
            self.buf.reserve(READ_SIZE);
        }
        self.io.read_buf(&mut self.buf).await
    }

    /// Like `fill`, but without waiting: `None` when nothing is there yet.
    pub fn fill_now(&mut self) -> Option<io::Result<usize>> {
        self.fill().now_or_never()
    }

    /// Whether an idle connection can take a request: the server has neither closed it nor
    /// sent anything unasked.
    pub fn is_idle_and_open(&mut self) -> bool {
        let mut probe = [0u8; 1];
        self.buf.is_empty() && self.io.read(&mut probe).now_or_never().is_none()
    }

    /// Reads the response head, skipping interim (1xx) responses. `Error::Closed` when the
    /// server closed (or reset) the connection before sending a byte of it.
    pub async fn read_head(&mut self) -> Result<Head, Error> {
        let mut received = false;
        loop {
            if let Some(head) = self.parse_head()? {
                if head.status.is_informational() {
                    if head.status == StatusCode::SWITCHING_PROTOCOLS {
                        return Err(Error::Malformed(
                            "an unrequested protocol switch (101)".into(),
                        ));
                    }
                    continue;
                }
                return Ok(head);
            }
            match self.fill().await {
                Ok(0) if received || !self.buf.is_empty() => {
                    return Err(Error::Malformed(
                        "the connection closed inside the response head".into(),
                    ));
                }
                Ok(0) => return Err(Error::Closed(None)),
                Ok(_) => received = true,
                Err(err) if !received && is_reset(&err) => return Err(Error::Closed(Some(err))),
                Err(err) => return Err(Error::Read(err)),
            }
        }
    }

    fn parse_head(&mut self) -> Result<Option<Head>, Error> {
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut fields);
        let len = match response.parse(&self.buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if self.buf.len() > MAX_HEAD => {
                return Err(Error::Malformed("a response head over 64 KiB".into()));
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(err) => return Err(Error::Malformed(format!("invalid response head: {err}"))),
        };
        let status = response
            .code
            .and_then(|code| StatusCode::from_u16(code).ok())
            .ok_or_else(|| Error::Malformed("an invalid status code".into()))?;
        let mut headers = HeaderMap::with_capacity(response.headers.len());
        for field in response.headers.iter() {
            let name = HeaderName::from_bytes(field.name.as_bytes());
            let value = HeaderValue::from_bytes(field.value);
            match (name, value) {
                (Ok(name), Ok(value)) => {
                    headers.append(name, value);
                }
                _ => return Err(Error::Malformed("an invalid header field".into())),
            }
        }
        let head = Head {
            status,
            minor_version: response.version.unwrap_or(1),
            headers,
        };
        self.buf.advance(len);
        Ok(Some(head))
    }
}

/// The peer went away: a pooled connection the server had already closed looks like this.
pub(super) fn is_reset(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}

/// The TLS settings for `https` upstreams, built on first use: the system's trusted roots
/// plus Mozilla's (as a container without a CA bundle still needs to reach public hosts),
/// HTTP/1.1 announced by ALPN.
pub(super) fn tls_config() -> Result<Arc<ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let native = rustls_native_certs::load_native_certs();
            let (added, _ignored) = roots.add_parsable_certificates(native.certs);
            tracing::debug!(
                system_roots = added,
                "Loaded trusted roots for https upstreams"
            );
            tls_config_with(roots)
        })
        .clone()
}

pub(super) fn tls_config_with(roots: RootCertStore) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
