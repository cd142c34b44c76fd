//! `mcpr serve` with the official Python MCP SDK as the client, over stdio.

mod common;

use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

fn client(dir: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/serve_client.py");
    let out = Command::new(common::venv_python())
        .arg(script)
        .arg(common::mcpr_bin())
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        common::stdout(&out),
        common::stderr(&out)
    );
    serde_json::from_str(common::stdout(&out).trim()).unwrap()
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}"))
}

#[test]
fn an_mcp_client_runs_code_with_tools_in_recorded_sessions() {
    let dir = common::project_dir();
    std::fs::write(
        dir.path().join("mcpr.toml"),
        "[kernel]\noutput_inline_kb = 64\n",
    )
    .unwrap();
    let db = dir.path().join("notes.db");
    std::fs::write(
        dir.path().join(".mcp.json"),
        json!({"mcpServers": {
            "demo": common::demo_entry(&db),
            "time": {"command": common::venv_server("mcp-server-time")},
        }})
        .to_string(),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("skills")).unwrap();
    std::fs::write(
        dir.path().join("skills/double.py"),
        "\"\"\"Doubles a number.\n\nname: double\ntask: double a number\n\"\"\"\n\n\ndef run(n: int) -> int:\n    return n * 2\n",
    )
    .unwrap();
    let r = client(dir.path());
    assert_eq!(s(&r, "time"), "UTC\n", "{r}");
    // Skills: searched, shown with their import, imported by code.
    assert!(
        s(&r, "skills_found").contains("double"),
        "{}",
        s(&r, "skills_found")
    );
    assert!(
        s(&r, "skill_shown")
            .starts_with("from skills.double import run\n\n\"\"\"Doubles a number."),
        "{}",
        s(&r, "skill_shown")
    );
    assert!(
        s(&r, "skill_missing").starts_with("ERROR") && s(&r, "skill_missing").contains("nope"),
        "{}",
        s(&r, "skill_missing")
    );
    assert_eq!(s(&r, "skill_run"), "42\n");
    assert!(
        s(&r, "skill_resource").contains("def run(n: int) -> int:"),
        "{}",
        s(&r, "skill_resource")
    );
    assert!(
        r["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u == "mcpr://skill/double"),
        "{r}"
    );
    let tools: Vec<&str> = r["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for t in [
        "run_python",
        "search_tools",
        "describe_tool",
        "list_sessions",
        "show_step",
        "rewind",
        "fork",
        "search_skills",
        "show_skill",
        "run_task",
    ] {
        assert!(tools.contains(&t), "{t} in {tools:?}");
    }
    assert!(s(&r, "instructions").contains("run_python"));
    // State persists in the connection's own session.
    assert_eq!(s(&r, "state"), "=> 42\n");
    // A configured server's tool, called from the code.
    assert_eq!(s(&r, "demo"), "42.0\n");
    assert!(
        s(&r, "search").contains("from tools.demo import get_weather"),
        "{}",
        s(&r, "search")
    );
    assert!(
        s(&r, "describe").contains("def get_weather(*, city: str"),
        "{}",
        s(&r, "describe")
    );
    // Output streams as progress notifications, all before the result.
    let progress: Vec<&str> = r["progress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(
        progress.concat(),
        "tick 0\ntick 1\ntick 2\n",
        "{progress:?}"
    );
    assert_eq!(
        r["progress_order"].as_array().unwrap().last().unwrap(),
        "result"
    );
    // A client's cancellation interrupts a `while True` cell; the session goes on.
    assert_eq!(s(&r, "after_cancel"), "after 20\n");
    // Bad arguments get errors that name the field, what it takes and what came, and
    // the server keeps serving.
    for (key, says) in [
        (
            "bad_type",
            "bad arguments for run_python: `code` must be a string, got the number 5",
        ),
        (
            "bad_timeout",
            "bad arguments for run_python: `timeout` must be from 0.1 to 3600 seconds, got -3",
        ),
        (
            "bad_missing",
            "bad arguments for run_python: `code` is missing (Python code to run); run_python takes code (required), session, timeout",
        ),
        (
            "bad_unknown",
            "bad arguments for run_python: `timout` is not an argument of run_python; run_python takes code (required), session, timeout",
        ),
        (
            "bad_step",
            "bad arguments for show_step: `step` must be a whole number, got the string \"one\"",
        ),
        (
            "bad_too_large",
            "`code` is 1048577 bytes, more than the 1048576 one call takes",
        ),
    ] {
        let got = s(&r, key);
        assert!(
            got.starts_with("ERROR ") && got.contains(says),
            "{key}: {got}"
        );
    }
    assert!(
        s(&r, "timeout").starts_with("ERROR")
            && s(&r, "timeout").contains("the call's timeout of 0.5 s passed"),
        "{}",
        s(&r, "timeout")
    );
    let error = s(&r, "error");
    assert!(
        error.starts_with("ERROR")
            && error.contains("ZeroDivisionError")
            && error.contains("line 2"),
        "{error}"
    );
    assert_eq!(s(&r, "alive"), "alive 20\n");
    // Every call is recorded: the sessions show up, and their steps can be shown.
    assert!(
        s(&r, "sessions").contains("\"shared\""),
        "{}",
        s(&r, "sessions")
    );
    assert!(s(&r, "show").contains("calculate"), "{}", s(&r, "show"));
    assert!(
        s(&r, "missing").starts_with("ERROR") && s(&r, "missing").contains("nope"),
        "{}",
        s(&r, "missing")
    );
    // Large output comes with a resource link holding all of it.
    let links = r["big_links"].as_array().unwrap();
    assert_eq!(links.len(), 1, "{r}");
    assert!(
        links[0]
            .as_str()
            .unwrap()
            .starts_with("mcpr://session/shared/file/.mcpr/output/")
    );
    assert_eq!(r["big_read"], 300_001);
    // Workspace files are resources, read without following what the code planted.
    assert!(
        s(&r, "symlink").starts_with("refused"),
        "{}",
        s(&r, "symlink")
    );
    assert_eq!(s(&r, "own_file"), "mine");
    assert!(
        s(&r, "step_resource").contains("calculate"),
        "{}",
        s(&r, "step_resource")
    );
    // Rewind and fork, as tools.
    assert_eq!(s(&r, "rewind"), "session travel is back at step 1");
    assert_eq!(s(&r, "rewound"), "1\n");
    assert_eq!(s(&r, "fork"), "branch");
    assert_eq!(s(&r, "forked"), "11\n");
    assert_eq!(s(&r, "unforked"), "1\n");
    assert!(
        s(&r, "rewind_missing").starts_with("ERROR") && s(&r, "rewind_missing").contains("99"),
        "{}",
        s(&r, "rewind_missing")
    );
    let resources = r["resources"].as_array().unwrap();
    assert!(
        resources.iter().any(|u| u == "mcpr://session/shared"),
        "{r}"
    );
    // The record replays with no tool called: `mcpr replay` lists the sessions served,
    // rewinding re-runs the recorded cells with every tool call served from the record,
    // and the CLI continues the session.
    let list = common::mcpr_ok(dir.path(), &["replay", "list"]);
    assert!(
        common::stdout(&list).contains("shared"),
        "{}",
        common::stdout(&list)
    );
    let calls = common::demo_calls_logged(&db);
    assert!(calls >= 1);
    let o = common::mcpr_ok(dir.path(), &["replay", "rewind", "shared", "1"]);
    assert_eq!(
        common::demo_calls_logged(&db),
        calls,
        "{}",
        common::stderr(&o)
    );
    let o = common::mcpr_ok(
        dir.path(),
        &["exec", "--session", "shared", "print('again')"],
    );
    assert_eq!(common::stdout(&o), "again\n");
    assert_eq!(common::demo_calls_logged(&db), calls);
}

/// The official Python SDK as a client that takes MCP tasks (through an extension of
/// its own: the SDK resolves claimed result types but has no tasks client): a quick call
/// is answered at once, a long one is a task polled to its result, and one cancelled
/// through `tasks/cancel` stops while the session goes on.
#[test]
fn the_python_sdk_takes_long_calls_as_tasks() {
    let dir = common::project_dir();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/serve_tasks_client.py");
    let out = Command::new(common::venv_python())
        .arg(script)
        .arg(common::mcpr_bin())
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        common::stdout(&out),
        common::stderr(&out)
    );
    let r: Value = serde_json::from_str(common::stdout(&out).trim()).unwrap();
    assert_eq!(r["protocol"], "2026-07-28", "{r}");
    assert_eq!(r["first"], "(no output)\n", "{r}");
    assert_eq!(r["quick"], "=> 10\n", "{r}");
    assert_eq!(r["quick_polls"], 0, "{r}");
    assert_eq!(
        r["long"],
        (0..8).map(|i| format!("tick {i}\n")).collect::<String>(),
        "{r}"
    );
    assert_eq!(r["long_tasks"], 1, "{r}");
    assert_eq!(r["long_statuses"], json!(["completed", "working"]), "{r}");
    assert!(
        r["long_messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m.as_str().unwrap().starts_with("running: tick ")),
        "{r}"
    );
    assert_eq!(
        r["cancelled"], "ERROR TASK cancelled: cancelled; the session goes on",
        "{r}"
    );
    assert_eq!(r["after"], "after 5\n", "{r}");
}

/// `mcpr serve --http` on a free port, with `token` in a file; killed on drop.
struct HttpServer(std::process::Child);

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn over_http_the_token_is_required_browsers_are_refused_and_clients_get_their_own_sessions() {
    let dir = common::project_dir();
    let db = dir.path().join("notes.db");
    std::fs::write(
        dir.path().join(".mcp.json"),
        json!({"mcpServers": {"demo": common::demo_entry(&db)}}).to_string(),
    )
    .unwrap();
    let token = "a-test-token-of-some-length-0123";
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, token).unwrap();
    let port = common::free_port();
    let addr = format!("127.0.0.1:{port}");
    let _server = HttpServer(
        Command::new(common::mcpr_bin())
            .args(["serve", "--http", &addr, "--token-file"])
            .arg(&token_file)
            .current_dir(dir.path())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    common::wait_for_port(port);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/serve_http_client.py");
    let out = Command::new(common::venv_python())
        .arg(script)
        .arg(format!("http://{addr}/mcp"))
        .arg(token)
        .arg("50")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        common::stdout(&out),
        common::stderr(&out)
    );
    let r: Value = serde_json::from_str(common::stdout(&out).trim()).unwrap();
    assert_eq!(r["no_token"], 401, "{r}");
    assert_eq!(r["wrong_token"], 401, "{r}");
    assert_eq!(r["foreign_origin"], 403, "{r}");
    // Bodies that are not JSON-RPC messages are refused saying so; wrong argument types
    // get an error naming the field (and the 50 clients below are served after them).
    assert!(r["malformed"].as_u64().unwrap() >= 400, "{r}");
    assert!(
        r["malformed_says"]
            .as_str()
            .unwrap()
            .contains("fail to deserialize request body"),
        "{r}"
    );
    assert!(r["not_a_message"].as_u64().unwrap() >= 400, "{r}");
    assert!(
        r["not_a_message_says"]
            .as_str()
            .unwrap()
            .contains("unrecognized JSON-RPC message"),
        "{r}"
    );
    assert_eq!(
        r["bad_type"], "ERROR bad arguments for run_python: `code` must be a string, got a list",
        "{r}"
    );
    let clients = r["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 50);
    for (i, c) in clients.iter().enumerate() {
        assert_eq!(
            c.as_str(),
            Some(format!("{}\n", i * 2).as_str()),
            "client {i}: {r}"
        );
    }
    assert_eq!(r["unnamed"], "14\n", "{r}");
    // Over HTTP too: a configured server's tool called from code, discovery, progress
    // notifications before the result, a cancelled `while True` and the next call.
    assert_eq!(r["demo"], "42.0\n", "{r}");
    assert!(
        r["search"]
            .as_str()
            .unwrap()
            .contains("from tools.demo import get_weather"),
        "{r}"
    );
    assert_eq!(
        r["progress"],
        json!(["tick 0\n", "tick 1\n", "tick 2\n", "result"]),
        "{r}"
    );
    assert_eq!(r["after_cancel"], "after 7\n", "{r}");
    // While the server runs, its sessions are in the record for `mcpr replay`.
    let list = common::mcpr_ok(dir.path(), &["replay", "list"]);
    for i in [0, 49] {
        assert!(
            common::stdout(&list).contains(&format!("client-{i} ")),
            "{}",
            common::stdout(&list)
        );
    }
    let shown = common::mcpr_ok(dir.path(), &["replay", "show", "client-3"]);
    assert!(
        common::stdout(&shown).contains("print(x * 2)"),
        "{}",
        common::stdout(&shown)
    );
}

/// A cell that gets its kernel killed by the memory limit, in a way Python cannot catch:
/// it fills the address space up to `[kernel.limits] memory_mb`, then recurses deeper in
/// C than the kernel's stack ever went, and the stack cannot grow under the limit.
const KILLED_BY_THE_MEMORY_LIMIT: &str = "import sys\nsys.setrecursionlimit(100000)\nx, y = [], []\nfor _ in range(30000):\n    x, y = [x], [y]\nhog = []\nfor size in (2**24, 2**20, 2**16, 2**12):\n    try:\n        while True:\n            hog.append(bytearray(size))\n    except MemoryError:\n        pass\nprint(x == y)";

/// rmcp's own client, two at once over HTTP: each has its own session, and one whose
/// kernel runs out of memory, or is killed by its memory limit, is told so while the
/// other goes on untouched; its next call runs in a fresh kernel and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_rmcp_as_the_client_a_kernel_death_reaches_only_its_own_client() {
    use rmcp::ServiceExt;
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

    let dir = common::project_dir();
    std::fs::write(
        dir.path().join("mcpr.toml"),
        "[kernel.limits]\nmemory_mb = 300\n",
    )
    .unwrap();
    let token = "another-test-token-0123456789";
    let port = common::free_port();
    let addr = format!("127.0.0.1:{port}");
    let _server = HttpServer(
        Command::new(common::mcpr_bin())
            .args(["serve", "--http", &addr])
            .env("MCPR_SERVE_TOKEN", token)
            .current_dir(dir.path())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    common::wait_for_port(port);
    mcpr::tools::install_tls_provider();
    let url = format!("http://{addr}/mcp");
    let connect = || async {
        let config = StreamableHttpClientTransportConfig::with_uri(url.as_str()).auth_header(token);
        let transport = StreamableHttpClientTransport::with_client(reqwest::Client::new(), config);
        ().serve(transport).await.unwrap()
    };
    let (a, b) = (connect().await, connect().await);
    let call = |peer: &rmcp::Peer<rmcp::RoleClient>, code: &str| {
        let peer = peer.clone();
        let request = run(code, None);
        async move { text(&peer.call_tool(request).await.unwrap()) }
    };
    call(a.peer(), "x = 'a'").await;
    call(b.peer(), "x = 'b'").await;
    let (failed, body) = call(
        a.peer(),
        "blocks = []\nwhile True:\n    blocks.append(bytearray(50 * 1024 * 1024))",
    )
    .await;
    assert!(failed, "{body}");
    assert!(body.contains("memory"), "{body}");
    call(a.peer(), "del blocks").await;
    // A kill by the memory limit: the client is told what happened and why.
    let (failed, body) = call(a.peer(), KILLED_BY_THE_MEMORY_LIMIT).await;
    assert!(failed, "{body}");
    for says in [
        "KernelDied",
        "killed by SIGSEGV",
        "300 MiB memory limit",
        "the code ended with the kernel's death (its state is lost)",
    ] {
        assert!(body.contains(says), "{says:?} in {body}");
    }
    // The other client's session is untouched.
    let (failed, body) = call(b.peer(), "print(x)").await;
    assert!(!failed && body == "b\n", "{body}");
    // The first client's next call runs in a fresh kernel, which says so.
    let (failed, body) = call(a.peer(), "print('still here')").await;
    assert!(!failed && body.contains("still here"), "{body}");
    assert!(body.contains("fresh kernel"), "{body}");
    // One client looping forever does not hold up the other.
    let looping = {
        let peer = a.peer().clone();
        let mut request = run("while True:\n    pass", None);
        request
            .arguments
            .as_mut()
            .unwrap()
            .insert("timeout".into(), json!(5));
        tokio::spawn(async move { text(&peer.call_tool(request).await.unwrap()) })
    };
    let (failed, body) = call(b.peer(), "print(x * 2)").await;
    assert!(!failed && body == "bb\n", "{body}");
    assert!(!looping.is_finished(), "the loop was still running");
    let (failed, body) = looping.await.unwrap();
    assert!(
        failed && body.contains("the call's timeout of 5 s passed"),
        "{body}"
    );
    a.cancel().await.unwrap();
    b.cancel().await.unwrap();
}

/// A `run_python` call's request.
fn run(code: &str, session: Option<&str>) -> rmcp::model::CallToolRequestParams {
    let mut args = json!({ "code": code });
    if let Some(s) = session {
        args["session"] = json!(s);
    }
    rmcp::model::CallToolRequestParams::new("run_python")
        .with_arguments(args.as_object().unwrap().clone())
}

/// Whether a result is an error, and its text.
fn text(r: &rmcp::model::CallToolResult) -> (bool, String) {
    let body = r
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<String>();
    (r.is_error.unwrap_or(false), body)
}

/// `mcpr serve` on stdio in `dir`, with rmcp's client declaring the MCP tasks extension.
async fn stdio_client_with_tasks(
    dir: &Path,
) -> (
    rmcp::service::RunningService<rmcp::RoleClient, rmcp::model::ClientConfig>,
    u32,
) {
    stdio_client_with_tasks_and(dir, &[]).await
}

/// The same, with more arguments for `mcpr serve`.
async fn stdio_client_with_tasks_and(
    dir: &Path,
    args: &[&str],
) -> (
    rmcp::service::RunningService<rmcp::RoleClient, rmcp::model::ClientConfig>,
    u32,
) {
    use rmcp::ServiceExt;
    use rmcp::model::{ClientCapabilities, ClientConfig, Implementation};
    let mut command = tokio::process::Command::new(common::mcpr_bin());
    command
        .arg("serve")
        .args(args)
        .current_dir(dir)
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL");
    let (transport, _) = rmcp::transport::TokioChildProcess::builder(command)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = transport.id().unwrap();
    let info = ClientConfig::new(
        ClientCapabilities::builder().enable_tasks().build(),
        Implementation::from_build_env(),
    );
    (info.serve(transport).await.unwrap(), pid)
}

/// Polls a task until it ends (60 s at most); returns it and the status messages seen
/// while it worked.
async fn settle(
    peer: &rmcp::Peer<rmcp::RoleClient>,
    id: &str,
) -> (rmcp::model::DetailedTask, Vec<String>) {
    use rmcp::model::{GetTaskParams, TaskStatus};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut messages = Vec::new();
    loop {
        let got = peer.get_task(GetTaskParams::new(id)).await.unwrap().task;
        if got.status().is_terminal() {
            return (got, messages);
        }
        assert_eq!(got.status(), TaskStatus::Working);
        if let Some(m) = &got.task.status_message {
            messages.push(m.clone());
        }
        assert!(
            std::time::Instant::now() < deadline,
            "task {id} still working after 60 s: {messages:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A call's result: as answered, or from its task once that ends.
async fn result_of(
    peer: &rmcp::Peer<rmcp::RoleClient>,
    response: rmcp::model::CallToolResponse,
) -> rmcp::model::CallToolResult {
    let created = match response {
        rmcp::model::CallToolResponse::Complete(r) => return r,
        other => task_of(other),
    };
    let (done, _) = settle(peer, &created.task.task_id).await;
    let rmcp::model::TaskPayload::Completed { result } = done.payload else {
        panic!("completed: {done:?}")
    };
    serde_json::from_value(Value::Object(result)).unwrap()
}

/// A task's handle, from a call that must have become one.
fn task_of(response: rmcp::model::CallToolResponse) -> rmcp::model::CreateTaskResult {
    match response {
        rmcp::model::CallToolResponse::Task(t) => t,
        other => panic!("expected a task, got {other:?}"),
    }
}

/// MCP tasks (the `io.modelcontextprotocol/tasks` extension) with rmcp's client: a quick
/// call is answered at once, a long one becomes a task that is polled while it runs
/// (its status shows the last output) and then gives its result; `tasks/cancel`
/// interrupts a `while True` cell and the session goes on with its state; a task whose
/// kernel dies says so; an unknown task is an error naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_calls_become_tasks_that_are_polled_cancelled_and_give_their_result() {
    use rmcp::model::{
        CallToolResponse, CallToolResult, CancelTaskParams, GetTaskParams, TaskPayload, TaskStatus,
    };

    let dir = common::project_dir();
    let (client, _) = stdio_client_with_tasks(dir.path()).await;
    let peer = client.peer().clone();
    let session = Some("tasks");
    // The first call opens the session (a kernel starts): it may take long enough to
    // become a task.
    let r = result_of(
        &peer,
        peer.call_tool_once(run("x = 41", session)).await.unwrap(),
    )
    .await;
    assert_eq!(text(&r), (false, "(no output)\n".into()));
    match peer.call_tool_once(run("x + 1", session)).await.unwrap() {
        CallToolResponse::Complete(r) => assert_eq!(text(&r), (false, "=> 42\n".into())),
        other => panic!("a quick call is answered at once, got {other:?}"),
    }
    // A long call: a task, polled while it runs, then its result.
    let created = task_of(
        peer.call_tool_once(run(
            "import time\nfor i in range(12):\n    print('tick', i, flush=True)\n    time.sleep(0.25)",
            session,
        ))
        .await
        .unwrap(),
    );
    assert_eq!(created.task.status, TaskStatus::Working);
    assert!(created.task.poll_interval_ms.is_some() && created.task.ttl_ms.is_some());
    let (done, seen) = settle(&peer, &created.task.task_id).await;
    assert!(
        seen.iter().any(|m| m.starts_with("running: tick ")),
        "the status shows the output: {seen:?}"
    );
    let TaskPayload::Completed { result } = done.payload else {
        panic!("completed: {done:?}")
    };
    let result: CallToolResult = serde_json::from_value(serde_json::Value::Object(result)).unwrap();
    let (failed, body) = text(&result);
    assert!(
        !failed && body.starts_with("tick 0\n") && body.ends_with("tick 11\n"),
        "{body}"
    );
    // tasks/cancel interrupts the cell; the session keeps its state.
    let created = task_of(
        peer.call_tool_once(run("while True:\n    pass", session))
            .await
            .unwrap(),
    );
    peer.cancel_task(CancelTaskParams::new(created.task.task_id.clone()))
        .await
        .unwrap();
    let (done, _) = settle(&peer, &created.task.task_id).await;
    assert_eq!(done.status(), TaskStatus::Cancelled, "{done:?}");
    match peer.call_tool_once(run("print(x)", session)).await.unwrap() {
        CallToolResponse::Complete(r) => assert_eq!(text(&r), (false, "41\n".into())),
        other => panic!("{other:?}"),
    }
    // A task whose kernel dies completes with the death explained.
    let created = task_of(
        peer.call_tool_once(run(
            "import os, signal, time\ntime.sleep(1.5)\nos.kill(os.getpid(), signal.SIGKILL)",
            session,
        ))
        .await
        .unwrap(),
    );
    let (done, _) = settle(&peer, &created.task.task_id).await;
    let TaskPayload::Completed { result } = done.payload else {
        panic!("completed: {done:?}")
    };
    let result: CallToolResult = serde_json::from_value(serde_json::Value::Object(result)).unwrap();
    let (failed, body) = text(&result);
    assert!(failed && body.contains("killed by SIGKILL"), "{body}");
    // An unknown task.
    let e = peer
        .get_task(GetTaskParams::new("no-such-task"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no-such-task"), "{e}");
    client.cancel().await.unwrap();
}

/// Over HTTP, a task started on one connection is polled and cancelled from another
/// (tasks belong to the server, not to a connection), and ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_a_task_is_polled_and_cancelled_from_another_connection() {
    use rmcp::ServiceExt;
    use rmcp::model::{
        CancelTaskParams, ClientCapabilities, ClientConfig, GetTaskParams, Implementation,
        TaskStatus,
    };
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

    let dir = common::project_dir();
    let token = "a-third-test-token-0123456789";
    let port = common::free_port();
    let addr = format!("127.0.0.1:{port}");
    let _server = HttpServer(
        Command::new(common::mcpr_bin())
            .args(["serve", "--http", &addr])
            .env("MCPR_SERVE_TOKEN", token)
            .current_dir(dir.path())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    common::wait_for_port(port);
    mcpr::tools::install_tls_provider();
    let url = format!("http://{addr}/mcp");
    let connect = || async {
        let config = StreamableHttpClientTransportConfig::with_uri(url.as_str()).auth_header(token);
        let transport = StreamableHttpClientTransport::with_client(reqwest::Client::new(), config);
        ClientConfig::new(
            ClientCapabilities::builder().enable_tasks().build(),
            Implementation::from_build_env(),
        )
        .serve(transport)
        .await
        .unwrap()
    };
    let (a, b) = (connect().await, connect().await);
    let created = task_of(
        a.peer()
            .call_tool_once(run(
                "x = 1\nimport time\nwhile True:\n    time.sleep(0.05)",
                Some("far"),
            ))
            .await
            .unwrap(),
    );
    let id = created.task.task_id.clone();
    let seen = b
        .peer()
        .get_task(GetTaskParams::new(id.clone()))
        .await
        .unwrap();
    assert_eq!(seen.task.status(), TaskStatus::Working);
    b.peer()
        .cancel_task(CancelTaskParams::new(id.clone()))
        .await
        .unwrap();
    let (done, _) = settle(a.peer(), &id).await;
    assert_eq!(done.status(), TaskStatus::Cancelled);
    let r = result_of(
        b.peer(),
        b.peer()
            .call_tool_once(run("print(x)", Some("far")))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(text(&r), (false, "1\n".into()));
    a.cancel().await.unwrap();
    b.cancel().await.unwrap();
}

/// `run_task` with a model configured: the agent loop (the model's first code fails, the
/// error goes back, the second works), returning the answer, the code and a summary; the
/// session's state is then run_python's too. Without a model, it says how to give one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_task_runs_the_agent_loop_with_the_model_configured() {
    let dir = common::project_dir();
    let model = common::FakeOpenAi::start(
        dir.path(),
        json!([
            {"content": "```python\nanswer = 6 * 7 / 0\n```"},
            {"content": "Fixed.\n```python\nanswer = 6 * 7\nprint(answer)\n```"}
        ]),
    );
    let base_url = model.base_url();
    let (client, _) = stdio_client_with_tasks_and(
        dir.path(),
        &[
            "--llm",
            "openai",
            "--base-url",
            &base_url,
            "--model",
            "test-model",
        ],
    )
    .await;
    let peer = client.peer().clone();
    let request = rmcp::model::CallToolRequestParams::new("run_task").with_arguments(
        json!({"task": "multiply six by seven", "session": "agent"})
            .as_object()
            .unwrap()
            .clone(),
    );
    let r = result_of(&peer, peer.call_tool_once(request).await.unwrap()).await;
    let (failed, body) = text(&r);
    assert!(!failed, "{body}");
    assert!(body.starts_with("42\n"), "{body}");
    assert!(
        body.contains("[code]\nanswer = 6 * 7\nprint(answer)"),
        "{body}"
    );
    assert!(
        body.ends_with("[mcpr] session agent, step 1: done in 2 attempt(s)"),
        "{body}"
    );
    assert_eq!(model.requests().len(), 2);
    let r = result_of(
        &peer,
        peer.call_tool_once(run("print(answer + 1)", Some("agent")))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(text(&r), (false, "43\n".into()));
    client.cancel().await.unwrap();

    let (client, _) = stdio_client_with_tasks(dir.path()).await;
    let request = rmcp::model::CallToolRequestParams::new("run_task")
        .with_arguments(json!({"task": "anything"}).as_object().unwrap().clone());
    let r = result_of(
        client.peer(),
        client.peer().call_tool_once(request).await.unwrap(),
    )
    .await;
    let (failed, body) = text(&r);
    assert!(
        failed && body.starts_with("no model is configured for this server: start it with `mcpr serve --llm openai --base-url URL`"),
        "{body}"
    );
    client.cancel().await.unwrap();
}

/// Lines on stdin that are not JSON-RPC messages, requests rmcp cannot read and wrong
/// argument types each get an error saying what is wrong, and the server keeps serving.
#[test]
fn over_stdio_malformed_messages_get_errors_and_the_server_keeps_serving() {
    use std::io::{BufRead, Write};
    let dir = common::project_dir();
    // Started elsewhere, as desktop clients do, serving the project named.
    let mut server = Command::new(common::mcpr_bin())
        .arg("serve")
        .arg("--project")
        .arg(dir.path())
        .current_dir("/")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = server.stdin.take().unwrap();
    let mut stdout = std::io::BufReader::new(server.stdout.take().unwrap());
    let mut send = |line: &str| {
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    };
    let mut reply = || {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        serde_json::from_str::<Value>(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    };
    send("{not json");
    let r = reply();
    assert_eq!(r["error"]["code"], -32700, "{r}");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("not JSON"),
        "{r}"
    );
    send(
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
    );
    let r = reply();
    assert_eq!(r["result"]["serverInfo"]["name"], "mcpr", "{r}");
    send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    send("[1, 2]");
    let r = reply();
    assert_eq!(r["error"]["code"], -32600, "{r}");
    assert_eq!(
        r["error"]["message"],
        "invalid request: a JSON-RPC message is an object"
    );
    send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":5}}"#);
    let r = reply();
    assert_eq!(r["id"], 2);
    assert_eq!(r["error"]["code"], -32602, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`params.name` must be a string"),
        "{r}"
    );
    send(r#"{"jsonrpc":"2.0","id":3,"method":"no/such"}"#);
    let r = reply();
    assert_eq!(r["error"]["code"], -32601, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("unknown method \"no/such\""),
        "{r}"
    );
    send(
        r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"run_python","arguments":{"code":5}}}"#,
    );
    let r = reply();
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert_eq!(
        r["result"]["content"][0]["text"],
        "bad arguments for run_python: `code` must be a string, got the number 5"
    );
    send(
        r#"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"run_python","arguments":{"code":"1","session":"../up"}}}"#,
    );
    let r = reply();
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert!(
        r["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("\"../up\" is not a valid session name: use letters, digits"),
        "{r}"
    );
    send(
        r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"run_python","arguments":{"code":"print(6 * 7)"}}}"#,
    );
    let r = reply();
    assert_eq!(r["id"], 5);
    assert_eq!(r["result"]["content"][0]["text"], "42\n", "{r}");
    drop(stdin);
    assert!(server.wait().unwrap().success());
    let list = common::mcpr_ok(dir.path(), &["replay", "list", "--json"]);
    let list: Value = serde_json::from_str(common::stdout(&list).trim()).unwrap();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
}

/// `--http` binds loopback unless `--allow-remote`; without a token given, a new one is
/// written to a file only the user can read, named on stderr, and it opens the door.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_binds_loopback_unless_allowed_and_makes_a_private_token() {
    mcpr::tools::install_tls_provider();
    let dir = common::project_dir();
    let o = common::mcpr_in(dir.path(), &["serve", "--http", "0.0.0.0:0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        common::stderr(&o).contains("binding anything but loopback needs --allow-remote"),
        "{}",
        common::stderr(&o)
    );
    let state = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let mut child = Command::new(common::mcpr_bin())
        .args(["serve", "--http", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .env("XDG_STATE_HOME", state.path())
        .env_remove("MCPR_SERVE_TOKEN")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    while !said.contains("serving MCP over HTTP") {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() == 0 {
            break;
        }
        said.push_str(&line);
    }
    let _server = HttpServer(child);
    let path = state.path().join("mcpr/serve-token");
    assert!(said.contains(&path.display().to_string()), "{said}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let token = std::fs::read_to_string(&path).unwrap();
    assert!(
        !said.contains(&token),
        "the token itself is not printed: {said}"
    );
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let post = |token: String| {
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/mcp"))
            .header("Accept", "application/json, text/event-stream")
            .bearer_auth(token)
            .json(&init)
            .send()
    };
    assert_eq!(post(token.clone()).await.unwrap().status(), 200);
    assert_eq!(post(format!("{token}x")).await.unwrap().status(), 401);
}

/// `--idle-minutes`: a session idle that long is closed and its kernel freed; its record
/// stays, and the next call continues it with its state rebuilt from the record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_are_closed_and_continued_from_their_record() {
    use rmcp::ServiceExt;
    let dir = common::project_dir();
    // Every process below the server must be the session's: no warm kernels (those
    // stay until the server stops, see the test after this one).
    std::fs::write(dir.path().join("mcpr.toml"), "[kernel]\nwarm_pool = 0\n").unwrap();
    let mut command = tokio::process::Command::new(common::mcpr_bin());
    command
        .args(["serve", "--idle-minutes", "0.1"])
        .current_dir(dir.path());
    let (transport, _) = rmcp::transport::TokioChildProcess::builder(command)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = transport.id().unwrap() as i32;
    let client = ().serve(transport).await.unwrap();
    let r = client
        .peer()
        .call_tool(run("x = 6 * 7", Some("idle")))
        .await
        .unwrap();
    assert!(!text(&r).0, "{r:?}");
    let kernel = descendants(pid);
    assert!(!kernel.is_empty(), "a kernel runs");
    // Closed after 6 s without a call (checked every 6 s): poll up to 40 s.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    while kernel.iter().any(|p| alive(*p)) {
        assert!(
            std::time::Instant::now() < deadline,
            "the idle session's kernel still runs: {kernel:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(alive(pid), "the server goes on");
    let r = client
        .peer()
        .call_tool(run("print(x)", Some("idle")))
        .await
        .unwrap();
    assert_eq!(text(&r), (false, "42\n".into()));
    client.cancel().await.unwrap();
}

/// After the first session, sessions open on warm kernels (a continuation from a saved
/// checkpoint too, with the same random number); the pool's folders are no sessions,
/// and when the client goes the pool's kernels and folders go with the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_take_warm_kernels_and_none_outlive_the_server() {
    use rmcp::ServiceExt;
    use tokio::io::AsyncBufReadExt;
    let dir = common::project_dir();
    let mut command = tokio::process::Command::new(common::mcpr_bin());
    command
        .args(["serve", "--idle-minutes", "0.1"])
        .current_dir(dir.path())
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL");
    let (transport, stderr) = rmcp::transport::TokioChildProcess::builder(command)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = transport.id().unwrap() as i32;
    let mut lines = tokio::io::BufReader::new(stderr.unwrap()).lines();
    let client = ().serve(transport).await.unwrap();
    let patience = std::time::Duration::from_secs(120);
    // The server's next stderr line containing `needle`.
    let mut line_with = async |needle: String| -> String {
        loop {
            let line = tokio::time::timeout(patience, lines.next_line())
                .await
                .expect("a line within the patience")
                .unwrap()
                .unwrap_or_else(|| panic!("the server ended before saying {needle}"));
            if line.contains(&needle) {
                return line;
            }
        }
    };
    let call = async |code: &str, session: &str| {
        let r = client
            .peer()
            .call_tool(run(code, Some(session)))
            .await
            .unwrap();
        let (error, out) = text(&r);
        assert!(!error, "{out}");
        out
    };

    let r = call("import random\nr = random.random()\nprint(r)", "s0").await;
    let opened = line_with("opened session s0 ".into()).await;
    assert!(opened.ends_with("on a cold kernel"), "{opened}");
    // The pool was made by that first session; a later one takes its kernel as soon as
    // it is ready.
    let deadline = std::time::Instant::now() + patience;
    let mut k = 1;
    loop {
        let name = format!("s{k}");
        assert_eq!(call("print(6 * 7)", &name).await, "42\n");
        let opened = line_with(format!("opened session {name} ")).await;
        if opened.ends_with("on a warm kernel") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no session got a warm kernel"
        );
        k += 1;
    }
    // Closed when idle, then continued from its saved checkpoint on a warm kernel.
    line_with("closed idle session s0".into()).await;
    assert_eq!(call("print(r)", "s0").await, r);
    let opened = line_with("opened session s0 ".into()).await;
    assert!(opened.ends_with("on a warm kernel"), "{opened}");

    let listed = client
        .peer()
        .call_tool(rmcp::model::CallToolRequestParams::new("list_sessions"))
        .await
        .unwrap();
    let (_, listed) = text(&listed);
    assert!(
        listed.contains("s0") && !listed.contains(".pool"),
        "{listed}"
    );

    let root = dir.path().join("workspace");
    let pool_folders = || {
        std::fs::read_dir(&root)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".pool-"))
            .count()
    };
    assert!(pool_folders() > 0, "a warm kernel waits");
    let children = descendants(pid);
    client.cancel().await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while alive(pid) || children.iter().any(|c| alive(*c)) {
        assert!(
            std::time::Instant::now() < deadline,
            "30 s after the client left: server running {}, still running {:?}",
            alive(pid),
            children.iter().filter(|c| alive(**c)).collect::<Vec<_>>()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(pool_folders(), 0, "the pool's folders are removed at exit");
}

/// Whether `pid` runs (a zombie does not).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
        .unwrap_or(false)
}

/// Every process descended from `root`.
fn descendants(root: i32) -> Vec<i32> {
    let parents: Vec<(i32, i32)> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (_, rest) = stat.rsplit_once(") ")?;
            let ppid = rest.split(' ').nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.remove(0);
    found
}

/// SIGTERM ends the server with every kernel and MCP server child, while a task runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_every_kernel_and_mcp_child_a_running_task_included() {
    let dir = common::project_dir();
    let db = dir.path().join("notes.db");
    std::fs::write(
        dir.path().join(".mcp.json"),
        json!({"mcpServers": {"demo": common::demo_entry(&db)}}).to_string(),
    )
    .unwrap();
    let (client, pid) = stdio_client_with_tasks(dir.path()).await;
    let peer = client.peer().clone();
    let r = peer
        .call_tool_once(run(
            "from tools.demo import server_info\nprint(server_info()['pid'])",
            Some("one"),
        ))
        .await
        .unwrap();
    let r = result_of(&peer, r).await;
    let demo: i32 = text(&r).1.trim().parse().unwrap();
    task_of(
        peer.call_tool_once(run("while True:\n    pass", Some("two")))
            .await
            .unwrap(),
    );
    let children = descendants(pid as i32);
    assert!(children.contains(&demo), "{children:?}");
    // The demo server and the processes of two kernels at least.
    assert!(children.len() >= 3, "{children:?}");
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while std::time::Instant::now() < deadline {
        if !alive(pid as i32) && children.iter().all(|c| !alive(*c)) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let left: Vec<i32> = children.into_iter().filter(|c| alive(*c)).collect();
    panic!(
        "15 s after SIGTERM: mcpr serve running {}, still running {left:?}",
        alive(pid as i32)
    );
}

/// When the client goes away (stdin closes), the server ends its sessions: kernels and
/// MCP server children stop, and the process exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_stdin_ends_the_server_and_its_children() {
    use rmcp::ServiceExt;
    use rmcp::model::CallToolRequestParams;

    let dir = common::project_dir();
    let db = dir.path().join("notes.db");
    std::fs::write(
        dir.path().join(".mcp.json"),
        json!({"mcpServers": {"demo": common::demo_entry(&db)}}).to_string(),
    )
    .unwrap();
    let mut command = tokio::process::Command::new(common::mcpr_bin());
    command.arg("serve").current_dir(dir.path());
    let (transport, _) = rmcp::transport::TokioChildProcess::builder(command)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let serve_pid = transport.id().unwrap();
    let client = ().serve(transport).await.unwrap();
    let args = json!({"code": "from tools.demo import server_info\nprint(server_info()['pid'])"});
    let r = client
        .peer()
        .call_tool(
            CallToolRequestParams::new("run_python")
                .with_arguments(args.as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    let text: String = r
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect();
    let demo_pid: i32 = text.trim().parse().unwrap_or_else(|_| panic!("{text}"));
    client.cancel().await.unwrap();
    let alive = |pid: i32| unsafe { libc::kill(pid, 0) } == 0;
    for _ in 0..200 {
        if !alive(demo_pid) && !alive(serve_pid as i32) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "still running after 10 s: demo server {} · mcpr serve {}",
        alive(demo_pid),
        alive(serve_pid as i32)
    );
}
