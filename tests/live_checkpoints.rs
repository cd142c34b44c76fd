//! Live checkpoints, through the engine as a front end drives it: real kernels in the
//! sandbox, the real demo MCP server counting its calls in its own database. A rewind to
//! a step with a frozen copy wakes that copy (exact state, random numbers included, no
//! call to any tool), the abandoned state is gone, a step without a copy is reached from
//! the nearest earlier one, and the copies stay within their count, memory and process
//! bounds.

mod common;

use mcpr::engine::{Context, Op, SessionHandle, SessionSpec, Start};
use mcpr::event::{Event, RestoreSource};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(120);

struct Live {
    handle: SessionHandle,
}

impl Live {
    async fn open(dir: &Path, name: &str) -> Live {
        Live::open_at(dir, Start::Continue { name: name.into() })
            .await
            .0
    }

    /// Opens a session as `start` says; the events of opening it.
    async fn open_at(dir: &Path, start: Start) -> (Live, Vec<Event>) {
        let project = mcpr::project::Project::discover(dir).unwrap();
        let spec = SessionSpec {
            start,
            live_checkpoints: true,
            ..SessionSpec::default()
        };
        let handle = mcpr::engine::start(Context::new(project, dir.to_path_buf()), spec);
        let mut live = Live { handle };
        let events = live.until_ended(0).await;
        (live, events)
    }

    async fn until_ended(&mut self, op: u64) -> Vec<Event> {
        let mut out = Vec::new();
        loop {
            let e = tokio::time::timeout(PATIENCE, self.handle.events.recv())
                .await
                .expect("an event within the patience")
                .expect("the session is still there");
            // Shown when a test fails.
            if let Event::Notice { message, .. } = &e {
                eprintln!("notice: {message}");
            }
            let done = matches!(&e, Event::OpEnded { op: id, .. } if *id == op);
            if let Event::OpEnded {
                error: Some(err), ..
            } = &e
                && done
            {
                panic!("operation {op} failed: {err}\n{out:?}");
            }
            out.push(e);
            if done {
                return out;
            }
        }
    }

    async fn run(&mut self, op: Op) -> Vec<Event> {
        let id = self.handle.ops.send(op);
        self.until_ended(id).await
    }

    /// Runs a cell as a step; its stdout and what was kept after it.
    async fn cell(&mut self, code: &str) -> (String, Event) {
        let events = self.run(Op::RunCell(code.into())).await;
        let kept = events
            .iter()
            .find(|e| matches!(e, Event::CheckpointKept { .. }))
            .cloned()
            .unwrap_or_else(|| panic!("no checkpoint_kept after {code:?}: {events:?}"));
        (stdout(&events), kept)
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

fn restored(events: &[Event]) -> (RestoreSource, Option<u64>, u64) {
    events
        .iter()
        .find_map(|e| match e {
            Event::StateRestored {
                source,
                checkpoint,
                cells,
                ..
            } => Some((*source, *checkpoint, *cells)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no state_restored in {events:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewind_wakes_the_frozen_kernel_exactly_and_calls_nothing() {
    let dir = common::project_dir();
    let db = dir.path().join("notes.db");
    std::fs::write(
        dir.path().join(".mcp.json"),
        json!({"mcpServers": {"demo": common::demo_entry(&db)}}).to_string(),
    )
    .unwrap();
    let mut live = Live::open(dir.path(), "l").await;
    let (first, kept) = live
        .cell("import random\nfrom tools.demo import add_note\nr = random.random()\nnote = add_note(title='one', body='1')['id']\nprint(r)")
        .await;
    assert!(
        matches!(&kept, Event::CheckpointKept { live, .. } if live == &vec![1]),
        "{kept:?}"
    );
    live.cell("later = random.random()\nadd_note(title='two', body='2')")
        .await;
    live.cell("abandoned = 'yes'").await;
    let calls = common::demo_calls_logged(&db);

    let events = live.run(Op::Rewind(1)).await;
    assert_eq!(restored(&events), (RestoreSource::Live, Some(1), 0));
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::ReplayProgress { .. }))
    );
    let (out, _) = live
        .cell("print(r, 'later' in globals(), 'abandoned' in globals())")
        .await;
    assert_eq!(out, format!("{} False False\n", first.trim()));
    assert_eq!(common::demo_calls_logged(&db), calls, "no tool was called");

    // The abandoned branch's own copies are still there: back to step 3, exactly.
    let events = live.run(Op::Rewind(3)).await;
    assert_eq!(restored(&events), (RestoreSource::Live, Some(3), 0));
    let (out, _) = live.cell("print(r, abandoned, 'later' in globals())").await;
    assert_eq!(out, format!("{} yes True\n", first.trim()));
    assert_eq!(common::demo_calls_logged(&db), calls, "no tool was called");
    live.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_wakes_a_clone_of_the_frozen_kernel_and_the_parent_keeps_its_own() {
    let dir = common::project_dir();
    let db = dir.path().join("notes.db");
    std::fs::write(
        dir.path().join(".mcp.json"),
        json!({"mcpServers": {"demo": common::demo_entry(&db)}}).to_string(),
    )
    .unwrap();
    // A host folder the sandboxed code points a link at: the parent's workspace is moved
    // and rebuilt, and nothing may be written through the link.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("target"), "host").unwrap();
    let mut live = Live::open(dir.path(), "parent").await;
    let (first, _) = live
        .cell("import random\nfrom tools.demo import add_note\nr = random.random()\nadd_note(title='one', body='1')\nopen('mine.txt', 'w').write('one')\nprint(r)")
        .await;
    live.cell(&format!(
        "later = random.random()\nadd_note(title='two', body='2')\nopen('mine.txt', 'w').write('two')\nimport os\nos.symlink({:?}, 'out')",
        outside.path().join("target")
    ))
    .await;
    let project = mcpr::project::Project::discover(dir.path()).unwrap();
    let parent_ws = project.session_workspace("parent").unwrap();
    // A file changed by hand since the last step belongs to the parent too.
    std::fs::write(parent_ws.join("by-hand.txt"), "kept").unwrap();
    let calls = common::demo_calls_logged(&db);

    let events = live
        .run(Op::Fork {
            step: 1,
            name: Some("child".into()),
        })
        .await;
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Forked { session, step: 1, .. } if session == "child")),
        "{events:?}"
    );
    assert_eq!(restored(&events), (RestoreSource::Live, Some(1), 0));
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::ReplayProgress { .. }))
    );
    let (out, kept) = live
        .cell("import os\nprint(r, 'later' in globals(), open('mine.txt').read(), os.path.lexists('out'))")
        .await;
    assert_eq!(out, format!("{} False one False\n", first.trim()));
    assert_eq!(common::demo_calls_logged(&db), calls, "no tool was called");
    // The fork's own steps go on from the copy it kept of step 1; the parent's copy of
    // step 2 (another branch for the fork) is gone.
    assert!(
        matches!(&kept, Event::CheckpointKept { session, step: 2, live, .. } if session == "child" && live == &vec![1, 2]),
        "{kept:?}"
    );
    // The copy the clone was woken from is still frozen: the fork rewinds to it.
    let events = live.run(Op::Rewind(1)).await;
    assert_eq!(restored(&events), (RestoreSource::Live, Some(1), 0));
    let (out, _) = live.cell("print(r)").await;
    assert_eq!(out, format!("{}\n", first.trim()));
    live.shutdown().await;

    // The parent's workspace is whole again, its link still a link, the host untouched.
    assert_eq!(
        std::fs::read_to_string(parent_ws.join("mine.txt")).unwrap(),
        "two"
    );
    assert_eq!(
        std::fs::read_to_string(parent_ws.join("by-hand.txt")).unwrap(),
        "kept"
    );
    assert!(parent_ws.join("out").is_symlink());
    assert_eq!(
        std::fs::read_to_string(outside.path().join("target")).unwrap(),
        "host"
    );
    let names: Vec<_> = std::fs::read_dir(outside.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "nothing appeared outside");
    let child_ws = project.session_workspace("child").unwrap();
    assert!(!child_ws.join("by-hand.txt").exists());

    // The parent's own rewind to the step still works, exactly and without a tool call.
    let (mut parent, events) = Live::open_at(
        dir.path(),
        Start::Rewind {
            name: "parent".into(),
            step: 1,
        },
    )
    .await;
    assert_eq!(restored(&events).1, Some(1), "{events:?}");
    let (out, _) = parent.cell("print(r, 'later' in globals())").await;
    assert_eq!(out, format!("{} False\n", first.trim()));
    assert_eq!(common::demo_calls_logged(&db), calls, "no tool was called");
    parent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_stay_within_the_memory_bound() {
    const LIMIT: u64 = 64 * 1024 * 1024;
    let dir = common::project_dir();
    std::fs::write(
        dir.path().join("mcpr.toml"),
        "[checkpoints]\nlive_memory_mb = 64\nsaved = false\n",
    )
    .unwrap();
    let mut live = Live::open(dir.path(), "m").await;
    live.cell("import os\nsteps = []").await;
    let mut evicted_any = false;
    let mut copies = Vec::new();
    for i in 2..=8 {
        // Each step drops the previous 24 MiB: the copy frozen before it keeps them alone.
        let (_, kept) = live
            .cell(&format!(
                "data = bytearray(os.urandom(24 * 1024 * 1024))\nsteps.append({i})"
            ))
            .await;
        let Event::CheckpointKept {
            live: now,
            live_bytes,
            evicted,
            ..
        } = kept
        else {
            unreachable!()
        };
        assert!(
            live_bytes <= LIMIT,
            "step {i}: {live_bytes} bytes held by {now:?}"
        );
        // The newest copy shares the kernel's 24 MiB: half of them are its share.
        assert!(live_bytes >= 12 * 1024 * 1024, "step {i}: {live_bytes}");
        // Shown when the test fails.
        eprintln!("step {i}: copies {now:?} hold {live_bytes} bytes, ended {evicted:?}");
        evicted_any |= !evicted.is_empty();
        copies = now;
    }
    assert!(evicted_any, "the memory bound evicted copies");
    // Measured from inside the sandbox: the kernel's children are its frozen copies;
    // their proportional set sizes add up to what the copies hold.
    let (out, _) = live
        .cell(
            "me = os.getpid()\ntotal = n = 0\nfor p in os.listdir('/proc'):\n    if not p.isdigit():\n        continue\n    try:\n        with open(f'/proc/{p}/status') as f:\n            ppid = int([l for l in f if l.startswith('PPid:')][0].split()[1])\n        if ppid != me:\n            continue\n        with open(f'/proc/{p}/smaps_rollup') as f:\n            pss = [int(l.split()[1]) for l in f if l.startswith('Pss:')]\n    except OSError:\n        continue\n    if pss:\n        total += pss[0] * 1024\n        n += 1\nprint(steps[-1], len(data), n, total)",
        )
        .await;
    eprintln!("measured inside: {out}");
    let parts: Vec<u64> = out.split_whitespace().map(|p| p.parse().unwrap()).collect();
    assert_eq!(parts[..2], [8, 24 * 1024 * 1024]);
    assert_eq!(
        parts[2],
        copies.len() as u64,
        "one process per copy: {copies:?}"
    );
    assert!(parts[3] <= LIMIT, "the copies hold {} bytes", parts[3]);
    live.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_process_limit_counts_the_frozen_copies() {
    let dir = common::project_dir();
    // Room for 6 copies under a limit of 30 processes (the kernel keeps a reserve).
    std::fs::write(
        dir.path().join("mcpr.toml"),
        "[kernel.limits]\nprocesses = 30\n[checkpoints]\nsaved = false\n",
    )
    .unwrap();
    let mut live = Live::open(dir.path(), "p").await;
    let mut copies = Vec::new();
    for i in 1..=10 {
        let (_, kept) = live.cell(&format!("x = {i}")).await;
        if let Event::CheckpointKept { live, .. } = kept {
            copies = live;
        }
    }
    assert_eq!(copies.len(), 6, "{copies:?}");
    // The copies are processes of the kernel's uid, inside its limit, and the kernel
    // still has room to start programs.
    let (out, _) = live
        .cell(
            "import os, subprocess\nuid = os.getuid()\nmine = [p for p in os.listdir('/proc') if p.isdigit() and os.stat('/proc/' + p).st_uid == uid]\nsubprocess.run(['true'], check=True)\nprint(len(mine))",
        )
        .await;
    let processes: usize = out.trim().parse().unwrap();
    assert!(
        processes > copies.len(),
        "{processes} processes, {copies:?}"
    );
    assert!(processes <= 30, "{processes}");

    // Rewind to a step whose copy was ended: the nearest earlier copy, then replay.
    let target = (1..=10u64)
        .rev()
        .find(|s| !copies.contains(s) && copies.iter().any(|c| c < s))
        .expect("a step without a copy after one with");
    let from = copies
        .iter()
        .copied()
        .filter(|c| *c < target)
        .max()
        .unwrap();
    let events = live.run(Op::Rewind(target)).await;
    assert_eq!(
        restored(&events),
        (RestoreSource::Live, Some(from), target - from),
        "one cell per step replayed after the copy"
    );
    let (out, _) = live.cell("print(x)").await;
    assert_eq!(out, format!("{target}\n"));
    live.shutdown().await;
}
