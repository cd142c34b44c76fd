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
    let dir = common::project_dir();
    let mut s = TestSession::with_tools(Auto, &all_servers(&dir.path().join("n.db"))).await;
    let r = s
        .run("import inspect\nfrom tools.git import git_log\nfrom tools.time import get_current_time\nfrom tools.demo import get_weather\n[str(inspect.signature(f)) for f in (git_log, get_current_time, get_weather)] + [git_log.__doc__.splitlines()[0]]")
        .await;
    r.assert_ok();
    assert_eq!(
        r.value(),
        Some(json!([
            "(*, repo_path: str, max_count: int = 10, start_timestamp: str | None = None, end_timestamp: str | None = None) -> Any",
            "(*, timezone: str) -> dict[str, typing.Any]",
            "(*, city: str, units: Literal['celsius', 'fahrenheit'] = 'celsius') -> dict[str, typing.Any]",
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
    let dir = common::project_dir();
    let db = dir.path().join("notes.db");
    let mut s = TestSession::with_tools(Auto, &all_servers(&db)).await;
    let r = s
        .run("from tools.demo import calculate\nfrom tools.time import get_current_time\nsums = [calculate(expression=f'{i} + {i}')['result'] for i in range(100)]\nnow = get_current_time(timezone='UTC')\n[sums == [2.0 * i for i in range(100)], now['timezone']]")
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
    let dir = common::project_dir();
    let mut s = TestSession::with_tools(Auto, &all_servers(&dir.path().join("n.db"))).await;
    let r = s
        .run("import tools\nfrom tools.demo import get_weather\nfrom tools.git import git_status\nout = []\nfor f, a in ((get_weather, {'city': 'Atlantis'}), (git_status, {'repo_path': '/no/such/repo'})):\n    try:\n        f(**a)\n    except tools.ToolError as e:\n        out.append((e.kind, str(e)))\nout")
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
    let dir = common::project_dir();
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
    let dir = common::project_dir();
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
            "from tools.time import get_current_time\nget_current_time(*, timezone: str)"
        ),
        "{}",
        r.stdout()
    );
    s.hub.unwrap().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_results_are_offloaded_and_the_log_holds_only_a_handle() {
    let dir = common::project_dir();
    let mut s = TestSession::with_tools(Auto, &all_servers(&dir.path().join("n.db"))).await;
    let r = s
        .run("from tools.demo import repeat_text\nbig = repeat_text(text='0123456789', times=10_000)\n[type(big).__name__, big.size, len(big), big.read(5, 10), big[:3], str(big).count('9'), big.path]")
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
    let dir = common::project_dir();
    let mut s = TestSession::with_tools(Auto, &all_servers(&dir.path().join("n.db"))).await;
    let r = s
        .run("from tools.demo import color_swatch, get_weather\nimport asyncio\nimg = await color_swatch(color='#102030')\nw = await asyncio.gather(*(get_weather(city=c) for c in ['Paris', 'Oslo', 'Tokyo']))\n[img.mime, img.read_bytes()[:4] == b'\\x89PNG', [x['temperature'] for x in w]]")
        .await;
    r.assert_ok();
    assert_eq!(
        r.value(),
        Some(json!(["image/png", true, [18.0, 6.0, 22.0]]))
    );
    // Plain calls in plain code; a forgotten await in async code says what to write.
    let r = s.run("get_weather(city='Oslo')['conditions']").await;
    assert_eq!(r.value(), Some(json!("snow showers")));
    let r = s
        .run("import asyncio\nawait asyncio.sleep(0)\nc = get_weather(city='Oslo')['conditions']")
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
        "import os, subprocess\nfrom tools.demo import text_stats\ntext_stats(text='x')\nfound = [k for k, v in os.environ.items() if {secret:?} in v]\nfiles = subprocess.run(['grep', '-rl', {secret:?}, '.'], capture_output=True, text=True).stdout\n[found, files, 'DEMO_API_KEY' in os.environ]"
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
        .run("from tools.web import shout, whoami\n[shout(text='hi', times=2), whoami()]")
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
    let dir = common::project_dir();
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
        .run("from tools.demo import calculate\ncalculate(expression='6*7')['result']")
        .await;
    assert_eq!(r.value(), Some(json!(42.0)));
    s.hub.unwrap().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_calls_time_out_with_a_clear_error() {
    let dir = common::project_dir();
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
    let reply = hub
        .call("demo", "calculate", json!({"expression": "3*3"}))
        .await
        .unwrap();
    assert_eq!(reply.value["result"], 9.0);
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_positional_tool_call_fails_at_once_with_the_signature() {
    let cfg = config(json!({"time": {"command": venv_server("mcp-server-time")}}));
    let mut s = TestSession::with_tools(Auto, &cfg).await;
    // What a local model wrote against convert_time(source_timezone, time, target_timezone).
    let r = s
        .run("from tools.time import convert_time\ntry:\n    convert_time('09:30', 'America/New_York', 'Europe/London')\nexcept TypeError as e:\n    err = str(e)\nerr")
        .await;
    r.assert_ok();
    let err = r.value().unwrap().as_str().unwrap().to_string();
    assert!(
        err.contains("keyword arguments only")
            && err
                .contains("convert_time(*, source_timezone: str, time: str, target_timezone: str)"),
        "{err}"
    );
    assert!(
        !r.events
            .iter()
            .any(|(_, e)| matches!(e, Event::HostCall { name, .. } if name == "tools.call")),
        "a positional call never reaches the server"
    );
    // A missing argument names the signature too; a keyword call works.
    let r = s.run("convert_time(time='09:30')").await;
    let (ename, message, ..) = r.error().unwrap();
    assert_eq!(ename, "TypeError");
    assert!(
        message.contains("target_timezone") && message.contains("convert_time(*, source_timezone"),
        "{message}"
    );
    let r = s
        .run("convert_time(source_timezone='Asia/Tokyo', time='09:30', target_timezone='Asia/Kolkata')['target']['datetime'][11:16]")
        .await;
    r.assert_ok();
    assert_eq!(r.value(), Some(json!("06:00")));
    s.hub.unwrap().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_ranks_by_the_task_over_the_real_servers_catalogs() {
    let dir = common::project_dir();
    let mut s = TestSession::with_tools(Auto, &all_servers(&dir.path().join("n.db"))).await;
    let r = s
        .run("import tools\n{q: [h['tool'] for h in tools.search(q)] for q in ['convert 9:30 New York time to London time', 'add a note about the meeting', 'what is the current time in Tokyo', 'commit history', 'show me the diff of staged changes']}")
        .await;
    r.assert_ok();
    let v = r.value().unwrap();
    let hits = |q: &str| -> Vec<String> {
        v[q].as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap().to_string())
            .collect()
    };
    let conversion = hits("convert 9:30 New York time to London time");
    assert_eq!(conversion[0], "time.convert_time", "{conversion:?}");
    assert!(
        !conversion.iter().any(|t| t.starts_with("git.")),
        "'New York' is not a request to create anything: {conversion:?}"
    );
    let note = hits("add a note about the meeting");
    assert_eq!(note[0], "demo.add_note", "{note:?}");
    assert!(
        !note.contains(&"git.git_create_branch".to_string()),
        "{note:?}"
    );
    assert_eq!(
        hits("what is the current time in Tokyo")[0],
        "time.get_current_time"
    );
    assert_eq!(hits("commit history")[0], "git.git_log");
    assert_eq!(
        hits("show me the diff of staged changes")[0],
        "git.git_diff_staged"
    );
    s.hub.unwrap().shutdown().await;
}

/// An `mcpServers` entry for tests/fixtures/changing_mcp_server.py reading `state`.
fn changing_entry(state: &std::path::Path) -> Value {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/changing_mcp_server.py");
    json!({"command": venv_python(), "args": [script, state]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgraded_server_under_the_same_command_refreshes_its_cached_catalog() {
    let dir = common::project_dir();
    let state = dir.path().join("state.json");
    let write_state = |version: &str, tools: &[&str]| {
        std::fs::write(
            &state,
            json!({"version": version, "tools": tools}).to_string(),
        )
        .unwrap()
    };
    write_state("1.0", &["alpha", "beta"]);
    let cfg = config(json!({"up": changing_entry(&state)}));
    let mut s = TestSession::with_tools(Auto, &cfg).await;
    let r = s
        .run("from tools.up import alpha, beta\n[alpha(), beta()]")
        .await;
    r.assert_ok();
    assert_eq!(r.value(), Some(json!(["alpha from 1.0", "beta from 1.0"])));
    s.hub.take().unwrap().shutdown().await;

    // Upgraded under the same command line: beta is gone, gamma is new.
    write_state("2.0", &["alpha", "gamma"]);
    let mut s = TestSession::with_tools(Auto, &cfg).await;
    // The module written at session start is the cached one; calling a tool it still
    // offers starts the server, which reports the new version and tool list.
    let r = s
        .run("import tools\nfrom tools.up import beta\ntry:\n    beta()\nexcept tools.ToolError as e:\n    err = [e.kind, str(e)]\nerr")
        .await;
    r.assert_ok();
    let v = r.value().unwrap();
    assert_eq!(v[0], "unknown_tool", "{v}");
    let message = v[1].as_str().unwrap();
    assert!(
        message.contains("\"beta\"") && message.contains("gamma"),
        "{message}"
    );
    // The message says how the server changed.
    assert!(
        message.contains("added gamma; removed beta") && message.contains("1.0 → 2.0"),
        "{message}"
    );
    let r = s
        .run("from tools.up import alpha, gamma\n[alpha(), gamma()]")
        .await;
    r.assert_ok();
    assert_eq!(r.value(), Some(json!(["alpha from 2.0", "gamma from 2.0"])));
    s.hub.take().unwrap().shutdown().await;

    // The next session starts from the refreshed cache, without starting the server.
    let mut s = TestSession::with_tools(Auto, &cfg).await;
    let r = s
        .run("src = open('tools/up.py').read()\n['def gamma' in src, 'def beta' in src]")
        .await;
    assert_eq!(r.value(), Some(json!([true, false])));
    let hub = s.hub.take().unwrap();
    assert_eq!(hub.client("up").unwrap().starts(), 0);
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_tool_of_a_stale_catalog_is_found_on_import() {
    let dir = common::project_dir();
    let state = dir.path().join("state.json");
    std::fs::write(&state, r#"{"version": "1.0", "tools": ["alpha"]}"#).unwrap();
    let cfg = config(json!({"up": changing_entry(&state)}));
    let mut s = TestSession::with_tools(Auto, &cfg).await;
    s.run("from tools.up import alpha\nalpha()")
        .await
        .assert_ok();
    s.hub.take().unwrap().shutdown().await;
    std::fs::write(&state, r#"{"version": "1.0", "tools": ["alpha", "omega"]}"#).unwrap();
    // Same version, cached catalog, server not started: the unknown name lists it again.
    let mut s = TestSession::with_tools(Auto, &cfg).await;
    let r = s.run("from tools.up import omega\nomega(text='hi')").await;
    r.assert_ok();
    assert_eq!(r.value(), Some(json!("omega from 1.0: hi")));
    // A name the server really lacks says what it has.
    let r = s.run("from tools.up import nothing_like_it").await;
    let (ename, message, ..) = r.error().unwrap();
    assert_eq!(ename, "ImportError");
    assert!(
        message.contains("'nothing_like_it'") && message.contains("alpha, "),
        "{message}"
    );
    s.hub.take().unwrap().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_announcing_a_changed_tool_list_is_listed_again() {
    let dir = common::project_dir();
    let state = dir.path().join("state.json");
    std::fs::write(&state, r#"{"version": "1.0", "tools": ["alpha"]}"#).unwrap();
    let cfg = config(json!({"dyn": changing_entry(&state)}));
    let mut s = TestSession::with_tools(Auto, &cfg).await;
    let r = s
        .run("from tools.dyn import alpha, install\n[alpha(), install(name='delta')]")
        .await;
    r.assert_ok();
    let hub = s.hub.clone().unwrap();
    // Only the server's notifications/tools/list_changed tells the host about delta.
    let mut listed = false;
    for _ in 0..100 {
        if hub.catalog("dyn").await.unwrap().tool("delta").is_some() {
            listed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        listed,
        "the catalog was not listed again after list_changed"
    );
    let module = std::fs::read_to_string(s.workspace().join("tools/dyn.py")).unwrap();
    assert!(module.contains("def delta("), "{module}");
    let r = s.run("import tools.dyn\ntools.dyn.delta()").await;
    r.assert_ok();
    assert_eq!(r.value(), Some(json!("delta from 1.0")));
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gathering_waits_for_a_slow_server_once_and_backs_off_from_a_failed_one() {
    let dir = common::project_dir();
    let path = dir.path().join(".mcp.json");
    std::fs::write(
        &path,
        config(json!({
            "hung": {"command": "sleep", "args": ["1000"]},
            "demo": demo_entry(&dir.path().join("n.db")),
        })),
    )
    .unwrap();
    let settings = mcpr::tools::hub::ToolSettings {
        start_timeout_seconds: 1.5,
        ..Default::default()
    };
    let hub = mcpr::tools::hub::ToolHub::with_settings(
        mcpr::tools::config::McpConfig::load(&path).unwrap(),
        dir.path().to_path_buf(),
        &settings,
    );
    hub.catalog("demo").await.unwrap();
    let budget = Some(Duration::from_millis(300));
    let g = hub.gather(budget).await;
    assert_eq!(g.catalogs.len(), 1);
    assert_eq!(g.slow, ["hung"]);
    let hung = hub.client("hung").unwrap().clone();
    assert_eq!(hung.starts(), 1);
    // Still starting: its budget is spent, so the next gathering does not wait again.
    let g = hub.gather(budget).await;
    assert_eq!(
        (g.slow.as_slice(), hung.starts()),
        (["hung".to_string()].as_slice(), 1)
    );
    // Once its start has timed out it is backed off: named with its error, not restarted.
    let mut failed = Vec::new();
    for _ in 0..100 {
        failed = hub.gather(Some(Duration::ZERO)).await.failed;
        if !failed.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].1.contains("no MCP handshake within 1.5 s"),
        "{failed:?}"
    );
    let g = hub.gather(Some(Duration::from_secs(60))).await;
    assert_eq!(g.failed.len(), 1);
    let (_, problems) = hub.all_catalogs().await;
    assert!(problems[0].contains("not asked again for"), "{problems:?}");
    assert_eq!(hung.starts(), 1, "a backed-off server is not started again");
    // Asked for by name, it is tried again.
    let err = hub.call("hung", "anything", json!({})).await.unwrap_err();
    assert!(err.message.contains("no MCP handshake"), "{}", err.message);
    assert_eq!(hung.starts(), 2);
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_a_server_changes_without_saying_so_are_found_or_refused_with_the_new_list() {
    let dir = common::project_dir();
    let state = dir.path().join("state.json");
    std::fs::write(&state, r#"{"version": "1.0", "tools": ["alpha"]}"#).unwrap();
    let cfg = config(json!({"quiet": changing_entry(&state)}));
    let mut s = TestSession::with_tools(Auto, &cfg).await;
    let r = s
        .run("import tools\nfrom tools.quiet import alpha, install, uninstall\nalpha()\nuninstall(name='alpha', announce=False)\ninstall(name='zeta', announce=False)\ntry:\n    alpha()\nexcept tools.ToolError as e:\n    err = [e.kind, str(e)]\n[err, tools.quiet.zeta()]")
        .await;
    r.assert_ok();
    let v = r.value().unwrap();
    assert_eq!(v[0][0], "unknown_tool", "{v}");
    let message = v[0][1].as_str().unwrap();
    assert!(
        message.contains("no longer has tool \"alpha\"") && message.contains("zeta"),
        "{message}"
    );
    assert_eq!(v[1], "zeta from 1.0");
    // Called by name from the host, a tool the catalog has not seen yet is listed for.
    let hub = s.hub.take().unwrap();
    hub.call(
        "quiet",
        "install",
        json!({"name": "eta", "announce": false}),
    )
    .await
    .unwrap();
    let reply = hub.call("quiet", "eta", json!({})).await.unwrap();
    assert_eq!(reply.value, "eta from 1.0");
    hub.shutdown().await;
}
