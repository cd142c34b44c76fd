//! Snapshots of every pane and overlay (ratatui's `TestBackend`, insta) at four sizes in
//! the dark and light themes: an idle console, a step streaming with a tool call in
//! flight, a finished step with two attempts, an error, help, the palette, an approval.
//! The snapshot holds the screen's text and its styles, so a theme change shows too.

use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::action::Action;
use super::layout::Pane;
use super::render::render;
use super::state::{Overlay, State};
use super::testing::*;
use crate::event::Event;

pub(super) const SIZES: [(u16, u16); 4] = [(80, 24), (120, 40), (160, 50), (60, 20)];
pub(super) const THEMES: [&str; 2] = ["dark", "light"];

pub(super) fn screen(s: &State) -> String {
    let (w, h) = (s.size.width, s.size.height);
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| render(s, f)).unwrap();
    format!("{:?}", terminal.backend().buffer())
}

/// Snapshots `scene` at every size in every theme.
fn check(name: &str, scene: impl Fn(&mut State)) {
    for theme in THEMES {
        for (w, h) in SIZES {
            let mut s = opened(w, h, theme);
            scene(&mut s);
            insta::assert_snapshot!(format!("{name}__{w}x{h}_{theme}"), screen(&s));
        }
    }
}

#[test]
fn idle() {
    check("idle", |_| {});
}

#[test]
fn streaming_with_a_tool_call_in_flight() {
    check("streaming", |s| {
        streaming(s);
    });
}

#[test]
fn a_finished_step_with_two_attempts() {
    check("two_attempts", |s| {
        two_attempts(s);
        // Code focused shows its attempt tabs in the narrow layout too.
        super::update::focus(s, Pane::Code);
    });
}

#[test]
fn an_error() {
    check("error", |s| {
        error_cell(s);
        super::update::focus(s, Pane::Output);
    });
}

#[test]
fn help() {
    check("help", |s| {
        feed(
            s,
            vec![Action::Key(crossterm::event::KeyEvent::from(
                crossterm::event::KeyCode::F(1),
            ))],
        );
        assert!(matches!(s.overlay, Some(Overlay::Help { .. })));
    });
}

#[test]
fn palette() {
    check("palette", |s| {
        feed(s, vec![ctrl('p')]);
        feed(s, typed("focus"));
    });
}

#[test]
fn approval() {
    check("approval", |s| {
        run_task(s, "delete note 3", 1);
        engine(
            s,
            vec![Event::ApprovalRequested(
                crate::tools::policy::ApprovalRequest {
                    id: 7,
                    server: "demo".into(),
                    tool: "delete_note".into(),
                    args: serde_json::json!({"id": 3, "reason": "cleanup"}),
                    class: crate::tools::policy::ToolClass::Destructive,
                    reason:
                        "destructive tool (destructiveHint) — [tools.policy] destructive = \"ask\""
                            .into(),
                },
            )],
        );
    });
}

// The skills pane: its table (with the focus step's skills marked), a skill's detail,
// the prune preview and the trash.

#[test]
fn skills_table() {
    check("skills_table", |s| {
        super::skills::testing::loaded(s);
        super::skills::set_step_skills(s, &["weather_report".into()], &["flaky_fetch".into()]);
        feed(s, vec![ch('s')]);
    });
}

#[test]
fn skills_detail() {
    check("skills_detail", |s| {
        super::skills::testing::loaded(s);
        feed(s, vec![ch('G'), enter()]);
        super::skills::testing::highlight_detail(s);
        s.skills.tests.insert(
            "weather_report".into(),
            super::skills::state::TestState::Passed("run(city: str = 'Paris') -> dict".into()),
        );
    });
}

#[test]
fn skills_prune_preview() {
    check("skills_prune_preview", |s| {
        super::skills::testing::loaded(s);
        feed(s, vec![ch('p'), ch('j'), ch(' ')]);
        let fx = feed(s, vec![enter()]);
        let Some(super::skills::Job::Plan { id, .. }) = super::skills::testing::job(&fx).cloned()
        else {
            panic!("{fx:?}")
        };
        feed(
            s,
            vec![Action::Skills(super::skills::Reply::Planned {
                id,
                result: Ok(super::skills::testing::plan()),
            })],
        );
    });
}

#[test]
fn skills_trash_and_a_delete_question() {
    check("skills_trash", |s| {
        super::skills::testing::loaded(s);
        super::skills::testing::in_trash(s);
    });
    check("skills_delete", |s| {
        super::skills::testing::loaded(s);
        feed(s, vec![ch('d')]);
    });
}

#[test]
fn variables() {
    check("variables", |s| {
        two_attempts(s);
        let var =
            |name: &str, type_name: &str, len: Option<u64>, repr: &str| crate::event::Variable {
                name: name.into(),
                type_name: type_name.into(),
                len,
                repr: repr.into(),
                long_repr: repr.into(),
            };
        engine(
            s,
            vec![Event::Variables {
                variables: vec![
                    var("w", "dict", Some(2), "{'city': 'Paris', 'sky': 'cloudy'}"),
                    var("rows", "list", Some(1200), "[(1, 'a'), (2, 'b'), …]"),
                    var("total", "float", None, "1234.5"),
                    var("get_weather", "function", None, "<function get_weather>"),
                ],
            }],
        );
        super::update::focus(s, Pane::Variables);
    });
}

#[test]
fn the_quit_question_while_a_step_runs() {
    check("confirm_quit", |s| {
        streaming(s);
        super::update::focus(s, Pane::Output);
        feed(s, vec![ch('q')]);
        assert_eq!(s.overlay, Some(Overlay::ConfirmQuit));
    });
}

#[test]
fn history_search() {
    check("history_search", |s| {
        for (i, task) in ["weather in Paris", "count slowly", "weather in Oslo"]
            .iter()
            .enumerate()
        {
            run_task(s, task, i as u64 + 1);
            engine(
                s,
                vec![Event::OpEnded {
                    op: i as u64 + 1,
                    error: None,
                    usage: false,
                    diverged: None,
                }],
            );
        }
        feed(s, vec![ctrl('r')]);
        feed(s, typed("weather"));
        assert!(matches!(s.overlay, Some(Overlay::HistorySearch { .. })));
    });
}

#[test]
fn pager() {
    check("pager", |s| {
        let lines = (0..200)
            .map(|i| format!("row {i:06} {}", "y".repeat(20)))
            .collect();
        feed(
            s,
            vec![Action::Paged {
                title: "cell 4 stdout".into(),
                lines: Ok(lines),
            }],
        );
        assert!(matches!(s.overlay, Some(Overlay::Pager { .. })));
    });
}
