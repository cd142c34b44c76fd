//! MCP tools from inside the kernel, through the whole path: cell → host → real server
//! process → back. Servers: mcp-server-time and mcp-server-git from PyPI, our demo
//! server, and a streamable-HTTP server built on the official Python SDK.

mod common;

use common::{TestSession, demo_calls_logged, demo_entry, venv_python, venv_server};
use mcpr::event::{CallOutcome, CellStatus, Event, Stream};
use mcpr::sandbox::IsolationRequest::{self, Auto};
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

async fn a_hundred_calls_from_one_loop_reach_the_real_servers(level: IsolationRequest) {
    let dir = common::project_dir();
    let db = dir.path().join("notes.db");
    let mut s = TestSession::with_tools(level, &all_servers(&db)).await;
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

async fn server_errors_become_tool_errors(level: IsolationRequest) {
    let dir = common::project_dir();
    let mut s = TestSession::with_tools(level, &all_servers(&dir.path().join("n.db"))).await;
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

/// Notes in the demo server's database, counted there.
fn notes_in(db: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT count(*) FROM notes", [], |r| r.get(0))
        .unwrap()
}

/// Calls of `tool` that reached the demo server, as it logged them.
fn calls_of(db: &std::path::Path, tool: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT count(*) FROM calls WHERE tool = ?1", [tool], |r| {
        r.get(0)
    })
    .unwrap()
}

type Asks = tokio::sync::mpsc::UnboundedReceiver<(
    mcpr::tools::policy::ApprovalRequest,
    tokio::sync::oneshot::Sender<mcpr::tools::policy::Decision>,
)>;

/// An approver as a front end has one: every request goes out on a channel with a
/// reply slot, and the call waits for the answer.
fn channel_approver(hub: &mcpr::tools::hub::ToolHub) -> Asks {
    use mcpr::tools::policy::{ApprovalRequest, Decision};
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    hub.set_approver(Some(std::sync::Arc::new(
        move |request: ApprovalRequest| {
            let tx = tx.clone();
            async move {
                let (answer, decision) = tokio::sync::oneshot::channel();
                if tx.send((request, answer)).is_err() {
                    return Decision::Deny;
                }
                decision.await.unwrap_or(Decision::Deny)
            }
        },
    )));
    rx
}

/// A hub for the demo server with its notes in `db`, the server `env` given, and `policy`.
fn demo_hub(
    dir: &std::path::Path,
    db: &std::path::Path,
    env: Value,
    policy: mcpr::tools::policy::Policy,
) -> std::sync::Arc<mcpr::tools::hub::ToolHub> {
    let mut entry = demo_entry(db);
    entry["env"] = env;
    let path = dir.join(".mcp.json");
    std::fs::write(&path, config(json!({"demo": entry}))).unwrap();
    let settings = mcpr::tools::hub::ToolSettings {
        policy,
        ..Default::default()
    };
    mcpr::tools::hub::ToolHub::with_settings(
        mcpr::tools::config::McpConfig::load(&path).unwrap(),
        dir.to_path_buf(),
        &settings,
    )
}

/// Calls `tool` without waiting for an answer that nobody would give: a call that is
/// asked about when the test expects none fails here instead of hanging.
async fn call_unasked(
    hub: &mcpr::tools::hub::ToolHub,
    asks: &mut Asks,
    tool: &str,
    args: Value,
) -> Result<mcpr::tools::hub::CallReply, mcpr::hostcall::HostCallError> {
    let result = tokio::select! {
        r = hub.call("demo", tool, args) => r,
        asked = asks.recv() => panic!("{tool} was asked about: {:?}", asked.map(|a| a.0)),
    };
    assert!(asks.try_recv().is_err());
    result
}

/// Calls `tool` on another task, waits for the approver to be asked, answers `decision`,
/// and gives back the request and the call's outcome.
async fn call_answering(
    hub: &std::sync::Arc<mcpr::tools::hub::ToolHub>,
    asks: &mut Asks,
    tool: &str,
    args: Value,
    decision: mcpr::tools::policy::Decision,
) -> (
    mcpr::tools::policy::ApprovalRequest,
    Result<mcpr::tools::hub::CallReply, mcpr::hostcall::HostCallError>,
) {
    let call = tokio::spawn({
        let (hub, tool) = (hub.clone(), tool.to_string());
        async move { hub.call("demo", &tool, args).await }
    });
    let (request, answer) = tokio::time::timeout(Duration::from_secs(60), asks.recv())
        .await
        .expect("the approver is asked")
        .expect("the approver is set");
    answer.send(decision).unwrap();
    (request, call.await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destructive_calls_wait_for_approval_and_only_allowed_ones_reach_the_server() {
    use mcpr::tools::policy::{Decision, Policy, ToolClass};
    let dir = common::project_dir();
    let db = dir.path().join("notes.db");
    let hub = demo_hub(dir.path(), &db, json!({}), Policy::default());
    let mut asks = channel_approver(&hub);
    // Additive and read-only tools go ahead unasked.
    for i in 1..=3 {
        let note = call_unasked(
            &hub,
            &mut asks,
            "add_note",
            json!({"title": format!("n{i}"), "body": "b"}),
        )
        .await
        .unwrap();
        assert_eq!(note.value["id"], i);
    }
    for (tool, args) in [
        ("list_notes", json!({})),
        ("get_weather", json!({"city": "Oslo"})),
        ("calculate", json!({"expression": "1+1"})),
    ] {
        call_unasked(&hub, &mut asks, tool, args).await.unwrap();
    }
    assert_eq!(notes_in(&db), 3);

    // Denied: the call fails as `denied` and never reaches the server.
    let (request, result) = call_answering(
        &hub,
        &mut asks,
        "delete_note",
        json!({"id": 1}),
        Decision::Deny,
    )
    .await;
    assert_eq!(
        (
            request.id,
            request.server.as_str(),
            request.tool.as_str(),
            &request.args,
            request.class
        ),
        (
            1,
            "demo",
            "delete_note",
            &json!({"id": 1}),
            ToolClass::Destructive
        )
    );
    assert_eq!(
        request.reason,
        "destructive tool (destructiveHint) — [tools.policy] destructive = \"ask\""
    );
    let err = result.unwrap_err();
    assert_eq!(err.kind, "denied");
    assert!(
        err.message.starts_with("demo.delete_note was denied by the user (asked because: destructive tool (destructiveHint)"),
        "{}",
        err.message
    );
    assert_eq!(notes_in(&db), 3, "the note survives");
    assert_eq!(
        calls_of(&db, "delete_note"),
        0,
        "the server never saw the call"
    );

    // Allowed once: this call goes ahead, the next one is asked again.
    let (request, result) = call_answering(
        &hub,
        &mut asks,
        "delete_note",
        json!({"id": 1}),
        Decision::AllowOnce,
    )
    .await;
    assert_eq!(request.id, 2, "ids are unique per hub");
    assert_eq!(result.unwrap().value, "deleted note 1");
    assert_eq!(notes_in(&db), 2);
    let (request, result) = call_answering(
        &hub,
        &mut asks,
        "delete_note",
        json!({"id": 2}),
        Decision::AllowSession,
    )
    .await;
    assert_eq!(request.id, 3);
    result.unwrap();
    assert_eq!(notes_in(&db), 1);
    // Allowed for the session: not asked again.
    let reply = call_unasked(&hub, &mut asks, "delete_note", json!({"id": 3}))
        .await
        .unwrap();
    assert_eq!(reply.value, "deleted note 3");
    assert_eq!(notes_in(&db), 0);
    assert_eq!(calls_of(&db, "delete_note"), 3);
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nobody_to_ask_a_destructive_call_is_a_tool_error_saying_how_to_allow_it() {
    let dir = common::project_dir();
    let db = dir.path().join("notes.db");
    let mut s = TestSession::with_tools(Auto, &config(json!({"demo": demo_entry(&db)}))).await;
    let r = s
        .run("import tools\nfrom tools.demo import add_note, delete_note\nn = add_note(title='keep', body='me')\ntry:\n    delete_note(id=n['id'])\nexcept tools.ToolError as e:\n    err = [type(e).__name__, e.kind, e.server, e.tool, str(e)]\nerr")
        .await;
    r.assert_ok();
    let v = r.value().unwrap();
    assert_eq!(
        v.as_array().unwrap()[..4],
        [
            json!("ToolError"),
            json!("denied"),
            json!("demo"),
            json!("delete_note")
        ]
    );
    let message = v[4].as_str().unwrap();
    assert_eq!(
        message,
        "demo.delete_note needs approval (destructive tool (destructiveHint) — [tools.policy] destructive = \"ask\"), and nobody could be asked: this run is non-interactive. The call was not made; to allow it, set \"demo.delete_note\" = \"allow\" under [tools.policy.servers] in mcpr.toml"
    );
    assert_eq!(notes_in(&db), 1, "the note survives");
    assert_eq!(calls_of(&db, "delete_note"), 0);
    // The host call's event says the same, as a failure of kind `denied`.
    let denied = r.events.iter().any(|(_, e)| {
        matches!(e, Event::HostCall { name, outcome: CallOutcome::Error { kind, .. }, .. } if name == "tools.call" && kind == "denied")
    });
    assert!(denied, "{:?}", r.events);
    s.hub.unwrap().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_for_a_server_or_a_tool_beat_the_class_and_deny_never_asks() {
    use mcpr::tools::policy::{Decision, Policy, ToolClass};
    let dir = common::project_dir();
    let db = dir.path().join("notes.db");
    let secret = "sk-policy-credential-51c9";
    let policy: Policy = toml::from_str(
        r#"
        destructive = "deny"
        [servers]
        demo = "ask"
        "demo.delete_note" = "allow"
        "demo.add_note" = "deny"
        "#,
    )
    .unwrap();
    let hub = demo_hub(
        dir.path(),
        &db,
        json!({"DEMO_API_KEY": secret}),
        policy.clone(),
    );
    let mut asks = channel_approver(&hub);
    // The tool's own rule beats both the server's `ask` and the class's `deny`.
    let err = call_unasked(&hub, &mut asks, "delete_note", json!({"id": 9}))
        .await
        .unwrap_err();
    assert_eq!(
        err.kind, "tool_error",
        "allowed, so the server answered: {}",
        err.message
    );
    assert_eq!(calls_of(&db, "delete_note"), 1);
    // `deny` refuses without asking, naming the rule and where to change it.
    let err = call_unasked(
        &hub,
        &mut asks,
        "add_note",
        json!({"title": "t", "body": "b"}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, "denied");
    assert_eq!(
        err.message,
        "demo.add_note is denied by the tool policy: additive tool (destructiveHint false) — [tools.policy.servers] \"demo.add_note\" = \"deny\". The call was not made; to allow it, change \"demo.add_note\" = \"deny\" under [tools.policy.servers] in mcpr.toml"
    );
    assert_eq!((notes_in(&db), calls_of(&db, "add_note")), (0, 0));
    // The server's rule makes even a read-only tool ask; secrets in the arguments are
    // redacted for the approver (the call itself gets them as written).
    let (request, result) = call_answering(
        &hub,
        &mut asks,
        "get_weather",
        json!({"city": format!("{secret} City")}),
        Decision::AllowOnce,
    )
    .await;
    assert_eq!(request.class, ToolClass::ReadOnly);
    assert_eq!(request.args, json!({"city": "[redacted] City"}));
    assert!(
        request
            .reason
            .ends_with("[tools.policy.servers] demo = \"ask\""),
        "{}",
        request.reason
    );
    assert!(result.unwrap_err().message.contains("no weather data"));
    hub.shutdown().await;

    // An override from the command line beats the file: denied, unasked, and it says so.
    let hub = demo_hub(
        dir.path(),
        &db,
        json!({}),
        policy
            .with_overrides(&["demo.delete_note=deny".into()])
            .unwrap(),
    );
    let mut asks = channel_approver(&hub);
    let err = call_unasked(&hub, &mut asks, "delete_note", json!({"id": 9}))
        .await
        .unwrap_err();
    assert_eq!(err.kind, "denied");
    assert!(
        err.message.contains("--tool-policy demo.delete_note=deny")
            && err.message.contains("run without the override"),
        "{}",
        err.message
    );
    assert_eq!(calls_of(&db, "delete_note"), 1, "not called again");
    hub.shutdown().await;
}

on_each_backend! {
    a_hundred_calls_from_one_loop_reach_the_real_servers(Auto),
    server_errors_become_tool_errors(Auto),
}
