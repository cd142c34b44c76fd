//! `mcpr serve --http`: the same server over streamable HTTP, for several clients at once.
//! Every request must carry the bearer token; a browser `Origin` is refused (a web page
//! must not drive a local code runner); binding anything but loopback takes an explicit
//! flag and still needs the token.

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tower_service::Service;

use super::{McprServer, Shared};

/// The TCP connection a request came on: a client that names no session gets one per
/// connection (the 2026 protocol has no MCP session to key it by).
#[derive(Debug, Clone)]
pub struct ConnectionSession(pub String);

/// Whether `header` (an `Authorization` value) carries `token`, compared in constant time.
fn authorized(header: Option<&http::HeaderValue>, token: &str) -> bool {
    let Some(given) = header
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
    else {
        return false;
    };
    let (a, b) = (given.trim().as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn refuse(
    status: http::StatusCode,
    message: &'static str,
) -> http::Response<http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>> {
    let mut response = http::Response::new(Full::new(Bytes::from(message)).boxed());
    *response.status_mut() = status;
    if status == http::StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Bearer"),
        );
    }
    response
}

/// Serves on `listener` until `stop` fires; every request needs `token`.
pub async fn serve_http(
    shared: Arc<Shared>,
    listener: tokio::net::TcpListener,
    token: String,
    stop: CancellationToken,
) -> Result<(), String> {
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // No allowed origins: a request from a browser page is refused.
    let mut config = StreamableHttpServerConfig::default().enforce_origin_validation();
    config.cancellation_token = stop.clone();
    if !addr.ip().is_loopback() {
        config.allowed_hosts.push(addr.ip().to_string());
        config.allowed_hosts.push(addr.to_string());
    }
    let factory = {
        let shared = shared.clone();
        move || Ok(McprServer::new(shared.clone()))
    };
    let service =
        StreamableHttpService::new(factory, Arc::new(LocalSessionManager::default()), config);
    let token = Arc::new(token);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(_) => continue,
            },
            () = stop.cancelled() => return Ok(()),
        };
        // Replies are small and come in pairs with their requests: no Nagle delay.
        let _ = stream.set_nodelay(true);
        let (service, token) = (service.clone(), token.clone());
        let connection = ConnectionSession(crate::project::new_session_name());
        tokio::spawn(async move {
            let handler = hyper::service::service_fn(
                move |mut request: http::Request<Incoming>| {
                    let mut service = service.clone();
                    let allowed =
                        authorized(request.headers().get(http::header::AUTHORIZATION), &token);
                    request.extensions_mut().insert(connection.clone());
                    async move {
                        if !allowed {
                            return Ok::<_, std::convert::Infallible>(refuse(
                                http::StatusCode::UNAUTHORIZED,
                                "a bearer token is required: send `Authorization: Bearer TOKEN` with the token `mcpr serve --http` named on start",
                            ));
                        }
                        service.call(request).await
                    }
                },
            );
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, handler)
                .await;
        });
    }
}

/// The token: from `file`, else `MCPR_SERVE_TOKEN`, else a new random one written to a
/// file only the user can read. Returns the token and where it is, to be said on stderr.
pub fn token(file: Option<&std::path::Path>) -> Result<(String, String), String> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read --token-file {}: {e}", path.display()))?;
        let token = text.trim().to_string();
        if token.len() < 16 {
            return Err(format!(
                "the token in {} is too short: use at least 16 characters",
                path.display()
            ));
        }
        return Ok((token, format!("the token in {}", path.display())));
    }
    if let Ok(token) = std::env::var("MCPR_SERVE_TOKEN")
        && !token.trim().is_empty()
    {
        return Ok((token.trim().to_string(), "MCPR_SERVE_TOKEN".into()));
    }
    let mut bytes = [0u8; 32];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("cannot make a token: {e}"))?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let dir = dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .unwrap_or_else(std::env::temp_dir)
        .join("mcpr");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join("serve-token");
    let part = dir.join(format!(".serve-token.{}", std::process::id()));
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&part)
            .map_err(|e| format!("cannot write {}: {e}", part.display()))?;
        f.write_all(token.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", part.display()))?;
    }
    std::fs::rename(&part, &path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok((
        token,
        format!(
            "a new token, written to {} (readable by you only)",
            path.display()
        ),
    ))
}

/// The address to bind: loopback unless `allow_remote`.
pub fn address(spec: &str, allow_remote: bool) -> Result<SocketAddr, String> {
    let addr: SocketAddr = spec
        .parse()
        .map_err(|_| format!("--http {spec:?}: give an address and port, e.g. 127.0.0.1:8765"))?;
    if !addr.ip().is_loopback() && !allow_remote {
        return Err(format!(
            "--http {spec}: binding anything but loopback needs --allow-remote (the token is still required)"
        ));
    }
    Ok(addr)
}
