//! The timeline's part of `mcpr bench tui`: time to the first frame of `mcpr replay` on a
//! 10,000-step session (the binary in a pseudo-terminal), focus moves across that
//! timeline against the frame budget (in process), the queries behind them, and frame
//! times while a 50-cell rewind runs in a real session. Measurements, never assertions.

use std::path::Path;
use std::time::{Duration, Instant};

use super::CliError;
use super::bench::{fail, row, stats};
use crate::engine::query::NodeRef;
use crate::engine::{Context, Op, SessionSpec, Start};
use crate::event::Event;
use crate::record::log::{LogWriter, Secrets, SessionHeader};
use crate::record::recorder::ReplayDir;
use crate::record::snapshot::Snapshotter;
use crate::tui::action::{Action, Effect};
use crate::tui::keymap::Keymap;
use crate::tui::layout::Pane;
use crate::tui::state::State;
use crate::tui::theme::Theme;
use crate::tui::timeline::TimelineEffect;

/// Steps of the long session.
const STEPS: u64 = 10_000;
/// Cells re-run by the rewind whose frames are timed.
const REWIND_CELLS: usize = 50;

/// Writes session `name` of `steps` one-cell steps (a tool call each) into `dir`.
/// Returns the workspace snapshot every step ends with.
fn write_long_session(
    dir: &ReplayDir,
    ws: &Path,
    name: &str,
    steps: u64,
) -> Result<String, CliError> {
    std::fs::create_dir_all(ws).map_err(fail)?;
    let (base, _) = Snapshotter::new().snapshot(ws, dir.store()).map_err(fail)?;
    let header = SessionHeader {
        format: crate::record::log::FORMAT_VERSION,
        id: "bench".into(),
        name: name.into(),
        created: crate::record::log::now(),
        fork: None,
        base: base.clone(),
        mcpr: env!("CARGO_PKG_VERSION").into(),
    };
    let mut w = LogWriter::create(
        &dir.log_path(name),
        &header,
        dir.store().clone(),
        Secrets::default(),
    )
    .map_err(fail)?;
    for step in 1..=steps {
        super::bench_record::cell_step(&mut w, step, &base)?;
    }
    w.sync().map_err(fail)?;
    Ok(base)
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// Everything for the timeline, in a project of its own under the temp folder.
pub async fn run(exe: &Path) -> Result<(), CliError> {
    let root = std::env::temp_dir().join(format!("mcpr-bench-timeline-{}", std::process::id()));
    std::fs::create_dir_all(&root).map_err(fail)?;
    let result = run_in(exe, &root).await;
    let _ = std::fs::remove_dir_all(&root);
    result
}

async fn run_in(exe: &Path, root: &Path) -> Result<(), CliError> {
    // The rewind measured is a replay of 50 cells (what a session without checkpoints
    // pays); checkpoints have their own rows in `mcpr bench record`.
    std::fs::write(root.join("mcpr.toml"), "[checkpoints]\nsaved = false\n").map_err(fail)?;
    let dir = ReplayDir::open(&root.join(".replay")).map_err(fail)?;
    let t = Instant::now();
    let snapshot = write_long_session(&dir, &root.join("workspace/long"), "long", STEPS)?;
    let written = ms(t);
    let size = std::fs::metadata(dir.log_path("long")).map_err(fail)?.len();
    outln!(
        "| writing the {STEPS}-step session ({:.1} MB) | {written:.0} ms | | 1 | setup |",
        size as f64 / 1e6
    );
    first_frame(exe, root, &dir)?;
    focus_moves(&dir, &snapshot)?;
    rewind_frames(root).await
}

/// `mcpr replay long` in a 200×60 pseudo-terminal: the first frame, and the first frame
/// with the timeline in it; cold (no kept reading of the log: the first open after the
/// session was recorded elsewhere) and with the reading the previous open kept.
fn first_frame(exe: &Path, root: &Path, dir: &ReplayDir) -> Result<(), CliError> {
    let mut first = Vec::new();
    let (mut cold, mut kept) = (Vec::new(), Vec::new());
    for i in 0..8 {
        let is_cold = i % 2 == 0;
        if is_cold {
            forget_readings(dir)?;
        }
        let (a, b) = super::bench_tui::time_frames(
            exe,
            root,
            &["replay", "long"],
            // The head's mark is drawn only with the rows (the title is redrawn in
            // pieces, so its count is no marker).
            &["Timeline".as_bytes(), "◀".as_bytes()],
        )?;
        first.push(a);
        if is_cold { &mut cold } else { &mut kept }.push(b);
    }
    row(
        "`mcpr replay` on a 10,000-step session: start → first frame",
        "ms",
        &stats(first),
        "—",
    );
    row(
        "`mcpr replay` on a 10,000-step session: start → frame with the timeline, cold",
        "ms",
        &stats(cold),
        "—",
    );
    row(
        "`mcpr replay` on a 10,000-step session: start → frame with the timeline, reading kept",
        "ms",
        &stats(kept),
        "≤ 300 ms",
    );
    Ok(())
}

/// Removes the timeline's kept readings, so that the next reading reads the log whole.
fn forget_readings(dir: &ReplayDir) -> Result<(), CliError> {
    match std::fs::remove_dir_all(dir.root().join("cache")) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(fail(e)),
        _ => Ok(()),
    }
}

/// Appends one more step (a cell and a tool call) to the long session's log, as the
/// recorder would after a step: what the console's reload after each step reads.
fn append_step(dir: &ReplayDir, step: u64, snapshot: &str) -> Result<(), CliError> {
    let mut w = LogWriter::open(
        &dir.log_path("long"),
        dir.store().clone(),
        Secrets::default(),
    )
    .map_err(fail)?;
    super::bench_record::cell_step(&mut w, step, snapshot)?;
    w.sync().map_err(fail)
}

fn state() -> State {
    State::new(
        Theme::default_theme(),
        Keymap::default(),
        ratatui::layout::Rect::new(0, 0, 200, 60),
        Instant::now(),
    )
}

/// Runs the timeline's queries as the runtime would (here, in line) until none is left.
fn settle(s: &mut State, root: &Path, mut fx: Vec<Effect>) {
    while let Some(e) = fx.pop() {
        if let Effect::Timeline(q) = e
            && let Some(a) = crate::tui::timeline::queries::run(q, root)
        {
            fx.extend(crate::tui::update::update(s, Action::Timeline(Box::new(a))));
        }
    }
}

/// Focus moves over the long timeline: the update and the frame for each key (what the
/// console does before the next frame); the queries run off the draw path and are timed
/// on their own.
fn focus_moves(dir: &ReplayDir, snapshot: &str) -> Result<(), CliError> {
    let root = dir.root().to_path_buf();
    let (mut cold, mut kept, mut appended) = (Vec::new(), Vec::new(), Vec::new());
    let timeline = || crate::engine::query::timeline(dir, "long").map_err(fail);
    for i in 0..5 {
        forget_readings(dir)?;
        let t = Instant::now();
        timeline()?;
        cold.push(ms(t));
        let t = Instant::now();
        timeline()?;
        kept.push(ms(t));
        append_step(dir, STEPS + 1 + i, snapshot)?;
        let t = Instant::now();
        timeline()?;
        appended.push(ms(t));
    }
    for (what, samples) in [
        ("cold (the log read whole)", cold),
        ("from the kept reading", kept),
        ("after a step was appended (the console's reload)", appended),
    ] {
        row(
            &format!("timeline query of the 10,000-step session, {what} (off the draw path)"),
            "ms",
            &stats(samples),
            "—",
        );
    }
    let window: Vec<NodeRef> = (5000..5049)
        .map(|step| NodeRef {
            session: "long".into(),
            step,
        })
        .collect();
    let mut details_q = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        crate::engine::query::step_details(dir, &window).map_err(fail)?;
        details_q.push(ms(t));
    }
    row(
        "details of the 49 steps around the focus (one query, off the draw path)",
        "ms",
        &stats(details_q),
        "—",
    );

    let mut s = state();
    let fx = crate::tui::timeline::update::browse(&mut s, "long", Some(1));
    settle(&mut s, &root, fx);
    crate::tui::update::focus(&mut s, Pane::Timeline);
    let mut terminal = ratatui::Terminal::with_options(
        ratatui::backend::CrosstermBackend::new(std::io::sink()),
        ratatui::TerminalOptions {
            viewport: ratatui::Viewport::Fixed(ratatui::layout::Rect::new(0, 0, 200, 60)),
        },
    )
    .map_err(fail)?;
    use crossterm::event::{KeyCode, KeyEvent};
    let keys = [
        KeyCode::Down,
        KeyCode::PageDown,
        KeyCode::Down,
        KeyCode::End,
        KeyCode::Up,
        KeyCode::PageUp,
        KeyCode::Home,
        KeyCode::PageDown,
    ];
    let mut samples = Vec::new();
    let mut pending: Vec<TimelineEffect> = Vec::new();
    for i in 0..2000 {
        let t = Instant::now();
        s.now = t;
        let fx =
            crate::tui::update::update(&mut s, Action::Key(KeyEvent::from(keys[i % keys.len()])));
        terminal
            .draw(|f| crate::tui::render::render(&s, f))
            .map_err(fail)?;
        samples.push(ms(t));
        // The details come back later, as they would from the blocking thread.
        pending.extend(fx.into_iter().filter_map(|e| match e {
            Effect::Timeline(q) => Some(q),
            _ => None,
        }));
        if i % 16 == 15 {
            for q in pending.drain(..) {
                if let Some(a) = crate::tui::timeline::queries::run(q, &root) {
                    let fx = crate::tui::update::update(&mut s, Action::Timeline(Box::new(a)));
                    settle(&mut s, &root, fx);
                }
            }
        }
    }
    // The 5 steps appended above are in the timeline too.
    if s.timeline.rows.len() as u64 != STEPS + 5 {
        return Err(fail("the timeline lost steps"));
    }
    row(
        "focus move on the 10,000-step timeline: key → frame at 200×60",
        "ms",
        &stats(samples),
        "within the 16 ms frame",
    );
    Ok(())
}

/// A real session of 50 cells is rewound to its last step (50 cells re-run in a fresh
/// kernel) while the console's state takes the events and draws, as its loop does.
async fn rewind_frames(root: &Path) -> Result<(), CliError> {
    let project = crate::project::Project::discover(root).map_err(fail)?;
    let spec = SessionSpec {
        start: Start::Continue {
            name: "fifty".into(),
        },
        skills: false,
        ..SessionSpec::default()
    };
    let ctx = Context::new(project, root.to_path_buf());
    let mut h = crate::engine::start(ctx, spec);
    wait_op(&mut h, 0, |_| {}).await?;
    for i in 0..REWIND_CELLS {
        let id = h
            .ops
            .send(Op::RunCell(format!("x{i} = {i} * 2\nprint(x{i})")));
        wait_op(&mut h, id, |_| {}).await?;
    }
    let mut s = state();
    s.session.name = Some("fifty".into());
    let mut terminal = ratatui::Terminal::with_options(
        ratatui::backend::CrosstermBackend::new(std::io::sink()),
        ratatui::TerminalOptions {
            viewport: ratatui::Viewport::Fixed(ratatui::layout::Rect::new(0, 0, 200, 60)),
        },
    )
    .map_err(fail)?;
    let mut frames = Vec::new();
    let mut gaps = Vec::new();
    let mut last = Instant::now();
    let started = Instant::now();
    let id = h.ops.send(Op::Rewind(REWIND_CELLS as u64));
    let mut progress = 0;
    wait_op(&mut h, id, |e| {
        if matches!(e, Event::ReplayProgress { .. }) {
            progress += 1;
        }
        let t = Instant::now();
        s.now = t;
        crate::tui::update::update(&mut s, Action::Engine(e.clone()));
        let _ = terminal.draw(|f| crate::tui::render::render(&s, f));
        frames.push(ms(t));
        gaps.push(t.duration_since(last).as_secs_f64() * 1000.0);
        last = Instant::now();
    })
    .await?;
    let total = ms(started);
    let id = h.ops.send(Op::Shutdown);
    let _ = wait_op(&mut h, id, |_| {}).await;
    row(
        &format!("frame (update + draw) per event while a {REWIND_CELLS}-cell rewind runs"),
        "ms",
        &stats(frames),
        "within the 16 ms frame",
    );
    outln!(
        "| that rewind: {progress} progress events in {total:.0} ms, the longest wait between two events {:.1} ms | | | 1 | the loop is never blocked: the rewind runs in the engine's task |",
        gaps.iter().cloned().fold(0.0, f64::max)
    );
    Ok(())
}

/// Waits for operation `id` to end, giving every event to `each`.
async fn wait_op(
    h: &mut crate::engine::SessionHandle,
    id: u64,
    mut each: impl FnMut(&Event),
) -> Result<(), CliError> {
    let deadline = Duration::from_secs(120);
    tokio::time::timeout(deadline, async {
        while let Some(e) = h.events.recv().await {
            each(&e);
            if let Event::OpEnded { op, error, .. } = &e
                && *op == id
            {
                return match error {
                    None => Ok(()),
                    Some(e) => Err(fail(e)),
                };
            }
        }
        Err(fail("the session ended"))
    })
    .await
    .map_err(|_| fail("an operation took more than 120 s"))?
}
