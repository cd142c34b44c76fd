//! The engine as a library: sessions opened from a spec, driven by operations, watched
//! through their events — with real kernels, real MCP servers, a real HTTP model server.

mod common;

use common::FakeOpenAi;
use mcpr::engine::{Context, ModelSpec, Op, SessionHandle, SessionSpec, Start};
use mcpr::event::{CellStatus, Event, StepSummary};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

/// A session under test and every event it sent.
struct Live {
    handle: SessionHandle,
    seen: Vec<Event>,
}

const PATIENCE: Duration = Duration::from_secs(120);

impl Live {
    async fn open(dir: &Path, spec: SessionSpec) -> Live {
        let project = mcpr::project::Project::discover(dir).unwrap();
        let handle = mcpr::engine::start(Context::new(project, dir.to_path_buf()), spec);
        let mut live = Live {
            handle,
            seen: Vec::new(),
        };
        let opened = live.until_ended(0).await;
        assert!(
            opened
                .iter()
                .any(|e| matches!(e, Event::SessionStarted { .. })),
            "{opened:?}"
        );
        live
    }

    /// The next event (waiting at most PATIENCE).
    async fn next(&mut self) -> Event {
        let e = tokio::time::timeout(PATIENCE, self.handle.events.recv())
            .await
            .expect("an event within the patience")
            .expect("the session is still there");
        self.seen.push(e.clone());
        e
    }

    /// Events up to and including the first for which `f` holds.
    async fn until(&mut self, f: impl Fn(&Event) -> bool) -> Vec<Event> {
        let mut out = Vec::new();
        loop {
            let e = self.next().await;
            let done = f(&e);
            out.push(e);
            if done {
                return out;
            }
        }
    }

    /// Events until operation `op` ended; panics when it failed.
    async fn until_ended(&mut self, op: u64) -> Vec<Event> {
        let events = self
            .until(|e| matches!(e, Event::OpEnded { op: id, .. } if *id == op))
            .await;
        if let Some(Event::OpEnded { error: Some(e), .. }) = events.last() {
            panic!("operation {op} failed: {e}\n{events:?}");
        }
        events
    }

    async fn run(&mut self, op: Op) -> Vec<Event> {
        let id = self.handle.ops.send(op);
        self.until_ended(id).await
    }

    async fn cell(&mut self, code: &str) -> (CellStatus, String) {
        let events = self.run(Op::RunCell(code.to_string())).await;
        let out = stdout(&events);
        let status = events
            .iter()
            .find_map(|e| match e {
                Event::CellFinished { status, .. } => Some(*status),
                _ => None,
            })
            .expect("the cell finished");
        (status, out)
    }

    async fn shutdown(mut self) {
        self.run(Op::Shutdown).await;
    }
}

fn stdout(events: &[Event]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Output {
                stream: mcpr::event::Stream::Stdout,
                text,
                ..
            } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

fn summary(events: &[Event]) -> StepSummary {
    events
        .iter()
        .find_map(|e| match e {
            Event::StepFinished(s) => Some(s.clone()),
            _ => None,
        })
        .expect("the step finished")
}

fn named(name: &str) -> SessionSpec {
    SessionSpec {
        start: Start::Continue { name: name.into() },
        ..SessionSpec::default()
    }
}

fn with_model(server: &FakeOpenAi, spec: SessionSpec) -> SessionSpec {
    SessionSpec {
        model: ModelSpec {
            provider: Some("openai".into()),
            model: Some("test-model".into()),
            base_url: Some(server.base_url()),
        },
        need_model: true,
        ..spec
    }
}

/// Continuations and rewinds in `dir` replay the recorded cells: for the tests of the
/// replay path itself (checkpoints have theirs in checkpoints.rs and live_checkpoints.rs).
fn replay_only(dir: &Path) {
    std::fs::write(dir.join("mcpr.toml"), "[checkpoints]\nsaved = false\n").unwrap();
}

fn mcp_servers(dir: &Path, servers: serde_json::Value) {
    std::fs::write(
        dir.join(".mcp.json"),
        json!({ "mcpServers": servers }).to_string(),
    )
    .unwrap();
}

fn slow_server(log: &Path) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/slow_mcp_server.py");
    json!({"command": common::venv_python(), "args": [script, log]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_is_cancelled_during_the_models_answer_and_the_next_step_runs() {
    let dir = common::project_dir();
    let server = FakeOpenAi::start(
        dir.path(),
        json!([
            {"content": "```python\nprint('never')\n```\nand a long tail of words to stream slowly", "piece_delay": 0.5},
            {"content": "```python\nprint('second step ran')\n```"},
        ]),
    );
    let mut live = Live::open(dir.path(), with_model(&server, named("s"))).await;
    let task = live.handle.ops.send(Op::RunTask("say something".into()));
    live.until(|e| matches!(e, Event::LlmToken { .. })).await;
    live.handle.ops.send(Op::Cancel);
    let events = live.until_ended(task).await;
    let s = summary(&events);
    assert!(s.cancelled && !s.success, "{s:?}");
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::CellStarted { .. })),
        "no code ran"
    );
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::StepRecorded {
                step: 1,
                success: false,
                ..
            }
        )),
        "{events:?}"
    );
    let events = live.run(Op::RunTask("again".into())).await;
    assert!(summary(&events).success);
    assert_eq!(stdout(&events), "second step ran\n");
    live.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cell_is_cancelled_and_the_kernel_keeps_its_state() {
    let dir = common::project_dir();
    let mut live = Live::open(dir.path(), named("c")).await;
    assert_eq!(live.cell("x = 41").await.0, CellStatus::Ok);
    let cell = live.handle.ops.send(Op::RunCell(
        "import time\nprint('sleeping', flush=True)\ntime.sleep(600)".into(),
    ));
    live.until(|e| matches!(e, Event::Output { .. })).await;
    live.handle.ops.send(Op::Cancel);
    let events = live.until_ended(cell).await;
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::CellFinished {
                status: CellStatus::Cancelled,
                ..
            }
        )),
        "{events:?}"
    );
    let events = live.run(Op::RunCell("print(x + 1)".into())).await;
    assert_eq!(stdout(&events), "42\n", "{events:?}");
    live.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_call_is_cancelled_and_its_start_and_end_share_an_id() {
    let dir = common::project_dir();
    let log = dir.path().join("slow.log");
    mcp_servers(dir.path(), json!({"slow": slow_server(&log)}));
    let mut live = Live::open(dir.path(), named("t")).await;
    let (status, out) = live
        .cell("from tools.slow import ping\nprint(ping()['result'])")
        .await;
    assert_eq!((status, out.as_str()), (CellStatus::Ok, "pong\n"));
    let cell = live.handle.ops.send(Op::RunCell(
        "from tools.slow import wait\nwait(seconds=600)".into(),
    ));
    let started = live
        .until(|e| matches!(e, Event::CallStarted { name, .. } if name == "tools.call"))
        .await;
    let Some(Event::CallStarted { id, args, .. }) = started.last().cloned() else {
        unreachable!()
    };
    assert_eq!(args["tool"], "wait");
    // The call reached the server before it is cancelled.
    for _ in 0..600 {
        if std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("started")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    live.handle.ops.send(Op::Cancel);
    let events = live.until_ended(cell).await;
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::CellFinished {
                status: CellStatus::Cancelled | CellStatus::KernelDied,
                ..
            }
        )),
        "{events:?}"
    );
    // Every call that started ended with the same id, in order; the cancelled one as
    // abandoned.
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::HostCall { id: i, outcome: mcpr::event::CallOutcome::Error { kind, .. }, .. }
                if *i == id && kind == "abandoned"
        )),
        "{events:?}"
    );
    let mut open = Vec::new();
    for e in &live.seen {
        match e {
            Event::CallStarted { cell, id, .. } => open.push((*cell, *id)),
            Event::HostCall { cell, id, .. } => {
                let at = open.iter().position(|c| *c == (*cell, *id));
                assert!(at.is_some(), "call {id} of cell {cell} ended unstarted");
                open.retain(|c| *c != (*cell, *id));
            }
            _ => {}
        }
    }
    assert!(open.is_empty(), "calls left open: {open:?}");
    let (status, out) = live.cell("print(ping()['result'])").await;
    assert_eq!((status, out.as_str()), (CellStatus::Ok, "pong\n"));
    live.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewinding_the_live_session_rebuilds_step_one_without_calling_the_tool_server() {
    let dir = common::project_dir();
    replay_only(dir.path());
    let db = dir.path().join("notes.db");
    mcp_servers(dir.path(), json!({"demo": common::demo_entry(&db)}));
    let mut live = Live::open(dir.path(), named("r")).await;
    let (status, _) = live
        .cell("from tools.demo import add_note\nfirst = add_note(title='one', body='1')['id']\nstate = 'step one'")
        .await;
    assert_eq!(status, CellStatus::Ok);
    live.cell("state = 'step two'\nsecond = add_note(title='two', body='2')['id']")
        .await;
    let calls_before = common::demo_calls_logged(&db);
    let events = live.run(Op::Rewind(1)).await;
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::HeadMoved { step: 1, .. })),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::ReplayProgress {
                step: 1,
                cells: 1,
                calls_served: 1,
                ..
            }
        )),
        "{events:?}"
    );
    assert_eq!(
        common::demo_calls_logged(&db),
        calls_before,
        "the rewind called no tool"
    );
    let (status, out) = live
        .cell("print(state, first, 'second' in globals())")
        .await;
    assert_eq!(
        (status, out.as_str()),
        (CellStatus::Ok, "step one 1 False\n")
    );
    live.shutdown().await;
    // The record agrees: step 4 continues from step 1.
    let dir = mcpr::record::recorder::ReplayDir::open(&dir.path().join(".replay")).unwrap();
    let log = dir.read("r", mcpr::record::log::Detail::Outline).unwrap();
    assert_eq!(log.head, 3);
    assert_eq!(log.step(3).unwrap().begin.parent, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewind_that_diverges_ends_with_where_and_how_and_the_session_goes_on() {
    let dir = common::project_dir();
    // Replay, not a checkpoint, rebuilds the step: only replay can diverge.
    replay_only(dir.path());
    let db = dir.path().join("notes.db");
    mcp_servers(dir.path(), json!({"demo": common::demo_entry(&db)}));
    let mut live = Live::open(dir.path(), named("dv")).await;
    live.cell("x = 5").await;
    // A tool call whose arguments differ on every run: a re-run asks for another call.
    let (status, _) = live
        .cell("import random\nfrom tools.demo import calculate\nr = calculate(expression=f'{random.random()} * 2')")
        .await;
    assert_eq!(status, CellStatus::Ok);
    let id = live.handle.ops.send(Op::Rewind(2));
    let events = live
        .until(|e| matches!(e, Event::OpEnded { op, .. } if *op == id))
        .await;
    let Some(Event::OpEnded {
        error: Some(error),
        diverged: Some(d),
        ..
    }) = events.last()
    else {
        panic!("the rewind should diverge: {events:?}");
    };
    assert_eq!((d.session.as_str(), d.step, d.cell), ("dv", 2, 1));
    assert!(d.difference.contains("where the record has"), "{d:?}");
    assert!(error.contains(&d.difference), "{error}");
    let (status, out) = live.cell("print(x)").await;
    assert_eq!((status, out.as_str()), (CellStatus::Ok, "5\n"));
    live.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_fork_continues_in_a_new_session_and_leaves_the_parent() {
    let dir = common::project_dir();
    let mut live = Live::open(dir.path(), named("p")).await;
    live.cell("x = 1").await;
    live.cell("x = 2").await;
    let events = live
        .run(Op::Fork {
            step: 1,
            name: Some("child".into()),
        })
        .await;
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Forked { from, step: 1, session } if from == "p" && session == "child"
        )),
        "{events:?}"
    );
    let (_, out) = live.cell("x += 10\nprint(x)").await;
    assert_eq!(out, "11\n");
    live.shutdown().await;
    let dir = mcpr::record::recorder::ReplayDir::open(&dir.path().join(".replay")).unwrap();
    let parent = dir.read("p", mcpr::record::log::Detail::Outline).unwrap();
    assert_eq!(parent.head, 2, "the parent is untouched");
    let child = dir
        .read("child", mcpr::record::log::Detail::Outline)
        .unwrap();
    assert_eq!(child.steps.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_mode_takes_the_code_from_a_channel() {
    let dir = common::project_dir();
    let spec = SessionSpec {
        model: ModelSpec {
            provider: Some("manual".into()),
            ..ModelSpec::default()
        },
        need_model: true,
        ..named("m")
    };
    let mut live = Live::open(dir.path(), spec).await;
    assert!(
        live.seen.iter().any(|e| matches!(
            e,
            Event::Notice { message, .. } if message.starts_with("model: manual mode")
        )),
        "the model's choice is a notice: {:?}",
        live.seen
    );
    let task = live.handle.ops.send(Op::RunTask("add two numbers".into()));
    let asked = live
        .until(|e| matches!(e, Event::CodeRequested { .. }))
        .await;
    let Some(Event::CodeRequested { prompt, step }) = asked.last() else {
        unreachable!()
    };
    assert!(prompt.contains("add two numbers"), "{prompt}");
    assert_eq!(*step, 1);
    live.handle
        .ops
        .send(Op::Answer("```python\nprint(2 + 3)\n```".into()));
    let events = live.until_ended(task).await;
    assert_eq!(stdout(&events), "5\n");
    assert!(summary(&events).success);
    live.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_fails_with_a_typed_error_naming_the_problem() {
    let dir = common::project_dir();
    let project = mcpr::project::Project::discover(dir.path()).unwrap();
    let spec = SessionSpec {
        max_attempts: Some(99),
        ..SessionSpec::default()
    };
    let mut handle = mcpr::engine::start(Context::new(project, dir.path().to_path_buf()), spec);
    let Some(Event::OpEnded {
        op, error, usage, ..
    }) = handle.events.recv().await
    else {
        panic!("opening ends")
    };
    assert_eq!(op, 0);
    assert!(usage);
    assert_eq!(
        error.as_deref(),
        Some("--max-attempts must be from 1 to 20, got 99")
    );
    assert!(handle.events.recv().await.is_none(), "the session is gone");
}

fn notes(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT count(*) FROM notes", [], |r| r.get(0))
        .unwrap()
}

/// Runs `code` as a cell, answers the approval request it makes with `decision`, and
/// returns the cell's events.
async fn approve(
    live: &mut Live,
    code: &str,
    decision: mcpr::tools::policy::Decision,
) -> Vec<Event> {
    let cell = live.handle.ops.send(Op::RunCell(code.into()));
    let asked = live
        .until(|e| matches!(e, Event::ApprovalRequested(_)))
        .await;
    let Some(Event::ApprovalRequested(request)) = asked.last().cloned() else {
        unreachable!()
    };
    assert_eq!(
        (request.server.as_str(), request.tool.as_str()),
        ("demo", "delete_note")
    );
    assert_eq!(request.class, mcpr::tools::policy::ToolClass::Destructive);
    assert!(request.reason.contains("destructive"), "{}", request.reason);
    live.handle.ops.send(Op::Approve {
        id: request.id,
        decision,
    });
    let mut events = asked;
    events.extend(live.until_ended(cell).await);
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destructive_call_is_asked_then_denied_or_allowed_and_a_replay_asks_nobody() {
    use mcpr::tools::policy::Decision;
    let dir = common::project_dir();
    let db = dir.path().join("notes.db");
    mcp_servers(dir.path(), json!({"demo": common::demo_entry(&db)}));
    let spec = SessionSpec {
        interactive: true,
        ..named("a")
    };
    let mut live = Live::open(dir.path(), spec.clone()).await;
    let (status, _) = live
        .cell("import tools\nfrom tools.demo import add_note, delete_note, list_notes\nids = [add_note(title=t, body=t)['id'] for t in 'ab']")
        .await;
    assert_eq!(status, CellStatus::Ok);
    assert_eq!(notes(&db), 2);
    // Read-only and additive tools were never asked about.
    assert!(
        !live
            .seen
            .iter()
            .any(|e| matches!(e, Event::ApprovalRequested(_))),
        "{:?}",
        live.seen
    );
    let denied = approve(
        &mut live,
        "try:\n    delete_note(id=ids[0])\nexcept tools.ToolError as e:\n    print('refused:', e)",
        Decision::Deny,
    )
    .await;
    let out = stdout(&denied);
    assert!(
        out.starts_with("refused:") && out.contains("denied"),
        "{out}"
    );
    assert_eq!(notes(&db), 2, "the note survives");
    assert!(denied.iter().any(|e| matches!(
        e,
        Event::ApprovalAnswered {
            decision: Decision::Deny,
            ..
        }
    )));
    let allowed = approve(
        &mut live,
        "print(delete_note(id=ids[0]))",
        Decision::AllowOnce,
    )
    .await;
    assert_eq!(notes(&db), 1, "{allowed:?}");
    live.shutdown().await;
    // The request and the answer are in the record.
    let replay = mcpr::record::recorder::ReplayDir::open(&dir.path().join(".replay")).unwrap();
    let log = replay.read("a", mcpr::record::log::Detail::Full).unwrap();
    let recorded: Vec<&Event> = log.steps.iter().flat_map(|s| s.events.iter()).collect();
    assert_eq!(
        recorded
            .iter()
            .filter(|e| matches!(e, Event::ApprovalRequested(_)))
            .count(),
        2
    );
    // Continuing the session replays both steps: the recorded outcomes are served, so
    // nobody is asked and the server sees nothing.
    let calls = common::demo_calls_logged(&db);
    let mut again = Live::open(dir.path(), spec).await;
    assert!(
        !again
            .seen
            .iter()
            .any(|e| matches!(e, Event::ApprovalRequested(_))),
        "{:?}",
        again.seen
    );
    assert_eq!(common::demo_calls_logged(&db), calls);
    assert_eq!(notes(&db), 1);
    let (_, out) = again.cell("print(len(ids))").await;
    assert_eq!(out, "2\n");
    again.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspecting_lists_the_names_and_changes_nothing_a_replay_sees() {
    let dir = common::project_dir();
    let mut live = Live::open(dir.path(), named("v")).await;
    live.cell("import math\ndata = {'a': list(range(1000))}\nn = 42\n_hidden = 1")
        .await;
    let events = live.run(Op::Inspect).await;
    let variables = events
        .iter()
        .find_map(|e| match e {
            Event::Variables { variables } => Some(variables.clone()),
            _ => None,
        })
        .expect("a Variables event");
    let names: Vec<&str> = variables.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["data", "n"], "modules and _names are left out");
    assert_eq!(variables[0].type_name, "dict");
    assert_eq!(variables[0].len, Some(1));
    assert!(variables[0].repr.len() < 200, "{}", variables[0].repr);
    assert!(variables[0].long_repr.len() > variables[0].repr.len());
    assert_eq!(variables[1].repr, "42");
    // The snippet leaves nothing behind, and the next cell keeps its number.
    let (status, out) = live
        .cell("print(sorted(k for k in globals() if 'mcpr' in k))")
        .await;
    assert_eq!((status, out.as_str()), (CellStatus::Ok, "[]\n"));
    let events = live.run(Op::RunCell("1/0".into())).await;
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Error { traceback, .. } if traceback.contains("<cell-3>")
        )),
        "{events:?}"
    );
    // Nothing of it is in the record: a new process rebuilds the same state.
    live.shutdown().await;
    let mut again = Live::open(dir.path(), named("v")).await;
    let (status, out) = again.cell("print(n, len(data['a']))").await;
    assert_eq!((status, out.as_str()), (CellStatus::Ok, "42 1000\n"));
    again.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_opened_at_a_step_continues_from_its_state_and_the_plan_counted_it() {
    let dir = common::project_dir();
    let db = dir.path().join("notes.db");
    mcp_servers(dir.path(), json!({"demo": common::demo_entry(&db)}));
    let mut live = Live::open(dir.path(), named("w")).await;
    live.cell("from tools.demo import get_weather\nw = get_weather(city='Paris')\nopen('a.txt', 'w').write('one')")
        .await;
    live.cell("import os\nos.remove('a.txt')\nopen('b.txt', 'w').write('two')\nw = get_weather(city='Oslo')")
        .await;
    live.cell("print(w['city'])").await;
    live.shutdown().await;
    let calls = common::demo_calls_logged(&db);
    assert_eq!(calls, 2);

    // What a rewind to step 2 would do, counted from the record before anything runs.
    let replay = mcpr::record::recorder::ReplayDir::open(&dir.path().join(".replay")).unwrap();
    let plan = mcpr::engine::query::rewind_plan(&replay, "w", 2).unwrap();
    assert_eq!(
        (
            plan.steps,
            plan.cells,
            plan.tool_calls,
            plan.model_calls,
            plan.later_steps
        ),
        (2, 2, 2, 0, 1)
    );
    let e = mcpr::engine::query::rewind_plan(&replay, "w", 9).unwrap_err();
    assert!(e.is_usage(), "{e}");
    // The files each step changed, from the snapshots.
    let refs: Vec<_> = (1..=3)
        .map(|step| mcpr::engine::query::NodeRef {
            session: "w".into(),
            step,
        })
        .collect();
    let details = mcpr::engine::query::step_details(&replay, &refs).unwrap();
    let files = |i: usize| -> Vec<String> {
        details[i]
            .files
            .iter()
            .map(|f| format!("{}{}", f.change.sign(), f.path))
            .collect()
    };
    assert_eq!(files(0), vec!["+a.txt"]);
    assert_eq!(files(1), vec!["-a.txt", "+b.txt"]);
    assert!(files(2).is_empty());
    assert_eq!(details[1].view.cells[0].calls[0].name, "tools.call");

    // Opened at step 1: its state and files, the head there, nothing called.
    let mut live = Live::open(
        dir.path(),
        SessionSpec {
            start: Start::Rewind {
                name: "w".into(),
                step: 1,
            },
            ..SessionSpec::default()
        },
    )
    .await;
    assert!(
        live.seen
            .iter()
            .any(|e| matches!(e, Event::HeadMoved { step: 1, .. })),
        "{:?}",
        live.seen
    );
    let (status, out) = live
        .cell(
            "import os\nprint(w['city'], sorted(f for f in os.listdir('.') if f.endswith('.txt')))",
        )
        .await;
    assert_eq!(
        (status, out.as_str()),
        (CellStatus::Ok, "Paris ['a.txt']\n")
    );
    live.shutdown().await;
    assert_eq!(common::demo_calls_logged(&db), calls, "nothing was called");
    let log = replay
        .read("w", mcpr::record::log::Detail::Outline)
        .unwrap();
    assert_eq!(
        log.step(4).unwrap().begin.parent,
        1,
        "step 4 continues from 1"
    );
    assert_eq!(log.steps.len(), 4, "steps 2 and 3 stay as a branch");
}
