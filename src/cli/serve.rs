//! `mcpr serve`: mcpr as an MCP server over stdio (for desktop clients).

use clap::Args;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use super::CliError;
use super::client::SessionFlags;
use crate::engine::{Context, Start};

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    flags: SessionFlags,
    /// Close a session's kernel after this many minutes without a call (its record
    /// stays, and the next call continues it)
    #[arg(long, value_name = "MINUTES", default_value_t = 30.0)]
    idle_minutes: f64,
    /// Serve over streamable HTTP instead of stdio, at ADDR (default 127.0.0.1:8765);
    /// every request needs the bearer token
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8765")]
    http: Option<String>,
    /// Allow --http to bind an address other than loopback
    #[arg(long, requires = "http")]
    allow_remote: bool,
    /// Read the HTTP bearer token from this file (default: MCPR_SERVE_TOKEN, else a new
    /// one written to a file only you can read)
    #[arg(long, value_name = "FILE", requires = "http")]
    token_file: Option<std::path::PathBuf>,
    /// Serve the project in DIR (default: the current directory's), for clients that
    /// cannot set the directory they start a server in
    #[arg(long, value_name = "DIR")]
    project: Option<std::path::PathBuf>,
}

pub async fn run(mut args: ServeArgs) -> Result<ExitCode, CliError> {
    if !(0.1..=10_080.0).contains(&args.idle_minutes) {
        return Err(CliError::usage(format!(
            "--idle-minutes must be from 0.1 to 10080 (a week), got {}",
            args.idle_minutes
        )));
    }
    let http = match &args.http {
        Some(spec) => {
            Some(crate::serve::http::address(spec, args.allow_remote).map_err(CliError::usage)?)
        }
        None => None,
    };
    if let Some(dir) = args.project.clone() {
        // Paths given on the command line stay relative to where it was typed.
        let here = std::env::current_dir()
            .map_err(|e| CliError::failed(format!("cannot read the current directory: {e}")))?;
        for path in [&mut args.flags.mcp_config, &mut args.token_file]
            .into_iter()
            .flatten()
        {
            if path.is_relative() {
                *path = here.join(&*path);
            }
        }
        std::env::set_current_dir(&dir).map_err(|e| {
            CliError::usage(format!("--project {}: cannot serve it: {e}", dir.display()))
        })?;
    }
    let (project, cwd) = super::discover_project()?;
    for (_, notice) in crate::engine::live::project_notices(&project, &cwd) {
        errln!("[mcpr] {notice}");
    }
    let llm = &project.config.llm;
    let need_model = args.flags.llm.is_some()
        || args.flags.model.is_some()
        || args.flags.base_url.is_some()
        || llm.provider.is_some()
        || llm.base_url.is_some();
    let mut base = args.flags.spec(Start::New, need_model);
    // Nobody at this end answers approvals: what the policy asks about is denied.
    base.interactive = false;
    base.live_checkpoints = true;
    base.check().map_err(|e| CliError::usage(e.to_string()))?;
    let mcp = super::mcp_config(base.mcp_config.as_deref(), &project)?;
    let scratch = std::env::temp_dir().join(format!("mcpr-serve-{}", std::process::id()));
    let hub =
        crate::tools::hub::ToolHub::with_settings(mcp, scratch.clone(), &project.config.tools);
    let shared = crate::serve::Shared::new(Context::long_lived(project, cwd), base, hub);
    let reaper = {
        let shared = Arc::clone(&shared);
        let idle = Duration::from_secs_f64(args.idle_minutes * 60.0);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(idle.min(Duration::from_secs(60))).await;
                for name in shared.sessions.close_idle(idle).await {
                    errln!("[mcpr] closed idle session {name} (its record stays)");
                }
            }
        })
    };
    let result = match http {
        None => {
            errln!("[mcpr] serving MCP on stdio");
            crate::serve::serve_stdio(shared).await
        }
        Some(addr) => serve_http(shared, addr, args.token_file.as_deref()).await,
    };
    reaper.abort();
    let _ = std::fs::remove_dir_all(&scratch);
    result.map_err(CliError::failed)?;
    Ok(ExitCode::SUCCESS)
}

async fn serve_http(
    shared: Arc<crate::serve::Shared>,
    addr: std::net::SocketAddr,
    token_file: Option<&std::path::Path>,
) -> Result<(), String> {
    let (token, whence) = crate::serve::http::token(token_file)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    errln!(
        "[mcpr] serving MCP over HTTP at http://{bound}/mcp; requests need `Authorization: Bearer TOKEN` with {whence}"
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let serving = crate::serve::http::serve_http(shared.clone(), listener, token, stop.clone());
    tokio::pin!(serving);
    let result = tokio::select! {
        r = &mut serving => r,
        () = crate::serve::terminated() => {
            stop.cancel();
            Ok(())
        }
    };
    shared.shutdown().await;
    result
}
