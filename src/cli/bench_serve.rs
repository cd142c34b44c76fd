//! `mcpr bench serve`: `mcpr serve` measured from a real MCP client (rmcp) — round trips
//! over stdio and HTTP, calls per second with 1 and 16 clients, and the size of the tool
//! list a client puts in its model's prompt against the same servers' tools listed
//! directly. Measurements, never assertions.

use clap::Args;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};
use std::process::ExitCode;
use std::time::Instant;

use super::CliError;
use super::bench::{fail, row, stats};

#[derive(Debug, Args)]
pub struct ServeBenchArgs {
    /// `run_python("1+1")` round trips to time on each transport
    #[arg(long, default_value_t = 500)]
    round_trips: usize,
    /// Calls per client for the throughput runs
    #[arg(long, default_value_t = 200)]
    calls: usize,
}

type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;

fn one_plus_one(session: Option<&str>) -> CallToolRequestParams {
    let mut args = json!({"code": "1+1"});
    if let Some(s) = session {
        args["session"] = json!(s);
    }
    let map = args.as_object().cloned().unwrap_or_default();
    CallToolRequestParams::new("run_python").with_arguments(map)
}

async fn time_calls(
    client: &Client,
    n: usize,
    session: Option<&str>,
) -> Result<Vec<f64>, CliError> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = client
            .peer()
            .call_tool(one_plus_one(session))
            .await
            .map_err(fail)?;
        if r.is_error.unwrap_or(false) {
            return Err(fail(format!("run_python failed: {:?}", r.content)));
        }
        samples.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(samples)
}

/// A child `mcpr serve --http`, killed on drop.
struct Child(tokio::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

pub async fn run(args: ServeBenchArgs) -> Result<ExitCode, CliError> {
    let root = std::env::temp_dir().join(format!("mcpr-bench-serve-{}", std::process::id()));
    std::fs::create_dir_all(&root).map_err(fail)?;
    std::fs::write(root.join("mcpr.toml"), "").map_err(fail)?;
    let result = measure(&args, &root).await;
    let _ = std::fs::remove_dir_all(&root);
    result
}

async fn measure(args: &ServeBenchArgs, root: &std::path::Path) -> Result<ExitCode, CliError> {
    let exe = std::env::current_exe().map_err(fail)?;
    let exe_path = exe.display().to_string();
    std::fs::write(
        root.join(".mcp.json"),
        json!({"mcpServers": {"demo": {"command": exe_path, "args": ["demo-server"]}}}).to_string(),
    )
    .map_err(fail)?;

    // stdio: one client, one server process.
    let mut command = tokio::process::Command::new(&exe);
    command
        .arg("serve")
        .current_dir(root)
        .stderr(std::process::Stdio::null());
    let stdio =
        ().serve(rmcp::transport::TokioChildProcess::new(command).map_err(fail)?)
            .await
            .map_err(fail)?;
    time_calls(&stdio, 10, None).await?; // the session opens and warms up
    let over_stdio = time_calls(&stdio, args.round_trips, None).await?;
    let listed = stdio.peer().list_all_tools().await.map_err(fail)?;
    let started = Instant::now();
    time_calls(&stdio, args.calls, None).await?;
    let stdio_rate = args.calls as f64 / started.elapsed().as_secs_f64();
    stdio.cancel().await.map_err(fail)?;

    // HTTP: one server, many clients.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(fail)?
        .port();
    let addr = format!("127.0.0.1:{port}");
    let token = "bench-token-0123456789abcdef";
    let _server = Child(
        tokio::process::Command::new(&exe)
            .args(["serve", "--http", &addr])
            .env("MCPR_SERVE_TOKEN", token)
            .current_dir(root)
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(fail)?,
    );
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    while tokio::net::TcpStream::connect(&addr).await.is_err() {
        if Instant::now() > deadline {
            return Err(fail(
                "mcpr serve --http did not start listening within 20 s",
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    crate::tools::install_tls_provider();
    let url = format!("http://{addr}/mcp");
    let connect = || async {
        let config =
            rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
                url.as_str(),
            )
            .auth_header(token);
        let transport = rmcp::transport::StreamableHttpClientTransport::with_client(
            reqwest::Client::new(),
            config,
        );
        ().serve(transport).await.map_err(fail)
    };
    let http = connect().await?;
    time_calls(&http, 10, Some("bench-0")).await?;
    let over_http = time_calls(&http, args.round_trips, Some("bench-0")).await?;
    let started = Instant::now();
    time_calls(&http, args.calls, Some("bench-0")).await?;
    let http_rate_1 = args.calls as f64 / started.elapsed().as_secs_f64();
    let mut clients = vec![http];
    for _ in 1..16 {
        clients.push(connect().await?);
    }
    for (i, c) in clients.iter().enumerate() {
        time_calls(c, 3, Some(&format!("bench-{i}"))).await?;
    }
    let started = Instant::now();
    let runs = clients.iter().enumerate().map(|(i, c)| {
        let session = format!("bench-{i}");
        async move { time_calls(c, args.calls, Some(&session)).await }
    });
    for r in futures::future::join_all(runs).await {
        r?;
    }
    let http_rate_16 = (16 * args.calls) as f64 / started.elapsed().as_secs_f64();
    for c in clients {
        let _ = c.cancel().await;
    }

    outln!(
        "`mcpr bench serve`: rmcp's client against `mcpr serve` ({}).\n",
        if cfg!(debug_assertions) {
            "a debug build: the times are not representative"
        } else {
            "release build"
        }
    );
    outln!("| measurement | median | p99 | n | target |");
    outln!("|---|---|---|---|---|");
    row(
        "run_python(\"1+1\") round trip, stdio",
        "ms",
        &stats(over_stdio),
        "—",
    );
    row(
        "run_python(\"1+1\") round trip, HTTP",
        "ms",
        &stats(over_http),
        "—",
    );
    outln!();
    outln!("| clients | transport | calls per second |");
    outln!("|---|---|---|");
    outln!("| 1 | stdio | {stdio_rate:.0} |");
    outln!("| 1 | HTTP | {http_rate_1:.0} |");
    outln!("| 16 | HTTP | {http_rate_16:.0} |");
    outln!();

    // What a client puts in its model's prompt: mcpr's tool list, the same however many
    // tools the configured servers have, against those tools listed directly.
    let ours = serde_json::to_string(&listed).map_err(fail)?;
    let ours = crate::tokens::count(&ours);
    let demo = demo_tools(&exe).await?;
    outln!("| tools configured | `mcpr serve`'s tool list | the tools listed directly | ratio |");
    outln!("|---|---|---|---|");
    for n in [1usize, 10, 100, 1000] {
        let direct: Vec<Value> = (0..n)
            .map(|i| {
                let mut t = demo[i % demo.len()].clone();
                if i >= demo.len()
                    && let Some(name) = t["name"].as_str()
                {
                    t["name"] = json!(format!("{name}_{i}"));
                }
                t
            })
            .collect();
        let direct = crate::tokens::count(&serde_json::to_string(&direct).map_err(fail)?);
        outln!(
            "| {n} | {ours} tokens | {direct} tokens | {:.2}× |",
            direct as f64 / ours as f64
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The demo server's tools as its `tools/list` gives them.
async fn demo_tools(exe: &std::path::Path) -> Result<Vec<Value>, CliError> {
    let mut command = tokio::process::Command::new(exe);
    command
        .arg("demo-server")
        .stderr(std::process::Stdio::null());
    let demo =
        ().serve(rmcp::transport::TokioChildProcess::new(command).map_err(fail)?)
            .await
            .map_err(fail)?;
    let tools = demo.peer().list_all_tools().await.map_err(fail)?;
    let _ = demo.cancel().await;
    tools
        .iter()
        .map(|t| serde_json::to_value(t).map_err(fail))
        .collect()
}
