//! `mcpr tools …` and `mcpr exec --mcp-config` as a user runs them, and the lifecycle of
//! server processes around mcpr's own.

mod common;

use common::{demo_entry, mcpr_bin, venv_server};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn write_config(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("mcp.json");
    let cfg = json!({"mcpServers": {
        "time": {"command": venv_server("mcp-server-time")},
        "git": {"command": venv_server("mcp-server-git")},
        "demo": demo_entry(&dir.join("notes.db")),
    }});
    std::fs::write(&path, cfg.to_string()).unwrap();
    path
}

fn mcpr(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(mcpr_bin())
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// True once the process is gone (or only a zombie awaiting its reaper).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

fn wait_gone(pid: u32) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if gone(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn exec_uses_configured_tools_as_in_the_readme() {
    let dir = common::project_dir();
    let cfg = write_config(dir.path());
    let (code, out, err) = mcpr(
        dir.path(),
        &[
            "exec",
            "--mcp-config",
            cfg.to_str().unwrap(),
            "from tools.time import get_current_time; print(get_current_time(timezone=\"UTC\")['timezone'])",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "UTC\n");
    // Without --mcp-config, ./.mcp.json is found.
    std::fs::copy(&cfg, dir.path().join(".mcp.json")).unwrap();
    let (code, out, err) = mcpr(
        dir.path(),
        &[
            "exec",
            "from tools.demo import calculate; calculate(expression='2^10')['result']",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "1024.0\n");
}

#[test]
fn tools_commands_list_search_describe_and_call() {
    let dir = common::project_dir();
    let cfg = write_config(dir.path());
    let c = cfg.to_str().unwrap();
    let (code, out, err) = mcpr(
        dir.path(),
        &["tools", "list", "--server", "time", "--mcp-config", c],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("time (tools.time): 2 tools") && out.contains("get_current_time"),
        "{out}"
    );
    let (code, out, _) = mcpr(
        dir.path(),
        &[
            "tools",
            "search",
            "commit history",
            "--json",
            "--mcp-config",
            c,
        ],
    );
    assert_eq!(code, 0);
    let hits: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(hits[0]["tool"], "git_log");
    let (code, out, _) = mcpr(
        dir.path(),
        &["tools", "describe", "convert_time", "--mcp-config", c],
    );
    assert_eq!(code, 0);
    assert!(out.starts_with("from tools.time import convert_time\n\ndef convert_time(*, source_timezone: str, time: str, target_timezone: str)"), "{out}");
    let (code, out, err) = mcpr(
        dir.path(),
        &[
            "tools",
            "call",
            "demo",
            "get_weather",
            "--args",
            "{\"city\": \"Cairo\"}",
            "--mcp-config",
            c,
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["temperature"],
        31.0
    );
    let (code, _, err) = mcpr(
        dir.path(),
        &[
            "tools",
            "call",
            "demo",
            "get_weather",
            "--args",
            "{\"city\": \"Atlantis\"}",
            "--mcp-config",
            c,
        ],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("no weather data for \"Atlantis\"") && err.contains("tool_error"),
        "{err}"
    );
    let (code, _, err) = mcpr(
        dir.path(),
        &["tools", "call", "demo", "nope", "--mcp-config", c],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("has no tool \"nope\"; it has: add_note"),
        "{err}"
    );
    let (code, _, err) = mcpr(
        dir.path(),
        &[
            "tools",
            "call",
            "demo",
            "calculate",
            "--args",
            "not json",
            "--mcp-config",
            c,
        ],
    );
    assert_eq!(code, 2);
    assert!(err.contains("--args is not valid JSON"), "{err}");
}

#[test]
fn a_bad_config_names_the_file_the_server_and_the_problem() {
    let dir = common::project_dir();
    std::fs::write(
        dir.path().join(".mcp.json"),
        r#"{"mcpServers": {"git": {"command": "x", "env": {"TOKEN": "${MCPR_UNSET_VARIABLE}"}}}}"#,
    )
    .unwrap();
    let (code, _, err) = mcpr(dir.path(), &["exec", "1"]);
    assert_eq!(code, 2);
    assert!(
        err.contains(".mcp.json, server \"git\": env.TOKEN: ${MCPR_UNSET_VARIABLE} is not set"),
        "{err}"
    );
    std::fs::write(dir.path().join(".mcp.json"), r#"{"mcpServers": [1]}"#).unwrap();
    let (code, _, err) = mcpr(dir.path(), &["tools", "list"]);
    assert_eq!(code, 2);
    assert!(err.contains("\"mcpServers\" must be an object"), "{err}");
}

#[test]
fn no_server_process_outlives_mcpr() {
    let dir = common::project_dir();
    let cfg = write_config(dir.path());
    let c = cfg.to_str().unwrap();
    // A normal exit.
    let (code, out, err) = mcpr(
        dir.path(),
        &[
            "exec",
            "--mcp-config",
            c,
            "from tools.demo import server_info; server_info()['pid']",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let pid: u32 = out.trim().parse().unwrap();
    assert!(wait_gone(pid), "demo server {pid} survived mcpr's exit");

    // mcpr killed with SIGKILL in the middle of a cell: the servers die with it.
    let mut child = Command::new(mcpr_bin())
        .args(["exec", "--json", "--mcp-config", c, "from tools.demo import server_info\nfrom tools.time import get_current_time\nget_current_time(timezone='UTC')\nprint(server_info()['pid'], flush=True)\nimport time\ntime.sleep(60)"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let pid: u32 = loop {
        let line = lines.next().expect("an output event").unwrap();
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        if event["type"] == "output" {
            break event["text"].as_str().unwrap().trim().parse().unwrap();
        }
    };
    let children: Vec<u32> =
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", child.id()))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(wait_gone(pid), "demo server {pid} survived kill -9 of mcpr");
    for c in children {
        assert!(wait_gone(c), "child {c} of mcpr survived kill -9");
    }
}

#[test]
fn tools_are_named_server_dot_tool_everywhere_and_the_old_form_still_works() {
    let dir = common::project_dir();
    let cfg = write_config(dir.path());
    let c = cfg.to_str().unwrap();
    let utc = "{\"timezone\": \"UTC\"}";
    for args in [
        vec!["tools", "call", "time.get_current_time", "--args", utc],
        vec!["tools", "call", "time", "get_current_time", "--args", utc],
        vec!["tools", "call", "get_current_time", "--args", utc],
    ] {
        let mut args = args.clone();
        args.extend(["--mcp-config", c]);
        let (code, out, err) = mcpr(dir.path(), &args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&out).unwrap()["timezone"],
            "UTC",
            "{args:?}"
        );
    }
    let (code, out, err) = mcpr(
        dir.path(),
        &["tools", "describe", "time.convert_time", "--mcp-config", c],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("from tools.time import convert_time\n\ndef convert_time(*, source_timezone: str, time: str, target_timezone: str)"),
        "{out}"
    );
    let (code, _, err) = mcpr(
        dir.path(),
        &["tools", "call", "demo.nope", "--mcp-config", c],
    );
    assert_eq!(code, 2);
    assert!(err.contains("has no tool \"nope\""), "{err}");
    let (code, _, err) = mcpr(
        dir.path(),
        &["tools", "call", "nowhere.get_time", "--mcp-config", c],
    );
    assert_eq!(code, 2);
    assert!(err.contains("configured: time, git, demo"), "{err}");
}

#[test]
fn a_server_writing_non_mcp_output_on_stdout_is_named() {
    let dir = common::project_dir();
    // A short start timeout, so the server that never answers fails quickly.
    std::fs::write(
        dir.path().join("mcpr.toml"),
        "[tools]\nstart_timeout_seconds = 3\n",
    )
    .unwrap();
    let python = common::venv_python();
    for (banner, code) in [
        (
            "usage: weather-server --api-key KEY",
            "import sys; sys.exit(2)",
        ),
        (
            "Starting weather server v1.2 on stdio",
            "import sys; sys.stdin.read()",
        ),
    ] {
        let cfg = json!({"mcpServers": {"weather": {"command": python, "args": ["-c", format!("print({banner:?}, flush=True); {code}")]}}});
        std::fs::write(dir.path().join(".mcp.json"), cfg.to_string()).unwrap();
        let (status, _, err) = mcpr(dir.path(), &["tools", "list"]);
        assert_eq!(status, 1, "{err}");
        assert!(
            err.contains(&format!(
                "server \"weather\" wrote non-MCP output on stdout: {banner}"
            )),
            "{err}"
        );
    }
}

#[test]
fn tools_refresh_lists_a_changed_server_again() {
    let dir = common::project_dir();
    let state = dir.path().join("state.json");
    std::fs::write(&state, r#"{"version": "1.0", "tools": ["alpha", "beta"]}"#).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/changing_mcp_server.py");
    let cfg = json!({"mcpServers": {
        "up": {"command": common::venv_python(), "args": [script, state]},
        "time": {"command": venv_server("mcp-server-time")},
    }});
    std::fs::write(dir.path().join(".mcp.json"), cfg.to_string()).unwrap();
    let (code, out, err) = mcpr(dir.path(), &["tools", "list", "up"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("beta") && !out.contains("gamma"), "{out}");
    std::fs::write(&state, r#"{"version": "2.0", "tools": ["alpha", "gamma"]}"#).unwrap();
    let (code, out, err) = mcpr(dir.path(), &["tools", "list", "up", "--cached"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("beta"),
        "the cache still holds the old list: {out}"
    );
    let (code, out, err) = mcpr(dir.path(), &["tools", "refresh"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("up: 4 tools (version 1.0 → 2.0): added gamma; removed beta"),
        "{out}"
    );
    assert!(out.contains("time: 2 tools"), "{out}");
    let (code, out, err) = mcpr(dir.path(), &["tools", "list", "--server", "up", "--cached"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("gamma") && !out.contains("beta"), "{out}");
}

/// Notes in the demo server's database, counted there.
fn notes_in(db: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT count(*) FROM notes", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn exec_refuses_a_destructive_tool_it_cannot_ask_about_and_says_how_to_allow_it() {
    let dir = common::project_dir();
    let db = dir.path().join("notes.db");
    let cfg = json!({"mcpServers": {"demo": demo_entry(&db)}});
    std::fs::write(dir.path().join(".mcp.json"), cfg.to_string()).unwrap();
    let caught = "import tools\nfrom tools.demo import add_note, delete_note\nn = add_note(title='keep', body='me')\ntry:\n    delete_note(id=n['id'])\nexcept tools.ToolError as e:\n    print('refused:', e.kind, '|', e)";
    let (code, out, err) = mcpr(
        dir.path(),
        &[
            "exec",
            caught,
            "delete_note(id=n['id'])",
            "print('not reached')",
        ],
    );
    assert_eq!(
        out,
        "refused: denied | demo.delete_note needs approval (destructive tool (destructiveHint) — [tools.policy] destructive = \"ask\"), and nobody could be asked: this run is non-interactive. The call was not made; to allow it, set \"demo.delete_note\" = \"allow\" under [tools.policy.servers] in mcpr.toml\n",
        "{err}"
    );
    // Uncaught, it fails its cell like any error: exit 1, the rest skipped.
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("ToolError: demo.delete_note needs approval"),
        "{err}"
    );
    assert!(err.contains("skipped 1 remaining cell"), "{err}");
    assert_eq!(notes_in(&db), 1, "the note survives");

    // Done as the message says, the same cell deletes it.
    std::fs::write(
        dir.path().join("mcpr.toml"),
        "[tools.policy.servers]\n\"demo.delete_note\" = \"allow\"\n",
    )
    .unwrap();
    let (code, out, err) = mcpr(
        dir.path(),
        &[
            "exec",
            "from tools.demo import delete_note\ndelete_note(id=1)",
        ],
    );
    assert_eq!((code, out.as_str()), (0, "'deleted note 1'\n"), "{err}");
    assert_eq!(notes_in(&db), 0);
}

#[test]
fn tools_call_is_the_users_own_approval_but_a_denied_tool_stays_denied() {
    let dir = common::project_dir();
    let db = dir.path().join("notes.db");
    let cfg = json!({"mcpServers": {"demo": demo_entry(&db)}});
    std::fs::write(dir.path().join(".mcp.json"), cfg.to_string()).unwrap();
    for _ in 0..2 {
        let (code, _, err) = mcpr(
            dir.path(),
            &[
                "tools",
                "call",
                "demo.add_note",
                "--args",
                r#"{"title": "t", "body": "b"}"#,
            ],
        );
        assert_eq!(code, 0, "{err}");
    }
    // Destructive, so `ask`: typed on the command line, it goes ahead.
    let (code, out, err) = mcpr(
        dir.path(),
        &[
            "tools",
            "call",
            "demo.delete_note",
            "--args",
            r#"{"id": 1}"#,
        ],
    );
    assert_eq!((code, out.as_str()), (0, "\"deleted note 1\"\n"), "{err}");
    let (code, out, _) = mcpr(dir.path(), &["tools", "describe", "demo.delete_note"]);
    assert_eq!(code, 0);
    assert!(
        out.ends_with("\nannotations: not read-only, destructive, idempotent, closed world\npolicy: ask (destructive tool (destructiveHint) — [tools.policy] destructive = \"ask\")\n"),
        "{out}"
    );
    std::fs::write(
        dir.path().join("mcpr.toml"),
        "[tools.policy]\ndestructive = \"deny\"\n[tools.policy.servers]\ndmeo = \"allow\"\n",
    )
    .unwrap();
    let (code, _, err) = mcpr(
        dir.path(),
        &[
            "tools",
            "call",
            "demo.delete_note",
            "--args",
            r#"{"id": 2}"#,
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("demo.delete_note is denied by the tool policy: destructive tool (destructiveHint) — [tools.policy] destructive = \"deny\""),
        "{err}"
    );
    assert!(
        err.contains("[tools.policy.servers] dmeo names no configured MCP server, so it applies to nothing (configured: demo)"),
        "a misspelt server is pointed out: {err}"
    );
    assert_eq!(notes_in(&db), 1);
    // `tools list --json` carries the annotations.
    let (code, out, err) = mcpr(dir.path(), &["tools", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    let catalogs: serde_json::Value = serde_json::from_str(&out).unwrap();
    let delete = catalogs[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "delete_note")
        .unwrap();
    assert_eq!(delete["annotations"]["destructiveHint"], true, "{delete}");
}
