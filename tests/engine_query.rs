//! The engine's queries (`mcpr::engine::query`) on real records: sessions made, forked
//! and rewound with the real `mcpr` binary, then read back through the library calls; the
//! skill library with the real analyser; the tool catalog of the demo MCP server.

mod common;

use common::{demo_entry, mcpr_in, mcpr_ok, stderr, stdout};
use mcpr::engine::query::{
    self, DiffTag, NodeRef, QueryError, Relation, StepRef, StepStatus, Timeline,
};
use mcpr::event::CellStatus;
use mcpr::record::recorder::ReplayDir;
use serde_json::{Value, json};
use std::path::Path;

fn exec(dir: &Path, session: &str, code: &str) {
    mcpr_ok(dir, &["exec", "--session", session, code]);
}

fn replay_dir(dir: &Path) -> ReplayDir {
    ReplayDir::open(&dir.join(".replay")).expect("record folder")
}

fn node(session: &str, step: u64) -> NodeRef {
    NodeRef {
        session: session.into(),
        step,
    }
}

/// (session, step, branch) of every node, in the timeline's order.
fn shape(t: &Timeline) -> Vec<(String, u64, String)> {
    t.nodes
        .iter()
        .map(|n| (n.session.clone(), n.step, n.branch.clone()))
        .collect()
}

/// Session `s`: steps 1–3, forks `s-fork-1` (at 1, one failing step) and `other` (at 2,
/// one step), then rewound to 1 and continued with step 4.
fn forked_and_rewound() -> tempfile::TempDir {
    let project = common::project_dir();
    let d = project.path();
    exec(d, "s", "x = 1");
    exec(d, "s", "x += 10");
    exec(d, "s", "print(x)");
    assert_eq!(stdout(&mcpr_ok(d, &["fork", "s", "1"])), "s-fork-1\n");
    mcpr_ok(d, &["fork", "s", "2", "--name", "other"]);
    exec(d, "other", "y = 2");
    let o = mcpr_in(
        d,
        &["exec", "--session", "s-fork-1", "raise ValueError('boom')"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    mcpr_ok(d, &["replay", "rewind", "s", "1"]);
    exec(d, "s", "z = 3");
    project
}

#[test]
fn the_timeline_is_a_tree_across_forks_and_rewinds() {
    let project = forked_and_rewound();
    let d = project.path();
    // As if mcpr had been killed in a step after the head: a `step` line with no `end`.
    let log = d.join(".replay/s.jsonl");
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str(
        &json!({"type": "step", "step": 5, "parent": 4, "kind": "cell", "started": "2026-01-01T00:00:00Z"})
            .to_string(),
    );
    text.push('\n');
    std::fs::write(&log, text).unwrap();
    let dir = replay_dir(d);

    let t = query::timeline(&dir, "s").unwrap();
    assert_eq!(
        shape(&t),
        vec![
            ("s".into(), 1, "s".into()),
            ("s".into(), 2, "s~3".into()),
            ("s".into(), 3, "s~3".into()),
            ("other".into(), 3, "other".into()),
            ("s-fork-1".into(), 2, "s-fork-1".into()),
            ("s".into(), 4, "s".into()),
            ("s".into(), 5, "s~5".into()),
        ],
        "depth-first, children by step id, the session's own step first"
    );
    assert_eq!(t.head, Some(node("s", 4)));
    let parents: Vec<Option<NodeRef>> = t.nodes.iter().map(|n| n.parent.clone()).collect();
    assert_eq!(
        parents,
        vec![
            None,
            Some(node("s", 1)),
            Some(node("s", 2)),
            Some(node("s", 2)),
            Some(node("s", 1)),
            Some(node("s", 1)),
            Some(node("s", 4)),
        ]
    );
    let on_path: Vec<(String, u64)> = t
        .head_path()
        .iter()
        .map(|n| (n.session.clone(), n.step))
        .collect();
    assert_eq!(on_path, vec![("s".into(), 1), ("s".into(), 4)]);
    assert!(t.node("s", 4).unwrap().head);
    assert!(!t.node("s", 1).unwrap().head);
    let status = |s: &str, n: u64| t.node(s, n).unwrap().status;
    assert_eq!(status("s", 1), StepStatus::Ok);
    assert_eq!(status("s-fork-1", 2), StepStatus::Failed);
    assert_eq!(status("s", 5), StepStatus::Interrupted);
    assert_eq!(t.node("s", 5).unwrap().duration_ms, 0.0);
    assert!(t.nodes.iter().all(|n| !n.inherited));
    assert_eq!(t.node("s", 3).unwrap().title, "print(x)");
    let children: Vec<(String, u64)> = t
        .children("s", 1)
        .iter()
        .map(|n| (n.session.clone(), n.step))
        .collect();
    assert_eq!(
        children,
        vec![("s".into(), 2), ("s-fork-1".into(), 2), ("s".into(), 4)]
    );
    assert_eq!(t.roots().len(), 1);
    let sessions: Vec<(String, Relation)> = t
        .sessions
        .iter()
        .map(|s| (s.name.clone(), s.relation))
        .collect();
    assert!(sessions.contains(&("s".into(), Relation::Session)));
    assert!(sessions.contains(&("other".into(), Relation::Fork)));
    assert!(sessions.contains(&("s-fork-1".into(), Relation::Fork)));

    // Seen from a fork: the shared steps up to its fork point, then its own.
    let t = query::timeline(&dir, "other").unwrap();
    assert_eq!(
        shape(&t),
        vec![
            ("s".into(), 1, "s".into()),
            ("s".into(), 2, "s~3".into()),
            ("other".into(), 3, "other".into()),
        ]
    );
    assert!(t.nodes.iter().all(|n| n.on_head_path));
    assert!(t.node("s", 1).unwrap().inherited && t.node("s", 2).unwrap().inherited);
    assert!(!t.node("other", 3).unwrap().inherited);
    assert_eq!(t.head, Some(node("other", 3)));
    assert_eq!(t.sessions[0].relation, Relation::Ancestor);

    // The JSON form reads back as the same timeline.
    let json = serde_json::to_string(&t).unwrap();
    let back: Timeline = serde_json::from_str(&json).unwrap();
    assert_eq!(back, t);

    let e = query::timeline(&dir, "ghost").unwrap_err();
    assert!(
        matches!(e, QueryError::NoSession { .. }) && e.is_usage(),
        "{e}"
    );
}

#[test]
fn forks_of_forks_and_a_fork_rewound_into_its_shared_steps() {
    let project = common::project_dir();
    let d = project.path();
    exec(d, "p", "a = 1");
    exec(d, "p", "a = 2");
    mcpr_ok(d, &["fork", "p", "2", "--name", "q"]);
    exec(d, "q", "b = 1");
    mcpr_ok(d, &["fork", "q", "3", "--name", "r"]);
    exec(d, "r", "c = 1");
    // Back to a step q shares with p: its next step continues from p's step 1.
    mcpr_ok(d, &["replay", "rewind", "q", "1"]);
    exec(d, "q", "b = 2");
    let dir = replay_dir(d);

    let t = query::timeline(&dir, "p").unwrap();
    assert_eq!(
        shape(&t),
        vec![
            ("p".into(), 1, "p".into()),
            ("p".into(), 2, "p".into()),
            ("q".into(), 3, "q~3".into()),
            ("r".into(), 4, "r".into()),
            ("q".into(), 4, "q".into()),
        ]
    );
    assert_eq!(t.node("q", 4).unwrap().parent, Some(node("p", 1)));
    assert_eq!(t.node("r", 4).unwrap().parent, Some(node("q", 3)));

    let t = query::timeline(&dir, "q").unwrap();
    let on_path: Vec<(String, u64)> = t
        .head_path()
        .iter()
        .map(|n| (n.session.clone(), n.step))
        .collect();
    assert_eq!(on_path, vec![("p".into(), 1), ("q".into(), 4)]);
    assert!(t.node("p", 2).unwrap().inherited && !t.node("p", 2).unwrap().on_head_path);
    assert!(
        t.node("r", 4).is_some(),
        "a fork of q is part of q's timeline"
    );

    let t = query::timeline(&dir, "r").unwrap();
    let related: Vec<(&str, Relation)> = t
        .sessions
        .iter()
        .map(|s| (s.name.as_str(), s.relation))
        .collect();
    assert_eq!(
        related,
        vec![
            ("p", Relation::Ancestor),
            ("q", Relation::Ancestor),
            ("r", Relation::Session)
        ]
    );
    let inherited: Vec<(String, u64)> = t
        .nodes
        .iter()
        .filter(|n| n.inherited)
        .map(|n| (n.session.clone(), n.step))
        .collect();
    assert_eq!(
        inherited,
        vec![("p".into(), 1), ("p".into(), 2), ("q".into(), 3)]
    );
    let v = query::step_view(&dir, "r", 3).unwrap();
    assert_eq!((v.session.as_str(), v.branch.as_str()), ("q", "q~3"));

    let text = stdout(&mcpr_ok(d, &["replay", "timeline", "p"]));
    assert!(text.contains("── q · from step 1 of p"), "{text}");
    assert!(text.contains("── r · fork of q at step 3"), "{text}");
}

#[test]
fn step_views_diffs_sessions_and_search_are_data() {
    let project = forked_and_rewound();
    let d = project.path();
    let dir = replay_dir(d);

    // A step `other` shares with `s`, seen through `other`.
    let v = query::step_view(&dir, "other", 1).unwrap();
    assert_eq!((v.session.as_str(), v.step), ("s", 1));
    assert_eq!(v.title, "x = 1");
    assert_eq!(v.status, StepStatus::Ok);
    assert_eq!(v.branch, "s");
    assert_eq!(v.cells[0].status, Some(CellStatus::Ok));
    let v = query::step_view(&dir, "other", 2).unwrap();
    assert_eq!((v.session.as_str(), v.branch.as_str()), ("s", "s~3"));
    let v = query::step_view(&dir, "s-fork-1", 2).unwrap();
    assert_eq!(v.status, StepStatus::Failed);
    assert!(v.cells[0].output.contains("ValueError: boom"), "{v:?}");
    assert_eq!(
        (v.prompt_tokens, v.completion_tokens, v.llm_calls),
        (0, 0, 0)
    );
    let e = query::step_view(&dir, "other", 9).unwrap_err();
    assert!(
        matches!(e, QueryError::NoStep { .. }) && e.is_usage(),
        "{e}"
    );

    // The history `mcpr replay show` prints.
    let h = query::history(&dir, "s", None).unwrap();
    let steps: Vec<u64> = h.steps.iter().map(|v| v.step).collect();
    assert_eq!(steps, vec![1, 4]);
    let h = query::history(&dir, "s", Some(3)).unwrap();
    let branches: Vec<&str> = h.steps.iter().map(|v| v.branch.as_str()).collect();
    assert_eq!(branches, vec!["s", "s~3", "s~3"]);

    // Two branches compared: the shared steps, then the code and output that differ.
    let a = StepRef::parse("s@3").unwrap();
    let b = StepRef::parse("other").unwrap();
    let diff = query::diff(&dir, &a, &b).unwrap();
    assert!(diff.differs);
    assert_eq!(diff.rows.len(), 3);
    assert!(diff.rows[0].shared && diff.rows[1].shared);
    assert_eq!(diff.rows[1].a, Some(("s".into(), 2)));
    let row = &diff.rows[2];
    assert!(!row.shared && !row.same_code && !row.same_output && row.same_result);
    assert_eq!((row.a_success, row.b_success), (Some(true), Some(true)));
    let code: Vec<(DiffTag, &str)> = row.code.iter().map(|l| (l.tag, l.text.as_str())).collect();
    assert_eq!(
        code,
        vec![(DiffTag::Delete, "print(x)"), (DiffTag::Insert, "y = 2")]
    );
    let output: Vec<(DiffTag, &str)> = row
        .output
        .iter()
        .map(|l| (l.tag, l.text.as_str()))
        .collect();
    assert_eq!(output, vec![(DiffTag::Delete, "11")]);
    let same = query::diff(
        &dir,
        &StepRef::parse("s@1").unwrap(),
        &StepRef::parse("s-fork-1@1").unwrap(),
    )
    .unwrap();
    assert!(!same.differs && same.rows.iter().all(|r| r.shared));
    let e = StepRef::parse("s@last").unwrap_err();
    assert!(matches!(e, QueryError::BadStepRef { .. }) && e.is_usage());

    // Sessions and search, from the index.
    let listed = query::sessions(&dir).unwrap();
    let mut names: Vec<&str> = listed.sessions.iter().map(|r| r.name.as_str()).collect();
    names.sort();
    assert_eq!(names, vec!["other", "s", "s-fork-1"]);
    let s = listed.sessions.iter().find(|r| r.name == "s").unwrap();
    assert_eq!((s.steps, s.branches, s.head), (4, 2, 4));
    let other = listed.sessions.iter().find(|r| r.name == "other").unwrap();
    assert_eq!(other.fork.as_ref().map(|f| f.step), Some(2));
    assert_eq!(listed.notes, query::IndexNotes::default());
    let found = query::search(&dir, "ValueError", 10).unwrap();
    assert_eq!(found.hits.len(), 1);
    assert_eq!(
        (found.hits[0].session.as_str(), found.hits[0].step),
        ("s-fork-1", 2)
    );

    // A broken index is rebuilt, and said so.
    std::fs::write(d.join(".replay/index.sqlite"), b"not a database").unwrap();
    let listed = query::sessions(&dir).unwrap();
    assert_eq!(listed.sessions.len(), 3);
    assert!(listed.notes.rebuilt.is_some(), "{:?}", listed.notes);
}

#[test]
fn mcpr_replay_timeline_prints_a_tree_within_80_columns() {
    let project = forked_and_rewound();
    let d = project.path();
    exec(
        d,
        "s",
        "w = 'a very long line of code that goes on and on well past the eighty columns of a terminal'",
    );
    let o = mcpr_ok(d, &["replay", "timeline", "s"]);
    let text = stdout(&o);
    for line in text.lines() {
        assert!(line.chars().count() <= 80, "too wide: {line:?}\n{text}");
    }
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains("head: step 5"), "{text}");
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?}:\n{text}"))
    };
    // The head's path at the left, marked; the branches left behind indented under it.
    assert!(lines[at("x = 1")].starts_with("* step 1"), "{text}");
    assert!(lines[at("z = 3")].starts_with("* step 4"), "{text}");
    assert!(lines[at("x += 10")].starts_with("    step 2"), "{text}");
    assert!(at("── s~3 · from step 1") < at("x += 10"), "{text}");
    assert!(at("── other · fork of s at step 2") < at("y = 2"), "{text}");
    assert!(at("── s-fork-1 · fork of s at step 1") < at("raise ValueError"));
    assert!(lines[at("raise ValueError")].contains("failed"), "{text}");
    assert!(at("raise ValueError") < at("z = 3"), "{text}");
    assert!(lines[at("w = ")].ends_with('…'), "{text}");

    let o = mcpr_ok(d, &["replay", "timeline", "other", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["session"], "other");
    assert_eq!(v["nodes"].as_array().unwrap().len(), 3);
    assert_eq!(v["nodes"][0]["inherited"], json!(true));
    assert_eq!(v["head"], json!({"session": "other", "step": 3}));

    let o = mcpr_in(d, &["replay", "timeline", "ghost"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no session named \"ghost\""),
        "{}",
        stderr(&o)
    );
    let o = mcpr_in(d, &["exec", "--session", "timeline", "x = 1"]);
    assert_eq!(o.status.code(), Some(2), "a reserved name: {}", stderr(&o));
}

#[test]
fn skills_queries_return_data() {
    use mcpr::engine::query::skills::{self, SkillCheck, SkillDetail, SkillSort};
    let project = common::project_dir();
    let d = project.path();
    let folder = d.join("skills");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("greet.py"),
        "\"\"\"Greet someone by name.\n\nname: greet\ntask: greet Ada\n\"\"\"\n\ndef run(name: str = 'Ada') -> str:\n    return f'hello {name}'\n",
    )
    .unwrap();
    std::fs::write(folder.join("broken.py"), "def run(:\n").unwrap();
    let p = mcpr::project::Project::discover(d).unwrap();
    let library = skills::open_library(&p).unwrap();

    let listed = skills::list(&library, SkillSort::Uses).unwrap();
    let names: Vec<&str> = listed.skills.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["greet"]);
    assert_eq!(listed.problems.len(), 1);
    assert!(listed.problems[0].path.ends_with("broken.py"));

    match skills::show(&library, "greet").unwrap() {
        SkillDetail::Skill(shown) => {
            assert_eq!(shown.skill.description, "Greet someone by name.");
            assert!(shown.code.contains("def run"));
            let v = serde_json::to_value(&*shown).unwrap();
            assert_eq!(v["name"], "greet");
            assert!(v["code"].as_str().unwrap().contains("hello"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        skills::show(&library, "broken").unwrap(),
        SkillDetail::Broken(_)
    ));
    let e = skills::show(&library, "nosuch").unwrap_err();
    assert!(matches!(e, QueryError::NoSkill(_)) && e.is_usage(), "{e}");

    let hits = skills::search(&library, "greet someone", 5).unwrap();
    assert_eq!(hits[0].name, "greet");

    let policy = mcpr::skills::prune::Policy {
        duplicates: true,
        ..Default::default()
    };
    assert!(
        skills::prune_plan(&library, &policy)
            .unwrap()
            .removals
            .is_empty()
    );

    let mut seen = Vec::new();
    let report = futures_free_block_on(skills::test(
        &p.config.kernel,
        Some(mcpr::sandbox::IsolationRequest::None),
        &library,
        Some("greet"),
        &mut |c| seen.push(c.clone()),
    ))
    .unwrap();
    assert_eq!(report.failed, 0, "{report:?}");
    assert!(matches!(&report.checks[..], [SkillCheck::Passed { name, .. }] if name == "greet"));
    assert_eq!(seen, report.checks);

    let shown = skills::list_with_code(&library, SkillSort::Name).unwrap();
    assert_eq!(shown.skills.len(), 1);
    assert!(shown.skills[0].code.contains("return f'hello {name}'"));
    assert_eq!(shown.problems.len(), 1);
    assert!(skills::trash(&library).unwrap().is_empty());

    let removed = skills::remove(&library, "greet", "test").unwrap();
    assert!(removed.to.starts_with(folder.join(".trash")));
    // The trash says what went, when and why, newest first.
    skills::remove(&library, "broken", "a broken file").unwrap();
    let trash = skills::trash(&library).unwrap();
    let names: Vec<&str> = trash.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names.len(), 2);
    let greet = trash.iter().find(|t| t.name == "greet").unwrap();
    assert_eq!(greet.description, "Greet someone by name.");
    assert_eq!(greet.reason.as_deref(), Some("test"));
    assert!(greet.removed.as_deref().is_some_and(|r| r.ends_with('Z')));
    assert!(greet.file.starts_with(folder.join(".trash")));
    assert!(trash[0].removed >= trash[1].removed);
    let broken = trash.iter().find(|t| t.name == "broken").unwrap();
    assert_eq!(broken.description, "");
    assert!(
        skills::list(&library, SkillSort::Name)
            .unwrap()
            .skills
            .is_empty()
    );
    let restored = skills::restore(&library, "greet", None).unwrap();
    assert_eq!(restored.restored_as, "greet");
}

fn futures_free_block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_queries_return_the_catalog_as_data() {
    use mcpr::engine::query::tools;
    let project = common::project_dir();
    let d = project.path();
    let path = d.join(".mcp.json");
    std::fs::write(
        &path,
        json!({"mcpServers": {"demo": demo_entry(&d.join("notes.db"))}}).to_string(),
    )
    .unwrap();
    let hub = mcpr::tools::hub::ToolHub::new(
        mcpr::tools::config::McpConfig::load(&path).unwrap(),
        d.join("workspace"),
    );
    let listed = tools::catalogs(&hub, None, false).await.unwrap();
    assert!(listed.failed.is_empty(), "{:?}", listed.failed);
    assert_eq!(listed.catalogs.len(), 1);
    assert_eq!(listed.catalogs[0].server, "demo");
    assert!(listed.catalogs[0].tool("get_weather").is_some());

    let found = tools::search(&hub, "weather forecast", 3).await.unwrap();
    assert_eq!(found.hits[0].function, "get_weather", "{:?}", found.hits);

    let described = tools::describe(&hub, "demo.get_weather").await.unwrap();
    assert_eq!(described.import, "from tools.demo import get_weather");
    assert!(
        described.source.contains("def get_weather("),
        "{}",
        described.source
    );
    assert_eq!(
        tools::resolve(&hub, "get_weather", None).await.unwrap(),
        ("demo".to_string(), "get_weather".to_string())
    );
    for missing in ["nowhere.get_weather", "no_such_tool"] {
        let e = tools::resolve(&hub, missing, None).await.unwrap_err();
        assert!(
            matches!(e, QueryError::NoTool { .. }) && e.is_usage(),
            "{e}"
        );
    }
    let e = tools::catalogs(&hub, Some("nowhere"), true)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("configured: demo"), "{e}");

    let refreshed = tools::refresh(&hub, Some("demo"), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(refreshed.len(), 1);
    assert!(refreshed[0].error.is_none(), "{:?}", refreshed[0]);
    assert!(
        refreshed[0]
            .summary()
            .starts_with(&format!("{} tools", listed.catalogs[0].tools.len()))
    );
    hub.shutdown().await;
}
