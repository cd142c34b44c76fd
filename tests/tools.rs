//! MCP tools from inside the kernel, through the whole path: cell → host → real server
//! process → back. Servers: mcp-server-time and mcp-server-git from PyPI, our demo
//! server, and a streamable-HTTP server built on the official Python SDK.

mod common;

use common::{TestSession, demo_calls_logged, demo_entry, venv_python, venv_server};
use mcpr::event::{CallOutcome, CellStatus, Event, Stream};
use mcpr::sandbox::IsolationRequest::Auto;
use serde_json::{Value, json};
use std::time::Duration;

fn config(servers: Value) -> String {
    json!({ "mcpServers": servers }).to_string()
}

fn all_servers(db: &std::path::Path) -> String {
    config(json!({
        "time": {"command": venv_server("mcp-server-time"), "args": ["--local-timezone", "UTC"]},
        "git": {"command": venv_server("mcp-server-git")},
        "demo": demo_entry(db),
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_come_from_the_servers_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = TestSession::with_tools(Auto, &all_servers(&dir.path().join("n.db"))).await;
    let r = s
        .run("import inspect\nfrom tools.git import git_log\nfrom tools.time import get_current_time\nfrom tools.demo import get_weather\n[str(inspect.signature(f)) for f in (git_log, get_current_time, get_weather)] + [git_log.__doc__.splitlines()[0]]")
        .await;
    r.assert_ok();
    assert_eq!(
        r.value(),
        Some(json!([
            "(repo_path: str, max_count: int = 10, start_timestamp: str | None = None, end_timestamp: str | None = None) -> Any",
            "(timezone: str) -> dict[str, typing.Any]",
            "(city: str, units: Literal['celsius', 'fahrenheit'] = 'celsius') -> dict[str, typing.Any]",
            "Shows the commit logs",
        ]))
    );
    // The modules are also files in the workspace, to be found by listing.
    let r = s.run("import os\nsorted(os.listdir('tools'))").await;
    assert_eq!(
        r.value(),
        Some(json!(["__init__.py", "demo.py", "git.py", "time.py"]))
    );
    s.hub.unwrap().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_calls_from_one_loop_reach_the_real_servers() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("notes.db");
    let mut s = TestSession::with_tools(Auto, &all_servers(&db)).await;
    let r = s
        .run("from tools.demo import calculate\nfrom tools.time import get_current_time\nsums = [calculate(f'{i} + {i}')['result'] for i in range(100)]\nnow = get_current_time(timezone='UTC')\n[sums == [2.0 * i for i in range(100)], now['timezone']]")
        .await;
    r.assert_ok();
    assert_eq!(r.value(), Some(json!([true, "UTC"])));
    let calls = r
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::HostCall { name, .. } if name == "tools.call"))
        .count();
    assert_eq!(calls, 101);
    assert_eq!(
        demo_calls_logged(&db),
        100,
        "each call reached the demo server once"
    );
    s.hub.unwrap().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_become_tool_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = TestSession::with_tools(Auto, &all_servers(&dir.path().join("n.db"))).await;
    let r = s
        .run("import tools\nfrom tools.demo import get_weather\nfrom tools.git import git_status\nout = []\nfor f, a in ((get_weather, 'Atlantis'), (git_status, '/no/such/repo')):\n    try:\n        f(a)\n    except tools.ToolError as e:\n        out.append((e.kind, str(e)))\nout")
        .await;
    r.assert_ok();
    let v = r.value().unwrap();
    assert_eq!(v[0][0], "tool_error");
    assert!(
        v[0][1]
            .as_str()
            .unwrap()
            .contains("no weather data for \"Atlantis\""),
        "{v}"
    );
    assert_eq!(v[1][0], "tool_error");
    assert!(v[1][1].as_str().unwrap().contains("/no/such/repo"), "{v}");
    // Unknown tool and unknown server are named.
    let r = s.run("import tools\nimport tools.nope").await;
    let (ename, message, ..) = r.error().unwrap();
    assert_eq!(ename, "ModuleNotFoundError");
    assert!(
        message.contains("no MCP server named \"nope\"; configured: time, git, demo"),
        "{message}"
    );
    s.hub.unwrap().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_is_restarted_on_the_next_call_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = TestSession::with_tools(Auto, &all_servers(&dir.path().join("n.db"))).await;
    let r = s
        .run("from tools.demo import server_info\nserver_info()['pid']")
        .await;
    let pid = r.value().unwrap().as_i64().unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = s.run("server_info()['pid']").await;
    r.assert_ok();
    let new_pid = r.value().unwrap().as_i64().unwrap() as i32;
    assert_ne!(new_pid, pid);
    assert!(
        r.stream(Stream::Stderr)
            .contains("had exited; started it again"),
        "{}",
        r.stream(Stream::Stderr)
    );
    assert_eq!(s.hub.as_ref().unwrap().client("demo").unwrap().starts(), 2);
    s.hub.unwrap().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_ranks_git_log_first_for_commit_history() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = TestSession::with_tools(Auto, &all_servers(&dir.path().join("n.db"))).await;
    let r = s
        .run("import tools\n[tools.search('commit history')[0]['tool'], tools.search('weather', limit=1)[0]['import'], tools.list_servers()]")
        .await;
    r.assert_ok();
    assert_eq!(
        r.value(),
        Some(json!([
            "git.git_log",
            "from tools.demo import get_weather",
            ["time", "git", "demo"]
        ]))
    );
    let r = s
        .run("import tools\nprint(tools.describe('get_current_time'))")
        .await;
    assert!(
        r.stdout().starts_with(
            "from tools.time import get_current_time\nget_current_time(timezone: str)"
        ),
        "{}",
        r.stdout()
    );
    s.hub.unwrap().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_results_are_offloaded_and_the_log_holds_only_a_handle() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = TestSession::with_tools(Auto, &all_servers(&dir.path().join("n.db"))).await;
    let r = s
        .run("from tools.demo import repeat_text\nbig = repeat_text('0123456789', 10_000)\n[type(big).__name__, big.size, len(big), big.read(5, 10), big[:3], str(big).count('9'), big.path]")
        .await;
    r.assert_ok();
    let v = r.value().unwrap();
    assert_eq!(v[0], "LargeResult");
    assert_eq!(v[1], 100_000);
    assert_eq!(v[2], 100_000);
    assert_eq!(v[3], "5678901234");
    assert_eq!(v[4], "012");
    assert_eq!(v[5], 10_000);
    let path = v[6].as_str().unwrap();
    assert_eq!(
        std::fs::metadata(s.workspace().join(path)).unwrap().len(),
        100_000
    );
    let outcome = r
        .events
        .iter()
        .find_map(|(_, e)| match e {
            Event::HostCall {
                name,
                outcome: CallOutcome::Ok(v),
                ..
            } if name == "tools.call" => Some(v.clone()),
            _ => None,
        })
        .unwrap();
    let logged = outcome.to_string();
    assert!(
        logged.len() < 300,
        "the event carries a handle, not the blob: {logged}"
    );
    assert!(
        logged.contains("\"bytes\":100000") && logged.contains(path),
        "{logged}"
    );
    s.hub.unwrap().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_are_saved_and_calls_can_be_awaited() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = TestSession::with_tools(Auto, &all_servers(&dir.path().join("n.db"))).await;
    let r = s
        .run("from tools.demo import color_swatch, get_weather\nimport asyncio\nimg = await color_swatch('#102030')\nw = await asyncio.gather(*(get_weather(c) for c in ['Paris', 'Oslo', 'Tokyo']))\n[img.mime, img.read_bytes()[:4] == b'\\x89PNG', [x['temperature'] for x in w]]")
        .await;
    r.assert_ok();
    assert_eq!(
        r.value(),
        Some(json!(["image/png", true, [18.0, 6.0, 22.0]]))
    );
    // Plain calls in plain code; a forgotten await in async code says what to write.
    let r = s.run("get_weather('Oslo')['conditions']").await;
    assert_eq!(r.value(), Some(json!("snow showers")));
    let r = s
        .run("import asyncio\nawait asyncio.sleep(0)\nc = get_weather('Oslo')['conditions']")
        .await;
    let (ename, message, ..) = r.error().unwrap();
    assert_eq!(ename, "TypeError");
    assert!(
        message.contains("write `await get_weather(...)`"),
        "{message}"
    );
    s.hub.unwrap().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_server_env_stay_on_the_host() {
    let secret = "sk-server-credential-7d1e";
    // The server gets the credential in its environment (visible to it, as configured).
    let cfg = config(json!({
        "demo": {"command": common::mcpr_bin(), "args": ["demo-server"], "env": {"DEMO_API_KEY": secret}},
    }));
    let mut s = TestSession::with_tools(Auto, &cfg).await;
    let code = format!(
        "import os, subprocess\nfrom tools.demo import text_stats\ntext_stats('x')\nfound = [k for k, v in os.environ.items() if {secret:?} in v]\nfiles = subprocess.run(['grep', '-rl', {secret:?}, '.'], capture_output=True, text=True).stdout\n[found, files, 'DEMO_API_KEY' in os.environ]"
    );
    let r = s.run(&code).await;
    r.assert_ok();
    assert_eq!(r.value(), Some(json!([[], "", false])));
    // (The cell's own source names the secret, to search for it; every other event must not.)
    let record = serde_json::to_string(
        &r.events
            .iter()
            .map(|(_, e)| e)
            .filter(|e| !matches!(e, Event::CellStarted { .. }))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert!(
        !record.contains(secret),
        "events must not carry the credential"
    );
    let hub = s.hub.unwrap();
    assert!(
        hub.config().secret_values().iter().any(|v| v == secret),
        "it is known as a secret to redact"
    );
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamable_http_servers_work_with_configured_headers() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/http_mcp_server.py");
    let mut server = tokio::process::Command::new(venv_python())
        .arg(&script)
        .arg(port.to_string())
        .kill_on_drop(true)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cfg = config(
        json!({"web": {"url": format!("http://127.0.0.1:{port}/mcp"), "headers": {"Authorization": "Bearer http-secret-42"}}}),
    );
    let mut s = TestSession::with_tools(Auto, &cfg).await;
    let r = s
        .run("from tools.web import shout, whoami\n[shout('hi', times=2), whoami()]")
        .await;
    r.assert_ok();
    // The server echoed the configured header exactly; being a secret, it reaches the
    // sandbox redacted.
    assert_eq!(
        r.value(),
        Some(json!([{"result": "HI HI"}, {"result": "[redacted]"}]))
    );
    s.hub.unwrap().shutdown().await;
    server.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_fails_to_start_is_reported_and_others_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(json!({
        "broken": {"command": venv_python(), "args": ["-c", "import sys; print('cannot find my config file', file=sys.stderr); sys.exit(3)"]},
        "demo": demo_entry(&dir.path().join("n.db")),
    }));
    let mut s = TestSession::with_tools(Auto, &cfg).await;
    let r = s.run("import tools.broken").await;
    assert_eq!(r.status, CellStatus::Error);
    let (_, message, ..) = r.error().unwrap();
    assert!(
        message.contains("MCP server \"broken\" failed to start"),
        "{message}"
    );
    assert!(
        message.contains("cannot find my config file"),
        "stderr tail included: {message}"
    );
    let r = s
        .run("from tools.demo import calculate\ncalculate('6*7')['result']")
        .await;
    assert_eq!(r.value(), Some(json!(42.0)));
    s.hub.unwrap().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_calls_time_out_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".mcp.json");
    std::fs::write(
        &path,
        config(json!({"demo": demo_entry(&dir.path().join("n.db"))})),
    )
    .unwrap();
    let settings = mcpr::tools::hub::ToolSettings {
        call_timeout_seconds: 0.5,
        ..Default::default()
    };
    let hub = mcpr::tools::hub::ToolHub::with_settings(
        mcpr::tools::config::McpConfig::load(&path).unwrap(),
        dir.path().to_path_buf(),
        &settings,
    );
    let started = std::time::Instant::now();
    let err = hub
        .call("demo", "sleep", json!({"seconds": 5}))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(err.kind, "timeout");
    assert!(
        err.message
            .contains("call to demo.sleep timed out after 0.5 s"),
        "{}",
        err.message
    );
    // The server is still usable afterwards.
    let (v, _) = hub
        .call("demo", "calculate", json!({"expression": "3*3"}))
        .await
        .unwrap();
    assert_eq!(v["result"], 9.0);
    hub.shutdown().await;
}
