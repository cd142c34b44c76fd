//! The skills pane's keys and flows: state and effects out for keys and job replies in.

use crossterm::event::{KeyCode, KeyModifiers};

use super::state::{Confirm, Load, SortColumn, TestState, View};
use super::testing::*;
use super::{Job, Listing, Reply, set_step_skills};
use crate::engine::query::skills::{SkillCheck, SkillRemoved, SkillRestored};
use crate::tui::action::{Action, Effect};
use crate::tui::layout::Pane;
use crate::tui::state::State;
use crate::tui::testing::*;

fn esc() -> Action {
    key(KeyCode::Esc, KeyModifiers::NONE)
}

fn names(s: &State) -> Vec<&str> {
    s.skills
        .visible
        .iter()
        .map(|i| s.skills.rows[*i].skill.name.as_str())
        .collect()
}

fn notice(s: &State) -> String {
    s.session
        .notice
        .as_ref()
        .map(|(_, m, _)| m.clone())
        .unwrap_or_default()
}

fn select(s: &mut State, name: &str) {
    let at = names(s).iter().position(|n| *n == name).unwrap();
    s.skills.selected = at;
}

#[test]
fn the_library_is_listed_once_when_the_pane_is_shown_and_stale_answers_are_dropped() {
    let mut s = opened(120, 40, "dark");
    // Not on screen: nothing is read.
    assert!(job(&feed(&mut s, vec![Action::Tick])).is_none());
    let fx = feed(&mut s, vec![esc(), ch('6')]);
    let Some(Job::List { id }) = job(&fx).cloned() else {
        panic!("{fx:?}")
    };
    assert_eq!(s.focus, Pane::Skills);
    assert_eq!(s.skills.load, Load::Loading);
    // Asked once, not again per action.
    assert!(job(&feed(&mut s, vec![Action::Tick])).is_none());
    feed(
        &mut s,
        vec![Action::Skills(Reply::Listed {
            id: id + 7,
            result: Ok(Listing::Skills(library())),
        })],
    );
    assert!(s.skills.rows.is_empty(), "a stale answer was used");
    feed(
        &mut s,
        vec![Action::Skills(Reply::Listed {
            id,
            result: Ok(Listing::Skills(library())),
        })],
    );
    assert_eq!(s.skills.load, Load::Loaded);
    assert_eq!(
        names(&s),
        [
            "celsius_to_fahrenheit",
            "flaky_fetch",
            "old_unused",
            "weather_report"
        ]
    );
    // R reads it again.
    let fx = feed(&mut s, vec![ch('R')]);
    assert!(matches!(job(&fx), Some(Job::List { .. })));
}

#[test]
fn no_folder_says_where_skills_will_be() {
    let mut s = opened(80, 24, "dark");
    feed(&mut s, vec![esc(), ch('6')]);
    let id = s.skills.list_job.unwrap();
    feed(
        &mut s,
        vec![Action::Skills(Reply::Listed {
            id,
            result: Ok(Listing::NoFolder("No skills yet: /p/skills".into())),
        })],
    );
    assert_eq!(
        s.skills.load,
        Load::Empty("No skills yet: /p/skills".into())
    );
}

#[test]
fn s_cycles_the_sort_column_and_capital_s_reverses_it() {
    let mut s = opened(120, 40, "dark");
    loaded(&mut s);
    select(&mut s, "weather_report");
    feed(&mut s, vec![ch('s')]);
    assert_eq!(s.skills.sort, SortColumn::Uses);
    assert!(s.skills.descending);
    assert_eq!(
        names(&s),
        [
            "celsius_to_fahrenheit",
            "weather_report",
            "flaky_fetch",
            "old_unused"
        ]
    );
    // The selected skill stays selected.
    assert_eq!(
        s.skills.selected_skill().unwrap().skill.name,
        "weather_report"
    );
    feed(&mut s, vec![ch('S')]);
    assert!(!s.skills.descending);
    assert_eq!(names(&s)[0], "old_unused");
    feed(&mut s, vec![ch('s'), ch('s')]);
    assert_eq!(s.skills.sort, SortColumn::Failed);
    assert_eq!(names(&s)[0], "flaky_fetch");
    feed(&mut s, vec![ch('s')]);
    assert_eq!(s.skills.sort, SortColumn::LastUsed);
    assert_eq!(names(&s)[0], "celsius_to_fahrenheit");
    assert_eq!(names(&s)[3], "old_unused", "never used goes last");
    feed(&mut s, vec![ch('s')]);
    assert_eq!(s.skills.sort, SortColumn::Name);
    assert!(!s.skills.descending);
}

#[test]
fn the_filter_searches_names_descriptions_and_code() {
    let mut s = opened(120, 40, "dark");
    loaded(&mut s);
    feed(&mut s, vec![ch('/')]);
    assert!(s.skills.typing);
    feed(&mut s, typed("get_weather"));
    assert_eq!(names(&s), ["weather_report"], "found in the code");
    feed(&mut s, vec![enter()]);
    assert!(!s.skills.typing);
    assert_eq!(s.skills.filter, "get_weather");
    // While typing, letters are text, not commands.
    feed(&mut s, vec![ch('/')]);
    for _ in 0.."get_weather".len() {
        feed(&mut s, vec![key(KeyCode::Backspace, KeyModifiers::NONE)]);
    }
    feed(&mut s, typed("FAHRENHEIT"));
    assert_eq!(
        names(&s),
        ["celsius_to_fahrenheit"],
        "description, any case"
    );
    assert_eq!(s.skills.view, View::Table);
    feed(&mut s, vec![esc()]);
    assert!(s.skills.filter.is_empty() && !s.skills.typing);
    assert_eq!(names(&s).len(), 4);
    feed(&mut s, vec![ch('/')]);
    feed(&mut s, typed("flaky"));
    feed(&mut s, vec![enter(), esc()]);
    assert_eq!(names(&s).len(), 4, "esc in the table clears a kept filter");
}

#[test]
fn enter_shows_the_detail_highlighted_by_the_worker_and_esc_goes_back() {
    let mut s = opened(120, 40, "dark");
    loaded(&mut s);
    select(&mut s, "weather_report");
    let fx = feed(&mut s, vec![enter()]);
    assert_eq!(s.skills.view, View::Detail);
    let (name, key) = s.skills.detail.clone().unwrap();
    assert_eq!(name, "weather_report");
    assert_eq!(
        fx,
        vec![Effect::Highlight {
            key,
            code: WEATHER.into(),
            theme: s.theme.syntax.clone()
        }]
    );
    highlight_detail(&mut s);
    feed(&mut s, vec![esc()]);
    assert_eq!(s.skills.view, View::Table);
    // Highlighted once: opening it again asks for nothing.
    assert!(feed(&mut s, vec![enter()]).is_empty());
}

#[test]
fn t_tests_the_skill_and_the_result_is_shown() {
    let mut s = opened(120, 40, "dark");
    loaded(&mut s);
    select(&mut s, "celsius_to_fahrenheit");
    let fx = feed(&mut s, vec![ch('t')]);
    assert_eq!(
        job(&fx),
        Some(&Job::Test {
            name: "celsius_to_fahrenheit".into()
        })
    );
    assert_eq!(
        s.skills.tests.get("celsius_to_fahrenheit"),
        Some(&TestState::Running)
    );
    // Not twice at once.
    assert!(job(&feed(&mut s, vec![ch('t')])).is_none());
    feed(
        &mut s,
        vec![Action::Skills(Reply::Tested {
            name: "celsius_to_fahrenheit".into(),
            result: Ok(SkillCheck::Passed {
                name: "celsius_to_fahrenheit".into(),
                signature: "run(c: float = 21.5) -> float".into(),
            }),
        })],
    );
    assert!(matches!(
        s.skills.tests.get("celsius_to_fahrenheit"),
        Some(TestState::Passed(_))
    ));
    assert!(notice(&s).contains("test passed"), "{}", notice(&s));
    feed(
        &mut s,
        vec![Action::Skills(Reply::Tested {
            name: "flaky_fetch".into(),
            result: Ok(SkillCheck::Failed {
                name: "flaky_fetch".into(),
                why: "ImportError: no module tools.demo".into(),
            }),
        })],
    );
    assert!(notice(&s).contains("test FAILED: ImportError"));
}

#[test]
fn delete_asks_first_and_then_moves_the_skill_to_the_trash() {
    let mut s = opened(120, 40, "dark");
    loaded(&mut s);
    select(&mut s, "old_unused");
    feed(&mut s, vec![ch('d')]);
    assert_eq!(s.skills.confirm, Some(Confirm::Delete("old_unused".into())));
    // Anything but yes keeps it.
    assert!(job(&feed(&mut s, vec![ch('n')])).is_none());
    assert_eq!(s.skills.confirm, None);
    feed(&mut s, vec![ch('d')]);
    let fx = feed(&mut s, vec![ch('y')]);
    assert_eq!(
        job(&fx),
        Some(&Job::Remove {
            name: "old_unused".into()
        })
    );
    let fx = feed(
        &mut s,
        vec![Action::Skills(Reply::Removed {
            name: "old_unused".into(),
            result: Ok(SkillRemoved {
                name: "old_unused".into(),
                to: "/p/skills/.trash/old_unused.py".into(),
                problem: None,
            }),
        })],
    );
    assert!(notice(&s).contains("moved old_unused to the trash"));
    assert!(matches!(job(&fx), Some(Job::List { .. })), "{fx:?}");
}

#[test]
fn the_trash_lists_removed_skills_and_r_restores_one() {
    let mut s = opened(120, 40, "dark");
    loaded(&mut s);
    in_trash(&mut s);
    assert_eq!(s.skills.trash.len(), 2);
    feed(&mut s, vec![ch('j')]);
    let fx = feed(&mut s, vec![ch('r')]);
    assert_eq!(
        job(&fx),
        Some(&Job::Restore {
            name: "greet".into(),
            copy: Some("greet.py".into()),
        })
    );
    let fx = feed(
        &mut s,
        vec![Action::Skills(Reply::Restored {
            name: "greet".into(),
            result: Ok(SkillRestored {
                name: "greet".into(),
                restored_as: "greet_v2".into(),
            }),
        })],
    );
    assert!(notice(&s).contains("restored greet as greet_v2"));
    // Both the library and the trash are read again.
    let jobs: Vec<&Job> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Skills(j) => Some(j),
            _ => None,
        })
        .collect();
    assert!(
        matches!(jobs[..], [Job::List { .. }, Job::Trash { .. }]),
        "{jobs:?}"
    );
    feed(&mut s, vec![ch('T')]);
    assert_eq!(s.skills.view, View::Table);
}

#[test]
fn prune_chooses_a_policy_previews_and_removes_exactly_what_was_shown() {
    let mut s = opened(120, 40, "dark");
    loaded(&mut s);
    feed(&mut s, vec![ch('p')]);
    assert_eq!(s.skills.view, View::PrunePolicy);
    // Unused for more than 30 days by default; make it 60, and add failing > 50%.
    feed(&mut s, vec![key(KeyCode::Right, KeyModifiers::NONE)]);
    feed(&mut s, vec![ch('j'), ch(' ')]);
    let policy = s.skills.prune.policy();
    assert_eq!(policy.unused_days, Some(60.0));
    assert_eq!(policy.max_failure_rate, Some(0.5));
    assert!(!policy.duplicates);
    let fx = feed(&mut s, vec![enter()]);
    let Some(Job::Plan { id, choice }) = job(&fx).cloned() else {
        panic!("{fx:?}")
    };
    assert_eq!(choice, s.skills.prune);
    assert_eq!(s.skills.view, View::PrunePreview);
    // Nothing is removed before the plan is seen.
    assert!(job(&feed(&mut s, vec![enter()])).is_none());
    feed(
        &mut s,
        vec![Action::Skills(Reply::Planned {
            id,
            result: Ok(plan()),
        })],
    );
    // Esc goes back to the policy, Enter previews again.
    feed(&mut s, vec![esc()]);
    assert_eq!(s.skills.view, View::PrunePolicy);
    let fx = feed(&mut s, vec![enter()]);
    let Some(Job::Plan { id, .. }) = job(&fx).cloned() else {
        panic!("{fx:?}")
    };
    feed(
        &mut s,
        vec![Action::Skills(Reply::Planned {
            id,
            result: Ok(plan()),
        })],
    );
    let fx = feed(&mut s, vec![ch('y')]);
    assert_eq!(
        job(&fx),
        Some(&Job::Prune {
            removals: plan().removals
        })
    );
    assert_eq!(s.skills.view, View::Table);
    let fx = feed(
        &mut s,
        vec![Action::Skills(Reply::Pruned {
            results: vec![
                (
                    "flaky_fetch".into(),
                    Ok(SkillRemoved {
                        name: "flaky_fetch".into(),
                        to: "/t/flaky_fetch.py".into(),
                        problem: None,
                    }),
                ),
                ("old_unused".into(), Err("permission denied".into())),
            ],
        })],
    );
    let n = notice(&s);
    assert!(
        n.contains("pruned 1 skill(s) to the trash: flaky_fetch"),
        "{n}"
    );
    assert!(
        n.contains("old_unused was not removed: permission denied"),
        "{n}"
    );
    assert!(matches!(job(&fx), Some(Job::List { .. })));
    // No policy ticked: nothing is planned.
    feed(&mut s, vec![ch('p'), ch(' '), ch('j'), ch(' ')]);
    assert!(s.skills.prune.policy().is_empty());
    assert!(job(&feed(&mut s, vec![enter()])).is_none());
    assert!(notice(&s).contains("choose at least one policy"));
}

#[test]
fn o_asks_for_the_step_that_made_the_skill() {
    let mut s = opened(120, 40, "dark");
    loaded(&mut s);
    select(&mut s, "weather_report");
    let fx = feed(&mut s, vec![ch('o')]);
    assert_eq!(
        fx,
        vec![Effect::JumpToStep {
            session: "20261128-091500-ab12".into(),
            step: 2
        }]
    );
    // The runtime routes it back: the timeline takes the focus and asks for that
    // session's steps, to focus step 2 once they come.
    let fx = feed(
        &mut s,
        vec![Action::JumpToStep {
            session: "20261128-091500-ab12".into(),
            step: 2,
        }],
    );
    assert_eq!(s.focus, Pane::Timeline);
    assert_eq!(
        s.timeline.want,
        Some(crate::engine::query::NodeRef {
            session: "20261128-091500-ab12".into(),
            step: 2
        })
    );
    assert!(
        fx.iter().any(|e| matches!(e, Effect::Timeline(_))),
        "{fx:?}"
    );
    feed(&mut s, vec![ch('6')]);
    select(&mut s, "old_unused");
    assert!(feed(&mut s, vec![ch('o')]).is_empty());
    assert!(
        notice(&s).contains("names no recorded step"),
        "{}",
        notice(&s)
    );
}

#[test]
fn the_focus_steps_skills_are_marked_and_a_new_one_is_listed() {
    let mut s = opened(120, 40, "dark");
    loaded(&mut s);
    set_step_skills(&mut s, &["weather_report".into()], &[]);
    assert!(s.skills.step.used.contains("weather_report"));
    assert!(!s.skills.stale);
    // A created skill the table does not have yet: the library is read again.
    set_step_skills(&mut s, &[], &["brand_new".into()]);
    assert!(s.skills.step.used.is_empty());
    let fx = feed(&mut s, vec![Action::Tick]);
    let Some(Job::List { id }) = job(&fx).cloned() else {
        panic!("{fx:?}")
    };
    // The live step's summary feeds it; a step ending while a listing is out makes
    // another when that one is answered (its counts may predate the step).
    let summary: crate::event::StepSummary = serde_json::from_value(serde_json::json!({
        "step": 3, "success": true, "output": "", "attempts": 1, "llm_calls": 1,
        "prompt_tokens": 1, "completion_tokens": 1, "llm_ms": 1.0, "exec_ms": 1.0,
        "skills_used": ["celsius_to_fahrenheit"], "skills_created": ["weather_report"]
    }))
    .unwrap();
    let fx = engine(&mut s, vec![crate::event::Event::StepFinished(summary)]);
    assert!(s.skills.step.used.contains("celsius_to_fahrenheit"));
    assert!(s.skills.step.created.contains("weather_report"));
    assert!(job(&fx).is_none(), "one listing at a time: {fx:?}");
    let fx = feed(
        &mut s,
        vec![Action::Skills(Reply::Listed {
            id,
            result: Ok(Listing::Skills(library())),
        })],
    );
    assert!(matches!(job(&fx), Some(Job::List { .. })), "{fx:?}");
}

#[test]
fn wide_the_third_column_keeps_skills_while_other_panes_have_focus() {
    let mut s = opened(160, 50, "dark");
    assert!(s.areas().rect(Pane::Variables).is_some());
    loaded(&mut s);
    assert!(s.areas().rect(Pane::Skills).is_some());
    feed(&mut s, vec![ch('2')]);
    assert_eq!(s.focus, Pane::Output);
    assert!(s.areas().rect(Pane::Skills).is_some());
    assert!(s.areas().rect(Pane::Output).is_some());
    feed(&mut s, vec![ch('4')]);
    feed(&mut s, vec![ch('3')]);
    assert!(s.areas().rect(Pane::Variables).is_some());
    // Medium: the shared slot still follows the focus.
    let mut s = opened(120, 40, "dark");
    loaded(&mut s);
    feed(&mut s, vec![ch('2')]);
    assert!(s.areas().rect(Pane::Skills).is_none());
}

#[test]
fn a_paste_goes_into_the_filter_being_typed() {
    let mut s = opened(120, 40, "dark");
    loaded(&mut s);
    feed(
        &mut s,
        vec![ch('/'), Action::Paste("list_notes\nmore".into())],
    );
    assert_eq!(s.skills.filter, "list_notes");
    assert_eq!(names(&s), ["flaky_fetch"]);
    assert!(s.prompt.content().is_empty());
}
