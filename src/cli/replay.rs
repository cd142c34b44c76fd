//! `mcpr replay …` and `mcpr fork`: the session record from the command line.

use clap::{Args, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{CliError, current_project};
use crate::event::{CallOutcome, Event};
use crate::record::clip;
use crate::record::index::Index;
use crate::record::log::Detail;
use crate::record::recorder::ReplayDir;
use crate::record::replay::HistoryStep;
use crate::sandbox::IsolationRequest;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ReplayArgs {
    #[command(subcommand)]
    command: Option<ReplayCommand>,
    /// Show this session (same as `mcpr replay show SESSION`)
    session: Option<String>,
    /// Up to this step (default: its current step)
    step: Option<u64>,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum ReplayCommand {
    /// Recorded sessions: name, id, created, steps, branches, last task
    List {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// A session up to a step: task, code, output, tool calls and result of each step
    Show(ShowArgs),
    /// Steps whose task or code matches words
    Search {
        /// Words to look for in tasks and code (FTS5 syntax: "exact phrase", prefix*)
        query: String,
        /// At most this many steps
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Go back to a step: its state is rebuilt (checked by re-running the recorded cells)
    /// and the next step of the session continues from it
    Rewind {
        /// The session to move
        session: String,
        /// The step to go back to
        step: u64,
        /// Isolation of the kernel that re-runs the cells (default: mcpr.toml, else auto)
        #[arg(long, value_enum)]
        isolation: Option<IsolationRequest>,
    },
    /// Compare two sessions or branches step by step (`NAME@STEP` names a branch); exits
    /// with 1 when they differ and 0 when they are the same, as diff(1) does
    Diff {
        /// A session, or SESSION@STEP
        a: String,
        /// Another session, or SESSION@STEP
        b: String,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Write a session (with what it was forked from and its objects) as one file
    Export {
        session: String,
        /// Write here instead of stdout
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Read a file made by `mcpr replay export` (`-` for stdin)
    Import {
        /// The bundle file (`-` for standard input)
        bundle: PathBuf,
        /// Import the session under this name (when another session has its name here)
        #[arg(long = "as", value_name = "NAME")]
        rename: Option<String>,
    },
}

#[derive(Debug, Args)]
struct ShowArgs {
    /// The session's name (see `mcpr replay list`)
    session: String,
    /// Up to this step (default: its current step)
    step: Option<u64>,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct ForkArgs {
    /// The session to branch off
    session: String,
    /// The last step the new session shares with it
    step: u64,
    /// Name of the new session (default: SESSION-fork-N)
    #[arg(long)]
    name: Option<String>,
}

fn dir() -> Result<(crate::project::Project, ReplayDir), CliError> {
    let project = current_project()?;
    let dir = crate::engine::record::replay_dir(&project).map_err(super::engine_error)?;
    Ok((project, dir))
}

/// The record folder for a command that only reads: never created. A project without one
/// has no sessions, which every reading command then says in its own way.
fn existing_dir() -> Result<(crate::project::Project, ReplayDir), CliError> {
    let project = current_project()?;
    let root = project.replay_dir();
    match ReplayDir::open_existing(&root) {
        Some(dir) => Ok((project, dir)),
        None => Err(CliError::usage(format!(
            "no sessions are recorded in {} yet: `mcpr exec --session NAME CODE` records one",
            project.root.display()
        ))),
    }
}

fn print_json(value: &impl serde::Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).map_err(CliError::failed)?;
    outln!("{text}");
    Ok(())
}

/// Missing sessions and steps are the user's mistake (exit 2); the rest are failures.
fn record_error(e: crate::record::recorder::RecordError) -> CliError {
    use crate::record::recorder::RecordError as E;
    match e {
        E::NoSession { .. } | E::NoStep { .. } | E::Exists { .. } => CliError::usage(e.to_string()),
        other => CliError::failed(other),
    }
}

pub async fn run(args: ReplayArgs) -> Result<ExitCode, CliError> {
    let command = match (args.command, args.session) {
        (Some(c), _) => c,
        (None, Some(session)) => ReplayCommand::Show(ShowArgs {
            session,
            step: args.step,
            json: args.json,
        }),
        (None, None) => {
            return Err(CliError::usage(
                "say which session: `mcpr replay SESSION [STEP]`, or `mcpr replay list`",
            ));
        }
    };
    match command {
        ReplayCommand::List { json } => list(json),
        ReplayCommand::Show(a) => show(a),
        ReplayCommand::Search { query, limit, json } => search(&query, limit, json),
        ReplayCommand::Rewind {
            session,
            step,
            isolation,
        } => rewind(&session, step, isolation).await,
        ReplayCommand::Diff { a, b, json } => diff(&a, &b, json),
        ReplayCommand::Export { session, output } => export(&session, output),
        ReplayCommand::Import { bundle, rename } => import(&bundle, rename.as_deref()),
    }
}

fn open_index(dir: &ReplayDir) -> Result<Index, CliError> {
    let (index, refresh) = Index::open(dir).map_err(CliError::failed)?;
    // A first index is no news; one that had to be replaced is.
    if let Some(why) = refresh
        .rebuilt
        .filter(|w| w != crate::record::index::NO_INDEX)
    {
        errln!("[mcpr] rebuilt the record index from the session logs ({why})");
    }
    for (path, why) in refresh.unreadable {
        errln!(
            "[mcpr] warning: {} was left out of the index: {why}",
            path.display()
        );
    }
    Ok(index)
}

fn list(json: bool) -> Result<ExitCode, CliError> {
    let project = current_project()?;
    let Some(dir) = ReplayDir::open_existing(&project.replay_dir()) else {
        if json {
            print_json(&Vec::<serde_json::Value>::new())?;
        } else {
            errln!("[mcpr] no recorded sessions yet: `mcpr exec --session NAME CODE` records one");
        }
        return Ok(ExitCode::SUCCESS);
    };
    let index = open_index(&dir)?;
    let rows = index.sessions().map_err(CliError::failed)?;
    if json {
        print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        errln!("[mcpr] no recorded sessions yet: `mcpr exec --session NAME CODE` records one");
        return Ok(ExitCode::SUCCESS);
    }
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(7);
    outln!(
        "{:<width$}  {:<16}  {:>5}  {:>8}  {:<20}  LAST TASK",
        "SESSION",
        "ID",
        "STEPS",
        "BRANCHES",
        "CREATED"
    );
    for r in rows {
        let created: String = r.created.chars().take(19).collect();
        let mut last = r.last_task.clone().unwrap_or_default();
        if let Some(f) = &r.fork {
            last = format!("(fork of {}@{}) {last}", f.session, f.step);
        }
        outln!(
            "{:<width$}  {:<16}  {:>5}  {:>8}  {:<20}  {last}",
            r.name,
            r.id,
            r.steps,
            r.branches,
            created
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn search(query: &str, limit: usize, json: bool) -> Result<ExitCode, CliError> {
    let project = current_project()?;
    let Some(dir) = ReplayDir::open_existing(&project.replay_dir()) else {
        if json {
            print_json(&Vec::<serde_json::Value>::new())?;
        } else {
            outln!("no recorded step matches {query:?}");
        }
        return Ok(ExitCode::SUCCESS);
    };
    let index = open_index(&dir)?;
    let hits = index.search(query, limit).map_err(CliError::failed)?;
    if json {
        print_json(&hits)?;
    } else if hits.is_empty() {
        // As `skills search` and `tools search` do: no match is an answer, not a failure.
        outln!("no recorded step matches {query:?}");
    } else {
        for h in &hits {
            outln!("{}@{}  {}", h.session, h.step, h.title);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `NAME` or `NAME@STEP`.
fn parse_ref(spec: &str) -> Result<(String, Option<u64>), CliError> {
    match spec.rsplit_once('@') {
        Some((name, step)) => {
            let step = step.parse().map_err(|_| {
                CliError::usage(format!(
                    "{spec:?}: after `@` comes a step number, e.g. {name}@3"
                ))
            })?;
            Ok((name.to_string(), Some(step)))
        }
        None => Ok((spec.to_string(), None)),
    }
}

fn history(dir: &ReplayDir, name: &str, step: Option<u64>) -> Result<Vec<HistoryStep>, CliError> {
    let log = dir.read(name, Detail::Full).map_err(record_error)?;
    for w in &log.warnings {
        errln!("[mcpr] warning: {}: {w}", log.path.display());
    }
    let mut steps = match dir.history(&log, step) {
        Ok((steps, _)) => steps,
        // The head's history is broken: show every step that can be read, and say why
        // and how to go on, rather than nothing.
        Err(e @ crate::record::recorder::RecordError::Damaged { .. }) if step.is_none() => {
            errln!("[mcpr] warning: {e}");
            log.steps
                .iter()
                .map(|s| HistoryStep {
                    session: log.header.name.clone(),
                    step: s.clone(),
                })
                .collect()
        }
        Err(e) => return Err(record_error(e)),
    };
    if step.is_none() {
        // Interrupted steps are shown too, in their place, marked (never replayed).
        let shown: Vec<u64> = steps.iter().map(|h| h.step.id()).collect();
        steps.extend(
            log.steps
                .iter()
                .filter(|s| !s.complete() && !shown.contains(&s.id()))
                .map(|s| HistoryStep {
                    session: log.header.name.clone(),
                    step: s.clone(),
                }),
        );
        steps.sort_by_key(|h| h.step.id());
    }
    Ok(steps)
}

#[derive(serde::Serialize)]
struct CallView {
    name: String,
    args: serde_json::Value,
    outcome: CallOutcome,
}

#[derive(serde::Serialize)]
struct CellView {
    code: String,
    status: Option<crate::event::CellStatus>,
    output: String,
    calls: Vec<CallView>,
}

#[derive(serde::Serialize)]
struct StepView {
    session: String,
    step: u64,
    parent: u64,
    kind: crate::record::log::StepKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    task: Option<String>,
    started: String,
    success: bool,
    /// mcpr stopped before the step ended: shown, never replayed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    interrupted: bool,
    duration_ms: f64,
    cells: Vec<CellView>,
    /// LLM exchanges (for code and from `ask_llm`).
    llm_calls: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    answer: Option<String>,
    snapshot: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    skills_used: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    skills_created: Vec<String>,
}

fn view(h: &HistoryStep) -> StepView {
    let end = h.step.end.clone();
    StepView {
        session: h.session.clone(),
        step: h.step.id(),
        parent: h.step.begin.parent,
        kind: h.step.begin.kind,
        task: h.step.begin.task.clone(),
        started: h.step.begin.started.clone(),
        success: end.as_ref().is_some_and(|e| e.success),
        interrupted: end.is_none(),
        duration_ms: end.as_ref().map_or(0.0, |e| e.duration_ms),
        cells: h
            .step
            .cells()
            .into_iter()
            .map(|c| CellView {
                code: c.code,
                status: c.status,
                output: c.output,
                calls: c
                    .calls
                    .into_iter()
                    .map(|(name, args, outcome)| CallView {
                        name,
                        args,
                        outcome,
                    })
                    .collect(),
            })
            .collect(),
        llm_calls: h
            .step
            .events
            .iter()
            .filter(|e| matches!(e, Event::LlmCall { .. }))
            .count(),
        answer: h.step.events.iter().find_map(|e| match e {
            Event::StepFinished(s) => s.answer.clone(),
            _ => None,
        }),
        snapshot: end.as_ref().map(|e| e.snapshot.clone()).unwrap_or_default(),
        skills_used: end
            .as_ref()
            .map(|e| e.skills_used.clone())
            .unwrap_or_default(),
        skills_created: end.map(|e| e.skills_created).unwrap_or_default(),
    }
}

fn duration(ms: f64) -> String {
    match ms {
        ms if ms >= 10_000.0 => format!("{:.1} s", ms / 1000.0),
        ms if ms >= 10.0 => format!("{ms:.0} ms"),
        ms => format!("{ms:.1} ms"),
    }
}

fn show(args: ShowArgs) -> Result<ExitCode, CliError> {
    let (_, dir) = existing_dir()?;
    let steps = history(&dir, &args.session, args.step)?;
    let views: Vec<StepView> = steps.iter().map(view).collect();
    if args.json {
        print_json(&views)?;
        return Ok(ExitCode::SUCCESS);
    }
    if views.is_empty() {
        outln!("session {} has no steps yet", args.session);
    }
    let mut out = super::out::Stdout;
    for v in views {
        let from = if v.session == args.session {
            String::new()
        } else {
            format!(" (shared from {})", v.session)
        };
        let _ = writeln!(
            out,
            "── step {}{from} · {} · {}{}",
            v.step,
            match (v.interrupted, v.success) {
                (true, _) => "interrupted (never replayed)",
                (false, true) => "ok",
                (false, false) => "failed",
            },
            duration(v.duration_ms),
            if v.llm_calls > 0 {
                format!(" · {} LLM call(s)", v.llm_calls)
            } else {
                String::new()
            }
        );
        if let Some(task) = &v.task {
            let _ = writeln!(out, "task: {task}");
        }
        for (i, c) in v.cells.iter().enumerate() {
            if v.cells.len() > 1 {
                let _ = writeln!(out, "[attempt {}]", i + 1);
            }
            for line in c.code.lines() {
                let _ = writeln!(out, "  >>> {line}");
            }
            for call in &c.calls {
                let result = match &call.outcome {
                    CallOutcome::Ok(v) => clip(&v.to_string(), 120),
                    CallOutcome::Error { kind, message } => {
                        format!("error {kind}: {}", clip(message, 100))
                    }
                };
                let _ = writeln!(
                    out,
                    "  ⇄ {}({}) → {result}",
                    call.name,
                    clip(&call.args.to_string(), 120)
                );
            }
            for line in c.output.lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
        if let Some(a) = &v.answer {
            let _ = writeln!(out, "answer: {a}");
        }
        if !v.skills_used.is_empty() || !v.skills_created.is_empty() {
            let _ = writeln!(
                out,
                "skills used: {} · created: {}",
                v.skills_used.join(", "),
                v.skills_created.join(", ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn rewind(
    name: &str,
    step: u64,
    isolation: Option<IsolationRequest>,
) -> Result<ExitCode, CliError> {
    let project = current_project()?;
    let mut printer = super::printer::Printer {
        json: false,
        workspace_shown: String::new(),
    };
    let (out, mut events) = crate::engine::Emitter::channel();
    let rewound = crate::engine::record::rewind(&project, name, step, isolation, &out).await;
    drop(out);
    while let Ok(e) = events.try_recv() {
        printer.show(e);
    }
    let rewound = rewound.map_err(super::engine_error)?;
    let report = rewound.report;
    errln!(
        "[mcpr] session {name} is back at step {step}: {} cell(s) re-ran in {:.0} ms (originally {:.0} ms) with {} recorded call(s) served and no tool or model called; the workspace {} matches step {step}. The next `--session {name}` cell continues from here; later steps stay in the record as a branch.",
        report.cells,
        report.replay_ms,
        report.original_ms,
        report.calls_served,
        rewound.workspace.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn fork(args: ForkArgs) -> Result<ExitCode, CliError> {
    let (project, _) = existing_dir()?;
    let name =
        crate::engine::record::fork(&project, &args.session, args.step, args.name.as_deref())
            .map_err(super::engine_error)?;
    errln!(
        "[mcpr] forked {} at step {} as {name}; continue it with `mcpr exec --session {name} CODE` (the parent is untouched)",
        args.session,
        args.step
    );
    outln!("{name}");
    Ok(ExitCode::SUCCESS)
}

#[derive(serde::Serialize)]
struct DiffRow {
    position: usize,
    a: Option<(String, u64)>,
    b: Option<(String, u64)>,
    shared: bool,
    same_code: bool,
    same_output: bool,
    same_result: bool,
}

fn step_text(h: &HistoryStep) -> (String, String) {
    let cells = h.step.cells();
    let code: Vec<&str> = cells.iter().map(|c| c.code.as_str()).collect();
    let output: Vec<&str> = cells.iter().map(|c| c.output.as_str()).collect();
    let code = match &h.step.begin.task {
        Some(t) => format!("# task: {t}\n{}", code.join("\n")),
        None => code.join("\n"),
    };
    (code, output.join(""))
}

fn diff(a: &str, b: &str, json: bool) -> Result<ExitCode, CliError> {
    let (_, dir) = existing_dir()?;
    let (an, astep) = parse_ref(a)?;
    let (bn, bstep) = parse_ref(b)?;
    let left = history(&dir, &an, astep)?;
    let right = history(&dir, &bn, bstep)?;
    let mut rows = Vec::new();
    let mut out = super::out::Stdout;
    let mut differs = false;
    for i in 0..left.len().max(right.len()) {
        let (l, r) = (left.get(i), right.get(i));
        let key = |h: Option<&HistoryStep>| h.map(|h| (h.session.clone(), h.step.id()));
        let shared = l.is_some() && key(l) == key(r);
        let (lt, rt) = (l.map(step_text), r.map(step_text));
        let success =
            |h: Option<&HistoryStep>| h.and_then(|h| h.step.end.as_ref().map(|e| e.success));
        let row = DiffRow {
            position: i + 1,
            a: key(l),
            b: key(r),
            shared,
            same_code: lt.as_ref().map(|t| &t.0) == rt.as_ref().map(|t| &t.0),
            same_output: lt.as_ref().map(|t| &t.1) == rt.as_ref().map(|t| &t.1),
            same_result: success(l) == success(r),
        };
        differs |= !(row.same_code && row.same_output && row.same_result);
        if !json {
            let name = |k: &Option<(String, u64)>| {
                k.as_ref()
                    .map_or("—".to_string(), |(s, n)| format!("{s}@{n}"))
            };
            if shared {
                let _ = writeln!(out, "  {}  shared", name(&row.a));
            } else if row.same_code && row.same_output && row.same_result {
                let _ = writeln!(
                    out,
                    "= {} | {}  same code, output and result",
                    name(&row.a),
                    name(&row.b)
                );
            } else {
                let _ = writeln!(out, "≠ {} | {}", name(&row.a), name(&row.b));
                let empty = (String::new(), String::new());
                let (lt, rt) = (lt.as_ref().unwrap_or(&empty), rt.as_ref().unwrap_or(&empty));
                for (what, x, y) in [("code", &lt.0, &rt.0), ("output", &lt.1, &rt.1)] {
                    if x != y {
                        let _ = writeln!(out, "  {what}:");
                        let d = similar::TextDiff::from_lines(x.as_str(), y.as_str());
                        for change in d.iter_all_changes() {
                            let sign = match change.tag() {
                                similar::ChangeTag::Delete => "-",
                                similar::ChangeTag::Insert => "+",
                                similar::ChangeTag::Equal => " ",
                            };
                            let _ = writeln!(
                                out,
                                "    {sign} {}",
                                change.value().trim_end_matches('\n')
                            );
                        }
                    }
                }
                if !row.same_result {
                    let word = |s: Option<bool>| match s {
                        Some(true) => "ok",
                        Some(false) => "failed",
                        None => "absent",
                    };
                    let _ = writeln!(out, "  result: {} | {}", word(success(l)), word(success(r)));
                }
            }
        }
        rows.push(row);
    }
    if json {
        print_json(&rows)?;
    }
    Ok(if differs {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn export(name: &str, output: Option<PathBuf>) -> Result<ExitCode, CliError> {
    let (_, dir) = existing_dir()?;
    let objects = match &output {
        Some(path) => export_to_file(&dir, name, path)?,
        None => {
            let mut out = std::io::BufWriter::new(super::out::Stdout);
            crate::record::bundle::export(&dir, name, &mut out).map_err(record_error)?
        }
    };
    errln!("[mcpr] exported session {name} with {objects} object(s)");
    Ok(ExitCode::SUCCESS)
}

/// Writes the bundle to a new file beside `path` and renames it onto `path`, which must
/// be absent or a regular file: a device, folder or symlink there is refused, and the
/// partial file is removed on every failure.
fn export_to_file(dir: &ReplayDir, name: &str, path: &Path) -> Result<usize, CliError> {
    let refuse_kind = || -> Result<(), CliError> {
        match std::fs::symlink_metadata(path) {
            Ok(meta) if !meta.file_type().is_file() => Err(CliError::usage(format!(
                "refusing to replace {}: it is not a regular file (a device, folder or symlink); give the path of a new or regular file",
                path.display()
            ))),
            _ => Ok(()),
        }
    };
    refuse_kind()?;
    let file_name = path
        .file_name()
        .ok_or_else(|| CliError::usage(format!("{} names no file to write", path.display())))?;
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let part = folder.join(format!(
        ".{}.{}.part",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&part)
            .map_err(|e| CliError::usage(format!("cannot write {}: {e}", path.display())))?;
        let mut writer = std::io::BufWriter::new(file);
        let n = crate::record::bundle::export(dir, name, &mut writer).map_err(record_error)?;
        let file = writer.into_inner().map_err(|e| {
            CliError::failed(format!("cannot write {}: {}", path.display(), e.error()))
        })?;
        file.sync_all()
            .map_err(|e| CliError::failed(format!("cannot write {}: {e}", path.display())))?;
        refuse_kind()?;
        std::fs::rename(&part, path)
            .map_err(|e| CliError::failed(format!("cannot write {}: {e}", path.display())))?;
        Ok(n)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    written
}

fn import(bundle: &std::path::Path, rename: Option<&str>) -> Result<ExitCode, CliError> {
    let (_, dir) = dir()?;
    let imported = if bundle == std::path::Path::new("-") {
        crate::record::bundle::import(&dir, &mut std::io::stdin().lock(), rename)
    } else {
        let file = std::fs::File::open(bundle)
            .map_err(|e| CliError::usage(format!("cannot read {}: {e}", bundle.display())))?;
        crate::record::bundle::import(&dir, &mut std::io::BufReader::new(file), rename)
    }
    .map_err(record_error)?;
    errln!(
        "[mcpr] imported session {} ({} log(s) written, {} already present, {} object(s)); continue it with `mcpr resume {}`",
        imported.session,
        imported.written.len(),
        imported.unchanged.len(),
        imported.objects,
        imported.session
    );
    Ok(ExitCode::SUCCESS)
}
