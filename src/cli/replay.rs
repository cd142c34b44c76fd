//! `mcpr replay …` and `mcpr fork`: the session record from the command line.

use clap::{Args, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{CliError, current_project, query_error};
use crate::engine::query::{self, DiffRow, IndexNotes, StepRef, StepView, Timeline, TimelineNode};
use crate::event::CallOutcome;
use crate::record::clip;
use crate::record::recorder::ReplayDir;
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
    /// Print the steps as text even on a terminal (where `mcpr replay SESSION [STEP]`
    /// opens the console on the session's timeline)
    #[arg(long, conflicts_with = "json")]
    plain: bool,
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
    /// A session's steps as a tree: its branches after rewinds, the steps it shares with
    /// the session it was forked from, and the sessions forked from it
    Timeline {
        /// The session's name (see `mcpr replay list`)
        session: String,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
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
    /// Remove the stored objects (file contents, snapshots, large outputs) that no
    /// session refers to any more; runs only while no mcpr has the record open
    Gc {
        /// Say what would be removed, remove nothing
        #[arg(long)]
        dry_run: bool,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
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
    use std::io::IsTerminal;
    let terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    if args.command.is_none()
        && let Some(session) = &args.session
        && terminal
        && !args.json
        && !args.plain
    {
        return browse(session, args.step).await;
    }
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
        ReplayCommand::Timeline { session, json } => timeline(&session, json),
        ReplayCommand::Search { query, limit, json } => search(&query, limit, json),
        ReplayCommand::Rewind {
            session,
            step,
            isolation,
        } => rewind(&session, step, isolation).await,
        ReplayCommand::Diff { a, b, json } => diff(&a, &b, json),
        ReplayCommand::Export { session, output } => export(&session, output),
        ReplayCommand::Import { bundle, rename } => import(&bundle, rename.as_deref()),
        ReplayCommand::Gc { dry_run, json } => gc(dry_run, json),
    }
}

/// `mcpr replay SESSION [STEP]` on a terminal: the console on the session's timeline,
/// that step (else its current one) in focus; a rewind or fork there continues live.
async fn browse(session: &str, step: Option<u64>) -> Result<ExitCode, CliError> {
    let project = current_project()?;
    if !crate::engine::record::exists(&project, session) {
        return Err(CliError::usage(format!(
            "no session named {session:?} in {} (see `mcpr replay list`)",
            project.replay_dir().display()
        )));
    }
    let (keymap, problems) = super::tui::keymap(&project.root);
    let spec = crate::engine::SessionSpec {
        start: crate::engine::Start::Continue {
            name: session.to_string(),
        },
        ..crate::engine::SessionSpec::default()
    };
    let browse = Some((session.to_string(), step));
    super::tui::console(project, spec, None, problems, keymap, browse, false).await
}

/// Says what bringing the index up to date found.
fn print_notes(notes: &IndexNotes) {
    if let Some(why) = &notes.rebuilt {
        errln!("[mcpr] rebuilt the record index from the session logs ({why})");
    }
    for u in &notes.unreadable {
        errln!(
            "[mcpr] warning: {} was left out of the index: {}",
            u.path.display(),
            u.reason
        );
    }
}

fn print_warnings(warnings: &[String]) {
    for w in warnings {
        errln!("[mcpr] warning: {w}");
    }
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
    let listed = query::sessions(&dir).map_err(query_error)?;
    print_notes(&listed.notes);
    let rows = listed.sessions;
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

fn search(text: &str, limit: usize, json: bool) -> Result<ExitCode, CliError> {
    let project = current_project()?;
    let Some(dir) = ReplayDir::open_existing(&project.replay_dir()) else {
        if json {
            print_json(&Vec::<serde_json::Value>::new())?;
        } else {
            outln!("no recorded step matches {text:?}");
        }
        return Ok(ExitCode::SUCCESS);
    };
    let found = query::search(&dir, text, limit).map_err(query_error)?;
    print_notes(&found.notes);
    let hits = found.hits;
    if json {
        print_json(&hits)?;
    } else if hits.is_empty() {
        // As `skills search` and `tools search` do: no match is an answer, not a failure.
        outln!("no recorded step matches {text:?}");
    } else {
        for h in &hits {
            outln!("{}@{}  {}", h.session, h.step, h.title);
        }
    }
    Ok(ExitCode::SUCCESS)
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
    let history = query::history(&dir, &args.session, args.step).map_err(query_error)?;
    print_warnings(&history.warnings);
    let views: Vec<StepView> = history.steps;
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

/// Text lines are kept within this many columns.
const COLUMNS: usize = 80;
/// Side branches indent by two columns a level, up to this many levels.
const MAX_INDENT_LEVELS: usize = 8;

fn timeline(session: &str, json: bool) -> Result<ExitCode, CliError> {
    let (_, dir) = existing_dir()?;
    let t = query::timeline(&dir, session).map_err(query_error)?;
    print_warnings(&t.warnings);
    if json {
        print_json(&t)?;
        return Ok(ExitCode::SUCCESS);
    }
    if t.nodes.is_empty() {
        outln!("session {session} has no steps yet");
        return Ok(ExitCode::SUCCESS);
    }
    for line in timeline_lines(&t) {
        outln!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The timeline as an indented tree. A line of steps continues at the same indentation;
/// where the tree branches, the other branches come first, indented under the step they
/// leave, each under a line naming it, and the branch leading to the head (or carrying on
/// the same branch) continues below them. `*` marks the path to the head.
fn timeline_lines(t: &Timeline) -> Vec<String> {
    let mut lines = vec![match &t.head {
        Some(h) if h.session == t.session => format!(
            "timeline of {} · head: step {} · * marks the path to it",
            t.session, h.step
        ),
        Some(h) => format!(
            "timeline of {} · head: step {} (shared from {}) · * marks the path to it",
            t.session, h.step, h.session
        ),
        None => format!("timeline of {} · no step yet", t.session),
    }];
    lines[0] = clip(&lines[0], COLUMNS - 1);
    let id_width = t
        .nodes
        .iter()
        .map(|n| n.step.to_string().len())
        .max()
        .unwrap_or(1);
    let children = t.children_by_parent();
    let mut stack: Vec<Pending> = Vec::new();
    push_siblings(&mut stack, t.roots(), 0, None);
    while let Some((node, level, from, side)) = stack.pop() {
        let pad = "  ".repeat(level.min(MAX_INDENT_LEVELS));
        if side || from.is_none_or(|f| f.branch != node.branch) {
            let caption = format!("  {pad}── {}", branch_caption(t, node, from));
            lines.push(clip(&caption, COLUMNS - 1));
        }
        let marker = if node.on_head_path { "* " } else { "  " };
        let head = format!(
            "{marker}{pad}step {:<id_width$}  {:<11}  {:>8}  ",
            node.step,
            node.status.as_str(),
            duration(node.duration_ms),
        );
        let room = COLUMNS.saturating_sub(head.chars().count()).max(16);
        lines.push(format!("{head}{}", clip(&node.title, room - 1)));
        let below = children.get(&node.node_ref()).cloned().unwrap_or_default();
        push_siblings(&mut stack, below, level, Some(node));
    }
    lines
}

/// A step to print: its indentation level, the step it continues from, and whether it
/// begins a side branch.
type Pending<'a> = (&'a TimelineNode, usize, Option<&'a TimelineNode>, bool);

/// Puts `children` on the stack so that the side branches come out first (indented one
/// level more) and the one that carries the line on last, at `level`.
fn push_siblings<'a>(
    stack: &mut Vec<Pending<'a>>,
    children: Vec<&'a TimelineNode>,
    level: usize,
    parent: Option<&'a TimelineNode>,
) {
    let main = children
        .iter()
        .position(|c| c.on_head_path)
        .or_else(|| match parent {
            Some(p) => children.iter().position(|c| c.branch == p.branch),
            None => (!children.is_empty()).then_some(0),
        });
    if let Some(i) = main {
        stack.push((children[i], level, parent, false));
    }
    for (i, child) in children.iter().enumerate().rev() {
        if Some(i) != main {
            stack.push((child, level + 1, parent, true));
        }
    }
}

/// The line naming the branch `node` begins: its label, and where it comes from.
fn branch_caption(t: &Timeline, node: &TimelineNode, from: Option<&TimelineNode>) -> String {
    let label = &node.branch;
    let fork = t
        .sessions
        .iter()
        .find(|s| s.name == node.session)
        .and_then(|s| s.fork.as_ref());
    match (&node.parent, from) {
        (Some(_), Some(f)) if f.session == node.session => {
            format!("{label} · from step {}", f.step)
        }
        // The fork's first step, or one of its steps after a rewind into what it shares.
        (Some(_), Some(f)) => match fork {
            Some(point) if point.step == f.step => {
                format!("{label} · fork of {} at step {}", point.session, point.step)
            }
            _ => format!("{label} · from step {} of {}", f.step, f.session),
        },
        (Some(p), None) => format!(
            "{label} · continues from step {} of {}, which cannot be read",
            p.step, p.session
        ),
        (None, _) if node.inherited => format!("{label} · shared"),
        (None, _) => label.clone(),
    }
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
    let report = &rewound.report;
    let how = &rewound.restored;
    errln!(
        "[mcpr] session {name} is back at step {step}: state restored in {:.0} ms {}, with {} recorded call(s) served and no tool or model called; the workspace {} matches step {step}. The next `--session {name}` cell continues from here; later steps stay in the record as a branch.",
        how.duration_ms,
        how.source
            .describe(how.cells as u64, how.checkpoint, &how.recreated),
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

fn diff(a: &str, b: &str, json: bool) -> Result<ExitCode, CliError> {
    let (_, dir) = existing_dir()?;
    let a = StepRef::parse(a).map_err(query_error)?;
    let b = StepRef::parse(b).map_err(query_error)?;
    let d = query::diff(&dir, &a, &b).map_err(query_error)?;
    print_warnings(&d.warnings);
    if json {
        print_json(&d.rows)?;
    } else {
        let mut out = super::out::Stdout;
        for row in &d.rows {
            print_row(&mut out, row);
        }
    }
    Ok(if d.differs {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn print_row(out: &mut impl Write, row: &DiffRow) {
    let name = |k: &Option<(String, u64)>| {
        k.as_ref()
            .map_or("—".to_string(), |(s, n)| format!("{s}@{n}"))
    };
    if row.shared {
        let _ = writeln!(out, "  {}  shared", name(&row.a));
        return;
    }
    if row.same() {
        let _ = writeln!(
            out,
            "= {} | {}  same code, output and result",
            name(&row.a),
            name(&row.b)
        );
        return;
    }
    let _ = writeln!(out, "≠ {} | {}", name(&row.a), name(&row.b));
    for (what, lines) in [("code", &row.code), ("output", &row.output)] {
        if !lines.is_empty() {
            let _ = writeln!(out, "  {what}:");
            for l in lines {
                let _ = writeln!(out, "    {} {}", l.tag.sign(), l.text);
            }
        }
    }
    if !row.same_result {
        let word = |s: Option<bool>| match s {
            Some(true) => "ok",
            Some(false) => "failed",
            None => "absent",
        };
        let _ = writeln!(
            out,
            "  result: {} | {}",
            word(row.a_success),
            word(row.b_success)
        );
    }
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

fn gc(dry_run: bool, json: bool) -> Result<ExitCode, CliError> {
    let project = current_project()?;
    let report = crate::record::gc::gc(&project.replay_dir(), dry_run).map_err(record_error)?;
    if json {
        print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    outln!(
        "{verb} {} unreferenced object(s), {} ({} pack(s) removed, {} written again); kept {} object(s) of {} session(s)",
        report.removed,
        crate::tui::output::human_bytes(
            usize::try_from(report.removed_bytes).unwrap_or(usize::MAX)
        ),
        report.packs_removed,
        report.packs_rewritten,
        report.live,
        report.sessions
    );
    if report.leftovers > 0 {
        outln!(
            "{verb} {} file(s) left by interrupted writes",
            report.leftovers
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn no_session_can_be_named_like_a_replay_command() {
        let cli = super::super::Cli::command();
        let replay = cli
            .find_subcommand("replay")
            .expect("mcpr has a replay command");
        for command in replay.get_subcommands() {
            let name = command.get_name();
            assert!(
                crate::project::validate_session_name(name).is_err(),
                "`mcpr replay {name}` would hide a session named {name}"
            );
        }
    }
}
