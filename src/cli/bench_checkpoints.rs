//! `mcpr bench record`, checkpoint part: rewinding to step N of a session whose cells
//! work 20 ms and make a 20 ms host call each, through a live checkpoint (a frozen copy
//! woken), a saved checkpoint (a fresh kernel loading the state from the record) and
//! replay only (a fresh kernel re-running every cell); continuing a session whose history
//! holds one 3 s cell; the memory a live checkpoint of a 100 MB session holds. The saved
//! checkpoint is also loaded into a warm kernel taken from a kernel pool, as a process
//! that keeps a pool (a console or server opening sessions) would.

use std::path::Path;
use std::time::Instant;

use super::CliError;
use super::bench::{fail, stats};
use crate::engine::Emitter;
use crate::engine::checkpoint::{Live, Via, from_live, restore, save};
use crate::engine::frozen::FrozenCopies;
use crate::event::Event;
use crate::hostcall::HostCalls;
use crate::pool::KernelPool;
use crate::project::CheckpointSettings;
use crate::record::log::{Detail, Secrets, StepKind};
use crate::record::recorder::{Recorder, ReplayDir};
use crate::record::replay::HistoryStep;
use crate::record::snapshot::Snapshotter;
use crate::session::{Launcher, Session};

const CELL: &str = "import time, mcpr\nt = time.perf_counter()\nwhile time.perf_counter() - t < 0.02:\n    pass\nmcpr.host_call('sleep', seconds=0.02)\nacc = globals().get('acc', 0) + 1\nNone";

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// Runs `code` as a recorded step with a saved checkpoint (and a live one, `frozen`).
async fn step(
    session: &mut Session,
    recorder: &mut Recorder,
    dir: &ReplayDir,
    frozen: Option<&mut FrozenCopies>,
    code: &str,
) -> Result<u64, CliError> {
    let step = recorder.begin_step(StepKind::Cell, None, None);
    let status = session.run_cell(code, &mut |e| recorder.event(&e)).await;
    if !status.is_success() {
        return Err(fail(format!("bench cell failed: {status:?}")));
    }
    recorder
        .end_step(true, Vec::new(), Vec::new())
        .map_err(fail)?;
    let c = save(session, step, dir.store(), &Secrets::default())
        .await
        .map_err(fail)?;
    recorder.checkpoint(c).map_err(fail)?;
    if let Some(frozen) = frozen {
        frozen.freeze(session, step).await.map_err(fail)?;
    }
    Ok(step)
}

fn history(dir: &ReplayDir, name: &str, at: u64) -> Result<(Vec<HistoryStep>, String), CliError> {
    let log = dir.read(name, Detail::Full).map_err(fail)?;
    dir.history(&log, Some(at)).map_err(fail)
}

/// A fresh kernel (or, with `pool`, a warm one taken from it) brought to the last step
/// of `history`: the whole time, the time after the kernel started, and the cells re-run.
async fn continue_fresh(
    launcher: &Launcher,
    name: &str,
    ws: &Path,
    dir: &ReplayDir,
    (history, base): &(Vec<HistoryStep>, String),
    saved: bool,
    pool: Option<&KernelPool>,
) -> Result<(f64, f64, usize), CliError> {
    if let Some(pool) = pool {
        // The pool refills between continuations, as it would between sessions.
        pool.wait_full().await.map_err(fail)?;
    }
    let started = Instant::now();
    let mut fresh = match pool {
        Some(pool) => pool
            .session(HostCalls::default(), name.into(), ws.into())
            .await
            .map_err(fail)?,
        None => Session::start(
            launcher.clone(),
            HostCalls::default(),
            name.into(),
            ws.into(),
        )
        .await
        .map_err(fail)?,
    };
    let loading = Instant::now();
    let out = Emitter::new(|_| {});
    let via = Via {
        saved,
        live_fallback: None,
    };
    let restored = restore(
        &mut fresh,
        history,
        base,
        &mut Snapshotter::new(),
        dir,
        &out,
        via,
    )
    .await
    .map_err(fail)?;
    let (took, loaded) = (ms(started), ms(loading));
    fresh.close().await;
    if saved && restored.fallback.is_some() {
        return Err(fail(format!(
            "the saved checkpoint was not used: {restored:?}"
        )));
    }
    Ok((took, loaded, restored.cells))
}

pub(super) async fn bench(
    launcher: &Launcher,
    root: &Path,
    steps: &[usize],
) -> Result<(), CliError> {
    outln!();
    outln!(
        "| rewind to step N (20 ms cells + 20 ms tool call) | live checkpoint | saved checkpoint: fresh kernel + load (load alone) | saved checkpoint: pooled kernel + load | replay only: fresh kernel + re-run (re-run alone) |"
    );
    outln!("|---|---|---|---|---|");
    for &n in steps {
        rewind_row(launcher, root, n).await?;
    }
    long_cell(launcher, root).await?;
    memory(launcher, root).await
}

async fn rewind_row(launcher: &Launcher, root: &Path, n: usize) -> Result<(), CliError> {
    let name = format!("ck{n}");
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
    let (mut recorder, _) = Recorder::open(&dir, &name, &ws, Secrets::default()).map_err(fail)?;
    let mut frozen = FrozenCopies::new(&CheckpointSettings::default(), launcher.limits().processes);
    for _ in 0..n {
        step(&mut session, &mut recorder, &dir, Some(&mut frozen), CELL).await?;
    }
    // One step more, so that going to step N is a rewind.
    step(&mut session, &mut recorder, &dir, Some(&mut frozen), CELL).await?;
    let target = history(&dir, &name, n as u64)?;
    let out = Emitter::new(|_| {});
    let mut live = Vec::new();
    for _ in 0..7 {
        let started = Instant::now();
        let woke = from_live(
            &mut session,
            &mut frozen,
            &target.0,
            &mut Snapshotter::new(),
            &dir,
            &out,
        )
        .await
        .map_err(fail)?;
        live.push(ms(started));
        if !matches!(woke, Live::Restored(ref r) if r.cells == 0) {
            return Err(fail("the live checkpoint was not used"));
        }
        // Move on again before the next rewind.
        session.run_cell("acc += 1000", &mut |_| {}).await;
    }
    frozen.drop_all(&mut session).await;
    session.close().await;
    let (mut saved, mut saved_load) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let (took, loaded, _) =
            continue_fresh(launcher, &name, &ws, &dir, &target, true, None).await?;
        saved.push(took);
        saved_load.push(loaded);
    }
    let pool = KernelPool::new(launcher.clone(), root.join(format!("{name}/pool")), 1);
    let mut pooled = Vec::new();
    for _ in 0..5 {
        let (took, _, _) =
            continue_fresh(launcher, &name, &ws, &dir, &target, true, Some(&pool)).await?;
        pooled.push(took);
    }
    drop(pool);
    let (mut replay, mut replay_run) = (Vec::new(), Vec::new());
    for _ in 0..if n >= 500 { 1 } else { 3 } {
        let (took, ran, cells) =
            continue_fresh(launcher, &name, &ws, &dir, &target, false, None).await?;
        if cells != n {
            return Err(fail(format!("replay re-ran {cells} cells, not {n}")));
        }
        replay.push(took);
        replay_run.push(ran);
    }
    let med = |v: Vec<f64>| stats(v).median;
    outln!(
        "| N = {n} | {:.1} ms | {:.0} ms ({:.0} ms) | {:.0} ms | {:.0} ms ({:.0} ms) |",
        med(live),
        med(saved),
        med(saved_load),
        med(pooled),
        med(replay),
        med(replay_run)
    );
    Ok(())
}

async fn long_cell(launcher: &Launcher, root: &Path) -> Result<(), CliError> {
    let name = "long3s".to_string();
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
    let (mut recorder, _) = Recorder::open(&dir, &name, &ws, Secrets::default()).map_err(fail)?;
    let code = "import time, random\ntime.sleep(3)\nr = random.random()";
    let at = step(&mut session, &mut recorder, &dir, None, code).await?;
    session.close().await;
    let target = history(&dir, &name, at)?;
    let (mut saved, mut saved_load) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let (took, loaded, _) =
            continue_fresh(launcher, &name, &ws, &dir, &target, true, None).await?;
        saved.push(took);
        saved_load.push(loaded);
    }
    let pool = KernelPool::new(launcher.clone(), root.join(format!("{name}/pool")), 1);
    let mut pooled = Vec::new();
    for _ in 0..5 {
        let (took, _, _) =
            continue_fresh(launcher, &name, &ws, &dir, &target, true, Some(&pool)).await?;
        pooled.push(took);
    }
    drop(pool);
    let (replay, _, _) = continue_fresh(launcher, &name, &ws, &dir, &target, false, None).await?;
    outln!();
    outln!(
        "| continue a session holding one 3 s cell | saved checkpoint, fresh kernel {:.0} ms (load alone {:.0} ms) | saved checkpoint, pooled kernel {:.0} ms | replay only {:.0} ms |",
        stats(saved).median,
        stats(saved_load).median,
        stats(pooled).median,
        replay
    );
    Ok(())
}

async fn memory(launcher: &Launcher, root: &Path) -> Result<(), CliError> {
    let ws = root.join("mem/ws");
    std::fs::create_dir_all(&ws).map_err(fail)?;
    let mut session = Session::start(
        launcher.clone(),
        HostCalls::with_builtins(),
        "mem".into(),
        ws,
    )
    .await
    .map_err(fail)?;
    let run = async |session: &mut Session, code: &str| {
        let status = session.run_cell(code, &mut |_: Event| {}).await;
        if status.is_success() {
            Ok(())
        } else {
            Err(fail(format!("bench cell failed: {status:?}")))
        }
    };
    // Filled and later overwritten 1 MiB at a time: the kernel's address-space limit
    // (512 MiB by default) holds the data once, not a copy of it too.
    let fill =
        "for i in range(0, len(data), 1 << 20):\n    data[i:i + (1 << 20)] = os.urandom(1 << 20)";
    run(
        &mut session,
        &format!("import os\ndata = bytearray(100 * 1024 * 1024)\n{fill}"),
    )
    .await?;
    let kernel = session.kernel_mut().ok_or_else(|| fail("no kernel"))?;
    let started = Instant::now();
    // The copy's PSS comes back with the freeze: it shares every page with the kernel.
    let (first, shared) = kernel.freeze(1, Vec::new()).await.map_err(fail)?;
    let freeze_ms = ms(started);
    run(&mut session, fill).await?;
    let kernel = session.kernel_mut().ok_or_else(|| fail("no kernel"))?;
    let (_, replaced) = kernel.freeze(2, vec![first.pid]).await.map_err(fail)?;
    let _ = kernel.drop_frozen(vec![1, 2]).await;
    session.close().await;
    let mb = |v: &[Option<u64>]| v.first().copied().flatten().unwrap_or(0) as f64 / 1e6;
    outln!();
    outln!(
        "| live checkpoint of a session holding 100 MB | freeze {freeze_ms:.1} ms | memory (PSS) of the copy while the kernel keeps the data: {:.1} MB | after the kernel overwrote the 100 MB: {:.1} MB |",
        mb(&shared),
        mb(&replaced)
    );
    Ok(())
}
