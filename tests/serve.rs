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
    let r = client(dir.path());
    assert_eq!(s(&r, "time"), "UTC\n", "{r}");
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
    // Bad arguments get errors that say what is wrong, and the server keeps serving.
    assert!(
        s(&r, "bad_type").contains("invalid type: integer `5`, expected a string"),
        "{}",
        s(&r, "bad_type")
    );
    assert!(
        s(&r, "bad_timeout").contains("timeout must be from 0.1 to 3600 seconds, got -3"),
        "{}",
        s(&r, "bad_timeout")
    );
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
    let resources = r["resources"].as_array().unwrap();
    assert!(
        resources.iter().any(|u| u == "mcpr://session/shared"),
        "{r}"
    );
    // The record replays with no tool called.
    let calls = common::demo_calls_logged(&db);
    let o = common::mcpr_ok(
        dir.path(),
        &["exec", "--session", "shared", "print('again')"],
    );
    assert_eq!(common::stdout(&o), "again\n");
    assert_eq!(common::demo_calls_logged(&db), calls);
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
    assert!(r["malformed"].as_u64().unwrap() >= 400, "{r}");
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
}

/// rmcp's own client, two at once over HTTP: each has its own session, and one whose
/// kernel dies at its memory limit is told so while the other goes on untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_rmcp_as_the_client_a_kernel_death_reaches_only_its_own_client() {
    use rmcp::ServiceExt;
    use rmcp::model::CallToolRequestParams;
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
    let run = |code: &str| {
        let args = json!({ "code": code });
        CallToolRequestParams::new("run_python").with_arguments(args.as_object().unwrap().clone())
    };
    let text = |r: rmcp::model::CallToolResult| -> (bool, String) {
        let body = r
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect::<String>();
        (r.is_error.unwrap_or(false), body)
    };
    a.peer().call_tool(run("x = 'a'")).await.unwrap();
    b.peer().call_tool(run("x = 'b'")).await.unwrap();
    let (failed, body) = text(
        a.peer()
            .call_tool(run(
                "blocks = []\nwhile True:\n    blocks.append(bytearray(50 * 1024 * 1024))",
            ))
            .await
            .unwrap(),
    );
    assert!(failed, "{body}");
    assert!(body.contains("memory"), "{body}");
    let (failed, body) = text(b.peer().call_tool(run("print(x)")).await.unwrap());
    assert!(!failed && body == "b\n", "{body}");
    // The first client's session goes on.
    let (_, body) = text(
        a.peer()
            .call_tool(run("print('still here')"))
            .await
            .unwrap(),
    );
    assert!(body.contains("still here"), "{body}");
    a.cancel().await.unwrap();
    b.cancel().await.unwrap();
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
