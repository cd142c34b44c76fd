//! Helpers for the console's tests: a state as a session leaves it, keys, and the
//! events of typical steps (streaming with a call in flight, two attempts, an error).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use serde_json::json;
use std::time::{Duration, Instant};

use super::action::{Action, Effect};
use super::keymap::Keymap;
use super::state::State;
use super::theme::Theme;
use super::update::update;
use crate::engine::Op;
use crate::event::{CallOutcome, CellStatus, Event, NoticeLevel, StepSummary, Stream};
use crate::llm::Usage;

/// A console whose session has opened with a model, at `w` × `h`, in `theme`.
pub fn opened(w: u16, h: u16, theme: &str) -> State {
    let theme = Theme::builtin(theme).unwrap_or_else(Theme::default_theme);
    let mut s = State::new(
        theme,
        Keymap::default(),
        Rect::new(0, 0, w, h),
        Instant::now(),
    );
    feed(
        &mut s,
        vec![Action::ModelChosen {
            available: true,
            why: String::new(),
        }],
    );
    engine(
        &mut s,
        vec![
            Event::notice(
                NoticeLevel::Info,
                "model: scripted responses from script.txt, chosen by --llm",
            ),
            Event::SessionStarted {
                session: "20250101-120000-abcd".into(),
                workspace: "/w".into(),
                isolation: "namespaces via bubblewrap 0.8.0 (no network)".into(),
                python: "3.12.3".into(),
                warm: false,
            },
            Event::OpEnded {
                op: 0,
                error: None,
                usage: false,
                diverged: None,
            },
        ],
    );
    s
}

pub fn feed(s: &mut State, actions: Vec<Action>) -> Vec<Effect> {
    actions.into_iter().flat_map(|a| update(s, a)).collect()
}

pub fn engine(s: &mut State, events: Vec<Event>) -> Vec<Effect> {
    feed(s, events.into_iter().map(Action::Engine).collect())
}

pub fn key(code: KeyCode, mods: KeyModifiers) -> Action {
    Action::Key(KeyEvent::new(code, mods))
}

pub fn ch(c: char) -> Action {
    key(KeyCode::Char(c), KeyModifiers::NONE)
}

pub fn ctrl(c: char) -> Action {
    key(KeyCode::Char(c), KeyModifiers::CONTROL)
}

pub fn enter() -> Action {
    key(KeyCode::Enter, KeyModifiers::NONE)
}

/// Typing `text` into whatever has focus.
pub fn typed(text: &str) -> Vec<Action> {
    text.chars().map(ch).collect()
}

/// Submits a task and says it went out as operation `id`.
pub fn run_task(s: &mut State, task: &str, id: u64) -> Vec<Effect> {
    let mut fx = feed(s, typed(task));
    fx.extend(feed(s, vec![enter()]));
    fx.extend(feed(
        s,
        vec![Action::Sent {
            op: Op::RunTask(String::new()),
            id,
        }],
    ));
    fx
}

pub const FIRST: &str = "import math\nfrom tools.demo import get_weather\nw = get_weather(city=\"Paris\")\nprint(w['temperature'] / 0)\n";
pub const SECOND: &str = "import math\nfrom tools.demo import get_weather\nw = get_weather(city=\"Paris\")\nprint(w['temperature'])\nw\n";

/// A step as far as its first cell, with a tool call still running.
pub fn streaming(s: &mut State) {
    run_task(s, "what is the weather in Paris?", 1);
    let t0 = s.now;
    engine(
        s,
        vec![
            Event::StepStarted {
                step: 1,
                task: "what is the weather in Paris?".into(),
            },
            Event::LlmToken {
                step: 1,
                text: "I will look the weather up with the demo server.\n".into(),
            },
            Event::LlmCall {
                step: 1,
                purpose: crate::event::LlmPurpose::Code,
                provider: "script".into(),
                model: "script.txt".into(),
                request: Vec::new(),
                response: String::new(),
                usage: Usage {
                    prompt_tokens: 480,
                    completion_tokens: 52,
                    estimated: true,
                },
                duration_ms: 3.0,
                attempts: 1,
            },
            Event::CodeGenerated {
                step: 1,
                attempt: 1,
                code: SECOND.into(),
            },
            Event::CellStarted {
                cell: 1,
                code: SECOND.into(),
            },
            Event::Output {
                cell: 1,
                stream: Stream::Stdout,
                text: "looking up Paris…\n".into(),
            },
            Event::Output {
                cell: 1,
                stream: Stream::Stderr,
                text: "warning: the demo server is slow today\n".into(),
            },
            Event::CallStarted {
                cell: 1,
                id: 1,
                name: "tools.call".into(),
                args: json!({"server": "demo", "tool": "get_weather", "args": {"city": "Paris"}}),
            },
        ],
    );
    s.now = t0 + Duration::from_millis(1300);
}

fn weather() -> serde_json::Value {
    json!({"city": "Paris", "temperature": 18.0, "units": "celsius", "conditions": "cloudy"})
}

fn call_events(cell: u64, id: u64) -> Vec<Event> {
    let args = json!({"server": "demo", "tool": "get_weather", "args": {"city": "Paris"}});
    vec![
        Event::CallStarted {
            cell,
            id,
            name: "tools.call".into(),
            args: args.clone(),
        },
        Event::HostCall {
            cell,
            id,
            name: "tools.call".into(),
            args,
            outcome: CallOutcome::Ok(weather()),
            duration_ms: 0.4,
        },
    ]
}

/// A finished step whose first attempt failed and second worked.
pub fn two_attempts(s: &mut State) {
    run_task(s, "what is the weather in Paris?", 1);
    let mut events = vec![
        Event::StepStarted {
            step: 1,
            task: "what is the weather in Paris?".into(),
        },
        Event::CodeGenerated {
            step: 1,
            attempt: 1,
            code: FIRST.into(),
        },
        Event::CellStarted {
            cell: 1,
            code: FIRST.into(),
        },
    ];
    events.extend(call_events(1, 1));
    events.extend([
        Event::Error {
            cell: 1,
            ename: "ZeroDivisionError".into(),
            message: "float division by zero".into(),
            traceback: "Traceback (most recent call last):\n  File \"<cell-1>\", line 4, in <module>\n    print(w['temperature'] / 0)\nZeroDivisionError: float division by zero\n".into(),
            line: Some(4),
            column: None,
        },
        Event::CellFinished {
            cell: 1,
            status: CellStatus::Error,
            duration_ms: 41.0,
            overflow: Vec::new(),
        },
        Event::CodeGenerated {
            step: 1,
            attempt: 2,
            code: SECOND.into(),
        },
        Event::CellStarted {
            cell: 2,
            code: SECOND.into(),
        },
    ]);
    events.extend(call_events(2, 2));
    events.extend([
        Event::Output {
            cell: 2,
            stream: Stream::Stdout,
            text: "18.0\n".into(),
        },
        Event::Value {
            cell: 2,
            repr:
                "{'city': 'Paris', 'temperature': 18.0, 'units': 'celsius', 'conditions': 'cloudy'}"
                    .into(),
            json: Some(weather()),
        },
        Event::CellFinished {
            cell: 2,
            status: CellStatus::Ok,
            duration_ms: 38.0,
            overflow: Vec::new(),
        },
        Event::StepFinished(StepSummary {
            step: 1,
            success: true,
            answer: None,
            output: "18.0".into(),
            error: None,
            attempts: 2,
            llm_calls: 2,
            prompt_tokens: 980,
            completion_tokens: 110,
            llm_ms: 6.0,
            exec_ms: 79.0,
            skills_used: Vec::new(),
            skills_created: Vec::new(),
            skill_not_kept: None,
            answered_without_code: false,
            cancelled: false,
        }),
        Event::OpEnded {
            op: 1,
            error: None,
            usage: false,
            diverged: None,
        },
    ]);
    engine(s, events);
    highlight_all(s);
}

/// A cell typed in code mode that raised.
pub fn error_cell(s: &mut State) {
    feed(s, vec![ctrl('t')]);
    feed(s, typed("data = {'a': 1}"));
    feed(s, vec![ctrl('j')]);
    feed(s, typed("data['b']"));
    feed(
        s,
        vec![
            enter(),
            Action::Sent {
                op: Op::RunTask(String::new()),
                id: 1,
            },
        ],
    );
    let code = "data = {'a': 1}\ndata['b']";
    engine(
        s,
        vec![
            Event::CellStarted {
                cell: 1,
                code: code.into(),
            },
            Event::Error {
                cell: 1,
                ename: "KeyError".into(),
                message: "'b'".into(),
                traceback: "Traceback (most recent call last):\n  File \"<cell-1>\", line 2, in <module>\n    data['b']\n    ~~~~^^^^^\nKeyError: 'b'\n".into(),
                line: Some(2),
                column: None,
            },
            Event::CellFinished {
                cell: 1,
                status: CellStatus::Error,
                duration_ms: 2.0,
                overflow: Vec::new(),
            },
            Event::OpEnded {
                op: 1,
                error: None,
                usage: false,
            diverged: None,
            },
        ],
    );
    highlight_all(s);
}

/// Highlights every attempt as the worker would.
pub fn highlight_all(s: &mut State) {
    let syntaxes = two_face::syntax::extra_newlines();
    let themes = two_face::theme::extra();
    let name = s.theme.syntax.clone();
    let theme = two_face::theme::EmbeddedLazyThemeSet::theme_names()
        .iter()
        .find(|t| t.as_name() == name)
        .map(|t| themes.get(*t))
        .unwrap_or_else(|| themes.get(two_face::theme::EmbeddedThemeName::Ansi));
    let jobs: Vec<(u64, String)> = s
        .code
        .attempts
        .iter()
        .map(|a| (a.key, a.code.clone()))
        .collect();
    for (key, code) in jobs {
        let lines = super::highlight::highlight(&code, &syntaxes, theme);
        update(s, Action::Highlighted { key, lines });
    }
}
