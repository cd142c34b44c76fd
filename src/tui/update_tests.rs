//! Update-function tests: keys and engine events in, state and effects out.

use crossterm::event::{KeyCode, KeyModifiers};
use std::time::Duration;

use super::*;
use crate::event::Event;
use crate::tui::state::Overlay;
use crate::tui::testing::*;

fn sends(fx: &[Effect]) -> Vec<Op> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send(op) => Some(op.clone()),
            _ => None,
        })
        .collect()
}

fn ended(id: u64) -> Action {
    Action::Engine(Event::OpEnded {
        op: id,
        error: None,
        usage: false,
        diverged: None,
    })
}

#[test]
fn enter_submits_a_task_and_keeps_it_in_the_history() {
    let mut s = opened(120, 40, "dark");
    let fx = run_task(&mut s, "count the files", 1);
    assert_eq!(sends(&fx), vec![Op::RunTask("count the files".into())]);
    assert!(s.prompt.content().is_empty());
    assert_eq!(s.prompt.history, vec!["count the files".to_string()]);
    assert_eq!(s.running.as_ref().and_then(|r| r.id), Some(1));
    // While it runs, another submission waits, and goes out when the first ends.
    let fx = feed(
        &mut s,
        typed("again").into_iter().chain([enter()]).collect(),
    );
    assert!(sends(&fx).is_empty());
    assert!(s.session.notice.as_ref().unwrap().1.contains("queued"));
    assert!(s.prompt.content().is_empty());
    let fx = feed(&mut s, vec![ended(1)]);
    assert_eq!(sends(&fx), vec![Op::RunTask("again".into())]);
    feed(
        &mut s,
        vec![
            Action::Sent {
                op: Op::RunTask(String::new()),
                id: 2,
            },
            ended(2),
        ],
    );
    assert!(s.running.is_none());
    // Ctrl+C drops what waits along with what runs.
    run_task(&mut s, "first", 3);
    feed(
        &mut s,
        typed("second").into_iter().chain([enter()]).collect(),
    );
    feed(&mut s, vec![ctrl('c')]);
    assert_eq!(sends(&feed(&mut s, vec![ended(3)])), vec![Op::Inspect]);
}

#[test]
fn nothing_is_sent_before_the_session_has_opened() {
    let mut s = crate::tui::state::State::new(
        crate::tui::theme::Theme::default_theme(),
        crate::tui::keymap::Keymap::default(),
        Rect::new(0, 0, 80, 24),
        std::time::Instant::now(),
    );
    let fx = feed(&mut s, typed("x").into_iter().chain([enter()]).collect());
    assert!(sends(&fx).is_empty());
    assert!(s.session.notice.as_ref().unwrap().1.contains("opening"));
}

#[test]
fn newline_keys_and_pastes_never_submit() {
    let mut s = opened(120, 40, "dark");
    let mut fx = feed(&mut s, typed("a"));
    fx.extend(feed(
        &mut s,
        vec![
            key(KeyCode::Enter, KeyModifiers::SHIFT),
            ch('b'),
            key(KeyCode::Enter, KeyModifiers::ALT),
            ch('c'),
            ctrl('j'),
            Action::Paste("d\ne\r\nf".into()),
        ],
    ));
    assert!(sends(&fx).is_empty());
    assert_eq!(s.prompt.content(), "a\nb\nc\nd\ne\nf");
}

#[test]
fn up_and_down_walk_the_history_from_the_edges_only() {
    let mut s = opened(120, 40, "dark");
    for (i, task) in ["one", "two"].iter().enumerate() {
        run_task(&mut s, task, i as u64 + 1);
        feed(&mut s, vec![ended(i as u64 + 1)]);
    }
    feed(&mut s, typed("draft"));
    let up = key(KeyCode::Up, KeyModifiers::NONE);
    let down = key(KeyCode::Down, KeyModifiers::NONE);
    feed(&mut s, vec![up.clone()]);
    assert_eq!(s.prompt.content(), "two");
    feed(&mut s, vec![up.clone()]);
    assert_eq!(s.prompt.content(), "one");
    feed(&mut s, vec![up.clone()]);
    assert_eq!(s.prompt.content(), "one");
    feed(&mut s, vec![down.clone(), down.clone()]);
    assert_eq!(s.prompt.content(), "draft");
    // On a multi-line text, Up first moves within it.
    feed(&mut s, vec![ctrl('j'), ch('x'), up.clone()]);
    assert_eq!(s.prompt.content(), "draft\nx");
    assert_eq!(s.prompt.text.cursor().0, 0);
    feed(&mut s, vec![up]);
    assert_eq!(s.prompt.content(), "two");
}

#[test]
fn history_search_puts_the_pick_in_the_prompt() {
    let mut s = opened(120, 40, "dark");
    for (i, task) in ["weather in Paris", "count files", "weather in Rome"]
        .iter()
        .enumerate()
    {
        run_task(&mut s, task, i as u64 + 1);
        feed(&mut s, vec![ended(i as u64 + 1)]);
    }
    feed(&mut s, vec![ctrl('r')]);
    feed(&mut s, typed("weather"));
    feed(&mut s, vec![key(KeyCode::Up, KeyModifiers::NONE), enter()]);
    assert!(s.overlay.is_none());
    assert_eq!(s.prompt.content(), "weather in Paris");
}

#[test]
fn the_mode_key_switches_between_tasks_and_cells() {
    let mut s = opened(120, 40, "dark");
    feed(&mut s, vec![ctrl('t')]);
    assert_eq!(s.prompt.mode, Mode::Code);
    let fx = feed(
        &mut s,
        typed("1 + 1").into_iter().chain([enter()]).collect(),
    );
    assert_eq!(sends(&fx), vec![Op::RunCell("1 + 1".into())]);
    feed(
        &mut s,
        vec![
            Action::Sent {
                op: Op::RunTask(String::new()),
                id: 1,
            },
            ended(1),
            ctrl('t'),
        ],
    );
    assert_eq!(s.prompt.mode, Mode::Task);
}

#[test]
fn without_a_model_the_console_starts_in_code_mode_and_says_why() {
    let mut s = opened(120, 40, "dark");
    s.prompt.mode = Mode::Task;
    feed(
        &mut s,
        vec![Action::ModelChosen {
            available: false,
            why: "no endpoint and no local server".into(),
        }],
    );
    assert_eq!(s.prompt.mode, Mode::Code);
    let said = s.output.store.block_text(s.output.store.len() - 1).unwrap();
    assert!(said.contains("no endpoint and no local server"), "{said}");
    // A task is refused with the reason; nothing is sent.
    feed(&mut s, vec![ctrl('t')]);
    let fx = feed(
        &mut s,
        typed("do it").into_iter().chain([enter()]).collect(),
    );
    assert!(sends(&fx).is_empty());
    assert!(s.session.notice.as_ref().unwrap().1.contains("no model"));
}

#[test]
fn ctrl_c_cancels_and_twice_quits() {
    let mut s = opened(120, 40, "dark");
    run_task(&mut s, "long", 1);
    let fx = feed(&mut s, vec![ctrl('c')]);
    assert_eq!(sends(&fx), vec![Op::Cancel]);
    assert!(s.running.as_ref().unwrap().cancelling);
    // A second Ctrl+C within a second asks, since the step still runs.
    s.now += Duration::from_millis(400);
    let fx = feed(&mut s, vec![ctrl('c')]);
    assert!(fx.is_empty());
    assert_eq!(s.overlay, Some(Overlay::ConfirmQuit));
    let fx = feed(&mut s, vec![ch('y')]);
    assert_eq!(fx, vec![Effect::Quit]);

    // Idle: the first one clears the prompt, two within a second quit.
    let mut s = opened(120, 40, "dark");
    feed(&mut s, typed("half-typed"));
    feed(&mut s, vec![ctrl('c')]);
    assert!(s.prompt.content().is_empty());
    s.now += Duration::from_millis(1500);
    assert!(feed(&mut s, vec![ctrl('c')]).is_empty());
    s.now += Duration::from_millis(300);
    assert_eq!(feed(&mut s, vec![ctrl('c')]), vec![Effect::Quit]);
}

#[test]
fn the_quit_question_goes_away_when_the_step_ends() {
    let mut s = opened(120, 40, "dark");
    run_task(&mut s, "long", 1);
    feed(&mut s, vec![key(KeyCode::Esc, KeyModifiers::NONE), ch('q')]);
    assert_eq!(s.overlay, Some(Overlay::ConfirmQuit));
    feed(&mut s, vec![ended(1)]);
    assert_eq!(s.overlay, None);
    assert_eq!(feed(&mut s, vec![ch('q')]), vec![Effect::Quit]);
}

#[test]
fn q_is_text_in_the_prompt_and_quits_elsewhere() {
    let mut s = opened(120, 40, "dark");
    assert!(feed(&mut s, vec![ch('q')]).is_empty());
    assert_eq!(s.prompt.content(), "q");
    feed(&mut s, vec![key(KeyCode::Esc, KeyModifiers::NONE)]);
    assert_eq!(s.focus, Pane::Output);
    assert_eq!(feed(&mut s, vec![ch('q')]), vec![Effect::Quit]);
}

#[test]
fn focus_moves_with_tab_and_numbers() {
    let mut s = opened(120, 40, "dark");
    assert_eq!(s.focus, Pane::Prompt);
    feed(&mut s, vec![key(KeyCode::Tab, KeyModifiers::NONE)]);
    assert_eq!(s.focus, Pane::Output);
    feed(&mut s, vec![key(KeyCode::BackTab, KeyModifiers::SHIFT)]);
    assert_eq!(s.focus, Pane::Prompt);
    feed(&mut s, vec![key(KeyCode::BackTab, KeyModifiers::SHIFT)]);
    assert_eq!(s.focus, Pane::Skills);
    feed(&mut s, vec![key(KeyCode::BackTab, KeyModifiers::SHIFT)]);
    assert_eq!(s.focus, Pane::Timeline);
    feed(&mut s, vec![key(KeyCode::BackTab, KeyModifiers::SHIFT)]);
    assert_eq!(s.focus, Pane::Variables);
    // Medium width: Variables shares its slot with Output and is shown when focused.
    assert!(s.areas().rect(Pane::Variables).is_some());
    assert!(s.areas().rect(Pane::Output).is_none());
    feed(&mut s, vec![ch('3')]);
    assert_eq!(s.focus, Pane::Code);
    feed(&mut s, vec![ch('1')]);
    assert_eq!(s.focus, Pane::Prompt);
    // In the prompt digits are text; Alt+digit still moves.
    feed(
        &mut s,
        vec![ch('2'), key(KeyCode::Char('2'), KeyModifiers::ALT)],
    );
    assert_eq!(s.prompt.content(), "2");
    assert_eq!(s.focus, Pane::Output);
}

#[test]
fn zoom_gives_the_focused_pane_the_screen_and_follows_focus() {
    let mut s = opened(160, 50, "dark");
    feed(&mut s, vec![key(KeyCode::Tab, KeyModifiers::NONE), ch('z')]);
    assert_eq!(s.zoom, Some(Pane::Output));
    assert_eq!(s.areas().panes.len(), 1);
    feed(&mut s, vec![ch('3')]);
    assert_eq!(s.zoom, Some(Pane::Code));
    feed(&mut s, vec![ch('z')]);
    assert_eq!(s.zoom, None);
    assert_eq!(s.areas().panes.len(), 5);
}

#[test]
fn resizing_changes_the_layout() {
    let mut s = opened(160, 50, "dark");
    assert_eq!(s.areas().panes.len(), 5);
    feed(&mut s, vec![Action::Resize(70, 30)]);
    assert_eq!(s.size, Rect::new(0, 0, 70, 30));
    assert_eq!(s.areas().panes.len(), 2);
    assert!(s.areas().tabs.is_some());
}

#[test]
fn scrolling_up_stops_following_and_the_end_resumes_it() {
    let mut s = opened(80, 24, "dark");
    let text: String = (0..200).map(|i| format!("line {i}\n")).collect();
    engine(
        &mut s,
        vec![Event::Output {
            cell: 1,
            stream: crate::event::Stream::Stdout,
            text,
        }],
    );
    feed(&mut s, vec![key(KeyCode::Esc, KeyModifiers::NONE)]);
    assert!(s.output.follow);
    feed(&mut s, vec![key(KeyCode::PageUp, KeyModifiers::NONE)]);
    assert!(!s.output.follow);
    let cursor = s.output.cursor;
    assert!(cursor < s.output.store.len() - 1);
    assert!(s.output.top <= cursor);
    // New output does not move the view while scrolled back.
    engine(
        &mut s,
        vec![Event::Output {
            cell: 1,
            stream: crate::event::Stream::Stdout,
            text: "more\n".into(),
        }],
    );
    assert_eq!(s.output.cursor, cursor);
    feed(&mut s, vec![ch('G')]);
    assert!(s.output.follow);
    feed(&mut s, vec![ch('g')]);
    assert_eq!((s.output.cursor, s.output.top), (0, 0));
}

#[test]
fn search_finds_lines_forward_and_back() {
    let mut s = opened(80, 24, "dark");
    let text: String = (0..50).map(|i| format!("row {i}\n")).collect();
    engine(
        &mut s,
        vec![Event::Output {
            cell: 1,
            stream: crate::event::Stream::Stdout,
            text,
        }],
    );
    feed(
        &mut s,
        vec![key(KeyCode::Esc, KeyModifiers::NONE), ch('g'), ch('/')],
    );
    feed(&mut s, typed("row 1"));
    feed(&mut s, vec![enter()]);
    let at = |s: &State| {
        s.output
            .store
            .line(s.output.cursor)
            .unwrap()
            .text
            .to_string()
    };
    assert_eq!(at(&s), "row 1");
    feed(&mut s, vec![ch('n')]);
    assert_eq!(at(&s), "row 10");
    feed(&mut s, vec![ch('N'), ch('N')]);
    assert_eq!(at(&s), "row 19");
}

#[test]
fn copy_takes_the_focused_block_without_gutters() {
    let mut s = opened(120, 40, "dark");
    two_attempts(&mut s);
    feed(&mut s, vec![key(KeyCode::Char('3'), KeyModifiers::ALT)]);
    assert_eq!(s.code.selected, 1);
    let fx = feed(&mut s, vec![ch('y')]);
    assert_eq!(fx, vec![Effect::Copy(SECOND.into())]);
    // The output block under the cursor: the traceback as the kernel wrote it.
    feed(&mut s, vec![ch('2'), ch('g')]);
    let n = s.output.store.len();
    let tb = (0..n)
        .find(|&i| {
            s.output
                .store
                .line(i)
                .unwrap()
                .text
                .starts_with("Traceback")
        })
        .unwrap();
    s.output.cursor = tb;
    let fx = feed(&mut s, vec![ch('y')]);
    let Effect::Copy(text) = &fx[0] else {
        panic!("{fx:?}")
    };
    assert!(text.starts_with("Traceback") && text.ends_with("float division by zero"));
}

#[test]
fn attempts_are_tabs_with_a_diff() {
    let mut s = opened(120, 40, "dark");
    two_attempts(&mut s);
    assert_eq!(s.code.attempts.len(), 2);
    assert_eq!(s.code.attempts[0].error_line, Some(4));
    assert_eq!(
        (s.code.attempts[1].added, s.code.attempts[1].removed),
        (2, 1)
    );
    feed(
        &mut s,
        vec![
            key(KeyCode::Char('3'), KeyModifiers::ALT),
            key(KeyCode::Left, KeyModifiers::NONE),
        ],
    );
    assert_eq!(s.code.selected, 0);
    feed(&mut s, vec![ch('e')]);
    assert_eq!(s.focus, Pane::Prompt);
    assert_eq!(s.prompt.mode, Mode::Code);
    assert_eq!(s.prompt.content(), FIRST.trim_end());
}

#[test]
fn values_and_tracebacks_come_after_the_cells_output() {
    let mut s = opened(120, 40, "dark");
    two_attempts(&mut s);
    let texts: Vec<String> = (0..s.output.store.len())
        .map(|i| s.output.store.line(i).unwrap().text.to_string())
        .collect();
    let printed = texts.iter().position(|t| t == "18.0").unwrap();
    let value = texts.iter().position(|t| t.starts_with("{'city'")).unwrap();
    assert!(printed < value, "{texts:#?}");
}

#[test]
fn approvals_are_answered_from_the_dialog() {
    let mut s = opened(120, 40, "dark");
    run_task(&mut s, "delete note 3", 1);
    engine(
        &mut s,
        vec![Event::ApprovalRequested(
            crate::tools::policy::ApprovalRequest {
                id: 7,
                server: "demo".into(),
                tool: "delete_note".into(),
                args: serde_json::json!({"id": 3}),
                class: crate::tools::policy::ToolClass::Destructive,
                reason: "destructive tool (destructiveHint)".into(),
            },
        )],
    );
    // Keys go to the dialog, not the prompt.
    assert!(feed(&mut s, vec![ch('x')]).is_empty());
    assert!(s.prompt.content().is_empty());
    let fx = feed(&mut s, vec![ch('s')]);
    assert_eq!(
        sends(&fx),
        vec![Op::Approve {
            id: 7,
            decision: Decision::AllowSession
        }]
    );
    assert!(s.approvals.is_empty());
}

#[test]
fn in_manual_mode_the_prompt_answers_the_models_turn() {
    let mut s = opened(120, 40, "dark");
    run_task(&mut s, "add two numbers", 1);
    engine(
        &mut s,
        vec![Event::CodeRequested {
            step: 1,
            prompt: "Task: add two numbers".into(),
        }],
    );
    assert_eq!(s.prompt.answering, Some(1));
    let fx = feed(
        &mut s,
        typed("print(1 + 2)").into_iter().chain([enter()]).collect(),
    );
    assert_eq!(sends(&fx), vec![Op::Answer("print(1 + 2)".into())]);
    assert_eq!(s.prompt.answering, None);
    // The step itself still runs.
    assert!(s.running.is_some());
}

#[test]
fn tool_call_lines_end_in_place_and_expand() {
    let mut s = opened(120, 40, "dark");
    streaming(&mut s);
    assert!(s.output.store.calls_running());
    assert!(s.next_tick().is_some());
    let call_line = s.output.store.len() - 1;
    engine(
        &mut s,
        vec![Event::HostCall {
            cell: 1,
            id: 1,
            name: "tools.call".into(),
            args: serde_json::json!({"server": "demo", "tool": "get_weather", "args": {"city": "Paris"}}),
            outcome: crate::event::CallOutcome::Ok(serde_json::json!({"t": 1})),
            duration_ms: 0.4,
        }],
    );
    assert!(!s.output.store.calls_running());
    assert_eq!(s.output.store.len() - 1, call_line);
    feed(
        &mut s,
        vec![key(KeyCode::Esc, KeyModifiers::NONE), ch('k'), ch('j')],
    );
    s.output.cursor = call_line;
    feed(&mut s, vec![enter()]);
    assert!(
        s.output
            .store
            .line(call_line)
            .unwrap()
            .call
            .unwrap()
            .expanded
    );
}

#[test]
fn variables_are_listed_after_each_run_and_shown_longer_on_enter() {
    let mut s = opened(160, 50, "dark");
    let fx = run_task(&mut s, "x", 1);
    assert!(!sends(&fx).contains(&Op::Inspect));
    let fx = feed(&mut s, vec![ended(1)]);
    assert_eq!(sends(&fx), vec![Op::Inspect]);
    feed(
        &mut s,
        vec![Action::Sent {
            op: Op::Inspect,
            id: 2,
        }],
    );
    // One listing at a time.
    feed(&mut s, vec![key(KeyCode::Char('4'), KeyModifiers::ALT)]);
    assert!(sends(&feed(&mut s, vec![ch('r')])).is_empty());
    engine(
        &mut s,
        vec![
            Event::Variables {
                variables: vec![crate::event::Variable {
                    name: "data".into(),
                    type_name: "list".into(),
                    len: Some(3),
                    repr: "[1, 2, 3]".into(),
                    long_repr: "[1,\n 2,\n 3]".into(),
                }],
            },
            Event::OpEnded {
                op: 2,
                error: None,
                usage: false,
                diverged: None,
            },
        ],
    );
    assert_eq!(s.vars.rows.len(), 1);
    assert_eq!(sends(&feed(&mut s, vec![ch('r')])), vec![Op::Inspect]);
    feed(&mut s, vec![enter()]);
    let Some(Overlay::Pager { title, lines, .. }) = &s.overlay else {
        panic!("{:?}", s.overlay)
    };
    assert_eq!(title, "data (list, len 3)");
    assert_eq!(lines.len(), 3);
}

#[test]
fn an_idle_console_asks_for_no_ticks() {
    let mut s = opened(120, 40, "dark");
    assert_eq!(s.next_tick(), None);
    run_task(&mut s, "x", 1);
    assert!(s.next_tick().is_some());
    feed(&mut s, vec![ended(1)]);
    assert_eq!(s.next_tick(), None);
}

#[test]
fn the_palette_runs_what_it_lists() {
    let mut s = opened(120, 40, "dark");
    feed(&mut s, vec![ctrl('p')]);
    feed(&mut s, typed("zoom"));
    feed(&mut s, vec![enter()]);
    assert!(s.overlay.is_none());
    assert_eq!(s.zoom, Some(Pane::Prompt));
}

#[test]
fn the_mouse_focuses_and_scrolls_panes() {
    use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let mut s = opened(160, 50, "dark");
    let code = s.areas().rect(Pane::Code).unwrap();
    let click = |x, y| {
        Action::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: x,
            row: y,
            modifiers: KeyModifiers::NONE,
        })
    };
    feed(&mut s, vec![click(code.x + 2, code.y + 2)]);
    assert_eq!(s.focus, Pane::Code);
    let text: String = (0..200).map(|i| format!("line {i}\n")).collect();
    engine(
        &mut s,
        vec![Event::Output {
            cell: 1,
            stream: crate::event::Stream::Stdout,
            text,
        }],
    );
    let out = s.areas().rect(Pane::Output).unwrap();
    feed(
        &mut s,
        vec![Action::Mouse(MouseEvent {
            kind: MouseEventKind::ScrollUp,
            column: out.x + 3,
            row: out.y + 3,
            modifiers: KeyModifiers::NONE,
        })],
    );
    assert!(!s.output.follow);
    assert_eq!(s.focus, Pane::Code);
}

#[test]
fn a_rebuilt_state_says_how_it_was_obtained() {
    let mut s = opened(80, 24, "dark");
    engine(
        &mut s,
        vec![Event::StateRestored {
            session: "s".into(),
            step: 7,
            source: crate::event::RestoreSource::Saved,
            checkpoint: Some(5),
            cells: 3,
            recreated: vec!["fh".into(), "gen".into()],
            fallback: None,
            duration_ms: 12.0,
            warm: false,
        }],
    );
    let lines: Vec<String> = (0..s.output.store.len())
        .filter_map(|i| s.output.store.line(i).map(|l| l.text.to_string()))
        .collect();
    assert!(
        lines.iter().any(|l| l
            == "── state after step 7: from the saved checkpoint of step 5 and replay of 3 cell(s); re-created by replay: fh, gen"),
        "{lines:?}"
    );
}
