//! The agent loop against a real HTTP server speaking the OpenAI chat-completions API
//! (tests/fixtures/openai_server.py), through the `mcpr run` binary.

mod common;

use common::{FakeOpenAi, mcpr_bin};
use mcpr::event::{Event, LlmPurpose};
use serde_json::json;
use std::path::Path;
use std::process::{Command, Stdio};

struct RunResult {
    code: i32,
    events: Vec<Event>,
    stderr: String,
}

impl RunResult {
    /// A `mcpr run --json` process as it ended: its exit code, events and stderr.
    fn of(out: &std::process::Output) -> RunResult {
        let events = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        RunResult {
            code: out.status.code().unwrap_or(-1),
            events,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

fn mcpr_run(dir: &Path, server: &FakeOpenAi, extra: &[&str], task: &str) -> RunResult {
    let out = Command::new(mcpr_bin())
        .args([
            "run",
            "--json",
            "--llm",
            "openai",
            "--base-url",
            &server.base_url(),
            "--model",
            "test-model",
        ])
        .args(extra)
        .arg(task)
        .current_dir(dir)
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .output()
        .unwrap();
    RunResult::of(&out)
}

fn project(llm: &str) -> tempfile::TempDir {
    let dir = common::project_dir();
    std::fs::write(dir.path().join("mcpr.toml"), format!("[llm]\n{llm}\n")).unwrap();
    dir
}

fn summary(r: &RunResult) -> &mcpr::event::StepSummary {
    r.events
        .iter()
        .find_map(|e| match e {
            Event::StepFinished(s) => Some(s),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no step summary; stderr: {}", r.stderr))
}

fn output(r: &RunResult) -> String {
    r.events
        .iter()
        .filter_map(|e| match e {
            Event::Output { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn code_runs_and_tokens_stream() {
    let dir = project("");
    let server = FakeOpenAi::start(
        dir.path(),
        json!([{"content": "Sure.\n```python\nprint(6 * 7)\n```"}]),
    );
    let r = mcpr_run(dir.path(), &server, &[], "multiply six by seven");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(output(&r), "42\n");
    let tokens = r
        .events
        .iter()
        .filter(|e| matches!(e, Event::LlmToken { .. }))
        .count();
    assert!(tokens >= 3, "the answer streamed in pieces: {tokens}");
    let s = summary(&r);
    assert!(s.success);
    assert_eq!((s.attempts, s.llm_calls), (1, 1));
    assert!(s.prompt_tokens > 0 && s.completion_tokens > 0);
    // The request carried the fixed prompt and the task, and asked for usage.
    let (_, body) = &server.requests()[0];
    assert_eq!(body["model"], "test-model");
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(
        body["messages"].as_array().unwrap().last().unwrap()["content"],
        "multiply six by seven"
    );
}

/// `mcpr run` keeps a live checkpoint of its step as the console does, and says so.
#[test]
fn a_run_keeps_a_live_checkpoint_of_its_step() {
    let dir = project("");
    let server = FakeOpenAi::start(
        dir.path(),
        json!([
            {"content": "```python\nimport random\nr = random.random()\nprint(1 / 0)\n```"},
            {"content": "```python\nprint(r < 1)\n```"}
        ]),
    );
    let r = mcpr_run(
        dir.path(),
        &server,
        &["--session", "long"],
        "a task of two attempts",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let kept = r
        .events
        .iter()
        .find_map(|e| match e {
            Event::CheckpointKept {
                session,
                step,
                live,
                live_bytes,
                ..
            } => Some((session.clone(), *step, live.clone(), *live_bytes)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no checkpoint_kept; stderr: {}", r.stderr));
    assert_eq!(
        (kept.0.as_str(), kept.1, kept.2.clone()),
        ("long", 1, vec![1])
    );
    assert!(kept.3 > 0, "the copy's memory is measured: {kept:?}");
    // Turned off in mcpr.toml, none is kept.
    std::fs::write(
        dir.path().join("mcpr.toml"),
        "[checkpoints]\nlive = false\n",
    )
    .unwrap();
    let server = FakeOpenAi::start(dir.path(), json!([{"content": "```python\nprint(r)\n```"}]));
    let r = mcpr_run(dir.path(), &server, &["--session", "long"], "again");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.events
            .iter()
            .any(|e| matches!(e, Event::CheckpointKept { step: 2, live, .. } if live.is_empty())),
        "{:?}",
        r.events
    );
}

#[test]
fn errors_feed_back_until_the_code_works() {
    let dir = project("");
    let server = FakeOpenAi::start(
        dir.path(),
        json!([
            {"content": "```python\nresult = 10 / 0\n```"},
            {"content": "```python\nresult = 10 / 2\nprint(result)\n```"}
        ]),
    );
    let r = mcpr_run(dir.path(), &server, &[], "divide ten by something");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = summary(&r);
    assert_eq!((s.success, s.attempts, s.llm_calls), (true, 2, 2));
    assert_eq!(s.output, "5.0\n");
    let requests = server.requests();
    let fix = requests[1].1["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(fix.contains("ZeroDivisionError: division by zero"), "{fix}");
    assert!(fix.contains("line 1"), "{fix}");
    let codes = r
        .events
        .iter()
        .filter(|e| matches!(e, Event::CodeGenerated { .. }))
        .count();
    assert_eq!(codes, 2, "every attempt is kept in the step");
}

#[test]
fn attempts_are_bounded_and_prose_is_a_final_answer() {
    let dir = project("");
    let bad = json!({"content": "```python\nraise ValueError('still broken')\n```"});
    let server = FakeOpenAi::start(dir.path(), json!([bad, bad, bad]));
    let r = mcpr_run(dir.path(), &server, &["--max-attempts", "2"], "fail");
    assert_eq!(r.code, 1);
    let s = summary(&r);
    assert_eq!((s.success, s.attempts), (false, 2));
    assert!(
        s.error
            .as_deref()
            .unwrap()
            .contains("ValueError: still broken")
    );
    drop(server);

    // Chat-like use: a plain answer is accepted as final (see also
    // an_answer_without_code_is_asked_for_code_once_and_marked_if_it_stays).
    std::fs::write(
        dir.path().join("mcpr.toml"),
        "[agent]\nrequire_code = false\n",
    )
    .unwrap();
    let server = FakeOpenAi::start(
        dir.path(),
        json!([{"content": "The capital of France is Paris."}]),
    );
    let r = mcpr_run(dir.path(), &server, &[], "capital of France?");
    assert_eq!(r.code, 0);
    assert_eq!(
        summary(&r).answer.as_deref(),
        Some("The capital of France is Paris.")
    );
}

#[test]
fn retries_on_429_5xx_malformed_and_slow_responses() {
    let dir = project("timeout_seconds = 1\nmax_retries = 4");
    let server = FakeOpenAi::start(
        dir.path(),
        json!([
            {"status": 429, "message": "slow down"},
            {"status": 503, "message": "overloaded"},
            {"malformed": true},
            {"delay": 2.5, "content": "too late"},
            {"content": "```python\nprint('made it')\n```"}
        ]),
    );
    let r = mcpr_run(dir.path(), &server, &[], "try hard");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(output(&r), "made it\n");
    // 429 and 503 are retried inside async-openai; the malformed and the slow stream by
    // mcpr's own loop, which counts its attempts.
    let attempts = r.events.iter().find_map(|e| match e {
        Event::LlmCall { attempts, .. } => Some(*attempts),
        _ => None,
    });
    assert_eq!(attempts, Some(3));
    assert_eq!(server.requests().len(), 5);
}

#[test]
fn clear_errors_for_bad_key_unknown_model_and_unreachable_endpoint() {
    let dir = project("max_retries = 1");
    let server = FakeOpenAi::start(
        dir.path(),
        json!([{"status": 401, "message": "Incorrect API key"}]),
    );
    let r = mcpr_run(dir.path(), &server, &[], "x");
    assert_eq!(r.code, 1);
    assert!(
        summary(&r)
            .error
            .as_deref()
            .unwrap()
            .contains("refused the API key (HTTP 401): set the right key in the OPENAI_API_KEY environment variable"),
        "{:?}",
        summary(&r).error
    );
    assert_eq!(server.requests().len(), 1, "a bad key is not retried");
    drop(server);

    let server = FakeOpenAi::start(
        dir.path(),
        json!([{"status": 404, "message": "The model `nope` does not exist", "code": "model_not_found"}]),
    );
    let r = mcpr_run(dir.path(), &server, &[], "x");
    let e = summary(&r).error.clone().unwrap();
    assert!(
        e.contains("does not know model \"test-model\"") && e.contains("--model"),
        "{e}"
    );
    drop(server);

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new(mcpr_bin())
        .args([
            "run",
            "--json",
            "--llm",
            "openai",
            "--model",
            "m",
            "--base-url",
            &format!("http://127.0.0.1:{closed}/v1"),
            "x",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text.contains("is unreachable") && text.contains("Is the server running?"),
        "{text}"
    );
}

#[test]
fn usage_is_estimated_when_the_server_reports_none() {
    let dir = project("");
    let server = FakeOpenAi::start(
        dir.path(),
        json!([{"content": "All good, nothing to run.", "usage": false}]),
    );
    let r = mcpr_run(dir.path(), &server, &[], "say something");
    let usage = r.events.iter().find_map(|e| match e {
        Event::LlmCall { usage, .. } => Some(*usage),
        _ => None,
    });
    let usage = usage.unwrap();
    assert!(
        usage.estimated && usage.prompt_tokens > 100 && usage.completion_tokens > 3,
        "{usage:?}"
    );
}

#[test]
fn ask_llm_from_code_concurrently_and_within_its_budget() {
    let dir = project("");
    std::fs::write(
        dir.path().join("mcpr.toml"),
        "[agent]\nask_llm_max_calls = 4\n",
    )
    .unwrap();
    let code = "from concurrent.futures import ThreadPoolExecutor\nwith ThreadPoolExecutor(4) as pool:\n    answers = list(pool.map(lambda w: ask_llm('Is this a fruit? yes/no', w), ['apple', 'brick', 'pear', 'car']))\nprint(sorted(answers))\ntry:\n    ask_llm('one more')\nexcept Exception as e:\n    print(type(e).__name__, str(e).split(' (')[0])";
    let server = FakeOpenAi::start(
        dir.path(),
        json!([{"content": format!("```python\n{code}\n```")}, {"content": "yes"}, {"content": "no"}, {"content": "yes"}, {"content": "no"}]),
    );
    let r = mcpr_run(dir.path(), &server, &[], "which are fruits");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        output(&r),
        "['no', 'no', 'yes', 'yes']\nHostCallError ask_llm was called more than 4 times in this step\n"
    );
    let asks: Vec<&Event> = r
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::LlmCall {
                    purpose: LlmPurpose::AskLlm,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(asks.len(), 4, "every ask_llm exchange is recorded");
    if let Event::LlmCall { request, .. } = asks[0] {
        assert!(request[1].content.contains("Data:\n"), "{request:?}");
    }
    assert_eq!(summary(&r).llm_calls, 5);
    // The data reached the model as data.
    let bodies: Vec<String> = server
        .requests()
        .iter()
        .map(|(_, b)| b.to_string())
        .collect();
    assert!(bodies[1..].iter().any(|b| b.contains("brick")));
}

#[test]
fn a_50_mb_context_never_reaches_a_request() {
    let dir = project("");
    let big = dir.path().join("big.json");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
        f.write_all(b"[").unwrap();
        let record = b"{\"id\": 1, \"secret_marker\": \"ZQXJ-CONTEXT-MARKER\", \"pad\": \"....................................................................................\"},\n";
        for _ in 0..(50 * 1024 * 1024 / record.len()) {
            f.write_all(record).unwrap();
        }
        f.write_all(b"{\"id\": 2}]").unwrap();
    }
    let code = "data = CONTEXT_DATA.json()\nprint(len(data), len(CONTEXT_DATA) > 50_000_000, CONTEXT_DATA.read(0, 8))";
    let server = FakeOpenAi::start(
        dir.path(),
        json!([{"content": format!("```python\n{code}\n```")}]),
    );
    let r = mcpr_run(
        dir.path(),
        &server,
        &["--context", big.to_str().unwrap()],
        "how many records?",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(output(&r).ends_with("True [{\"id\": \n"), "{}", output(&r));
    for (bytes, body) in server.requests() {
        assert!(bytes < 64 * 1024, "a request of {bytes} bytes");
        assert!(!body.to_string().contains("ZQXJ-CONTEXT-MARKER"));
    }
    let system = server.requests()[0].1["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        system.contains("`CONTEXT_DATA` (50.0 MB of JSON text)"),
        "{system}"
    );
}

/// A skill source that records what the agent asks and hands it.
struct RecordingSkills {
    asked: std::sync::Mutex<Vec<String>>,
    kept: std::sync::Mutex<Vec<(String, String)>>,
}

impl mcpr::agent::SkillSource for RecordingSkills {
    fn relevant(&self, task: &str, _k: usize) -> Vec<String> {
        self.asked.lock().unwrap().push(task.to_string());
        vec!["from skills.double import run  # Double a number".to_string()]
    }

    fn step_finished<'a>(
        &'a self,
        step: mcpr::agent::FinishedStep<'a>,
    ) -> mcpr::agent::SkillFuture<'a> {
        if step.summary.success
            && let Some((code, true)) = step.runs.last()
        {
            self.kept
                .lock()
                .unwrap()
                .push((step.task.to_string(), code.clone()));
        }
        Box::pin(async {
            mcpr::agent::SkillReport {
                used: vec!["double".into()],
                ..Default::default()
            }
        })
    }
}

/// An agent over `provider` with a fresh session in `dir/ws` (ask_llm registered).
async fn library_agent(
    dir: &Path,
    provider: std::sync::Arc<dyn mcpr::llm::Provider>,
    launcher: mcpr::session::Launcher,
) -> mcpr::agent::Agent {
    use mcpr::agent::ask::{AskLimits, AskState};
    let ws = dir.join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    let mut calls = mcpr::hostcall::HostCalls::with_builtins();
    let ask = AskState::new(provider.clone(), AskLimits::default());
    ask.register(&mut calls);
    let session = mcpr::session::Session::start(launcher, calls, "s".into(), ws)
        .await
        .unwrap();
    let settings = mcpr::agent::AgentSettings::default();
    mcpr::agent::Agent::new(provider, session, ask, None, settings, None)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_skill_seam_feeds_the_prompt_and_receives_working_code() {
    use mcpr::llm::Provider;
    use std::sync::Arc;

    let dir = common::project_dir();
    let script = dir.path().join("script.txt");
    std::fs::write(&script, "```python\nprint(21 * 2)\n```\n").unwrap();
    let provider: Arc<dyn Provider> =
        Arc::new(mcpr::llm::offline::ScriptProvider::load(&script).unwrap());
    let skills = Arc::new(RecordingSkills {
        asked: Default::default(),
        kept: Default::default(),
    });
    let launcher = common::launcher(mcpr::sandbox::IsolationRequest::Auto);
    let mut agent = library_agent(dir.path(), provider, launcher)
        .await
        .with_skills(skills.clone());
    let mut events = Vec::new();
    let summary = agent.run_step("double 21", &mut |e| events.push(e)).await;
    assert!(summary.success);
    assert_eq!(
        summary.skills_used,
        ["double"],
        "the report reaches the summary"
    );
    assert_eq!(summary.output, "42\n");
    assert_eq!(skills.asked.lock().unwrap().as_slice(), ["double 21"]);
    assert_eq!(
        skills.kept.lock().unwrap().as_slice(),
        [("double 21".to_string(), "print(21 * 2)\n".to_string())]
    );
    let system = events
        .iter()
        .find_map(|e| match e {
            Event::LlmCall { request, .. } => Some(request[0].content.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        system.contains("from skills.double import run  # Double a number"),
        "{system}"
    );
    agent.close().await;
}

#[test]
fn manual_mode_runs_what_the_user_types() {
    use std::io::Write;
    let dir = project("");
    let mut child = Command::new(mcpr_bin())
        .args(["run", "--llm", "manual", "say hello"])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"print('hello from the user')\n.\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from the user\n"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("manual mode (you type the code), chosen by --llm")
    );
}

#[test]
fn the_provider_is_chosen_from_the_environment_and_the_reason_is_said() {
    let dir = project("");
    let server = FakeOpenAi::start(
        dir.path(),
        json!([{"content": "```python\nprint('via env')\n```"}]),
    );
    let out = Command::new(mcpr_bin())
        .args(["run", "--model", "test-model", "x"])
        .current_dir(dir.path())
        .env("OPENAI_BASE_URL", server.base_url())
        .env_remove("OPENAI_API_KEY")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "via env\n");
    assert!(
        err.contains(&format!(
            "the endpoint {}, configured by OPENAI_BASE_URL, model test-model",
            server.base_url()
        )),
        "{err}"
    );
}

#[test]
fn the_ask_llm_token_budget_is_enforced() {
    let dir = project("");
    std::fs::write(
        dir.path().join("mcpr.toml"),
        "[agent]\nask_llm_max_tokens = 200\n",
    )
    .unwrap();
    let code = "try:\n    ask_llm('summarise', 'word ' * 1000)\nexcept Exception as e:\n    print(str(e).split(';')[0])";
    let server = FakeOpenAi::start(
        dir.path(),
        json!([{"content": format!("```python\n{code}\n```")}]),
    );
    let r = mcpr_run(dir.path(), &server, &[], "summarise");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        output(&r).starts_with("ask_llm would exceed this step's token budget"),
        "{}",
        output(&r)
    );
    assert_eq!(
        server.requests().len(),
        1,
        "the over-budget call never reached the model"
    );
}

#[test]
fn usage_errors_exit_with_2() {
    let dir = project("");
    for args in [
        vec!["run", "--llm", "manual", ""],
        vec!["run", "--llm", "manual", "--context", "missing.json", "x"],
        vec!["run", "--llm", "script:missing.txt", "x"],
        vec!["run", "--llm", "bogus", "x"],
        vec!["run", "--llm", "manual", "--max-attempts", "0", "x"],
    ] {
        let out = Command::new(mcpr_bin())
            .args(&args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `mcpr run --llm script:FILE` with the answers given, one after the other.
fn run_script(dir: &Path, answers: &[&str], task: &str) -> RunResult {
    let script = dir.join("answers.txt");
    std::fs::write(&script, answers.join("\n%%%\n")).unwrap();
    let out = Command::new(mcpr_bin())
        .args(["run", "--json", "--no-skills", "--llm"])
        .arg(format!("script:{}", script.display()))
        .args(["--session", "s", task])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    RunResult::of(&out)
}

#[test]
fn a_step_whose_code_failed_is_a_failure_even_when_the_model_gives_up_in_words() {
    for give_up in ["I cannot parse that, sorry.", ""] {
        let dir = common::project_dir();
        let r = run_script(
            dir.path(),
            &[
                "```python\nimport json\nprint(json.loads('{bad'))\n```",
                give_up,
            ],
            "parse the json",
        );
        assert_eq!(r.code, 1, "{}", r.stderr);
        let s = summary(&r);
        assert!(!s.success && !s.answered_without_code);
        assert!(
            s.error.as_deref().unwrap().contains("JSONDecodeError"),
            "{s:?}"
        );
        // The record says the same.
        let log = std::fs::read_to_string(dir.path().join(".replay/s.jsonl")).unwrap();
        let end: serde_json::Value = log
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v["type"] == "end")
            .unwrap();
        assert_eq!(end["success"], false, "{end}");
    }
}

#[test]
fn an_answer_without_code_is_asked_for_code_once_and_marked_if_it_stays() {
    // Asked once more, the model writes the code: the step is an ordinary success.
    let dir = common::project_dir();
    let r = run_script(
        dir.path(),
        &["The author is Bob.", "```python\nprint(6 * 7)\n```"],
        "who wrote the last commit?",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = summary(&r);
    assert!(s.success && !s.answered_without_code);
    assert_eq!((s.attempts, s.llm_calls), (1, 2));
    assert_eq!(output(&r), "42\n");
    let asked = r.events.iter().any(|e| match e {
        Event::LlmCall { request, .. } => request
            .last()
            .is_some_and(|m| m.content.contains("ran no code")),
        _ => false,
    });
    assert!(asked, "the second request asks for code");

    // Twice without code: not a success, and said so.
    let dir = common::project_dir();
    let r = run_script(
        dir.path(),
        &["Bob.", "Still Bob."],
        "who wrote the last commit?",
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let s = summary(&r);
    assert!(!s.success && s.answered_without_code, "{s:?}");
    assert_eq!(s.answer.as_deref(), Some("Still Bob."));
    let out = Command::new(mcpr_bin())
        .args(["run", "--no-skills", "--llm"])
        .arg(format!(
            "script:{}",
            dir.path().join("answers.txt").display()
        ))
        .arg("who wrote it?")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("failed: answered without code"), "{err}");

    // Chat-like use: a plain answer is the point.
    let dir = common::project_dir();
    std::fs::write(
        dir.path().join("mcpr.toml"),
        "[agent]\nrequire_code = false\n",
    )
    .unwrap();
    let r = run_script(dir.path(), &["Paris."], "capital of France?");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = summary(&r);
    assert!(s.success && s.answered_without_code);
    assert_eq!(s.llm_calls, 1);
}

/// Writes `.mcp.json` into `dir` with the given servers.
fn mcp_servers(dir: &Path, servers: serde_json::Value) {
    std::fs::write(
        dir.join(".mcp.json"),
        json!({ "mcpServers": servers }).to_string(),
    )
    .unwrap();
}

fn system_prompt(server: &FakeOpenAi) -> String {
    let requests = server.requests();
    let (_, body) = requests.first().expect("the model was asked");
    body["messages"][0]["content"].as_str().unwrap().to_string()
}

#[test]
fn suggested_tools_show_typed_signatures_and_are_ranked_by_the_task() {
    // The servers' start-up is slow on a loaded machine; the suggestions wait for it here.
    let dir = project("\n[tools]\nsuggestion_wait_seconds = 60");
    mcp_servers(
        dir.path(),
        json!({
            "time": {"command": common::venv_server("mcp-server-time")},
            "git": {"command": common::venv_server("mcp-server-git")},
        }),
    );
    let server = FakeOpenAi::start(
        dir.path(),
        json!([{"content": "```python\nprint('It is 14:30 in London.')\n```"}]),
    );
    let r = mcpr_run(
        dir.path(),
        &server,
        &[],
        "convert 9:30 New York time to London time",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let system = system_prompt(&server);
    assert!(
        system.contains("from tools.time import convert_time\n")
            && system
                .contains("convert_time(*, source_timezone: str, time: str, target_timezone: str)"),
        "{system}"
    );
    assert!(
        !system.contains("git_add") && !system.contains("git_create_branch"),
        "{system}"
    );
}

#[test]
fn a_hung_server_does_not_hold_up_the_model_request() {
    let dir = project("");
    mcp_servers(
        dir.path(),
        json!({
            "hung": {"command": "sleep", "args": ["1000"]},
            "demo": common::demo_entry(&dir.path().join("notes.db")),
        }),
    );
    let server = FakeOpenAi::start(
        dir.path(),
        json!([{"content": "```python\nprint('Paris is cloudy.')\n```"}]),
    );
    let started = std::time::Instant::now();
    let r = mcpr_run(dir.path(), &server, &[], "what is the weather in Paris");
    let elapsed = started.elapsed();
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The model was asked, with the demo server's tools, and the slow server was named.
    assert!(
        system_prompt(&server).contains("from tools.demo import get_weather"),
        "{}",
        system_prompt(&server)
    );
    let notices: Vec<String> = r
        .events
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .filter(|v| v["type"] == "notice")
        .map(|v| v["message"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        notices.iter().any(|n| n.contains("\"hung\"")),
        "{notices:?}\n{}",
        r.stderr
    );
    // The hung server's start timeout is 30 s; a run that waited for it would take that.
    assert!(
        elapsed < std::time::Duration::from_secs(20),
        "the run took {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_cancelled_during_the_answer_or_a_cell_ends_cancelled_and_the_next_runs() {
    use mcpr::llm::Provider;
    use mcpr::llm::openai::{OpenAiProvider, OpenAiSettings};
    use std::sync::Arc;
    use tokio_util::sync::CancellationToken;

    let dir = common::project_dir();
    let server = FakeOpenAi::start(
        dir.path(),
        json!([
            {"delay": 60.0, "content": "```python\nprint('too late')\n```"},
            {"content": "```python\nimport time\nx = 1\nprint('started', flush=True)\ntime.sleep(60)\n```"},
            {"content": "```python\nprint('third step sees x =', globals().get('x'))\n```"}
        ]),
    );
    let provider: Arc<dyn Provider> = Arc::new(
        OpenAiProvider::new(OpenAiSettings {
            base_url: server.base_url(),
            api_key: None,
            model: "test-model".into(),
            max_attempts: 1,
            timeout: std::time::Duration::from_secs(120),
            temperature: None,
            max_tokens: None,
        })
        .unwrap(),
    );
    let config = mcpr::project::KernelConfig {
        timeout_seconds: 120.0,
        grace_seconds: 5.0,
        ..Default::default()
    };
    let launcher =
        mcpr::session::Launcher::from_config(&config, Some(mcpr::sandbox::IsolationRequest::Auto))
            .unwrap();
    let mut agent = library_agent(dir.path(), provider, launcher).await;

    // 1. During the model's answer: cancelled once the server holds the request.
    let cancel = CancellationToken::new();
    let watcher = {
        let (cancel, log) = (cancel.clone(), server.requests_len_probe());
        std::thread::spawn(move || {
            while log() == 0 {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            cancel.cancel();
        })
    };
    let mut events = Vec::new();
    let summary = agent
        .run_step_with("first", &cancel, &mut |e| events.push(e))
        .await;
    watcher.join().unwrap();
    assert!(summary.cancelled && !summary.success, "{summary:?}");
    assert_eq!(summary.error.as_deref(), Some("the step was cancelled"));
    assert!(matches!(events.last(), Some(Event::StepFinished(s)) if s.cancelled));

    // 2. During a cell: cancelled when the cell says it started.
    let cancel = CancellationToken::new();
    let in_cell = cancel.clone();
    let summary = agent
        .run_step_with("second", &cancel, &mut |e| {
            if matches!(&e, Event::Output { text, .. } if text.contains("started")) {
                in_cell.cancel();
            }
        })
        .await;
    assert!(summary.cancelled && !summary.success, "{summary:?}");
    assert_eq!(
        summary.attempts, 1,
        "a cancelled cell is not sent back to be fixed"
    );

    // 3. The session goes on, its state kept.
    let mut output = String::new();
    let mut seen = Vec::new();
    let summary = agent
        .run_step("third", &mut |e| {
            if let Event::Output { text, .. } = &e {
                output.push_str(text);
            }
            seen.push(e);
        })
        .await;
    assert!(summary.success, "{summary:?}\n{seen:#?}");
    // The state is kept, unless the interrupt turned into a kill (then said so): on a
    // heavily loaded machine an interrupted `time.sleep` has been seen to miss its
    // KeyboardInterrupt.
    let restarted = seen
        .iter()
        .any(|e| matches!(e, Event::KernelRestarted { .. }));
    if restarted {
        assert_eq!(output, "third step sees x = None\n");
    } else {
        assert_eq!(output, "third step sees x = 1\n");
    }
    agent.close().await;
}

#[test]
fn ctrl_c_in_mcpr_run_cancels_the_step_and_the_session_goes_on() {
    use std::io::BufRead;
    let dir = common::project_dir();
    let script = dir.path().join("answers.txt");
    std::fs::write(
        &script,
        "```python\nimport time\nx = 1\nprint('started', flush=True)\ntime.sleep(60)\n```",
    )
    .unwrap();
    let mut child = Command::new(mcpr_bin())
        .args(["run", "--no-skills", "--session", "c", "--llm"])
        .arg(format!("script:{}", script.display()))
        .arg("wait a minute")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "started\n");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("step 1 cancelled"), "{err}");
    let log = std::fs::read_to_string(dir.path().join(".replay/c.jsonl")).unwrap();
    assert!(
        log.contains("\"cancelled\":true"),
        "the record says cancelled: {log}"
    );
    // The next step of the session runs, after the cancelled one.
    std::fs::write(&script, "```python\nprint('again')\n```").unwrap();
    let o = Command::new(mcpr_bin())
        .args(["run", "--no-skills", "--session", "c", "--llm"])
        .arg(format!("script:{}", script.display()))
        .arg("once more")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "again\n");
}
