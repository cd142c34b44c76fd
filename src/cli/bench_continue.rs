//! `mcpr bench record`, continuation part: continuing a recorded session from its saved
//! checkpoint through the engine, as the console and `mcpr serve` do it — with the warm
//! pool of a long-lived context, and cold as a one-shot command does — for sessions of
//! N steps (20 ms cells with a 20 ms host call each) and for one holding a 3 s cell.
//! Timed from asking the engine to open the session to its opening's end (tools package,
//! record, kernel, checkpoint load and workspace restore included).

use std::path::Path;
use std::time::Instant;

use super::CliError;
use super::bench::{fail, load_average, scratch_project, stats};
use crate::engine::{Context, Op, SessionHandle, SessionSpec, Start};
use crate::event::{Event, RestoreSource};
use crate::project::Project;
use crate::sandbox::IsolationRequest;

const CELL: &str = "import time, mcpr\nt = time.perf_counter()\nwhile time.perf_counter() - t < 0.02:\n    pass\nmcpr.host_call('sleep', seconds=0.02)\nacc = globals().get('acc', 0) + 1\nNone";
const LONG: &str = "import time, random\ntime.sleep(3)\nr = random.random()";
const RUNS: usize = 11;

/// Waits for operation `op` to end; returns its events or its error.
async fn ended(h: &mut SessionHandle, op: u64) -> Result<Vec<Event>, CliError> {
    let mut seen = Vec::new();
    while let Some(e) = h.events.recv().await {
        match e {
            Event::OpEnded {
                op: id, ref error, ..
            } if id == op => {
                return match error {
                    Some(e) => Err(fail(format!("operation {op}: {e}"))),
                    None => Ok(seen),
                };
            }
            e => seen.push(e),
        }
    }
    Err(fail("the session ended early"))
}

async fn close(mut h: SessionHandle) -> Result<(), CliError> {
    let id = h.ops.send(Op::Shutdown);
    ended(&mut h, id).await.map(|_| ())
}

fn spec(name: &str, isolation: Option<IsolationRequest>) -> SessionSpec {
    SessionSpec {
        start: Start::Continue { name: name.into() },
        isolation,
        ..SessionSpec::default()
    }
}

/// Records session `name` with `cells` through a one-shot context.
async fn record(
    ctx: &Context,
    name: &str,
    isolation: Option<IsolationRequest>,
    cells: &[&str],
) -> Result<(), CliError> {
    let mut h = crate::engine::start(ctx.clone(), spec(name, isolation));
    ended(&mut h, 0).await?;
    for code in cells {
        let id = h.ops.send(Op::RunCell((*code).to_string()));
        ended(&mut h, id).await?;
    }
    close(h).await
}

/// Opens `name` in `ctx` `RUNS` times: the milliseconds each opening took. With a warm
/// context, each opening must have loaded the saved checkpoint into a warm kernel.
async fn continuations(
    ctx: &Context,
    name: &str,
    isolation: Option<IsolationRequest>,
) -> Result<Vec<f64>, CliError> {
    let mut took = Vec::new();
    for _ in 0..RUNS {
        if let Some(warm) = &ctx.warm {
            // The pool refills between sessions, as it would in a console.
            warm.wait_full().await.map_err(fail)?;
        }
        let started = Instant::now();
        let mut h = crate::engine::start(ctx.clone(), spec(name, isolation));
        let events = ended(&mut h, 0).await?;
        took.push(started.elapsed().as_secs_f64() * 1000.0);
        let how = events.iter().find_map(|e| match e {
            Event::StateRestored { source, warm, .. } => Some((*source, *warm)),
            _ => None,
        });
        let wanted = (RestoreSource::Saved, ctx.warm.is_some());
        if how != Some(wanted) {
            return Err(fail(format!(
                "{name}: the state came back as {how:?}, not from the saved checkpoint {}",
                if wanted.1 {
                    "into a warm kernel"
                } else {
                    "into a cold one"
                }
            )));
        }
        close(h).await?;
    }
    Ok(took)
}

pub(super) async fn bench(
    root: &Path,
    isolation: Option<IsolationRequest>,
    steps: &[usize],
) -> Result<(), CliError> {
    let dir = root.join("engine-continue");
    scratch_project(&dir)?;
    let project = Project::discover(&dir).map_err(fail)?;
    let once = Context::new(project.clone(), dir.clone());
    let warm = Context::long_lived(project, dir.clone());
    let before = load_average();
    outln!();
    outln!(
        "| continue a session through the engine (saved checkpoint) | warm pool: median | p99 | cold kernel: median | p99 | n |"
    );
    outln!("|---|---|---|---|---|---|");
    let mut rows: Vec<(String, Vec<&str>)> = steps
        .iter()
        .map(|n| {
            (
                format!("N = {n} (20 ms cells + 20 ms tool call)"),
                vec![CELL; *n],
            )
        })
        .collect();
    rows.push(("one 3 s cell".into(), vec![LONG]));
    for (i, (label, cells)) in rows.into_iter().enumerate() {
        let name = format!("c{i}");
        record(&once, &name, isolation, &cells).await?;
        // The first session of a launcher makes its pool (and starts cold).
        if warm.warm.as_ref().is_some_and(|w| w.is_empty()) {
            let mut h = crate::engine::start(warm.clone(), spec("warmup", isolation));
            ended(&mut h, 0).await?;
            close(h).await?;
        }
        let w = stats(continuations(&warm, &name, isolation).await?);
        let c = stats(continuations(&once, &name, isolation).await?);
        outln!(
            "| {label} | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms | {} |",
            w.median,
            w.p99,
            c.median,
            c.p99,
            w.n
        );
    }
    warm.shutdown().await;
    outln!();
    outln!(
        "load average (1, 5, 15 min) before: {before}; after: {}",
        load_average()
    );
    Ok(())
}
