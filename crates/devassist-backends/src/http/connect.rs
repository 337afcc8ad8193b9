//! Opening a connection to an upstream along its route: TCP (hyper-util's `HttpConnector`),
//! a proxy's CONNECT tunnel (hyper-util's `Tunnel`) when there is one, TLS (hyper-rustls)
//! for `https`, the whole under the connect timeout.
//!
//! The only code of ours here is the glue: choosing the route's connector, marking
//! connections to a forward proxy so that hyper writes absolute-form requests on them, and
//! the one deadline over name resolution, TCP, the tunnel and the TLS handshake.

use super::proxy::Route;
use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::rustls::ClientConfig;
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Connecting<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

/// TCP keep-alive: an upstream host that dies without a word (power, network) is noticed
/// within about a minute instead of at the request timeout.
const TCP_KEEPALIVE: Duration = Duration::from_secs(15);

/// The connector an upstream's client uses.
#[derive(Clone)]
pub(super) struct Connector {
    inner: HttpsConnector<Tcp>,
    timeout: Duration,
}

/// Connecting took longer than the connect timeout.
#[derive(Debug)]
pub(super) struct ConnectTimeout;

impl std::fmt::Display for ConnectTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connect timed out")
    }
}

impl std::error::Error for ConnectTimeout {}

/// The proxy could not be reached, or refused the tunnel.
#[derive(Debug)]
pub(super) struct ProxyFailed {
    proxy: Arc<str>,
    source: BoxError,
}

impl std::fmt::Display for ProxyFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "through proxy {}", self.proxy)
    }
}

impl std::error::Error for ProxyFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

fn via_proxy(proxy: &Arc<str>) -> impl FnOnce(BoxError) -> BoxError + use<> {
    let proxy = proxy.clone();
    move |source| Box::new(ProxyFailed { proxy, source })
}

impl Connector {
    pub fn new(route: &Route, tls: Arc<ClientConfig>, timeout: Duration) -> Connector {
        let mut http = HttpConnector::new();
        // `https` destinations reach it too: TLS is layered on top by `HttpsConnector`.
        http.enforce_http(false);
        // Stream frames are small: without this, Nagle holds each until the previous is ACKed.
        http.set_nodelay(true);
        http.set_keepalive(Some(TCP_KEEPALIVE));
        http.set_keepalive_interval(Some(TCP_KEEPALIVE));
        // Per address, an equal share: one unreachable address (an AAAA record where IPv6
        // is dropped) does not use up the whole timeout. The whole is bounded below.
        http.set_connect_timeout(Some(timeout));
        let tcp = match route {
            Route::Direct => Tcp::Direct(http),
            Route::Forward(via) => Tcp::Forward {
                http,
                proxy: via.uri.clone(),
                shown: via.shown.as_str().into(),
            },
            Route::Tunnel(via) => {
                let tunnel = Tunnel::new(via.uri.clone(), http);
                let tunnel = match &via.auth {
                    Some(auth) => tunnel.with_auth(auth.clone()),
                    None => tunnel,
                };
                Tcp::Tunnel {
                    tunnel,
                    shown: via.shown.as_str().into(),
                }
            }
        };
        Connector {
            inner: HttpsConnector::from((tcp, tls)),
            timeout,
        }
    }
}

impl Service<Uri> for Connector {
    type Response = MaybeHttpsStream<Stream>;
    type Error = BoxError;
    type Future = Connecting<Self::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let connecting = self.inner.call(dst);
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(result) => result,
                Err(_) => Err(Box::new(ConnectTimeout) as BoxError),
            }
        })
    }
}

/// The TCP part of a route: to the upstream, to a forward proxy, or through a tunnel.
#[derive(Clone)]
enum Tcp {
    Direct(HttpConnector),
    Forward {
        http: HttpConnector,
        proxy: Uri,
        /// The proxy's `host:port`, for messages.
        shown: Arc<str>,
    },
    Tunnel {
        tunnel: Tunnel<HttpConnector>,
        shown: Arc<str>,
    },
}

impl Service<Uri> for Tcp {
    type Response = Stream;
    type Error = BoxError;
    type Future = Connecting<Stream>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self {
            Tcp::Direct(http) | Tcp::Forward { http, .. } => {
                http.poll_ready(cx).map_err(Into::into)
            }
            Tcp::Tunnel { tunnel, .. } => tunnel.poll_ready(cx).map_err(Into::into),
        }
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        match self {
            Tcp::Direct(http) => {
                let connecting = http.call(dst);
                Box::pin(async move { Ok(Stream::new(connecting.await?, false)) })
            }
            Tcp::Forward { http, proxy, shown } => {
                let connecting = http.call(proxy.clone());
                let failed = via_proxy(shown);
                Box::pin(async move {
                    let io = connecting.await.map_err(|e| failed(e.into()))?;
                    Ok(Stream::new(io, true))
                })
            }
            Tcp::Tunnel { tunnel, shown } => {
                let connecting = tunnel.call(dst);
                let failed = via_proxy(shown);
                Box::pin(async move {
                    let io = connecting.await.map_err(|e| failed(e.into()))?;
                    Ok(Stream::new(io, false))
                })
            }
        }
    }
}

/// A TCP connection, and whether it goes to a forward proxy (then hyper writes requests in
/// absolute form).
pub(super) struct Stream {
    io: TokioIo<TcpStream>,
    proxied: bool,
}

impl Stream {
    fn new(io: TokioIo<TcpStream>, proxied: bool) -> Stream {
        Stream { io, proxied }
    }
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.proxied)
    }
}

impl Read for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl Write for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
}
