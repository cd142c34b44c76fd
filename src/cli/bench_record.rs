//! `mcpr bench record`: what the session record costs. Append cost per step (snapshot
//! and fsync included), opening the index and listing over a 10,000-step session,
//! rewind time against the original cells' execution time, and rewinds and
//! continuations through checkpoints ([`super::bench_checkpoints`]), and continuations
//! through the engine with and without a warm pool ([`super::bench_continue`]).

use clap::Args;
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use super::bench::{fail, row, stats};
use super::{CliError, current_project};
use crate::event::{CallOutcome, CellStatus, Event, Stream};
use crate::hostcall::HostCalls;
use crate::record::index::Index;
use crate::record::log::{
    Detail, Line, LogWriter, Secrets, SessionHeader, SessionLog, StepBegin, StepEnd, StepKind,
};
use crate::record::recorder::{Recorder, ReplayDir};
use crate::record::replay::replay;
use crate::record::snapshot::Snapshotter;
use crate::sandbox::IsolationRequest;
use crate::session::{Launcher, Session};

#[derive(Debug, Args)]
pub struct RecordBenchArgs {
    #[arg(long, value_enum)]
    isolation: Option<IsolationRequest>,
    /// Steps appended to time the append cost
    #[arg(long, default_value_t = 300)]
    steps: usize,
    /// Steps of the long session the index is timed over
    #[arg(long, default_value_t = 10_000)]
    index_steps: u64,
    /// Session lengths (cells) to time rewinds for
    #[arg(long, value_delimiter = ',', default_value = "5,20,50")]
    rewind_cells: Vec<usize>,
    /// Steps N to time rewinds to with live and saved checkpoints and replay only
    #[arg(long, value_delimiter = ',', default_value = "5,50,500")]
    checkpoint_steps: Vec<usize>,
    /// Only continuations through the engine, warm pool against cold kernel
    #[arg(long)]
    continue_only: bool,
}

pub async fn run(args: RecordBenchArgs) -> Result<ExitCode, CliError> {
    let project = current_project()?;
    let launcher = Launcher::from_config(&project.config.kernel, args.isolation).map_err(fail)?;
    let root = std::env::temp_dir().join(format!("mcpr-bench-record-{}", std::process::id()));
    std::fs::create_dir_all(&root).map_err(fail)?;
    let result = if args.continue_only {
        super::bench_continue::bench(&root, args.isolation, &args.checkpoint_steps)
            .await
            .map(|()| ExitCode::SUCCESS)
    } else {
        bench_in(&args, launcher, &root).await
    };
    let _ = std::fs::remove_dir_all(&root);
    result
}

/// One recorded cell's events: a tool call and its printed result (also the timeline
/// bench's steps).
pub(super) fn cell_events(cell: u64, i: usize) -> Vec<Event> {
    vec![
        Event::CellStarted {
            cell,
            code: format!("rows = tools.demo.search_notes(query='q{i}')\nprint(len(rows))"),
        },
        Event::HostCall {
            cell,
            id: i as u64,
            name: "tools.call".into(),
            args: json!({"server": "demo", "tool": "search_notes", "args": {"query": format!("q{i}")}}),
            outcome: CallOutcome::Ok(json!({"value": [{"id": i, "title": "t", "body": "b"}]})),
            duration_ms: 0.3,
        },
        Event::Output {
            cell,
            stream: Stream::Stdout,
            text: "1\n".into(),
        },
        Event::CellFinished {
            cell,
            status: CellStatus::Ok,
            duration_ms: 1.0,
            overflow: Vec::new(),
        },
    ]
}

/// Appends step `step`: one cell that calls a tool (see [`cell_events`]), ended with
/// workspace snapshot `snapshot`.
pub(super) fn cell_step(w: &mut LogWriter, step: u64, snapshot: &str) -> Result<(), CliError> {
    w.append(&Line::Step(StepBegin {
        step,
        parent: step - 1,
        kind: StepKind::Cell,
        task: None,
        startup: None,
        started: crate::record::log::now(),
    }))
    .map_err(fail)?;
    for e in cell_events(step, step as usize) {
        w.append_event(step, &e).map_err(fail)?;
    }
    w.append(&Line::End(StepEnd {
        step,
        success: true,
        duration_ms: 1.0,
        snapshot: snapshot.to_string(),
        skills_used: Vec::new(),
        skills_created: Vec::new(),
        inexact: None,
    }))
    .map_err(fail)
}

/// One recorded step (no events) over `ws`: the snapshot and its durability.
fn timed_step(recorder: &mut Recorder) -> Result<f64, CliError> {
    let started = Instant::now();
    recorder.begin_step(StepKind::Cell, None, None);
    recorder
        .end_step(true, Vec::new(), Vec::new())
        .map_err(fail)?;
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

/// Bytes of every file under `dir`.
fn tree_bytes(dir: &Path) -> u64 {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return 0;
    };
    listing
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// Workspaces of real use: a step that creates 20,000 small files, a step that then
/// changes one of them, and a 50 MB file that grows by 1 MB per step.
fn workspace_scale(root: &Path) -> Result<(), CliError> {
    let mut create = Vec::new();
    let mut change = Vec::new();
    let mut walked = Vec::new();
    let mut journalled = Vec::new();
    for rep in 0..3 {
        let base = root.join(format!("many-{rep}"));
        let dir = ReplayDir::open(&base.join(".replay")).map_err(fail)?;
        let ws = base.join("ws");
        std::fs::create_dir_all(&ws).map_err(fail)?;
        let (mut recorder, _) =
            Recorder::open(&dir, "many", &ws, Secrets::default()).map_err(fail)?;
        for f in 0..20_000 {
            let sub = ws.join(format!("d{}", f / 1000));
            if f % 1000 == 0 {
                std::fs::create_dir_all(&sub).map_err(fail)?;
            }
            std::fs::write(
                sub.join(format!("f{f}.txt")),
                format!("row {f} of rep {rep}\n"),
            )
            .map_err(fail)?;
        }
        create.push(timed_step(&mut recorder)?);
        for i in 0..10 {
            std::fs::write(ws.join("d3/f3333.txt"), format!("changed {i}")).map_err(fail)?;
            change.push(timed_step(&mut recorder)?);
        }
        // The same change, snapshotted alone (no log line, no log fsync), by the
        // journal and by a full walk (no change journal): what the journal saves.
        for (mut snapshotter, samples) in [
            (Snapshotter::new(), &mut journalled),
            (Snapshotter::without_journal(), &mut walked),
        ] {
            snapshotter.snapshot(&ws, dir.store()).map_err(fail)?;
            for i in 0..10 {
                std::fs::write(ws.join("d3/f3333.txt"), format!("again {i}")).map_err(fail)?;
                let started = Instant::now();
                snapshotter.snapshot(&ws, dir.store()).map_err(fail)?;
                samples.push(started.elapsed().as_secs_f64() * 1000.0);
            }
        }
    }
    row(
        "a step that created 20,000 small files (snapshot, one pack, fsync)",
        "ms",
        &stats(create),
        "target ≤ 1 s",
    );
    row(
        "then a step that changed one of them",
        "ms",
        &stats(change),
        "target ≤ 20 ms",
    );
    row(
        "that step's snapshot alone (pack fsync included, no log line)",
        "ms",
        &stats(journalled),
        "",
    );
    row(
        "that step's snapshot alone by a full walk (no change journal)",
        "ms",
        &stats(walked),
        "",
    );

    let base = root.join("grow");
    let dir = ReplayDir::open(&base.join(".replay")).map_err(fail)?;
    let ws = base.join("ws");
    std::fs::create_dir_all(&ws).map_err(fail)?;
    let (mut recorder, _) = Recorder::open(&dir, "grow", &ws, Secrets::default()).map_err(fail)?;
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut noise = |len: usize| -> Vec<u8> {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 24) as u8
            })
            .collect()
    };
    let table = ws.join("table.csv");
    std::fs::write(&table, noise(50 << 20)).map_err(fail)?;
    timed_step(&mut recorder)?;
    let objects = base.join(".replay/objects");
    let mut growth = Vec::new();
    let mut times = Vec::new();
    for _ in 0..10 {
        let before = tree_bytes(&objects);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&table)
            .map_err(fail)?;
        std::io::Write::write_all(&mut file, &noise(1 << 20)).map_err(fail)?;
        drop(file);
        times.push(timed_step(&mut recorder)?);
        growth.push((tree_bytes(&objects) - before) as f64 / f64::from(1 << 20));
    }
    row(
        "object store growth per step, appending 1 MiB to a 50 MiB file",
        "MiB",
        &stats(growth),
        "target ≤ 2 MiB",
    );
    row(
        "that step's record time (the file re-hashed and chunked)",
        "ms",
        &stats(times),
        "",
    );
    Ok(())
}

async fn bench_in(
    args: &RecordBenchArgs,
    launcher: Launcher,
    root: &Path,
) -> Result<ExitCode, CliError> {
    outln!("| measurement | median | p99 | n | note |");
    outln!("|---|---|---|---|---|");

    // Append: a workspace of 50 files of 4 KiB, one of which changes per step.
    let dir = ReplayDir::open(&root.join("append/.replay")).map_err(fail)?;
    let ws = root.join("append/ws");
    std::fs::create_dir_all(&ws).map_err(fail)?;
    for f in 0..50 {
        std::fs::write(ws.join(format!("f{f}.txt")), vec![b'x'; 4096]).map_err(fail)?;
    }
    let (mut recorder, _) =
        Recorder::open(&dir, "append", &ws, Secrets::default()).map_err(fail)?;
    let mut samples = Vec::new();
    for i in 0..args.steps {
        std::fs::write(ws.join("f0.txt"), format!("step {i}")).map_err(fail)?;
        let started = Instant::now();
        recorder.begin_step(StepKind::Cell, None, None);
        for e in cell_events(i as u64 + 1, i) {
            recorder.event(&e);
        }
        recorder
            .end_step(true, Vec::new(), Vec::new())
            .map_err(fail)?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    row(
        "append one step (4 events, snapshot of 50 files with 1 changed, fsync)",
        "ms",
        &stats(samples),
        "",
    );

    workspace_scale(root)?;

    // A long session written directly, then indexed and read.
    let dir = ReplayDir::open(&root.join("long/.replay")).map_err(fail)?;
    let empty = root.join("long/ws");
    std::fs::create_dir_all(&empty).map_err(fail)?;
    let (base, _) = Snapshotter::new()
        .snapshot(&empty, dir.store())
        .map_err(fail)?;
    let header = SessionHeader {
        format: crate::record::log::FORMAT_VERSION,
        id: "bench".into(),
        name: "long".into(),
        created: crate::record::log::now(),
        fork: None,
        base: base.clone(),
        mcpr: env!("CARGO_PKG_VERSION").into(),
    };
    let mut writer = LogWriter::create(
        &dir.log_path("long"),
        &header,
        dir.store().clone(),
        Secrets::default(),
    )
    .map_err(fail)?;
    for step in 1..=args.index_steps {
        cell_step(&mut writer, step, &base)?;
    }
    writer.sync().map_err(fail)?;
    drop(writer);
    let size = std::fs::metadata(dir.log_path("long")).map_err(fail)?.len();
    let index_file = dir.root().join("index.sqlite");
    let mut build = Vec::new();
    for _ in 0..3 {
        let _ = std::fs::remove_file(&index_file);
        let started = Instant::now();
        let (index, _) = Index::open(&dir).map_err(fail)?;
        index.sessions().map_err(fail)?;
        build.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let n = args.index_steps;
    row(
        &format!(
            "index build from a {n}-step log ({:.1} MB)",
            size as f64 / 1e6
        ),
        "ms",
        &stats(build),
        "missing or stale index",
    );
    let mut warm = Vec::new();
    for _ in 0..30 {
        let started = Instant::now();
        let (index, _) = Index::open(&dir).map_err(fail)?;
        let rows = index.sessions().map_err(fail)?;
        if rows.first().map(|r| r.steps) != Some(n) {
            return Err(fail("the index lost steps"));
        }
        warm.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    row(
        &format!("index open + list, {n}-step session"),
        "ms",
        &stats(warm),
        "`mcpr replay list`",
    );
    let mut read = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let log =
            SessionLog::read(&dir.log_path("long"), dir.store(), Detail::Full).map_err(fail)?;
        dir.history(&log, None).map_err(fail)?;
        read.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    row(
        &format!("read the whole {n}-step log + its history"),
        "ms",
        &stats(read),
        "`mcpr replay SESSION`",
    );

    // Rewind: cells doing some work and one 20 ms host call each (a tool's latency).
    outln!();
    outln!("| cells | original execution (sum) | rewind (fresh kernel + re-run) | ratio |");
    outln!("|---|---|---|---|");
    for &cells in &args.rewind_cells {
        let name = format!("rw{cells}");
        let dir = ReplayDir::open(&root.join(format!("{name}/.replay"))).map_err(fail)?;
        let ws = root.join(format!("{name}/ws"));
        std::fs::create_dir_all(&ws).map_err(fail)?;
        let mut session = Session::start(
            launcher.clone(),
            HostCalls::with_builtins(),
            name.clone(),
            ws.clone(),
        )
        .await
        .map_err(fail)?;
        let (mut recorder, _) =
            Recorder::open(&dir, &name, &ws, Secrets::default()).map_err(fail)?;
        let mut original = 0.0;
        for i in 0..cells {
            let code = format!(
                "import mcpr\nacc = globals().get('acc', 0) + sum(range(20000))\nmcpr.host_call('sleep', seconds=0.02)\nopen('out{}.txt', 'w').write(str(acc))\nNone",
                i % 5
            );
            recorder.begin_step(StepKind::Cell, None, None);
            let status = session
                .run_cell(&code, &mut |e| {
                    if let Event::CellFinished { duration_ms, .. } = &e {
                        original += duration_ms;
                    }
                    recorder.event(&e);
                })
                .await;
            if !status.is_success() {
                return Err(fail(format!("bench cell failed: {status:?}")));
            }
            recorder
                .end_step(true, Vec::new(), Vec::new())
                .map_err(fail)?;
        }
        session.close().await;
        let log = dir.read(&name, Detail::Full).map_err(fail)?;
        let (history, base) = dir.history(&log, None).map_err(fail)?;
        let started = Instant::now();
        let mut fresh = Session::start(launcher.clone(), HostCalls::default(), name, ws)
            .await
            .map_err(fail)?;
        let report = replay(
            &mut fresh,
            &history,
            &base,
            &mut Snapshotter::new(),
            dir.store(),
            &mut |_| {},
        )
        .await
        .map_err(fail)?;
        let rewind = started.elapsed().as_secs_f64() * 1000.0;
        fresh.close().await;
        outln!(
            "| {cells} | {original:.0} ms | {rewind:.0} ms ({:.0} ms re-running cells) | {:.2} |",
            report.replay_ms,
            rewind / original
        );
    }
    super::bench_checkpoints::bench(&launcher, root, &args.checkpoint_steps).await?;
    super::bench_continue::bench(root, args.isolation, &args.checkpoint_steps).await?;
    Ok(ExitCode::SUCCESS)
}
