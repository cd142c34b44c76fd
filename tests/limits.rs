//! Control and containment: timeouts, cancel, kernel death, resource bombs, output caps,
//! and a kernel that abuses the protocol channel. All against real kernel processes.

mod common;

use common::TestSession;
use mcpr::event::{CellStatus, Event, Stream};
use mcpr::sandbox::IsolationRequest;
use serde_json::json;
use std::time::Duration;

async fn busy_loop_times_out_by_interrupt_and_state_survives(level: IsolationRequest) {
    let mut s = TestSession::new(level).await;
    s.run("kept = 'yes'").await.assert_ok();
    let mut opts = s.session.cell_options();
    opts.timeout = Some(Duration::from_millis(500));
    opts.grace = Duration::from_secs(5);
    let r = s.run_with("while True: pass", &opts).await;
    assert_eq!(r.status, CellStatus::Timeout);
    let (ename, message, tb, line, _) = r.error().unwrap();
    assert_eq!(ename, "KeyboardInterrupt");
    assert!(message.contains("time limit of 0.5 s"), "{message}");
    assert_eq!(line, Some(1), "{tb}");
    let finished = r.events.last().unwrap().0;
    assert!(
        finished < Duration::from_secs(5),
        "ended by the interrupt, not the kill: {finished:?}"
    );
    let r = s.run("kept").await;
    assert_eq!(r.value(), Some(json!("yes")));
    assert!(r.restarted().is_none());
}

async fn a_cell_that_ignores_interrupt_is_killed_and_the_next_cell_is_told(
    level: IsolationRequest,
) {
    let mut s = TestSession::new(level).await;
    s.run("kept = 1").await.assert_ok();
    let mut opts = s.session.cell_options();
    opts.timeout = Some(Duration::from_millis(300));
    opts.grace = Duration::from_millis(300);
    let r = s
        .run_with(
            "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass",
            &opts,
        )
        .await;
    assert_eq!(r.status, CellStatus::Timeout);
    let (ename, message, ..) = r.error().unwrap();
    assert_eq!(ename, "KernelKilled");
    assert!(
        message.contains("did not stop within 0.3 s of the interrupt"),
        "{message}"
    );
    let finished = r.events.last().unwrap().0;
    assert!(finished < Duration::from_secs(5), "{finished:?}");

    let r = s.run("'kept' in globals()").await;
    r.assert_ok();
    assert_eq!(r.value(), Some(json!(false)));
    let reason = r
        .restarted()
        .expect("the next cell is told about the restart");
    assert!(reason.contains("earlier cells are lost"), "{reason}");
}

async fn cancel_from_the_host_interrupts_the_cell(level: IsolationRequest) {
    let mut s = TestSession::new(level).await;
    let opts = s.session.cell_options();
    let token = opts.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        token.cancel();
    });
    let r = s
        .run_with("import time\nwhile True: time.sleep(0.05)", &opts)
        .await;
    assert_eq!(r.status, CellStatus::Cancelled);
    assert_eq!(s.run("1").await.value(), Some(json!(1)));
}

async fn kernel_death_is_explained_and_survived(level: IsolationRequest) {
    let mut s = TestSession::new(level).await;
    let r = s
        .run("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
        .await;
    assert_eq!(r.status, CellStatus::KernelDied);
    let (ename, message, ..) = r.error().unwrap();
    assert_eq!(ename, "KernelDied");
    assert!(message.contains("killed by SIGKILL"), "{message}");
    assert!(
        message.contains("512 MiB"),
        "names the likely memory limit: {message}"
    );
    let r = s.run("import os\nos._exit(7)").await;
    let (_, message, ..) = r.error().unwrap();
    assert!(r.restarted().is_some());
    assert!(message.contains("exited with status 7"), "{message}");
    let r = s.run("21 * 2").await;
    assert_eq!(r.value(), Some(json!(42)));
}

async fn fork_bomb_is_contained(level: IsolationRequest) {
    let mut s = TestSession::new(level).await;
    let r = s
        .run("import os\nn = 0\nwhile True:\n    pid = os.fork()\n    if pid == 0:\n        import time\n        time.sleep(60)\n        os._exit(0)\n    n += 1")
        .await;
    assert_eq!(r.status, CellStatus::Error);
    let (ename, message, ..) = r.error().unwrap();
    assert_eq!(ename, "BlockingIOError", "{message}");
    assert!(
        message.contains("Resource temporarily unavailable"),
        "{message}"
    );
    // The kernel itself is fine and reports how far the bomb got.
    let r = s.run("n").await;
    let n = r.value().and_then(|v| v.as_u64()).unwrap();
    assert!(n < 64, "process limit applied: {n} forks");
    // Self-replicating forks end too, and only the kernel's frames reach the host.
    let r = s.run("import os\nwhile True: os.fork()").await;
    assert_eq!(r.status, CellStatus::Error);
    assert_eq!(s.run("'alive'").await.value(), Some(json!("alive")));
}

async fn memory_bomb_is_contained_with_a_clear_message(level: IsolationRequest) {
    let mut s = TestSession::new(level).await;
    let r = s
        .run("hog = []\nwhile True:\n    hog.append(bytearray(10**7))")
        .await;
    assert_eq!(r.status, CellStatus::Error);
    let (ename, message, ..) = r.error().unwrap();
    assert_eq!(ename, "MemoryError");
    assert!(message.contains("memory limit of 512 MiB"), "{message}");
    let r = s.run("del hog\n'recovered'").await;
    assert_eq!(r.value(), Some(json!("recovered")));
}

async fn a_100_mb_print_is_capped_inline_and_kept_in_full_on_disk(level: IsolationRequest) {
    let mut s = TestSession::new(level).await;
    let r = s.run("print('y' * 100_000_000)").await;
    r.assert_ok();
    let inline = r.stdout();
    assert_eq!(inline.len(), 1024 * 1024, "exactly the inline cap");
    let overflow = r
        .events
        .iter()
        .find_map(|(_, e)| match e {
            Event::CellFinished { overflow, .. } => overflow.first().cloned(),
            _ => None,
        })
        .expect("overflow reported");
    assert_eq!(overflow.stream, Stream::Stdout);
    assert_eq!(overflow.bytes, 100_000_001);
    let file = s.workspace().join(&overflow.path);
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 100_000_001);
    // The kernel can read it back by the relative path.
    let code = format!(
        "import os\nos.path.getsize({:?})",
        overflow.path.to_str().unwrap()
    );
    assert_eq!(s.run(&code).await.value(), Some(json!(100_000_001)));
}

async fn malformed_and_oversized_frames_from_the_kernel_are_rejected(level: IsolationRequest) {
    let mut s = TestSession::new(level).await;
    // A well-framed payload that is not a message: reported and skipped.
    let r = s
        .run("import os, struct, mcpr._kernel as k\nfd = k._kernel.channel._wfd\nbody = b'{\"t\":\"bogus\"}'\nos.write(fd, struct.pack('>I', len(body)) + body)\n'after'")
        .await;
    r.assert_ok();
    assert_eq!(r.value(), Some(json!("after")));
    assert!(
        r.stream(Stream::Stderr)
            .contains("ignored a malformed message"),
        "{}",
        r.stream(Stream::Stderr)
    );

    // A length over the limit: the stream cannot be trusted, so the kernel is stopped
    // with a clear error instead of a hang, and the session goes on with a new one.
    let r = s
        .run("import os, struct, mcpr._kernel as k\nos.write(k._kernel.channel._wfd, struct.pack('>I', 2**31) + b'junk')\nimport time; time.sleep(30)")
        .await;
    assert_eq!(r.status, CellStatus::KernelDied);
    let (_, message, ..) = r.error().unwrap();
    assert!(
        message.contains("exceeds the 16777216-byte limit"),
        "{message}"
    );
    assert!(r.events.last().unwrap().0 < Duration::from_secs(10));
    assert_eq!(s.run("1 + 1").await.value(), Some(json!(2)));
}

async fn oversized_messages_are_refused_on_both_sides(level: IsolationRequest) {
    let mut s = TestSession::new(level).await;
    // Host-call arguments over the frame limit raise in Python before anything is sent.
    let r = s
        .run("import mcpr\nmcpr.host_call('echo', blob='x' * 17_000_000)")
        .await;
    let (ename, message, ..) = r.error().unwrap();
    assert_eq!(ename, "FrameTooLarge");
    assert!(
        message.contains("exceeds the 16777216-byte frame limit"),
        "{message}"
    );
    // A cell whose code is over the limit is refused by the host.
    let big = format!("x = '{}'", "a".repeat(17_000_000));
    let r = s.run(&big).await;
    let (ename, ..) = r.error().unwrap();
    assert_eq!(ename, "CellTooLarge");
    assert_eq!(s.run("'fine'").await.value(), Some(json!("fine")));
}

async fn a_frozen_kernel_is_killed_at_the_time_limit(level: IsolationRequest) {
    let mut s = TestSession::new(level).await;
    let mut opts = s.session.cell_options();
    opts.timeout = Some(Duration::from_millis(300));
    opts.grace = Duration::from_millis(300);
    let r = s
        .run_with(
            "import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)",
            &opts,
        )
        .await;
    assert_eq!(r.status, CellStatus::Timeout);
    assert!(r.events.last().unwrap().0 < Duration::from_secs(5));
    let r = s.run("'fresh'").await;
    assert!(r.restarted().is_some());
    assert_eq!(r.value(), Some(json!("fresh")));
}

async fn a_cell_blocked_in_a_host_call_is_interrupted_and_keeps_its_state(level: IsolationRequest) {
    let mut s = TestSession::new(level).await;
    s.run("kept = 'yes'").await.assert_ok();
    let mut opts = s.session.cell_options();
    opts.timeout = Some(Duration::from_millis(400));
    opts.grace = Duration::from_secs(10);
    // The main thread is itself reading the channel while it waits for the reply.
    let r = s
        .run_with("import mcpr\nmcpr.host_call('sleep', seconds=30)", &opts)
        .await;
    assert_eq!(r.status, CellStatus::Timeout);
    assert_eq!(r.error().unwrap().0, "KeyboardInterrupt");
    assert!(r.events.last().unwrap().0 < Duration::from_secs(5));
    // Calls from a thread and from asyncio still work afterwards, and state survived.
    let r = s
        .run("import mcpr, threading, asyncio\nres = []\nt = threading.Thread(target=lambda: res.append(mcpr.host_call('echo', v=1)['v']))\nt.start(); t.join()\nres.append((await mcpr.host_call_async('echo', v=2))['v'])\n[kept, res]")
        .await;
    assert_eq!(r.value(), Some(json!(["yes", [1, 2]])), "{:?}", r.error());
}

on_each_backend! {
    busy_loop_times_out_by_interrupt_and_state_survives(Auto),
    a_cell_that_ignores_interrupt_is_killed_and_the_next_cell_is_told(Auto),
    cancel_from_the_host_interrupts_the_cell(Auto),
    kernel_death_is_explained_and_survived(Auto),
    fork_bomb_is_contained(Namespaces),
    memory_bomb_is_contained_with_a_clear_message(Auto),
    a_100_mb_print_is_capped_inline_and_kept_in_full_on_disk(Auto),
    malformed_and_oversized_frames_from_the_kernel_are_rejected(Auto),
    oversized_messages_are_refused_on_both_sides(Auto),
    a_frozen_kernel_is_killed_at_the_time_limit(Auto),
    a_cell_blocked_in_a_host_call_is_interrupted_and_keeps_its_state(Auto),
}
