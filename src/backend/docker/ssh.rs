//! `ssh://[USER@]HOST[:PORT]` engines, reached as the Docker CLI reaches them: each
//! connection is the system's `ssh` client running `docker system dial-stdio` on that
//! host, whose standard input and output are the engine's socket. HTTP (and the upgraded
//! attachment of a kernel) runs over that pipe.
//!
//! ssh runs with `BatchMode=yes` (never a prompt: a missing key is an error, not a hang)
//! and `StrictHostKeyChecking=accept-new` (the host key is accepted on first use and
//! checked from then on). What ssh says on its standard error when a connection fails is
//! kept, so that "Permission denied (publickey)" reaches the user.

use bollard::{BollardRequest, ClientVersion, Docker};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncReadExt, Join};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Where to ssh to.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

/// Reads `ssh://[USER@]HOST[:PORT]`, or says what is wrong with it.
pub fn parse(address: &str) -> Result<Target, String> {
    let rest = address
        .strip_prefix("ssh://")
        .ok_or_else(|| "an ssh engine's address starts with ssh://".to_string())?;
    let rest = rest.trim_end_matches('/');
    let (user, host_port) = match rest.rsplit_once('@') {
        Some((user, hp)) => (Some(user.to_string()), hp),
        None => (None, rest),
    };
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) => {
            let port = port
                .parse::<u16>()
                .map_err(|_| format!("{port:?} is not a port number"))?;
            (host, Some(port))
        }
        None => (host_port, None),
    };
    let bad = |s: &str| s.is_empty() || s.starts_with('-') || s.contains(['/', ' ']);
    if bad(host) || user.as_deref().is_some_and(bad) {
        return Err("use ssh://USER@HOST or ssh://USER@HOST:PORT".into());
    }
    Ok(Target {
        user,
        host: host.to_string(),
        port,
    })
}

/// A client for the engine behind `target`.
pub fn connect(
    address: &str,
    target: Target,
    identity: Option<&Path>,
    timeout_s: u64,
    version: &ClientVersion,
) -> Result<(Docker, Dialer), bollard::errors::Error> {
    let dialer = Dialer {
        target: Arc::new(target),
        identity: identity.map(Path::to_path_buf),
        last_words: Arc::new(Mutex::new(String::new())),
    };
    let client = Client::builder(TokioExecutor::new()).build(dialer.clone());
    let transport = move |request: BollardRequest| {
        let client = client.clone();
        async move { Ok(client.request(request).await?) }
    };
    let docker =
        Docker::connect_with_custom_transport(transport, Some(address), timeout_s, version)?;
    Ok((docker, dialer))
}

/// Opens connections: one `ssh … docker system dial-stdio` each.
#[derive(Clone)]
pub struct Dialer {
    target: Arc<Target>,
    identity: Option<PathBuf>,
    /// The standard error of the last ssh that said something.
    last_words: Arc<Mutex<String>>,
}

impl Dialer {
    /// What the last failing ssh said, if anything: its standard error is read on a
    /// task of its own, which may finish just after the connection failed, so this waits
    /// a little for it.
    pub async fn said(&self) -> Option<String> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
        loop {
            let said = self.last_words();
            if said.is_some() || tokio::time::Instant::now() >= deadline {
                return said;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    fn last_words(&self) -> Option<String> {
        let words = self
            .last_words
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let words = words.trim();
        (!words.is_empty()).then(|| words.to_string())
    }

    fn command(&self) -> Command {
        let mut ssh = Command::new("ssh");
        ssh.args([
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=accept-new",
        ]);
        ssh.args(["-o", "ServerAliveInterval=15", "-T"]);
        if let Some(port) = self.target.port {
            ssh.arg("-p").arg(port.to_string());
        }
        if let Some(user) = &self.target.user {
            ssh.arg("-l").arg(user);
        }
        if let Some(key) = &self.identity {
            ssh.arg("-i").arg(key).args(["-o", "IdentitiesOnly=yes"]);
        }
        ssh.arg("--")
            .arg(&self.target.host)
            .args(["docker", "system", "dial-stdio"]);
        ssh.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        ssh
    }
}

impl tower_service::Service<http::Uri> for Dialer {
    type Response = DialStdio;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<DialStdio>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Uri) -> Self::Future {
        let mut command = self.command();
        let last_words = self.last_words.clone();
        Box::pin(async move {
            let mut child = command
                .spawn()
                .map_err(|e| std::io::Error::new(e.kind(), format!("could not run ssh: {e}")))?;
            let (Some(stdin), Some(stdout), Some(mut stderr)) =
                (child.stdin.take(), child.stdout.take(), child.stderr.take())
            else {
                return Err(std::io::Error::other("ssh started without its pipes"));
            };
            tokio::spawn(async move {
                let mut said = Vec::new();
                let _ = (&mut stderr).take(4096).read_to_end(&mut said).await;
                let said = String::from_utf8_lossy(&said);
                if !said.trim().is_empty() {
                    *last_words
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = said.into_owned();
                }
            });
            Ok(DialStdio {
                io: TokioIo::new(tokio::io::join(stdout, stdin)),
                _child: child,
            })
        })
    }
}

/// One connection: ssh's standard output to read, its standard input to write.
pub struct DialStdio {
    io: TokioIo<Join<ChildStdout, ChildStdin>>,
    _child: Child,
}

impl Connection for DialStdio {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for DialStdio {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for DialStdio {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_read_with_and_without_user_and_port() {
        assert_eq!(
            parse("ssh://kernels@203.0.113.1:2222").unwrap(),
            Target {
                user: Some("kernels".into()),
                host: "203.0.113.1".into(),
                port: Some(2222)
            }
        );
        assert_eq!(
            parse("ssh://build-host").unwrap(),
            Target {
                user: None,
                host: "build-host".into(),
                port: None
            }
        );
        for bad in [
            "ssh://",
            "ssh://u@host:port",
            "ssh://-oProxyCommand=x",
            "ssh://u@-x",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
