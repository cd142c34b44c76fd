//! The timeline's update function: focus moves, branch jumps, mark and diff, play and
//! pause, rewind and fork from the live session and from browse mode, the details cache.

use crossterm::event::{KeyCode, KeyModifiers};
use serde_json::json;
use std::time::Duration;

use super::update as tl;
use super::*;
use crate::engine::Op;
use crate::engine::query::{
    CallView, CellDifference, CellView, Change, FileChange, StepStatus, StepView, TimelineNode,
    TimelineSession,
};
use crate::event::{CallOutcome, CellStatus, Event};
use crate::record::log::StepKind;
use crate::tui::action::{Action, Effect};
use crate::tui::layout::Pane;
use crate::tui::state::{Overlay, State};
use crate::tui::testing::*;

pub fn node(
    session: &str,
    step: u64,
    parent: Option<(&str, u64)>,
    branch: &str,
    title: &str,
    status: StepStatus,
) -> TimelineNode {
    TimelineNode {
        session: session.into(),
        step,
        parent: parent.map(|(s, p)| NodeRef {
            session: s.into(),
            step: p,
        }),
        branch: branch.into(),
        kind: StepKind::Cell,
        title: title.into(),
        status,
        started: "2026-11-30T12:00:00Z".into(),
        duration_ms: 12.5 * step as f64,
        llm_calls: 0,
        prompt_tokens: 0,
        completion_tokens: 0,
        skills_used: vec![],
        skills_created: vec![],
        inexact: None,
        replay_differed: vec![],
        on_head_path: false,
        head: false,
        inherited: false,
    }
}

pub fn r(session: &str, step: u64) -> NodeRef {
    NodeRef {
        session: session.into(),
        step,
    }
}

/// Session `demo`: 1 → 2 → 3 (failed; left by a rewind to 2: branch `demo~3`), 2 → 4
/// (diverged when re-run) → 5 (the head), and the fork `demo-fork-1` at 2 with its step
/// 3: three branches.
pub fn three_branches() -> Timeline {
    use StepStatus::*;
    let mut n1 = node("demo", 1, None, "demo", "x = 1", Ok);
    n1.on_head_path = true;
    let mut n2 = node(
        "demo",
        2,
        Some(("demo", 1)),
        "demo",
        "what is the weather in Paris?",
        Ok,
    );
    n2.kind = StepKind::Task;
    n2.prompt_tokens = 1200;
    n2.completion_tokens = 80;
    n2.llm_calls = 1;
    n2.skills_created = vec!["weather".into()];
    n2.on_head_path = true;
    let n3 = node("demo", 3, Some(("demo", 2)), "demo~3", "1/0", Failed);
    let f3 = node(
        "demo-fork-1",
        3,
        Some(("demo", 2)),
        "demo-fork-1",
        "print(w)",
        Ok,
    );
    let mut n4 = node("demo", 4, Some(("demo", 2)), "demo", "import random", Ok);
    n4.replay_differed = vec![CellDifference {
        cell: 1,
        difference: "the output differs: 0.12 where the record has 0.57".into(),
    }];
    n4.on_head_path = true;
    n4.skills_used = vec!["weather".into()];
    let mut n5 = node("demo", 5, Some(("demo", 4)), "demo", "print(total)", Ok);
    n5.on_head_path = true;
    n5.head = true;
    Timeline {
        session: "demo".into(),
        head: Some(r("demo", 5)),
        sessions: vec![
            TimelineSession {
                name: "demo".into(),
                relation: crate::engine::query::Relation::Session,
                fork: None,
                head: 5,
            },
            TimelineSession {
                name: "demo-fork-1".into(),
                relation: crate::engine::query::Relation::Fork,
                fork: None,
                head: 3,
            },
        ],
        // Depth-first as the query gives them.
        nodes: vec![n1, n2, n3, f3, n4, n5],
        warnings: vec![],
    }
}

pub fn detail(n: &TimelineNode, code: &str, output: &str) -> StepDetail {
    StepDetail {
        view: StepView {
            session: n.session.clone(),
            step: n.step,
            parent: n.parent.as_ref().map_or(0, |p| p.step),
            kind: n.kind,
            task: (n.kind == StepKind::Task).then(|| n.title.clone()),
            started: n.started.clone(),
            success: n.status == StepStatus::Ok,
            interrupted: false,
            duration_ms: n.duration_ms,
            cells: vec![CellView {
                code: code.into(),
                status: Some(if n.status == StepStatus::Ok {
                    CellStatus::Ok
                } else {
                    CellStatus::Error
                }),
                output: output.into(),
                calls: vec![CallView {
                    name: "tools.call".into(),
                    args: json!({"server": "demo", "tool": "get_weather", "args": {"city": "Paris"}}),
                    outcome: CallOutcome::Ok(json!({"city": "Paris", "temperature": 21})),
                }],
            }],
            llm_calls: n.llm_calls,
            answer: None,
            snapshot: "abc".into(),
            skills_used: n.skills_used.clone(),
            skills_created: n.skills_created.clone(),
            title: n.title.clone(),
            status: n.status,
            prompt_tokens: n.prompt_tokens,
            completion_tokens: n.completion_tokens,
            inexact: None,
            branch: n.branch.clone(),
        },
        files: vec![FileChange {
            path: "notes/paris.txt".into(),
            change: Change::Added,
        }],
        files_note: None,
    }
}

/// A console on session `demo` with its timeline loaded (every step's details too).
pub fn with_timeline(w: u16, h: u16, theme: &str) -> State {
    let mut s = opened(w, h, theme);
    s.session.name = Some("demo".into());
    let mut fx = Vec::new();
    tl::load(&mut s, "demo", &mut fx);
    loaded(&mut s, three_branches());
    s
}

pub fn loaded(s: &mut State, tree: Timeline) -> Vec<Effect> {
    let generation = s.timeline.generation;
    let details: Vec<StepDetail> = tree
        .nodes
        .iter()
        .map(|n| {
            detail(
                n,
                &format!("# step {}\n{}\n", n.step, n.title),
                &format!("output of step {}\n", n.step),
            )
        })
        .collect();
    let mut fx = feed(
        s,
        vec![Action::Timeline(Box::new(TimelineAction::Loaded {
            generation,
            result: Ok(tree),
        }))],
    );
    fx.extend(feed(
        s,
        vec![Action::Timeline(Box::new(TimelineAction::Details(Ok(
            details,
        ))))],
    ));
    fx
}

fn press(s: &mut State, code: KeyCode) -> Vec<Effect> {
    feed(s, vec![key(code, KeyModifiers::NONE)])
}

fn focused(s: &State) -> Option<NodeRef> {
    s.timeline.focused().map(TimelineNode::node_ref)
}

fn on_timeline(s: &mut State) {
    crate::tui::update::focus(s, Pane::Timeline);
}

#[test]
fn the_tree_comes_in_with_the_head_in_focus_and_follows_live() {
    let s = with_timeline(120, 40, "dark");
    assert_eq!(s.timeline.rows.len(), 6);
    assert_eq!(focused(&s), Some(r("demo", 5)), "live: the head");
    assert!(s.timeline.live);
    assert_eq!(s.timeline.shown, None, "following: the live panes stay");
}

#[test]
fn focus_moves_by_row_along_the_branch_to_its_ends_and_to_errors() {
    let mut s = with_timeline(120, 40, "dark");
    on_timeline(&mut s);
    press(&mut s, KeyCode::Up);
    assert_eq!(focused(&s), Some(r("demo", 4)));
    assert!(!s.timeline.live, "a move stops following");
    assert_eq!(
        s.timeline.shown,
        Some(r("demo", 4)),
        "the panes show step 4"
    );
    assert_eq!(s.code.attempts[0].code, "# step 4\nimport random\n");
    assert!(
        s.output
            .store
            .block_text(0)
            .unwrap()
            .contains("step 4 of demo")
    );
    press(&mut s, KeyCode::Up);
    assert_eq!(
        focused(&s),
        Some(r("demo-fork-1", 3)),
        "rows in depth-first order"
    );
    // Back along the branch: the fork's step 3 continues from demo's step 2.
    press(&mut s, KeyCode::Left);
    assert_eq!(focused(&s), Some(r("demo", 2)));
    // Forward on the same branch: 2's child on branch `demo` is 4, not 3.
    press(&mut s, KeyCode::Right);
    assert_eq!(focused(&s), Some(r("demo", 4)));
    press(&mut s, KeyCode::Home);
    assert_eq!(focused(&s), Some(r("demo", 1)), "first step of the branch");
    press(&mut s, KeyCode::End);
    assert_eq!(focused(&s), Some(r("demo", 5)), "last step of the branch");
    feed(&mut s, vec![ch('N')]);
    assert_eq!(focused(&s), Some(r("demo", 3)), "the previous failed step");
    feed(&mut s, vec![ch('n')]);
    assert_eq!(focused(&s), Some(r("demo", 3)), "no failed step after it");
    assert!(
        s.visible_notice()
            .is_some_and(|(_, m)| m.contains("no failed step"))
    );
}

#[test]
fn branch_jumps_go_to_a_child_branch_and_back_to_its_fork_point() {
    let mut s = with_timeline(120, 40, "dark");
    on_timeline(&mut s);
    press(&mut s, KeyCode::Home);
    feed(&mut s, vec![ch(']')]);
    assert_eq!(
        focused(&s),
        Some(r("demo", 3)),
        "the first branch leaving `demo` after step 1: demo~3 at 2"
    );
    feed(&mut s, vec![ch('[')]);
    assert_eq!(focused(&s), Some(r("demo", 2)), "where demo~3 left demo");
    press(&mut s, KeyCode::Down);
    press(&mut s, KeyCode::Down);
    assert_eq!(focused(&s), Some(r("demo-fork-1", 3)));
    feed(&mut s, vec![ch('[')]);
    assert_eq!(focused(&s), Some(r("demo", 2)), "the fork point");
}

#[test]
fn mark_and_diff_show_the_two_steps_side_by_side() {
    let mut s = with_timeline(120, 40, "dark");
    on_timeline(&mut s);
    feed(&mut s, vec![ch('d')]);
    assert!(s.overlay.is_none(), "no mark yet");
    feed(&mut s, vec![ch('m')]);
    assert_eq!(s.timeline.mark, Some(r("demo", 5)));
    press(&mut s, KeyCode::Up);
    press(&mut s, KeyCode::Up);
    let fx = feed(&mut s, vec![ch('d')]);
    let Some(Overlay::Timeline(TimelineOverlay::Diff(d))) = &s.overlay else {
        panic!("no diff: {:?}", s.overlay);
    };
    assert_eq!(
        (d.a.clone(), d.b.clone()),
        (r("demo", 5), r("demo-fork-1", 3))
    );
    assert!(fx.is_empty(), "both steps' details are cached: {fx:?}");
    // b: the two branches step by step, through the diff query.
    let fx = feed(&mut s, vec![ch('b')]);
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Timeline(TimelineEffect::Diff { a, b })
            if a.session == "demo" && a.step == Some(5) && b.session == "demo-fork-1"
    )));
    press(&mut s, KeyCode::Esc);
    assert!(s.overlay.is_none());
    // m on the marked step removes the mark.
    press(&mut s, KeyCode::End);
    press(&mut s, KeyCode::Right);
    let marked = s.timeline.mark.clone();
    s.timeline.focus = s.timeline.row_of(&r("demo", 5)).unwrap();
    feed(&mut s, vec![ch('m')]);
    assert_eq!(marked, Some(r("demo", 5)));
    assert_eq!(s.timeline.mark, None);
}

#[test]
fn play_steps_forward_on_ticks_at_the_speed_chosen_and_pauses() {
    let mut s = with_timeline(120, 40, "dark");
    on_timeline(&mut s);
    press(&mut s, KeyCode::Home);
    feed(&mut s, vec![ch('+'), ch('+')]);
    assert_eq!(s.timeline.speed_ms(), 250);
    feed(&mut s, vec![ch('p')]);
    assert!(s.timeline.play.is_some());
    assert!(s.next_tick().is_some(), "ticks while playing");
    // Not yet due: nothing moves.
    feed(&mut s, vec![Action::Tick]);
    assert_eq!(focused(&s), Some(r("demo", 1)));
    s.now += Duration::from_millis(260);
    feed(&mut s, vec![Action::Tick]);
    assert_eq!(focused(&s), Some(r("demo", 2)));
    s.now += Duration::from_millis(260);
    feed(&mut s, vec![Action::Tick]);
    assert_eq!(focused(&s), Some(r("demo", 4)), "along the branch");
    feed(&mut s, vec![ch('p')]);
    assert!(s.timeline.play.is_none(), "paused");
    s.now += Duration::from_millis(1000);
    feed(&mut s, vec![Action::Tick]);
    assert_eq!(focused(&s), Some(r("demo", 4)));
    // Playing to the end stops by itself.
    feed(&mut s, vec![ch('p')]);
    for _ in 0..3 {
        s.now += Duration::from_millis(300);
        feed(&mut s, vec![Action::Tick]);
    }
    assert_eq!(focused(&s), Some(r("demo", 5)));
    assert!(s.timeline.play.is_none());
}

#[test]
fn rewind_in_the_live_session_confirms_with_the_counts_then_shows_progress() {
    let mut s = with_timeline(120, 40, "dark");
    on_timeline(&mut s);
    press(&mut s, KeyCode::Up);
    let fx = feed(&mut s, vec![ch('r')]);
    assert_eq!(
        fx,
        vec![Effect::Timeline(TimelineEffect::Plan {
            session: "demo".into(),
            step: 4,
            opens: false
        })]
    );
    let plan = RewindPlan {
        session: "demo".into(),
        step: 4,
        steps: 3,
        cells: 4,
        tool_calls: 2,
        model_calls: 1,
        other_calls: 0,
        later_steps: 1,
        head: 5,
    };
    feed(
        &mut s,
        vec![Action::Timeline(Box::new(TimelineAction::Plan {
            opens: false,
            result: Ok(plan.clone()),
        }))],
    );
    let lines = super::render::plan_lines(&plan, false).join("\n");
    assert!(lines.contains("4 cell(s) of 3 step(s) re-run"));
    assert!(lines.contains("2 tool call(s) and 1 model call(s) served from the record"));
    assert!(lines.contains("the 1 later step(s) stay in the record as a branch"));
    let fx = press(&mut s, KeyCode::Enter);
    assert_eq!(fx, vec![Effect::Send(Op::Rewind(4))]);
    feed(
        &mut s,
        vec![Action::Sent {
            op: Op::Rewind(4),
            id: 9,
        }],
    );
    engine(
        &mut s,
        vec![Event::ReplayProgress {
            session: "demo".into(),
            step: 2,
            cells: 3,
            calls_served: 2,
        }],
    );
    assert!(matches!(
        s.overlay,
        Some(Overlay::Timeline(TimelineOverlay::Rewinding {
            cells: 3,
            calls: 2,
            ..
        }))
    ));
    let fx = engine(
        &mut s,
        vec![
            Event::HeadMoved {
                session: "demo".into(),
                step: 4,
            },
            Event::OpEnded {
                op: 9,
                error: None,
                usage: false,
                diverged: None,
            },
        ],
    );
    assert!(s.overlay.is_none());
    assert!(s.timeline.live, "the session continues live from there");
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Timeline(TimelineEffect::Load { .. })))
    );
    assert!(
        s.visible_notice()
            .is_some_and(|(_, m)| m.contains("continues from step 4"))
    );
}

#[test]
fn a_divergence_stops_the_rewind_and_is_shown_with_its_step() {
    let mut s = with_timeline(120, 40, "dark");
    on_timeline(&mut s);
    feed(&mut s, vec![ch('r')]);
    feed(
        &mut s,
        vec![Action::Timeline(Box::new(TimelineAction::Plan {
            opens: false,
            result: Ok(RewindPlan {
                session: "demo".into(),
                step: 5,
                steps: 4,
                cells: 4,
                tool_calls: 1,
                model_calls: 0,
                other_calls: 0,
                later_steps: 0,
                head: 5,
            }),
        }))],
    );
    press(&mut s, KeyCode::Enter);
    feed(
        &mut s,
        vec![Action::Sent {
            op: Op::Rewind(5),
            id: 3,
        }],
    );
    let d = crate::record::replay::Divergence {
        session: "demo".into(),
        step: 4,
        cell: 1,
        difference: "the code called tools.call with {\"city\":\"Oslo\"} where the record has {\"city\":\"Paris\"}".into(),
    };
    engine(
        &mut s,
        vec![Event::OpEnded {
            op: 3,
            error: Some(format!("{d}\nThe recorded state …")),
            usage: false,
            diverged: Some(d),
        }],
    );
    let Some(Overlay::Timeline(TimelineOverlay::Diverged(d))) = &s.overlay else {
        panic!("no divergence shown: {:?}", s.overlay);
    };
    assert_eq!(d.at, r("demo", 4));
    assert_eq!(d.cell, 1);
    press(&mut s, KeyCode::Enter);
    assert_eq!(focused(&s), Some(r("demo", 4)), "Enter focuses the step");
}

#[test]
fn browse_mode_opens_a_live_session_for_a_rewind_or_a_fork() {
    let mut s = opened(120, 40, "dark");
    let fx = tl::browse(&mut s, "demo", Some(2));
    assert!(matches!(
        &fx[..],
        [Effect::Timeline(TimelineEffect::Load { session, .. })] if session == "demo"
    ));
    assert_eq!(s.focus, Pane::Timeline);
    loaded(&mut s, three_branches());
    assert_eq!(focused(&s), Some(r("demo", 2)), "the step asked for");
    assert_eq!(s.timeline.shown, Some(r("demo", 2)), "its panes");
    // Typing in the prompt runs nothing: there is no session yet.
    crate::tui::update::focus(&mut s, Pane::Prompt);
    let fx = feed(&mut s, typed("x"));
    let fx2 = feed(&mut s, vec![enter()]);
    assert!(fx.is_empty() && fx2.is_empty(), "{fx2:?}");
    on_timeline(&mut s);
    let fx = feed(&mut s, vec![ch('r')]);
    assert!(matches!(
        &fx[..],
        [Effect::Timeline(TimelineEffect::Plan {
            opens: true,
            step: 2,
            ..
        })]
    ));
    feed(
        &mut s,
        vec![Action::Timeline(Box::new(TimelineAction::Plan {
            opens: true,
            result: Ok(RewindPlan {
                session: "demo".into(),
                step: 2,
                steps: 2,
                cells: 2,
                tool_calls: 1,
                model_calls: 0,
                other_calls: 0,
                later_steps: 3,
                head: 5,
            }),
        }))],
    );
    let fx = press(&mut s, KeyCode::Enter);
    assert_eq!(
        fx,
        vec![Effect::Timeline(TimelineEffect::Open(Start::Rewind {
            name: "demo".into(),
            step: 2
        }))]
    );
    // The new session opens (operation 0 of it).
    engine(
        &mut s,
        vec![
            Event::SessionStarted {
                session: "demo".into(),
                workspace: "/w".into(),
                isolation: "none".into(),
                python: "3.12".into(),
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
    assert!(!s.timeline.browse, "live from here");
    assert_eq!(s.opening, crate::tui::state::Opening::Open);
    // Fork from the live session: f, the default name, Enter.
    loaded(&mut s, three_branches());
    on_timeline(&mut s);
    feed(&mut s, vec![ch('f')]);
    let Some(Overlay::Timeline(TimelineOverlay::ForkName { input, .. })) = &s.overlay else {
        panic!("no name asked");
    };
    assert_eq!(input, "demo-fork-2", "demo-fork-1 is taken");
    let fx = press(&mut s, KeyCode::Enter);
    assert_eq!(
        fx,
        vec![Effect::Send(Op::Fork {
            step: 5,
            name: Some("demo-fork-2".into())
        })]
    );
}

#[test]
fn edit_and_fork_forks_at_the_step_before_and_runs_the_code_there() {
    let mut s = with_timeline(120, 40, "dark");
    on_timeline(&mut s);
    press(&mut s, KeyCode::Up);
    feed(&mut s, vec![ch('e')]);
    assert_eq!(s.focus, Pane::Prompt);
    assert_eq!(s.prompt.content(), "# step 4\nimport random");
    let fx = feed(&mut s, vec![enter()]);
    assert_eq!(
        fx,
        vec![Effect::Send(Op::Fork {
            step: 2,
            name: Some("demo-fork-2".into())
        })]
    );
    feed(
        &mut s,
        vec![Action::Sent {
            op: Op::Fork {
                step: 2,
                name: None,
            },
            id: 4,
        }],
    );
    let fx = engine(
        &mut s,
        vec![
            Event::Forked {
                from: "demo".into(),
                step: 2,
                session: "demo-fork-2".into(),
            },
            Event::OpEnded {
                op: 4,
                error: None,
                usage: false,
                diverged: None,
            },
        ],
    );
    assert!(
        fx.contains(&Effect::Send(Op::RunCell("# step 4\nimport random".into()))),
        "{fx:?}"
    );
}

#[test]
fn details_are_fetched_around_the_focus_once_and_moves_never_wait() {
    let mut s = opened(120, 40, "dark");
    s.session.name = Some("demo".into());
    let mut fx = Vec::new();
    tl::load(&mut s, "demo", &mut fx);
    let generation = s.timeline.generation;
    // A long line of 500 steps.
    let mut tree = three_branches();
    tree.nodes = (1..=500)
        .map(|i| {
            let parent = (i > 1).then_some(("demo", i - 1));
            node("demo", i, parent, "demo", "x += 1", StepStatus::Ok)
        })
        .collect();
    tree.head = Some(r("demo", 500));
    let fx = feed(
        &mut s,
        vec![Action::Timeline(Box::new(TimelineAction::Loaded {
            generation,
            result: Ok(tree),
        }))],
    );
    let asked: Vec<&NodeRef> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Timeline(TimelineEffect::Details(refs)) => Some(refs),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(asked.len(), 25, "the focus and 24 before it");
    assert_eq!(asked[0], &r("demo", 500), "the focus first");
    on_timeline(&mut s);
    // While that query is out, moves ask nothing more and show what the tree knows.
    let fx = press(&mut s, KeyCode::Up);
    assert!(fx.is_empty(), "{fx:?}");
    assert_eq!(s.timeline.shown, None, "not fetched yet");
    assert!(
        s.output
            .store
            .block_text(1)
            .unwrap()
            .contains("reading the step")
    );
    // A stale timeline (an older generation) is dropped.
    feed(
        &mut s,
        vec![Action::Timeline(Box::new(TimelineAction::Loaded {
            generation: generation - 1,
            result: Err("old".into()),
        }))],
    );
    assert_eq!(s.timeline.rows.len(), 500);
}

#[test]
fn the_running_step_is_a_row_after_the_head_and_live_follows_it() {
    let mut s = with_timeline(120, 40, "dark");
    run_task(&mut s, "count the notes", 7);
    engine(
        &mut s,
        vec![Event::StepStarted {
            step: 6,
            task: "count the notes".into(),
        }],
    );
    assert_eq!(s.timeline.rows.len(), 7);
    assert_eq!(s.timeline.rows[s.timeline.focus].node, None, "focus on it");
    // Moving away while it runs shows recorded steps; the live output keeps growing.
    on_timeline(&mut s);
    press(&mut s, KeyCode::Up);
    assert_eq!(focused(&s), Some(r("demo", 5)));
    engine(
        &mut s,
        vec![Event::Output {
            cell: 3,
            stream: crate::event::Stream::Stdout,
            text: "still running\n".into(),
        }],
    );
    assert!(
        !s.output
            .store
            .block_text(s.output.store.len() - 1)
            .unwrap_or_default()
            .contains("still running"),
        "the shown step's output is not the live one"
    );
    feed(&mut s, vec![ch('L')]);
    assert!(s.timeline.live);
    assert!(
        (0..s.output.store.len()).any(|i| s
            .output
            .store
            .block_text(i)
            .is_some_and(|t| t.contains("still running"))),
        "the live output came back with what arrived meanwhile"
    );
}

#[test]
fn focus_step_from_elsewhere_focuses_it_or_loads_its_session() {
    let mut s = with_timeline(120, 40, "dark");
    let fx = focus_step(&mut s, "demo", 2);
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::Timeline(_))),
        "in the tree already: nothing to load ({fx:?})"
    );
    assert_eq!(focused(&s), Some(r("demo", 2)));
    let fx = focus_step(&mut s, "other", 7);
    assert!(matches!(
        &fx[..],
        [Effect::Timeline(TimelineEffect::Load { session, .. })] if session == "other"
    ));
    assert_eq!(s.timeline.want, Some(r("other", 7)));
}

#[test]
fn the_session_list_searches_and_opens_a_timeline() {
    let mut s = with_timeline(120, 40, "dark");
    let fx = feed(&mut s, vec![ctrl('o')]);
    assert!(fx.contains(&Effect::Timeline(TimelineEffect::Sessions {
        query: String::new()
    })));
    let row = |name: &str, task: &str| crate::record::index::SessionRow {
        name: name.into(),
        id: "id".into(),
        created: "2026-11-30T10:00:00Z".into(),
        fork: None,
        head: 2,
        steps: 2,
        interrupted: 0,
        branches: 1,
        last_task: Some(task.into()),
        warnings: 0,
    };
    feed(
        &mut s,
        vec![Action::Timeline(Box::new(TimelineAction::Sessions {
            query: String::new(),
            result: Ok((
                vec![row("demo", "weather"), row("notes", "count notes")],
                vec![],
            )),
        }))],
    );
    let fx = feed(&mut s, typed("note"));
    assert!(fx.contains(&Effect::Timeline(TimelineEffect::Sessions {
        query: "note".into()
    })));
    let Some(Overlay::Timeline(TimelineOverlay::Sessions(v))) = &s.overlay else {
        panic!()
    };
    assert_eq!(v.items().len(), 1, "filtered by name and task");
    let fx = feed(&mut s, vec![enter()]);
    assert!(matches!(
        &fx[..],
        [Effect::Timeline(TimelineEffect::Load { session, .. })] if session == "notes"
    ));
    assert!(s.overlay.is_none());
}

#[test]
fn a_click_on_a_row_focuses_that_step() {
    use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let mut s = with_timeline(120, 40, "dark");
    let inner = s.inner(Pane::Timeline).expect("the timeline is on screen");
    feed(
        &mut s,
        vec![Action::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: inner.x + 3,
            row: inner.y + 1,
            modifiers: KeyModifiers::NONE,
        })],
    );
    assert_eq!(s.focus, Pane::Timeline);
    assert_eq!(focused(&s), Some(r("demo", 2)), "the second row");
    assert!(!s.timeline.live);
}

#[test]
fn the_mouse_wheel_over_the_timeline_moves_the_focus() {
    use crossterm::event::{MouseEvent, MouseEventKind};
    let mut s = with_timeline(120, 40, "dark");
    let inner = s.inner(Pane::Timeline).expect("the timeline is on screen");
    let wheel = |kind| {
        Action::Mouse(MouseEvent {
            kind,
            column: inner.x + 3,
            row: inner.y + 1,
            modifiers: KeyModifiers::NONE,
        })
    };
    focus_step(&mut s, "demo", 1);
    feed(&mut s, vec![wheel(MouseEventKind::ScrollDown)]);
    let down = focused(&s).expect("a focus");
    assert_ne!(down, r("demo", 1), "the wheel moved the focus down");
    assert_eq!(
        s.timeline.focus, 3,
        "three rows, as the wheel scrolls other panes"
    );
    feed(&mut s, vec![wheel(MouseEventKind::ScrollUp)]);
    assert_eq!(focused(&s), Some(r("demo", 1)));
    assert!(!s.timeline.live, "a move by the user stops following");
}

#[test]
fn keys_before_the_timeline_arrives_or_after_it_failed_do_nothing_harmful() {
    let mut s = opened(80, 24, "dark");
    tl::browse(&mut s, "gone", None);
    for k in [KeyCode::Down, KeyCode::PageDown, KeyCode::End, KeyCode::Up] {
        press(&mut s, k);
    }
    feed(&mut s, vec![ch('n'), ch(']'), ch('r'), ch('p'), ch('d')]);
    let generation = s.timeline.generation;
    feed(
        &mut s,
        vec![Action::Timeline(Box::new(TimelineAction::Loaded {
            generation,
            result: Err("no session named \"gone\"".into()),
        }))],
    );
    press(&mut s, KeyCode::Down);
    assert!(s.timeline.rows.is_empty());
    assert_eq!(
        s.timeline.note.as_deref(),
        Some("no session named \"gone\"")
    );
}
