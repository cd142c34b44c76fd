//! `mcpr bench kernel`: medians and p99 of the kernel's hot paths, as a Markdown table
//! for docs/PERFORMANCE.md. Measurements, never assertions.

use clap::{Args, Subcommand};
use serde_json::Value;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{CliError, current_project};
use crate::event::Event;
use crate::hostcall::HostCalls;
use crate::kernel::{CellOptions, OutputPolicy};
use crate::pool::KernelPool;
use crate::sandbox::IsolationRequest;
use crate::session::{Launcher, Session};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Kernel round trip, session start (pooled and cold), host calls, streaming
    Kernel(KernelBenchArgs),
    /// Tool-call overhead through the kernel, and prompt size against function calling
    Tools(ToolsBenchArgs),
    /// Session record: append cost per step, index over a long session, rewind time
    Record(super::bench_record::RecordBenchArgs),
    /// `mcpr serve` from an MCP client: round trips, calls per second, tool-list size
    Serve(super::bench_serve::ServeBenchArgs),
    /// The console: frame time over a million lines, key to frame, first frame, idle cost
    Tui(super::bench_tui::TuiBenchArgs),
    /// Code mode against JSON function calling: tasks on real MCP servers, a real model
    Agents(super::bench_agents::AgentsBenchArgs),
}

#[derive(Debug, Args)]
pub struct ToolsBenchArgs {
    #[arg(long, value_enum)]
    isolation: Option<IsolationRequest>,
    /// Tool calls to time on each path
    #[arg(long, default_value_t = 1000)]
    calls: usize,
}

#[derive(Debug, Args)]
pub struct KernelBenchArgs {
    #[arg(long, value_enum)]
    isolation: Option<IsolationRequest>,
    /// Repetitions of the `1+1` round trip
    #[arg(long, default_value_t = 2000)]
    round_trips: usize,
    /// Session starts to time (each for pooled and cold)
    #[arg(long, default_value_t = 20)]
    starts: usize,
    /// Echo host calls to time
    #[arg(long, default_value_t = 20000)]
    calls: usize,
}

pub async fn run(cmd: BenchCommand) -> Result<ExitCode, CliError> {
    match cmd {
        BenchCommand::Kernel(args) => kernel(args).await,
        BenchCommand::Tools(args) => tools(args).await,
        BenchCommand::Record(args) => super::bench_record::run(args).await,
        BenchCommand::Serve(args) => super::bench_serve::run(args).await,
        BenchCommand::Tui(args) => super::bench_tui::run(args).await,
        BenchCommand::Agents(args) => super::bench_agents::run(args).await,
    }
}

pub(super) struct Stats {
    pub median: f64,
    pub p99: f64,
    pub n: usize,
}

pub(super) fn stats(mut samples: Vec<f64>) -> Stats {
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    let at = |q: f64| samples[((n as f64 - 1.0) * q).round() as usize];
    Stats {
        median: at(0.5),
        p99: at(0.99),
        n,
    }
}

pub(super) fn row(name: &str, unit: &str, s: &Stats, target: &str) {
    outln!(
        "| {name} | {:.3} {unit} | {:.3} {unit} | {} | {target} |",
        s.median,
        s.p99,
        s.n
    );
}

/// The 1, 5 and 15 minute load averages, as /proc/loadavg has them.
pub(super) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(", "))
        .unwrap_or_else(|_| "unknown".into())
}

/// An empty mcpr project (default settings) in the benchmark's scratch folder `dir`.
pub(super) fn scratch_project(dir: &std::path::Path) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).map_err(fail)?;
    std::fs::write(dir.join("mcpr.toml"), "").map_err(fail)
}

pub(super) fn fail(e: impl std::fmt::Display) -> CliError {
    CliError::failed(format!("benchmark failed: {e}"))
}

async fn value_of(
    session: &mut Session,
    code: &str,
    opts: &CellOptions,
) -> Result<Value, CliError> {
    let mut value = None;
    let mut error = None;
    session
        .run_cell_with(code, opts, &mut |e| match e {
            Event::Value { json, .. } => value = json,
            Event::Error { ename, message, .. } => error = Some(format!("{ename}: {message}")),
            _ => {}
        })
        .await;
    match (value, error) {
        (_, Some(e)) => Err(fail(e)),
        (Some(v), None) => Ok(v),
        (None, None) => Err(fail(format!("cell returned no JSON value: {code}"))),
    }
}

async fn kernel(args: KernelBenchArgs) -> Result<ExitCode, CliError> {
    let project = current_project()?;
    // Containers are measured side by side with the subprocess backend in the same run,
    // so the two tables share the machine's state.
    let levels = match args.isolation {
        Some(IsolationRequest::Docker) => vec![Some(IsolationRequest::Docker), None],
        other => vec![other],
    };
    for (i, level) in levels.into_iter().enumerate() {
        if i > 0 {
            outln!();
        }
        let launcher = Launcher::from_config(&project.config.kernel, level).map_err(fail)?;
        let root = std::env::temp_dir().join(format!("mcpr-bench-{}-{i}", std::process::id()));
        std::fs::create_dir_all(&root).map_err(fail)?;
        // Containers use the `[docker] pool_size` warm pool (at least one ready kernel,
        // or there is nothing to take); the subprocess backend keeps two.
        let pool_size = if level == Some(IsolationRequest::Docker) {
            project.config.kernel.docker.pool_size.max(1)
        } else {
            2
        };
        let result = kernel_in(&args, launcher, &root, pool_size).await;
        let _ = std::fs::remove_dir_all(&root);
        result?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn kernel_in(
    args: &KernelBenchArgs,
    launcher: Launcher,
    root: &std::path::Path,
    pool_size: usize,
) -> Result<ExitCode, CliError> {
    let mut opts = CellOptions {
        timeout: None,
        ..CellOptions::default()
    };
    // Cold starts: launch + greeting.
    let mut cold = Vec::new();
    let mut python = launcher.python().version.clone();
    for i in 0..args.starts {
        let dir = root.join(format!("cold-{i}"));
        std::fs::create_dir_all(&dir).map_err(fail)?;
        let t = Instant::now();
        let s = Session::start(
            launcher.clone(),
            HostCalls::with_builtins(),
            format!("cold-{i}"),
            dir,
        )
        .await
        .map_err(fail)?;
        cold.push(t.elapsed().as_secs_f64() * 1000.0);
        // The interpreter the kernel reports (a container's, not the host's).
        if let Some(k) = s.kernel() {
            python = k.info().python.clone();
        }
        s.close().await;
    }
    outln!(
        "Isolation: {}; Python {python}; {} cores.\n",
        launcher.isolation(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    outln!("| measurement | median | p99 | n | target |");
    outln!("|---|---|---|---|---|");
    row("session start, cold", "ms", &stats(cold), "—");

    // Pooled starts: take a ready kernel (waiting for the refill between takes).
    let pool = KernelPool::new(launcher.clone(), root.join("pool"), pool_size);
    let mut pooled = Vec::new();
    for i in 0..args.starts {
        pool.wait_full().await.map_err(fail)?;
        let t = Instant::now();
        let s = pool
            .session(
                HostCalls::with_builtins(),
                format!("p{i}"),
                root.join(format!("pooled-{i}")),
            )
            .await
            .map_err(fail)?;
        pooled.push(t.elapsed().as_secs_f64() * 1000.0);
        s.close().await;
    }
    drop(pool);
    let pool_target = if launcher.isolation() == crate::sandbox::Isolation::Docker {
        "≤ 20 ms"
    } else {
        "≤ 5 ms"
    };
    row(
        "session start, from pool",
        "ms",
        &stats(pooled),
        pool_target,
    );

    let dir = root.join("warm");
    std::fs::create_dir_all(&dir).map_err(fail)?;
    let mut session = Session::start(
        launcher.clone(),
        HostCalls::with_builtins(),
        "warm".into(),
        dir,
    )
    .await
    .map_err(fail)?;

    // Warm `1+1` round trip: send the cell, get value + done.
    let mut trips = Vec::with_capacity(args.round_trips);
    for _ in 0..args.round_trips {
        let t = Instant::now();
        session.run_cell_with("1+1", &opts, &mut |_| {}).await;
        trips.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    row(
        "`1+1` round trip, warm",
        "ms",
        &stats(trips),
        "p50 ≤ 0.5 ms",
    );

    // Echo host calls, one after another from one loop, timed inside the kernel.
    let code = format!(
        "import mcpr, time\n_t=[]\nfor i in range({}):\n    a=time.perf_counter(); mcpr.host_call('echo', i=i); _t.append(time.perf_counter()-a)\n[sum(_t)] + sorted(_t)",
        args.calls
    );
    let v = value_of(&mut session, &code, &opts).await?;
    let list: Vec<f64> = v
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    if let Some((total, each)) = list.split_first() {
        let s = stats(each.iter().map(|x| x * 1000.0).collect());
        row("echo host call latency, sequential", "ms", &s, "—");
        outln!(
            "| echo host calls per second, sequential | {:.0} /s | | {} | ≥ 20,000 /s |",
            each.len() as f64 / total,
            each.len()
        );
    }
    // And concurrently: many calls in flight from asyncio.gather.
    let code = format!(
        "import mcpr, asyncio, time\n_a=time.perf_counter()\nawait asyncio.gather(*(mcpr.host_call_async('echo', i=i) for i in range({})))\ntime.perf_counter()-_a",
        args.calls
    );
    let secs = value_of(&mut session, &code, &opts)
        .await?
        .as_f64()
        .unwrap_or(f64::NAN);
    outln!(
        "| echo host calls per second, asyncio.gather | {:.0} /s | | {} | ≥ 20,000 /s |",
        args.calls as f64 / secs,
        args.calls
    );

    // The floor for any sequential call: two processes bouncing 40 bytes over pipes.
    let code = format!(
        "import os, time\nr1, w1 = os.pipe(); r2, w2 = os.pipe()\nif os.fork() == 0:\n    for _ in range({n}):\n        os.read(r1, 100); os.write(w2, b'y' * 40)\n    os._exit(0)\nt = time.perf_counter()\nfor _ in range({n}):\n    os.write(w1, b'x' * 40); os.read(r2, 100)\n{n} / (time.perf_counter() - t)",
        n = args.calls
    );
    let rate = value_of(&mut session, &code, &opts)
        .await?
        .as_f64()
        .unwrap_or(f64::NAN);
    outln!(
        "| floor: bare pipe ping-pong between two processes | {rate:.0} /s | | {} | — |",
        args.calls
    );

    // First-chunk latency: the kernel prints its wall clock, the host notes arrival.
    let code =
        "import time\nfor _ in range(200):\n    print(repr(time.time()))\n    time.sleep(0.005)";
    let mut delays = Vec::new();
    session
        .run_cell_with(code, &opts, &mut |e| {
            if let Event::Output { text, .. } = e {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs_f64();
                for line in text.lines() {
                    if let Ok(sent) = line.trim().parse::<f64>() {
                        delays.push((now - sent) * 1000.0);
                    }
                }
            }
        })
        .await;
    row(
        "print → output event at host",
        "ms",
        &stats(delays),
        "≤ 10 ms",
    );

    // Streaming throughput: 64 MiB of lines, all inline.
    opts.output = OutputPolicy {
        inline_bytes: usize::MAX / 2,
        overflow_bytes: 0,
    };
    let mut bytes = 0usize;
    let t = Instant::now();
    session
        .run_cell_with("import sys\nline = 'x' * 1023 + '\\n'\nfor _ in range(65536):\n    sys.stdout.write(line)", &opts, &mut |e| {
            if let Event::Output { text, .. } = e {
                bytes += text.len();
            }
        })
        .await;
    let secs = t.elapsed().as_secs_f64();
    outln!(
        "| streamed output throughput | {:.0} MiB/s | | {} MiB | — |",
        bytes as f64 / secs / 1048576.0,
        bytes / 1048576
    );
    session.close().await;
    let _ = Duration::ZERO;
    Ok(ExitCode::SUCCESS)
}

async fn tools(args: ToolsBenchArgs) -> Result<ExitCode, CliError> {
    use crate::tools::config::McpConfig;
    use crate::tools::hub::ToolHub;
    use serde_json::json;

    let project = current_project()?;
    let launcher = Launcher::from_config(&project.config.kernel, args.isolation).map_err(fail)?;
    let root = std::env::temp_dir().join(format!("mcpr-bench-tools-{}", std::process::id()));
    let workspace = root.join("ws");
    std::fs::create_dir_all(&workspace).map_err(fail)?;
    let exe = std::env::current_exe().map_err(fail)?;
    let cfg =
        json!({"mcpServers": {"demo": {"command": exe, "args": ["demo-server"]}}}).to_string();
    let config = McpConfig::parse(&cfg, &root.join("mcp.json"), &|_| None).map_err(fail)?;
    let hub = ToolHub::new(config, workspace.clone());
    let mut calls = HostCalls::with_builtins();
    hub.register(&mut calls);
    hub.prepare_workspace().await.map_err(fail)?;
    let result = tools_in(&args, launcher, &hub, calls, workspace).await;
    hub.shutdown().await;
    let _ = std::fs::remove_dir_all(&root);
    result
}

async fn tools_in(
    args: &ToolsBenchArgs,
    launcher: Launcher,
    hub: &std::sync::Arc<crate::tools::hub::ToolHub>,
    calls: HostCalls,
    workspace: std::path::PathBuf,
) -> Result<ExitCode, CliError> {
    use crate::tools::instructions::TOOL_INSTRUCTIONS;
    use serde_json::json;

    let catalog = hub.catalog("demo").await.map_err(|e| fail(e.message))?;
    outln!(
        "Isolation: {}; demo server tools: {}.\n",
        launcher.isolation(),
        catalog.tools.len()
    );

    // The agent's fixed prompt: the same whatever is configured.
    let plain = crate::tokens::count(&crate::agent::prompt::fixed_part(false));
    let with_tools = crate::tokens::count(&crate::agent::prompt::fixed_part(true));
    outln!(
        "Agent fixed prompt: {plain} tokens; with the tool instructions: {with_tools} tokens.\n"
    );

    // Prompt size: mcpr's fixed instructions against the same tools as function schemas.
    let fixed = crate::tokens::count(TOOL_INSTRUCTIONS);
    outln!(
        "| tools configured | mcpr fixed tool instructions | as function-calling schemas | ratio |"
    );
    outln!("|---|---|---|---|");
    for n in [1usize, 10, 100, 1000] {
        let schemas: Vec<Value> = (0..n)
            .map(|i| {
                let t = &catalog.tools[i % catalog.tools.len()];
                let name = if i < catalog.tools.len() { t.name.clone() } else { format!("{}_{}", t.name, i) };
                json!({"type": "function", "function": {"name": name, "description": t.description, "parameters": t.input_schema}})
            })
            .collect();
        let text = serde_json::to_string(&schemas).map_err(fail)?;
        let schema_tokens = crate::tokens::count(&text);
        outln!(
            "| {n} | {fixed} tokens | {schema_tokens} tokens | {:.1}× |",
            schema_tokens as f64 / fixed as f64
        );
    }

    // Call overhead: host → server directly, then cell → host → server.
    let mut direct = Vec::with_capacity(args.calls);
    for _ in 0..args.calls {
        let t = Instant::now();
        hub.call("demo", "calculate", json!({"expression": "1+1"}))
            .await
            .map_err(|e| fail(e.message))?;
        direct.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let mut session = Session::start(launcher, calls, "bench".into(), workspace)
        .await
        .map_err(fail)?;
    let opts = CellOptions {
        timeout: None,
        ..CellOptions::default()
    };
    let code = format!(
        "import time\nfrom tools.demo import calculate\ncalculate(expression='1+1')\n_t = []\nfor _ in range({}):\n    a = time.perf_counter(); calculate(expression='1+1'); _t.append(time.perf_counter() - a)\n[sum(_t)] + sorted(_t)",
        args.calls
    );
    let v = value_of(&mut session, &code, &opts).await?;
    session.close().await;
    let list: Vec<f64> = v
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    outln!("\n| path | median | p99 | n | calls per second |");
    outln!("|---|---|---|---|---|");
    let d = stats(direct.clone());
    let total: f64 = direct.iter().sum::<f64>() / 1000.0;
    outln!(
        "| host → demo server (rmcp over stdio, the server's own work included) | {:.3} ms | {:.3} ms | {} | {:.0} |",
        d.median,
        d.p99,
        d.n,
        d.n as f64 / total
    );
    if let Some((total, each)) = list.split_first() {
        let c = stats(each.iter().map(|x| x * 1000.0).collect());
        outln!(
            "| cell → host → demo server → cell | {:.3} ms | {:.3} ms | {} | {:.0} |",
            c.median,
            c.p99,
            c.n,
            each.len() as f64 / total
        );
        outln!(
            "\nmcpr's own share of a call from code (median): {:.3} ms.",
            c.median - d.median
        );
    }
    Ok(ExitCode::SUCCESS)
}
