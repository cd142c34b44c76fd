//! Cell semantics of a real kernel: state, values, errors, streaming, host calls, and
//! robustness of the protocol against what user code does to fds 1 and 2.

mod common;

use common::TestSession;
use mcpr::event::{CallOutcome, CellStatus, Event, Stream};
use mcpr::hostcall::{HostCallError, HostCalls};
use mcpr::sandbox::IsolationRequest::{self, None as NoIsolation};
use serde_json::json;
use std::time::Duration;

async fn state_persists_and_final_expression_returns_value(level: IsolationRequest) {
    let mut s = TestSession::new(level).await;
    s.run("x = 41").await.assert_ok();
    let r = s.run("x + 1").await;
    r.assert_ok();
    assert_eq!(r.repr().as_deref(), Some("42"));
    assert_eq!(r.value(), Some(json!(42)));
    let r = s.run("{'a': [1, 2], 'b': None}").await;
    assert_eq!(r.value(), Some(json!({"a": [1, 2], "b": null})));
    // A value that is not JSON still has its repr, and no data.
    let r = s.run("object.__new__(type('Thing', (), {}))").await;
    assert!(r.repr().unwrap().contains("Thing object"), "{:?}", r.repr());
    assert_eq!(r.value(), None);
    // A trailing None shows nothing.
    let r = s.run("None").await;
    assert!(r.repr().is_none());
}

async fn top_level_await_works(level: IsolationRequest) {
    let mut s = TestSession::new(level).await;
    let r = s
        .run("import asyncio\nasync def twice(x):\n    await asyncio.sleep(0.01)\n    return 2 * x\nawait asyncio.gather(twice(1), twice(2))")
        .await;
    r.assert_ok();
    assert_eq!(r.value(), Some(json!([2, 4])));
    // The loop persists: a task created in one cell can be awaited in the next.
    s.run("import asyncio\nt = asyncio.ensure_future(asyncio.sleep(0, result='later'))")
        .await
        .assert_ok();
    assert_eq!(s.run("await t").await.value(), Some(json!("later")));
}

async fn tracebacks_use_cell_line_numbers_and_hide_the_runtime(level: IsolationRequest) {
    let mut s = TestSession::new(level).await;
    let r = s.run("a = 1\n\ndef f(n):\n    return 10 / n\n\nf(0)").await;
    assert_eq!(r.status, CellStatus::Error);
    let (ename, message, tb, line, _) = r.error().unwrap();
    assert_eq!(ename, "ZeroDivisionError");
    assert_eq!(message, "division by zero");
    assert_eq!(line, Some(4), "innermost line in the cell");
    assert!(tb.contains("line 6, in <module>"), "{tb}");
    assert!(tb.contains("line 4, in f"), "{tb}");
    assert!(
        !tb.contains("_kernel.py"),
        "runtime frames must be hidden: {tb}"
    );
    // The session is still usable afterwards.
    assert_eq!(s.run("a").await.value(), Some(json!(1)));
}

async fn syntax_errors_name_line_and_column(level: IsolationRequest) {
    let mut s = TestSession::new(level).await;
    let r = s.run("x = 1\ny = (2 +\n").await;
    assert_eq!(r.status, CellStatus::Error);
    let (ename, _, _, line, column) = r.error().unwrap();
    assert_eq!(ename, "SyntaxError");
    assert_eq!(line, Some(2));
    assert_eq!(column, Some(5));
    let r = s.run("def f(:\n  pass").await;
    let (_, _, tb, line, col) = r.error().unwrap();
    assert_eq!((line, col), (Some(1), Some(7)), "{tb}");
}

async fn output_streams_live_and_names_its_stream(level: IsolationRequest) {
    let mut s = TestSession::new(level).await;
    let r = s
        .run("import sys, time\nfor i in range(3):\n    print('tick', i)\n    time.sleep(0.3)\nprint('oops', file=sys.stderr)")
        .await;
    r.assert_ok();
    assert_eq!(r.stdout(), "tick 0\ntick 1\ntick 2\n");
    assert_eq!(r.stream(Stream::Stderr), "oops\n");
    let first = r
        .events
        .iter()
        .find(|(_, e)| matches!(e, Event::Output { text, .. } if text.contains("tick 0")))
        .map(|(t, _)| *t)
        .unwrap();
    let finished = r.events.last().map(|(t, _)| *t).unwrap();
    // The first chunk must not wait for the loop: the cell sleeps 0.9 s after it.
    assert!(
        finished - first >= Duration::from_millis(600),
        "first chunk at {first:?}, cell finished at {finished:?}"
    );
}

async fn fd_level_and_subprocess_output_is_captured(level: IsolationRequest) {
    let mut s = TestSession::new(level).await;
    let r = s
        .run("import os, subprocess\nos.write(1, b'raw fd\\n')\nsubprocess.run(['echo', 'from child'])\nos.write(2, b'err fd\\n')\nNone")
        .await;
    r.assert_ok();
    assert_eq!(r.stdout(), "raw fd\nfrom child\n");
    assert_eq!(r.stream(Stream::Stderr), "err fd\n");
}

async fn garbage_on_fd1_and_closed_fds_leave_the_session_working(level: IsolationRequest) {
    let mut s = TestSession::new(level).await;
    // Bytes that look like frame headers and invalid UTF-8 go to the user's stdout, not the channel.
    let r = s
        .run("import os, struct\nos.write(1, struct.pack('>I', 7) + b'\\xff\\xfe{\"t\":\"done\"}' + bytes(range(256)))\n'still here'")
        .await;
    r.assert_ok();
    assert_eq!(r.value(), Some(json!("still here")));
    assert!(
        r.stdout().contains('\u{fffd}'),
        "invalid UTF-8 is replaced, not fatal"
    );

    let r = s
        .run("import os, sys\nos.close(1)\nos.close(2)\nsys.stdout.close()\n'closed'")
        .await;
    r.assert_ok();
    assert_eq!(r.value(), Some(json!("closed")));
    let r = s.run("import os, subprocess\nprint('print works')\nsubprocess.run(['echo', 'fd works'])\nNone").await;
    r.assert_ok();
    assert_eq!(r.stdout(), "print works\nfd works\n");

    // Replacing sys.stdout with something else is undone at the next cell.
    s.run("import io, sys\nsys.stdout = io.StringIO()")
        .await
        .assert_ok();
    assert_eq!(s.run("print('back')").await.stdout(), "back\n");
}

async fn host_calls_answer_from_threads_and_tasks_and_raise_host_errors(level: IsolationRequest) {
    let mut calls = HostCalls::with_builtins();
    calls.register("fail", |_args: serde_json::Value| async move {
        Err::<serde_json::Value, _>(HostCallError::new("failed", "the host says no"))
    });
    let mut s = TestSession::with_calls(level, calls).await;
    let r = s
        .run("import mcpr\nmcpr.host_call('echo', {'a': [1, 'two']})")
        .await;
    r.assert_ok();
    assert_eq!(r.value(), Some(json!({"a": [1, "two"]})));
    let call = r.events.iter().find_map(|(_, e)| match e {
        Event::HostCall {
            name,
            args,
            outcome,
            ..
        } => Some((name.clone(), args.clone(), outcome.clone())),
        _ => None,
    });
    assert_eq!(
        call,
        Some((
            "echo".into(),
            json!({"a": [1, "two"]}),
            CallOutcome::Ok(json!({"a": [1, "two"]}))
        ))
    );

    // Eight threads at once, each making calls; every answer matches its question.
    let r = s
        .run("import mcpr, threading\nout = {}\ndef work(t):\n    out[t] = [mcpr.host_call('echo', t=t, i=i)['i'] for i in range(50)]\nts = [threading.Thread(target=work, args=(t,)) for t in range(8)]\n[t.start() for t in ts]; [t.join() for t in ts]\nall(out[t] == list(range(50)) for t in range(8))")
        .await;
    r.assert_ok();
    assert_eq!(r.value(), Some(json!(true)));

    // asyncio: sleeps overlap, so 10 × 0.2 s take far less than 2 s.
    let r = s
        .run("import mcpr, asyncio, time\nt = time.monotonic()\nawait asyncio.gather(*(mcpr.host_call_async('sleep', seconds=0.2) for _ in range(10)))\ntime.monotonic() - t < 1.5")
        .await;
    r.assert_ok();
    assert_eq!(r.value(), Some(json!(true)));

    let r = s.run("import mcpr\ntry:\n    mcpr.host_call('fail')\nexcept mcpr.HostCallError as e:\n    result = (e.kind, str(e))\nresult").await;
    assert_eq!(r.value(), Some(json!(["failed", "the host says no"])));
    let r = s.run("import mcpr\nmcpr.host_call('no_such_call')").await;
    let (ename, message, ..) = r.error().unwrap();
    assert_eq!(ename, "HostCallError");
    assert!(
        message.contains("no host call named \"no_such_call\""),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_without_isolation_too() {
    let mut s = TestSession::new(NoIsolation).await;
    let r = s.run("import os\nos.getcwd()").await;
    r.assert_ok();
    let cwd = r.value().unwrap();
    assert_eq!(
        std::fs::canonicalize(cwd.as_str().unwrap()).unwrap(),
        std::fs::canonicalize(s.workspace()).unwrap()
    );
}

on_each_backend! {
    state_persists_and_final_expression_returns_value(Auto),
    top_level_await_works(Auto),
    tracebacks_use_cell_line_numbers_and_hide_the_runtime(Auto),
    syntax_errors_name_line_and_column(Auto),
    output_streams_live_and_names_its_stream(Auto),
    fd_level_and_subprocess_output_is_captured(Auto),
    garbage_on_fd1_and_closed_fds_leave_the_session_working(Auto),
    host_calls_answer_from_threads_and_tasks_and_raise_host_errors(Auto),
}
