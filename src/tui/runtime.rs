//! The console's loop: one `select!` over terminal input, the session's events, finished
//! effects, signals, the frame deadline and (only while something animates) a tick.
//! Every input becomes an `Action` for `update`; its effects run here. Frames are drawn
//! when something changed, at most one per 16 ms; an idle console sleeps.

use crossterm::event::{Event as TermEvent, EventStream};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use std::io::Write;
use std::time::{Duration, Instant};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;

use super::action::{Action, Effect};
use super::highlight::Highlighter;
use super::keymap::Keymap;
use super::output::LineKind;
use super::render::render;
use super::state::{Opening, State};
use super::terminal::{Guard, stop_process};
use super::theme::Theme;
use super::update::update;
use crate::engine::{Context, Op, SessionHandle, SessionSpec};
use crate::event::{Event, NoticeLevel};
use crate::project::Project;

/// At most this often a frame.
const FRAME: Duration = Duration::from_millis(16);

/// The test-only switch that makes the console panic after its first frame (to check
/// that a panic gives the terminal back).
pub const PANIC_SWITCH: &str = "MCPR_TUI_TEST_PANIC";

pub struct Options {
    pub project: Project,
    pub cwd: std::path::PathBuf,
    /// The session; `need_model` is decided here (a model only when one can be chosen).
    pub spec: SessionSpec,
    pub theme: Theme,
    pub keymap: Keymap,
    /// Mouse capture at start.
    pub mouse: bool,
    /// Problems with the keymap or theme files, shown once the console is up.
    pub problems: Vec<String>,
    /// Browse mode: this recorded session's timeline with this step (else its head) in
    /// focus, and no live session until a rewind or a fork.
    pub browse: Option<(String, Option<u64>)>,
    /// Offer the recorded sessions at start (when there are any).
    pub offer_sessions: bool,
}

/// A session opened in the background, with its model choice.
type Opened = (SessionHandle, bool, String);

/// Opens a session off the loop: the model is chosen first (as `choose_model` says).
fn spawn_open(ctx: Context, mut spec: SessionSpec, tx: mpsc::UnboundedSender<Opened>) {
    tokio::spawn(async move {
        let (available, why) = choose_model(&ctx.project, &spec).await;
        spec.need_model = available;
        let handle = crate::engine::start(ctx, spec);
        let _ = tx.send((handle, available, why));
    });
}

/// Ends a session the console leaves (a rewind or fork opened another): its kernel and
/// tool servers stop in the background; its record stays.
fn close_in_background(mut h: SessionHandle) {
    let id = h.ops.send(Op::Shutdown);
    tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(e) = h.events.recv().await {
                if matches!(e, Event::OpEnded { op, .. } if op == id) {
                    break;
                }
            }
        })
        .await;
    });
}

/// Whether the session gets a model, and why not. Asked for explicitly (a flag): the
/// engine chooses and reports its own errors. Otherwise a model is used only when one is
/// configured or a local server answers — never the manual fallback of `mcpr run`.
pub async fn choose_model(project: &Project, spec: &SessionSpec) -> (bool, String) {
    if spec.model.is_given() || project.config.llm.provider.is_some() {
        return (true, String::new());
    }
    let choice = crate::llm::select::LlmChoice::default();
    match crate::llm::select::select(&choice, &project.config.llm).await {
        Ok(selected) if selected.provider.kind() == "manual" => {
            let why = selected
                .reason
                .split_once(": ")
                .map_or(selected.reason.as_str(), |(_, why)| why)
                .to_string();
            (false, why)
        }
        Ok(_) => (true, String::new()),
        Err(e) => (false, e.to_string()),
    }
}

async fn next_event(session: &mut Option<SessionHandle>) -> Option<Event> {
    match session {
        Some(h) => h.events.recv().await,
        None => std::future::pending().await,
    }
}

async fn at(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

fn from_terminal(e: TermEvent) -> Option<Action> {
    match e {
        TermEvent::Key(k) => Some(Action::Key(k)),
        TermEvent::Mouse(m) => Some(Action::Mouse(m)),
        TermEvent::Paste(p) => Some(Action::Paste(p)),
        TermEvent::Resize(w, h) => Some(Action::Resize(w, h)),
        TermEvent::FocusGained | TermEvent::FocusLost => None,
    }
}

type Term = Terminal<CrosstermBackend<std::io::Stdout>>;

pub async fn run(opts: Options) -> Result<(), String> {
    let Options {
        project,
        cwd,
        spec,
        theme,
        keymap,
        mouse,
        problems,
        browse,
        offer_sessions,
    } = opts;
    let mut guard = Guard::enter(mouse).map_err(|e| format!("cannot use the terminal: {e}"))?;
    let mut terminal: Term = Terminal::new(CrosstermBackend::new(std::io::stdout()))
        .map_err(|e| format!("cannot use the terminal: {e}"))?;
    let size = terminal
        .size()
        .map_err(|e| format!("cannot read the terminal's size: {e}"))?;
    let mut state = State::new(
        theme,
        keymap,
        Rect::new(0, 0, size.width, size.height),
        Instant::now(),
    );
    state.mouse = mouse;
    for p in &problems {
        state.output.store.push_block(LineKind::Warning, p);
    }
    if let Some(p) = problems.last() {
        super::update::notice(&mut state, NoticeLevel::Warning, p);
    }

    let (tx, mut done) = mpsc::unbounded_channel::<Action>();
    let highlighter = {
        let tx = tx.clone();
        Highlighter::spawn(move |key, lines| {
            let _ = tx.send(Action::Highlighted { key, lines });
        })
    };

    let skills = super::skills::work::Worker::new(project.clone());
    // Sessions opened from this console take warm kernels (shut down at exit).
    let ctx = Context::long_lived(project.clone(), cwd.clone());

    // The session opens in the background: the first frame does not wait for it. In
    // browse mode none opens until a rewind or fork asks for one.
    let (open_tx, mut open_rx) = mpsc::unbounded_channel::<Opened>();
    let record_root = project.replay_dir();
    let mut first: Vec<Effect> = Vec::new();
    match &browse {
        Some((name, step)) => first.extend(crate::tui::timeline::update::browse(
            &mut state, name, *step,
        )),
        None => {
            spawn_open(ctx.clone(), spec.clone(), open_tx.clone());
            if offer_sessions {
                state.timeline.sessions_open_at_start = true;
                first.push(Effect::Timeline(
                    crate::tui::timeline::TimelineEffect::Sessions {
                        query: String::new(),
                    },
                ));
            }
        }
    }
    let mut session: Option<SessionHandle> = None;
    if !first.is_empty() {
        // A first action, so that the loop runs the first effects at once.
        let _ = tx.send(Action::Tick);
    }
    let mut pending_first = Some(first);

    let mut input = EventStream::new();
    let mut sigterm = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut sighup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    let panic_after_first_frame = std::env::var_os(PANIC_SWITCH).is_some();

    let mut dirty = true;
    let mut last_draw: Option<Instant> = None;
    'main: loop {
        let now = Instant::now();
        if dirty && last_draw.is_none_or(|t| now >= t + FRAME) {
            state.now = now;
            terminal
                .draw(|f| render(&state, f))
                .map_err(|e| format!("cannot draw: {e}"))?;
            last_draw = Some(now);
            dirty = false;
            if panic_after_first_frame {
                panic!("{PANIC_SWITCH} is set: panicking after the first frame, as asked");
            }
        }
        let frame_due = if dirty {
            last_draw.map(|t| t + FRAME)
        } else {
            None
        };
        let tick_due = state.next_tick().map(|d| now + d);
        let action = tokio::select! {
            ev = input.next() => match ev {
                Some(Ok(e)) => from_terminal(e),
                Some(Err(e)) => return Err(format!("cannot read the terminal: {e}")),
                None => break 'main,
            },
            ev = next_event(&mut session) => match ev {
                Some(e) => Some(Action::Engine(e)),
                None => {
                    // The session ended (opening failed, or it shut down).
                    session = None;
                    if state.opening == Opening::Open {
                        state.opening = Opening::Closed;
                    }
                    dirty = true;
                    None
                }
            },
            Some((handle, available, why)) = open_rx.recv() => {
                if let Some(old) = session.replace(handle) {
                    close_in_background(old);
                }
                Some(Action::ModelChosen { available, why })
            },
            Some(a) = done.recv() => Some(a),
            _ = at(frame_due) => None,
            _ = at(tick_due) => Some(Action::Tick),
            _ = sigterm.recv() => break 'main,
            _ = sighup.recv() => break 'main,
        };
        let Some(action) = action else { continue };
        state.now = Instant::now();
        let mut queue = std::collections::VecDeque::from(update(&mut state, action));
        queue.extend(pending_first.take().unwrap_or_default());
        dirty = true;
        while let Some(effect) = queue.pop_front() {
            match effect {
                Effect::Send(op) => match &session {
                    Some(h) => {
                        let id = h.ops.send(op.clone());
                        queue.extend(update(&mut state, Action::Sent { op, id }));
                    }
                    None => super::update::notice(
                        &mut state,
                        NoticeLevel::Warning,
                        "the session is not open",
                    ),
                },
                Effect::Highlight { key, code, theme } => highlighter.request(key, code, theme),
                Effect::Page {
                    title,
                    workspace,
                    rel,
                } => {
                    let tx = tx.clone();
                    tokio::task::spawn_blocking(move || {
                        let lines = super::pager::read(&workspace, &rel);
                        let _ = tx.send(Action::Paged { title, lines });
                    });
                }
                Effect::Copy(text) => copy(&mut terminal, &text),
                Effect::SetMouse(on) => {
                    let _ = guard.set_mouse(on);
                }
                Effect::Redraw => terminal = redrawn(terminal),
                Effect::Suspend => {
                    drop(input);
                    guard.suspend();
                    stop_process();
                    guard
                        .resume()
                        .map_err(|e| format!("cannot take the terminal back: {e}"))?;
                    input = EventStream::new();
                    terminal = redrawn(terminal);
                }
                Effect::Edit(code) => {
                    drop(input);
                    guard.suspend();
                    let edited = super::editor::edit(&code);
                    guard
                        .resume()
                        .map_err(|e| format!("cannot take the terminal back: {e}"))?;
                    input = EventStream::new();
                    terminal = redrawn(terminal);
                    queue.extend(update(&mut state, Action::Edited(edited)));
                }
                Effect::Skills(job) => {
                    let tx = tx.clone();
                    skills.start(job, move |reply| {
                        let _ = tx.send(Action::Skills(reply));
                    });
                }
                // No timeline yet: the pane names the step.
                Effect::JumpToStep { session, step } => {
                    queue.extend(update(&mut state, Action::JumpToStep { session, step }))
                }
                Effect::Timeline(crate::tui::timeline::TimelineEffect::Open(start)) => {
                    // The session open now closes once the new one is there.
                    let spec = SessionSpec {
                        start,
                        ..spec.clone()
                    };
                    spawn_open(ctx.clone(), spec, open_tx.clone());
                }
                Effect::Timeline(query) => {
                    let tx = tx.clone();
                    let root = record_root.clone();
                    tokio::task::spawn_blocking(move || {
                        if let Some(a) = crate::tui::timeline::queries::run(query, &root) {
                            let _ = tx.send(Action::Timeline(Box::new(a)));
                        }
                    });
                }
                Effect::Quit => break 'main,
            }
        }
    }
    drop(guard);
    drop(terminal);
    // The kernel and tool servers stop; the record stays.
    if let Some(mut h) = session {
        let id = h.ops.send(Op::Shutdown);
        let _ = tokio::time::timeout(Duration::from_secs(3), async {
            while let Some(e) = h.events.recv().await {
                if matches!(e, Event::OpEnded { op, .. } if op == id) {
                    break;
                }
            }
        })
        .await;
    }
    ctx.shutdown().await;
    Ok(())
}

/// Puts `text` on the clipboard with OSC 52 (the terminal, or tmux, does the rest).
/// A terminal whose next frame is drawn whole on a cleared screen (after Ctrl+Z,
/// `$EDITOR` or Ctrl+L). Not `Terminal::clear`: it asks the terminal for the cursor's
/// position, and when that answer is late (just after resuming, while the input reader
/// starts again) it fails before forgetting the last frame, so the next frame drew only
/// what changed on a blank screen.
fn redrawn(old: Term) -> Term {
    let mut out = std::io::stdout();
    let _ = crossterm::execute!(
        out,
        crossterm::terminal::Clear(crossterm::terminal::ClearType::All)
    );
    match Terminal::new(CrosstermBackend::new(std::io::stdout())) {
        Ok(fresh) => fresh,
        Err(_) => old,
    }
}

fn copy(terminal: &mut Term, text: &str) {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(text);
    let out = terminal.backend_mut();
    let _ = write!(out, "\x1b]52;c;{encoded}\x07");
    let _ = out.flush();
}
