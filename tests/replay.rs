//! The session record and time travel, end to end through the `mcpr` binary: real
//! kernels, the real demo MCP server (counting its calls in its own database), and a real
//! HTTP server speaking the OpenAI API (logging every request).

mod common;

use common::{
    FakeOpenAi, demo_calls_logged, demo_entry, free_port, mcpr_bin, stderr, stdout, venv_python,
    wait_for_port,
};
use mcpr::record::log::Detail;
use mcpr::record::recorder::ReplayDir;
use mcpr::record::snapshot::{current_manifest, load_manifest};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn mcpr(dir: &Path, args: &[&str]) -> Output {
    common::mcpr_in(dir, args)
}

/// Runs mcpr and insists it succeeded; its stdout.
fn ok(dir: &Path, args: &[&str]) -> String {
    stdout(&common::mcpr_ok(dir, args))
}

fn exec(dir: &Path, session: &str, code: &str) -> String {
    ok(dir, &["exec", "--session", session, code])
}

fn replay_dir(dir: &Path) -> ReplayDir {
    ReplayDir::open(&dir.join(".replay")).unwrap()
}

/// The workspace of `session` is hash-equal to the snapshot its step `step` recorded.
fn assert_workspace_is_step(dir: &Path, session: &str, step: u64) {
    let rd = replay_dir(dir);
    let log = rd.read(session, Detail::Full).unwrap();
    let (history, _) = rd.history(&log, Some(step)).unwrap();
    let snapshot = &history.last().unwrap().step.end.as_ref().unwrap().snapshot;
    let want = load_manifest(rd.store(), snapshot).unwrap();
    let have = current_manifest(&dir.join("workspace").join(session)).unwrap();
    assert_eq!(have, want, "workspace differs from step {step}'s snapshot");
}

/// Turns saved checkpoints off, for tests of replay itself (re-running recorded cells):
/// with them on, a continuation loads the saved state and re-runs nothing.
fn replay_only(dir: &Path) {
    std::fs::write(dir.join("mcpr.toml"), "[checkpoints]\nsaved = false\n").unwrap();
}

fn write_mcp(dir: &Path, servers: Value) {
    std::fs::write(
        dir.join(".mcp.json"),
        json!({ "mcpServers": servers }).to_string(),
    )
    .unwrap();
}

#[test]
fn a_named_session_keeps_its_state_and_rewind_goes_back_to_a_step() {
    let dir = common::project_dir();
    let d = dir.path();
    exec(d, "s", "x = 1");
    exec(d, "s", "x += 10\nopen('f.txt', 'w').write(str(x))");
    assert_eq!(exec(d, "s", "print(x)"), "11\n");
    assert_workspace_is_step(d, "s", 3);

    let o = mcpr(d, &["replay", "rewind", "s", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("back at step 1"), "{}", stderr(&o));
    assert_workspace_is_step(d, "s", 1);
    assert_eq!(
        exec(d, "s", "import os\nprint(x, os.path.exists('f.txt'))"),
        "1 False\n"
    );

    // The later steps stay as a branch: step 4 continues from step 1.
    let rd = replay_dir(d);
    let log = rd.read("s", Detail::Full).unwrap();
    assert_eq!(log.step(4).unwrap().begin.parent, 1);
    let mut leaves = log.leaves();
    leaves.sort();
    assert_eq!(leaves, vec![3, 4]);
    let list: Value = serde_json::from_str(&ok(d, &["replay", "list", "--json"])).unwrap();
    assert_eq!(list[0]["name"], "s");
    assert_eq!(list[0]["steps"], 4);
    assert_eq!(list[0]["branches"], 2);

    // `replay s 3` still shows the abandoned branch.
    let shown: Value = serde_json::from_str(&ok(d, &["replay", "s", "3", "--json"])).unwrap();
    let steps: Vec<u64> = shown
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, vec![1, 2, 3]);
    assert_eq!(shown[2]["cells"][0]["output"], "11\n");
}

#[test]
fn rewind_serves_tool_calls_and_ask_llm_from_the_record_without_calling_them() {
    rewind_serves_calls_from_the_record(mcpr::sandbox::IsolationRequest::Auto);
}

#[test]
fn rewind_serves_tool_calls_and_ask_llm_from_the_record_in_docker_too() {
    if let Some(level) = common::docker_level_blocking() {
        rewind_serves_calls_from_the_record(level);
    }
}

fn rewind_serves_calls_from_the_record(level: mcpr::sandbox::IsolationRequest) {
    let dir = common::project_dir_at(level);
    let d = dir.path();
    let db = d.join("notes.db");
    write_mcp(d, json!({ "demo": demo_entry(&db) }));
    let code = "```python\nfrom tools.demo import add_note, calculate\nnote = add_note(title='t1', body='first')\nsum_ = calculate(expression='2+3')\nanswer = ask_llm('Say hi')\nprint(note['id'], sum_['result'], answer)\n```";
    let server = FakeOpenAi::start(
        d,
        json!([{ "content": code }, { "content": "hi there" }, { "content": "done" }]),
    );
    let run = mcpr(
        d,
        &[
            "run",
            "--session",
            "a",
            "--llm",
            "openai",
            "--base-url",
            &server.base_url(),
            "--model",
            "test-model",
            "store a note and add numbers",
        ],
    );
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(stdout(&run), "1 5.0 hi there\n");
    exec(
        d,
        "a",
        "from tools.demo import add_note\nsecond = add_note(title='t2', body=answer)\nprint(second['id'])",
    );
    let tool_calls = demo_calls_logged(&db);
    let llm_calls = server.requests().len();
    assert_eq!((tool_calls, llm_calls), (3, 2));

    // The record holds the exchange, the code and the calls.
    let shown: Value = serde_json::from_str(&ok(d, &["replay", "a", "--json"])).unwrap();
    assert_eq!(shown[0]["task"], "store a note and add numbers");
    assert_eq!(shown[0]["llm_calls"], 2);
    let calls = shown[0]["cells"][0]["calls"].as_array().unwrap();
    let names: Vec<&str> = calls.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"ask_llm"), "{names:?}");
    assert_eq!(names.iter().filter(|n| **n == "tools.call").count(), 2);

    // Rewinding to step 1 and continuing re-creates Python state with no calls made.
    ok(d, &["replay", "rewind", "a", "1"]);
    let out = exec(d, "a", "print(answer, note['title'], 'second' in dir())");
    assert_eq!(out, "hi there t1 False\n");
    assert_eq!(
        demo_calls_logged(&db),
        tool_calls,
        "a tool was called again"
    );
    assert_eq!(
        server.requests().len(),
        llm_calls,
        "the model was asked again"
    );
    assert_workspace_is_step(d, "a", 3);

    // A later task continues the agent's conversation: the model sees the earlier task.
    std::fs::create_dir_all(d.join("later")).unwrap();
    let later = FakeOpenAi::start(
        &d.join("later"),
        json!([{ "content": "```python\nprint('nothing left to do')\n```" }]),
    );
    let run = mcpr(
        d,
        &[
            "run",
            "--session",
            "a",
            "--llm",
            "openai",
            "--base-url",
            &later.base_url(),
            "--model",
            "test-model",
            "anything else?",
        ],
    );
    assert!(run.status.success(), "{}", stderr(&run));
    let requests = later.requests();
    assert_eq!(requests.len(), 1);
    let prompt = requests[0].1["messages"].to_string();
    assert!(prompt.contains("store a note and add numbers"), "{prompt}");
    let log = replay_dir(d).read("a", Detail::Full).unwrap();
    assert_eq!(log.step(4).unwrap().begin.parent, 3);
    assert_eq!(demo_calls_logged(&db), tool_calls);
}

#[test]
fn files_changed_by_hand_between_steps_are_kept() {
    let dir = common::project_dir();
    let d = dir.path();
    exec(d, "h", "open('made.txt', 'w').write('by code')\nx = 1");
    let ws = d.join("workspace/h");
    std::fs::write(ws.join("mine.txt"), "added by hand").unwrap();
    std::fs::write(ws.join("made.txt"), "edited by hand").unwrap();
    let o = mcpr(
        d,
        &[
            "exec",
            "--session",
            "h",
            "print(x, open('mine.txt').read(), open('made.txt').read())",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "1 added by hand edited by hand\n");
    assert!(stderr(&o).contains("kept 2 file(s)"), "{}", stderr(&o));
}

#[test]
fn a_session_in_use_is_refused_with_a_clear_message() {
    let dir = common::project_dir();
    let d = dir.path();
    exec(d, "busy", "x = 1");
    let rd = replay_dir(d);
    let _held = mcpr::record::log::LogWriter::open(
        &rd.log_path("busy"),
        rd.store().clone(),
        mcpr::record::log::Secrets::default(),
    )
    .unwrap();
    let o = mcpr(d, &["exec", "--session", "busy", "print(x)"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("in use by another mcpr process"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_call_the_record_does_not_hold_is_reported_as_a_divergence() {
    let dir = common::project_dir();
    let d = dir.path();
    replay_only(d);
    let db = d.join("notes.db");
    write_mcp(d, json!({ "demo": demo_entry(&db) }));
    exec(d, "d", "x = 5");
    exec(
        d,
        "d",
        "import random\nfrom tools.demo import calculate\nr = calculate(expression=f'{random.random()} * 2')",
    );
    let calls = demo_calls_logged(&db);
    let o = mcpr(d, &["replay", "rewind", "d", "2"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("diverged at step 2"), "{err}");
    assert!(err.contains("tools.call"), "{err}");
    assert!(err.contains("where the record has"), "{err}");
    assert_eq!(demo_calls_logged(&db), calls);
    // Step 1 is still reachable.
    ok(d, &["replay", "rewind", "d", "1"]);
    assert_eq!(exec(d, "d", "print(x)"), "5\n");
}

#[test]
fn a_fork_shares_its_prefix_and_goes_its_own_way() {
    let dir = common::project_dir();
    let d = dir.path();
    exec(d, "p", "x = 1\nopen('a.txt', 'w').write('one')");
    exec(d, "p", "x = 2\nopen('a.txt', 'w').write('two')");
    let parent_log = d.join(".replay/p.jsonl");
    let before = std::fs::read(&parent_log).unwrap();

    assert_eq!(ok(d, &["fork", "p", "1", "--name", "q"]), "q\n");
    assert_eq!(
        std::fs::read_to_string(d.join("workspace/q/a.txt")).unwrap(),
        "one"
    );
    assert_eq!(exec(d, "q", "print(x)\nx = 100"), "1\n");
    assert_eq!(exec(d, "q", "print(x)"), "100\n");
    assert_eq!(
        std::fs::read(&parent_log).unwrap(),
        before,
        "parent changed"
    );
    assert_eq!(exec(d, "p", "print(x)"), "2\n");

    let shown: Value = serde_json::from_str(&ok(d, &["replay", "q", "--json"])).unwrap();
    let steps: Vec<(String, u64)> = shown
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["session"].as_str().unwrap().to_string(),
                s["step"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        vec![("p".into(), 1), ("q".into(), 2), ("q".into(), 3)]
    );

    let o = mcpr(d, &["replay", "diff", "p@2", "q@2"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "different branches compare unequal"
    );
    let text = stdout(&o);
    assert!(text.contains("p@1  shared"), "{text}");
    assert!(text.contains("- x = 2"), "{text}");
    assert!(text.contains("+ print(x)"), "{text}");
    let same = mcpr(d, &["replay", "diff", "p@1", "q@1"]);
    assert_eq!(same.status.code(), Some(0), "{}", stdout(&same));
}

#[test]
fn killing_mcpr_mid_step_keeps_every_completed_step() {
    let dir = common::project_dir();
    let d = dir.path();
    let mut child = Command::new(mcpr_bin())
        .args([
            "exec",
            "--session",
            "k",
            "x = 41",
            "import time\nprint('started', flush=True)\ntime.sleep(60)",
        ])
        .current_dir(d)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line, "started\n");
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();

    let o = mcpr(d, &["replay", "k", "2", "--json"]);
    assert_eq!(o.status.code(), Some(2), "step 2 never finished");
    assert!(stderr(&o).contains("interrupted"), "{}", stderr(&o));
    // The completed step, and the interrupted one marked as such.
    let shown: Value = serde_json::from_str(&ok(d, &["replay", "k", "--json"])).unwrap();
    assert_eq!(shown.as_array().unwrap().len(), 2);
    assert_eq!(shown[1]["interrupted"], json!(true));
    assert_eq!(exec(d, "k", "print(x + 1)"), "42\n");
}

#[test]
fn a_torn_last_line_is_reported_and_skipped() {
    let dir = common::project_dir();
    let d = dir.path();
    exec(d, "t", "x = 7");
    let log = d.join(".replay/t.jsonl");
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::io::Write::write_all(&mut f, br#"{"type":"step","step":2,"par"#).unwrap();
    drop(f);

    let o = mcpr(d, &["replay", "t"]);
    assert!(o.status.success());
    assert!(
        stderr(&o).contains("incomplete last line"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).contains("x = 7"));
    assert_eq!(exec(d, "t", "print(x)"), "7\n");
    assert_eq!(exec(d, "t", "print(x * 2)"), "14\n");
    let rd = replay_dir(d);
    let read = rd.read("t", Detail::Full).unwrap();
    assert_eq!(read.steps.iter().filter(|s| s.complete()).count(), 3);
    assert_eq!(read.warnings.len(), 1, "{:?}", read.warnings);
}

#[test]
fn the_index_is_rebuilt_when_corrupt_and_follows_the_logs() {
    let dir = common::project_dir();
    let d = dir.path();
    exec(d, "one", "alpha_value = 1");
    exec(d, "two", "beta_value = 2");
    let names = |d: &Path| -> Vec<(String, u64)> {
        let v: Value = serde_json::from_str(&ok(d, &["replay", "list", "--json"])).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["name"].as_str().unwrap().into(),
                    r["steps"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(names(d), vec![("one".into(), 1), ("two".into(), 1)]);

    std::fs::write(d.join(".replay/index.sqlite"), b"this is not a database").unwrap();
    let o = mcpr(d, &["replay", "list"]);
    assert!(o.status.success());
    assert!(
        stderr(&o).contains("rebuilt the record index"),
        "{}",
        stderr(&o)
    );
    assert_eq!(names(d), vec![("one".into(), 1), ("two".into(), 1)]);

    exec(d, "two", "gamma_value = 3");
    assert_eq!(names(d), vec![("one".into(), 1), ("two".into(), 2)]);
    std::fs::remove_file(d.join(".replay/one.jsonl")).unwrap();
    assert_eq!(names(d), vec![("two".into(), 2)]);

    let hits = ok(d, &["replay", "search", "gamma_value"]);
    assert_eq!(hits, "two@2  gamma_value = 3\n");
}

#[test]
fn secrets_never_reach_the_record() {
    let dir = common::project_dir();
    let d = dir.path();
    let port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/http_mcp_server.py");
    let mut server = Command::new(venv_python())
        .arg(&script)
        .arg(port.to_string())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port);
    write_mcp(
        d,
        json!({"web": {"url": format!("http://127.0.0.1:{port}/mcp"),
                       "headers": {"Authorization": "Bearer ${WEB_TOKEN}"}}}),
    );
    let secret = "tok-7f3a9c2e-never-record-me";
    let o = Command::new(mcpr_bin())
        .args([
            "exec",
            "--session",
            "sec",
            "from tools.web import whoami\nwho = whoami()\nprint(who)\n_ = open('who.txt', 'w').write(str(who))",
        ])
        .current_dir(d)
        .env("WEB_TOKEN", secret)
        .env("SOME_API_KEY", "sk-another-secret-value")
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "{'result': '[redacted]'}\n");
    for entry in walk(&d.join(".replay")) {
        let bytes = std::fs::read(&entry).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(secret),
            "{} holds the secret",
            entry.display()
        );
        assert!(
            !text.contains("sk-another-secret-value"),
            "{}",
            entry.display()
        );
    }
    assert!(
        std::fs::read_to_string(d.join(".replay/sec.jsonl"))
            .unwrap()
            .contains("[redacted]")
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn export_and_import_carry_a_forked_session_with_its_objects() {
    let dir = common::project_dir();
    let d = dir.path();
    exec(
        d,
        "base",
        "import os\nx = 3\nos.makedirs('in/a/folder')\nopen('in/a/folder/data.txt', 'w').write('payload ' * 5000)",
    );
    ok(d, &["fork", "base", "1", "--name", "branch"]);
    exec(d, "branch", "y = x * 2");
    let bundle = d.join("branch.bundle");
    ok(
        d,
        &["replay", "export", "branch", "-o", bundle.to_str().unwrap()],
    );

    let other = common::project_dir();
    let o = other.path();
    let out = mcpr(o, &["replay", "import", bundle.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("imported session branch"));
    assert_eq!(
        exec(
            o,
            "branch",
            "print(x, y, len(open('in/a/folder/data.txt').read()))"
        ),
        "3 6 40000\n"
    );
    // Importing again changes nothing (the local log has grown since); a damaged
    // bundle is refused.
    let again = mcpr(o, &["replay", "import", bundle.to_str().unwrap()]);
    assert!(
        stderr(&again).contains("0 log(s) written, 2 already present"),
        "{}",
        stderr(&again)
    );
    let text = std::fs::read_to_string(&bundle).unwrap();
    let damaged = other.path().join("damaged.bundle");
    let pos = text.rfind("\"data\":\"").unwrap() + 8;
    let mut bytes = text.into_bytes();
    bytes[pos] = if bytes[pos] == b'A' { b'B' } else { b'A' };
    std::fs::write(&damaged, bytes).unwrap();
    let fresh = common::project_dir();
    let bad = mcpr(
        fresh.path(),
        &["replay", "import", damaged.to_str().unwrap()],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("does not match its hash"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn resume_continues_a_session_with_cells_from_stdin() {
    let dir = common::project_dir();
    let d = dir.path();
    exec(d, "r", "total = 40");
    let mut child = Command::new(mcpr_bin())
        .args(["resume", "r"])
        .current_dir(d)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"total += 2\nprint(total)\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "42\n");
    assert_eq!(exec(d, "r", "print(total)"), "42\n");
    let bad = mcpr(d, &["resume", "nope"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("no recorded session named \"nope\""));
}

#[test]
fn missing_sessions_and_steps_are_usage_errors() {
    let dir = common::project_dir();
    let d = dir.path();
    exec(d, "s", "x = 1");
    let o = mcpr(d, &["replay", "rewind", "s", "9"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("session s has no step 9"),
        "{}",
        stderr(&o)
    );
    let o = mcpr(d, &["replay", "show", "ghost"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no session named \"ghost\""),
        "{}",
        stderr(&o)
    );
    let o = mcpr(d, &["fork", "s", "1", "--name", "s"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("exists already"), "{}", stderr(&o));
}

#[test]
fn a_kernel_that_died_loses_its_state_in_the_replay_too() {
    let dir = common::project_dir();
    let d = dir.path();
    exec(d, "kd", "x = 1");
    let died = mcpr(d, &["exec", "--session", "kd", "import os\nos._exit(3)"]);
    assert_eq!(died.status.code(), Some(1));
    // As when it happened: the state after step 2 holds nothing of step 1.
    assert_eq!(exec(d, "kd", "print('x' in dir())\ny = 2"), "False\n");
    assert_eq!(exec(d, "kd", "print('x' in dir(), y)"), "False 2\n");
}

#[test]
fn a_cell_ending_otherwise_than_recorded_is_a_divergence_naming_the_error() {
    let dir = common::project_dir();
    let d = dir.path();
    replay_only(d);
    std::fs::write(d.join("input.txt"), "7").unwrap();
    let path = d.join("input.txt");
    // The kernel reads a file outside the record (isolation none lets it see the host).
    let cell = format!("n = int(open({:?}).read())", path.display().to_string());
    ok(d, &["exec", "--isolation", "none", "--session", "o", &cell]);
    std::fs::write(&path, "not a number").unwrap();
    let o = mcpr(d, &["replay", "rewind", "--isolation", "none", "o", "1"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("diverged at step 1"), "{err}");
    assert!(err.contains("ValueError"), "{err}");
    assert!(err.contains("where the record has Ok"), "{err}");
}

#[test]
fn steps_record_the_skills_they_create_and_use_and_replay_imports_them() {
    use std::io::Write;
    let dir = common::project_dir();
    let d = dir.path();
    let mut child = Command::new(mcpr_bin())
        .args(["run", "--session", "sk", "--llm", "manual"])
        .arg("the most common word in 'the cat and the hat'")
        .current_dir(d)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"import collections\ntext = 'the cat and the hat'\ncounts = collections.Counter(text.split())\nprint(counts.most_common(1)[0][0])\n.\n")
        .unwrap();
    let run = child.wait_with_output().unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    exec(
        d,
        "sk",
        "from skills.most_common_word import run\nw = run('a b b')",
    );
    let shown: Value = serde_json::from_str(&ok(d, &["replay", "sk", "--json"])).unwrap();
    assert_eq!(shown[0]["skills_created"], json!(["most_common_word"]));
    assert_eq!(shown[1]["skills_used"], json!(["most_common_word"]));
    ok(d, &["replay", "rewind", "sk", "2"]);
    assert_eq!(exec(d, "sk", "print(w)"), "b\n");
}

#[test]
fn long_output_is_stored_once_as_an_object_and_read_back_whole() {
    let dir = common::project_dir();
    let d = dir.path();
    let printed = exec(d, "big", "print('ab' * 50000)");
    assert_eq!(printed.len(), 100_001);
    let log = std::fs::read_to_string(d.join(".replay/big.jsonl")).unwrap();
    assert!(log.len() < 10_000, "the log holds the output inline");
    assert!(log.contains("\"$object\""));
    let shown: Value = serde_json::from_str(&ok(d, &["replay", "big", "--json"])).unwrap();
    assert_eq!(shown[0]["cells"][0]["output"].as_str().unwrap(), printed);
}

#[test]
fn files_the_host_restores_stay_writable_by_the_next_cell() {
    let project = common::project_dir();
    let dir = project.path();
    // Non-deterministic content: the re-run writes other bytes, so the host restores the
    // recorded file, which the next cell must be able to change as if it had written it.
    exec(
        dir,
        "g",
        "import os\nopen('big.bin', 'wb').write(os.urandom(1024))",
    );
    let out = exec(
        dir,
        "g",
        "open('big.bin', 'ab').write(b'x')\nprint(os.path.getsize('big.bin'))",
    );
    assert!(out.contains("1025"), "{out}");
    assert_workspace_is_step(dir, "g", 2);
}

#[test]
fn a_fifo_made_by_a_step_comes_back_and_its_re_run_does_not_diverge() {
    let project = common::project_dir();
    let dir = project.path();
    exec(
        dir,
        "f",
        "import os\nos.mkfifo('pipe')\nos.mkdir('d')\nos.mkfifo('d/p2')",
    );
    // Continuing re-runs the step: the leftover fifos must not make it diverge, and the
    // snapshot of a workspace holding fifos must not block.
    let out = exec(dir, "f", "print(sorted(os.listdir('.')), os.listdir('d'))");
    assert!(out.contains("'pipe'") && out.contains("['p2']"), "{out}");
    let out = exec(dir, "f", "print('still here')");
    assert!(out.contains("still here"), "{out}");
}

fn exec_env(dir: &Path, env: &[(&str, &str)], session: &str, code: &str) -> Output {
    Command::new(mcpr_bin())
        .args(["exec", "--session", session, code])
        .current_dir(dir)
        .stdin(Stdio::null())
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn redaction_never_changes_what_a_replay_re_executes() {
    let project = common::project_dir();
    let dir = project.path();
    // A secret-looking variable with a plain value is no secret: the code stays as written.
    let env = [("CI_JOB_TOKEN", "None"), ("BUILD_KEY", "12345678")];
    let o = exec_env(
        dir,
        &env,
        "r",
        "result = None; port = 12345678; print('ok')",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = exec_env(dir, &env, "r", "print(result, port)");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "None 12345678\n");

    // A real secret used as a literal in code: the record never holds it, so the step
    // says it cannot be restored exactly, and how to go on, instead of differing silently.
    let env = [("MY_API_KEY", "sk-live-abcdef123456")];
    let o = exec_env(dir, &env, "s", "x = 1");
    assert!(o.status.success(), "{}", stderr(&o));
    let o = exec_env(dir, &env, "s", "pw = 'sk-live-abcdef123456'");
    assert!(o.status.success(), "{}", stderr(&o));
    let log = std::fs::read_to_string(dir.join(".replay/s.jsonl")).unwrap();
    assert!(!log.contains("sk-live-abcdef123456"));
    let o = exec_env(dir, &env, "s", "print(pw)");
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(
            "step 2 of session s cannot be restored exactly: its code held a secret value"
        ),
        "{err}"
    );
    assert!(err.contains("mcpr replay rewind s 1"), "{err}");
    assert!(
        !stdout(&o).contains("[redacted]"),
        "nothing ran with redacted code"
    );
    ok(dir, &["replay", "rewind", "s", "1"]);
    let o = exec_env(dir, &env, "s", "print(x)");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "1\n");
}

#[test]
fn a_replayed_cell_that_shows_something_else_is_reported() {
    let project = common::project_dir();
    let dir = project.path();
    replay_only(dir);
    // Deterministic output, and a repr holding an object address: no warning.
    let o = exec_env(dir, &[], "d", "print('same'); object()");
    assert!(o.status.success(), "{}", stderr(&o));
    let o = exec_env(dir, &[], "d", "print(1)");
    assert!(
        !stderr(&o).contains("came back different"),
        "{}",
        stderr(&o)
    );

    let o = exec_env(
        dir,
        &[],
        "rnd",
        "import random; r = random.random(); print(r)",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let first = stdout(&o);
    let o = exec_env(dir, &[], "rnd", "print(r)");
    let err = stderr(&o);
    assert!(
        err.contains(
            "step 1 of session rnd (cell 1) came back different when re-run: stdout differs"
        ),
        "{err}"
    );
    assert!(
        err.contains(first.trim()),
        "the recorded value is named: {err}"
    );
    assert!(err.contains("by replay of 1 cell(s)"), "{err}");
}

/// Rewrites the log of `session` line by line.
fn edit_log(dir: &Path, session: &str, edit: impl Fn(Value) -> Option<Value>) {
    let path = dir.join(".replay").join(format!("{session}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<String> = text
        .lines()
        .filter_map(|l| edit(serde_json::from_str(l).unwrap()))
        .map(|v| v.to_string())
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn a_damaged_step_line_orphans_only_what_depends_on_it() {
    let project = common::project_dir();
    let dir = project.path();
    for i in 1..=4 {
        exec(dir, "c1", &format!("x{i} = {i}"));
    }
    let mut damaged_line = 0;
    edit_log(dir, "c1", |mut v| {
        if v["type"] == "step" && v["step"] == 3 {
            v["step"] = json!("three");
        }
        Some(v)
    });
    let text = std::fs::read_to_string(dir.join(".replay/c1.jsonl")).unwrap();
    for (i, l) in text.lines().enumerate() {
        if l.contains("\"three\"") {
            damaged_line = i + 1;
        }
    }
    let o = exec_env(dir, &[], "c1", "print(x1)");
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "step 4 of session c1 cannot be rebuilt: it continues from step 3, whose `step` line (line {damaged_line} of"
        )),
        "{err}"
    );
    assert!(err.contains("`mcpr replay rewind c1 2`"), "{err}");
    assert_eq!(
        err.matches("warning").count(),
        1,
        "one warning for one damaged line: {err}"
    );
    // The steps that can be read are all shown.
    let o = mcpr(dir, &["replay", "c1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let shown = stdout(&o);
    for step in ["step 1 ", "step 2 ", "step 4 "] {
        assert!(shown.contains(step), "{shown}");
    }
    ok(dir, &["replay", "rewind", "c1", "2"]);
    let o = exec_env(dir, &[], "c1", "print(x1 + x2)");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "3\n");
}

#[test]
fn an_interrupted_step_is_shown_marked_and_reported_once_with_its_line() {
    let project = common::project_dir();
    let dir = project.path();
    exec(dir, "rk", "x = 1");
    // As if mcpr had been killed before the step ended: no `end` line.
    edit_log(dir, "rk", |v| (v["type"] != "end").then_some(v));
    let o = mcpr(dir, &["replay", "rk"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let shown = stdout(&o);
    assert!(shown.contains("step 1 · interrupted"), "{shown}");
    assert!(!shown.contains("no steps yet"), "{shown}");
    let o = exec_env(dir, &[], "rk", "print(2)");
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("line 2: step 1 was interrupted"), "{err}");
    let o = exec_env(dir, &[], "rk", "print(3)");
    assert!(
        !stderr(&o).contains("interrupted"),
        "said once: {}",
        stderr(&o)
    );
    let o = mcpr(dir, &["replay", "rk", "--json"]);
    let steps: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(steps[0]["interrupted"], json!(true), "{steps}");
}

#[test]
fn commands_agree_on_names_messages_and_exit_codes() {
    let project = common::project_dir();
    let dir = project.path();
    // A name given for the first time is announced; a generated one is not.
    let o = exec_env(dir, &[], "fresh", "x = 1");
    assert!(stderr(&o).contains("new session fresh"), "{}", stderr(&o));
    let o = exec_env(dir, &[], "fresh", "x = 2");
    assert!(!stderr(&o).contains("new session"), "{}", stderr(&o));
    let o = mcpr(dir, &["exec", "print(1)"]);
    assert!(!stderr(&o).contains("new session"), "{}", stderr(&o));
    // Names that read as options or commands are refused.
    for bad in ["--session=-x", "--session=list", "--session=import"] {
        let o = mcpr(dir, &["exec", bad, "print(1)"]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stderr(&o));
        assert!(stderr(&o).contains("session"), "{}", stderr(&o));
    }
    // No match is an answer, as in `skills search` and `tools search`.
    let o = mcpr(dir, &["replay", "search", "nothingmatcheshere"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        stdout(&o).contains("no recorded step matches"),
        "{}",
        stdout(&o)
    );
    let help = stdout(&mcpr(dir, &["replay", "diff", "--help"]));
    assert!(help.contains("exits with 1 when they"), "{help}");
    // ask_llm without a model says so.
    let o = exec_env(
        dir,
        &[],
        "fresh",
        "ask_llm = __import__('mcpr').ask_llm\nask_llm('hi')",
    );
    let err = stderr(&o);
    assert!(err.contains("ask_llm needs a model"), "{err}");
    // Importing over a different session of the same name offers another name.
    let bundle = dir.join("fresh.bundle");
    ok(
        dir,
        &["replay", "export", "fresh", "-o", bundle.to_str().unwrap()],
    );
    let other = common::project_dir();
    exec_env(other.path(), &[], "fresh", "y = 1");
    let o = mcpr(
        other.path(),
        &["replay", "import", bundle.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("a different session named fresh is recorded here already")
            && err.contains("--as NEW_NAME"),
        "{err}"
    );
    ok(
        other.path(),
        &[
            "replay",
            "import",
            bundle.to_str().unwrap(),
            "--as",
            "theirs",
        ],
    );
    let o = exec_env(other.path(), &[], "theirs", "print(x)");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "2\n");
}

/// Every file under the object store (loose objects, packs and their indexes).
fn store_files(dir: &Path) -> Vec<std::path::PathBuf> {
    walk(&dir.join(".replay/objects"))
        .into_iter()
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != ".lock"))
        .collect()
}

#[test]
fn gc_removes_only_what_no_session_refers_to_and_a_dry_run_removes_nothing() {
    let dir = common::project_dir();
    let d = dir.path();
    // A session with a large file (stored as chunks) and small ones, and another whose
    // objects become garbage once its log is gone.
    exec(
        d,
        "keep",
        "import os, random\nrandom.seed(1)\nopen('big.bin', 'wb').write(random.randbytes(3 << 20))\nos.makedirs('small/inner')\nfor i in range(50):\n    open(f'small/inner/s{i}.txt', 'w').write(str(i))",
    );
    exec(d, "keep", "open('big.bin', 'ab').write(b'more')");
    exec(
        d,
        "gone",
        "import random\nrandom.seed(2)\nopen('other.bin', 'wb').write(random.randbytes(2 << 20))\nopen('note.txt', 'w').write('only here')",
    );
    std::fs::remove_file(d.join(".replay/gone.jsonl")).unwrap();
    let before = store_files(d);

    let report: Value =
        serde_json::from_str(&ok(d, &["replay", "gc", "--dry-run", "--json"])).unwrap();
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["sessions"], 1);
    assert!(report["removed"].as_u64().unwrap() > 0, "{report}");
    assert!(
        report["removed_bytes"].as_u64().unwrap() >= 2 << 20,
        "{report}"
    );
    assert_eq!(store_files(d), before, "a dry run removed something");

    let text = ok(d, &["replay", "gc"]);
    assert!(text.starts_with("removed "), "{text}");
    let after = store_files(d);
    assert!(after.len() < before.len(), "{text}");
    // Nothing left to collect.
    let again: Value = serde_json::from_str(&ok(d, &["replay", "gc", "--json"])).unwrap();
    assert_eq!(again["removed"], 0, "{again}");

    // The kept session still restores hash-exact: its workspace is rebuilt from the
    // objects when it is rewound, and it continues.
    std::fs::remove_dir_all(d.join("workspace/keep")).unwrap();
    ok(d, &["replay", "rewind", "keep", "2"]);
    assert_workspace_is_step(d, "keep", 2);
    assert_eq!(
        exec(
            d,
            "keep",
            "print(len(open('big.bin', 'rb').read()), open('small/inner/s7.txt').read())"
        ),
        format!("{} 7\n", (3 << 20) + 4)
    );
    // And exports whole.
    ok(d, &["replay", "export", "keep", "-o", "keep.bundle"]);
}

#[test]
fn gc_is_refused_while_a_running_mcpr_has_the_record_open() {
    let dir = common::project_dir();
    let d = dir.path();
    exec(d, "s", "x = 1");
    // This process opens the record for writing, as a running session would.
    let open = replay_dir(d);
    let out = mcpr(d, &["replay", "gc"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("open in a running mcpr"), "{err}");
    drop(open);
    ok(d, &["replay", "gc"]);
}
