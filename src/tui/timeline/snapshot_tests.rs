//! Snapshots of the timeline and its windows at the console's four sizes in the dark and
//! light themes: three branches with a diverged step and a running step, the rewind
//! confirmation and its progress, the diff of two steps, the session list.

use super::tests::{r, with_timeline};
use super::*;
use crate::engine::query::RewindPlan;
use crate::event::Event;
use crate::tui::action::Action;
use crate::tui::layout::Pane;
use crate::tui::snapshot_tests::{SIZES, THEMES, screen};
use crate::tui::state::{Overlay, State};
use crate::tui::testing::*;

fn check(name: &str, scene: impl Fn(&mut State)) {
    for theme in THEMES {
        for (w, h) in SIZES {
            let mut s = with_timeline(w, h, theme);
            scene(&mut s);
            insta::assert_snapshot!(format!("{name}__{w}x{h}_{theme}"), screen(&s));
        }
    }
}

fn plan() -> RewindPlan {
    RewindPlan {
        session: "demo".into(),
        step: 4,
        steps: 3,
        cells: 50,
        tool_calls: 12,
        model_calls: 3,
        other_calls: 0,
        later_steps: 1,
        head: 5,
    }
}

#[test]
fn three_branches_a_diverged_step_and_a_running_step() {
    check("timeline", |s| {
        run_task(s, "count the notes", 7);
        engine(
            s,
            vec![Event::StepStarted {
                step: 6,
                task: "count the notes".into(),
            }],
        );
        crate::tui::update::focus(s, Pane::Timeline);
        focus_step(s, "demo", 4);
        highlight_all(s);
    });
}

#[test]
fn rewind_confirmation() {
    check("rewind_confirm", |s| {
        s.overlay = Some(Overlay::Timeline(TimelineOverlay::ConfirmRewind {
            plan: plan(),
            opens: false,
        }));
    });
}

#[test]
fn rewind_progress() {
    check("rewind_progress", |s| {
        s.overlay = Some(Overlay::Timeline(TimelineOverlay::Rewinding {
            plan: plan(),
            cells: 20,
            calls: 5,
        }));
    });
}

#[test]
fn diff_of_two_steps() {
    check("diff", |s| {
        s.timeline.mark = Some(r("demo", 3));
        focus_step(s, "demo", 4);
        crate::tui::update::focus(s, Pane::Timeline);
        feed(s, vec![ch('d')]);
        assert!(matches!(
            s.overlay,
            Some(Overlay::Timeline(TimelineOverlay::Diff(_)))
        ));
    });
}

#[test]
fn session_list() {
    check("sessions", |s| {
        let row =
            |name: &str, steps: u64, branches: u64, task: &str| crate::record::index::SessionRow {
                name: name.into(),
                id: "id".into(),
                created: "2026-11-30T10:00:00Z".into(),
                fork: None,
                head: steps,
                steps,
                interrupted: 0,
                branches,
                last_task: Some(task.into()),
                warnings: 0,
            };
        feed(s, vec![ctrl('o')]);
        feed(
            s,
            vec![Action::Timeline(Box::new(TimelineAction::Sessions {
                query: String::new(),
                result: Ok((
                    vec![
                        row("demo", 5, 3, "print(total)"),
                        row("notes", 12, 1, "count the notes in the inbox"),
                        row("weather-paris", 2, 1, "what is the weather in Paris?"),
                    ],
                    vec![],
                )),
            }))],
        );
    });
}

#[test]
fn variables_while_a_past_step_is_in_focus() {
    check("variables_past_step", |s| {
        let var = |name: &str, repr: &str| crate::event::Variable {
            name: name.into(),
            type_name: "int".into(),
            len: None,
            repr: repr.into(),
            long_repr: repr.into(),
        };
        engine(
            s,
            vec![Event::Variables {
                variables: vec![var("total", "42"), var("count", "7")],
            }],
        );
        focus_step(s, "demo", 3);
        crate::tui::update::focus(s, Pane::Variables);
    });
}
