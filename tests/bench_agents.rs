//! `mcpr bench agents`: every task's reference solution, run through mcpr on the real
//! servers, passes its validator, and no validator passes a wrong answer; the json arm's
//! loop against a scripted model behind a real OpenAI-compatible HTTP server; resume
//! after an interruption; the report from a fixed results file.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{FakeOpenAi, demo_calls_logged, mcpr_in, stderr, stdout};
use mcpr::benchmark::function_calling::{self, Limits};
use mcpr::benchmark::harness::load_results;
use mcpr::benchmark::report::{self, Prices};
use mcpr::benchmark::setup::{self, ServerPrograms};
use mcpr::benchmark::{arms, chart, task, validate};
use mcpr::llm::openai::{OpenAiProvider, OpenAiSettings};
use serde_json::json;

fn tasks_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/agents/tasks")
}

fn programs() -> ServerPrograms {
    // Fails with the setup hint when the PyPI servers are missing.
    let bin = Path::new(&common::venv_server("mcp-server-sqlite"))
        .parent()
        .unwrap()
        .to_path_buf();
    ServerPrograms {
        mcpr: common::mcpr_bin(),
        bin_dir: Some(bin),
    }
}

#[test]
fn there_are_sixty_tasks_in_every_category_and_level() {
    let tasks = task::load_all(&tasks_dir()).expect("tasks load");
    assert!(tasks.len() >= 60, "{} tasks", tasks.len());
    for cat in task::Category::ALL {
        let n = tasks.iter().filter(|t| t.category == cat).count();
        assert!(n >= 5, "{} has {n} tasks", cat.name());
    }
    for level in [task::Level::Easy, task::Level::Medium, task::Level::Hard] {
        assert!(tasks.iter().any(|t| t.level == level), "{level:?}");
    }
    for server in [
        task::Server::Demo,
        task::Server::Time,
        task::Server::Git,
        task::Server::Sqlite,
    ] {
        assert!(
            tasks.iter().any(|t| t.servers.contains(&server)),
            "{server:?}"
        );
    }
}

#[test]
fn no_validator_passes_a_wrong_answer_on_a_fresh_setup() {
    let tasks = task::load_all(&tasks_dir()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for t in &tasks {
        let run = setup::prepare(t, &dir.path().join(&t.id), &programs()).unwrap();
        for wrong in ["I could not find the answer.", "0"] {
            let verdict = validate::validate(t, &run, wrong);
            assert!(
                !verdict.solved,
                "{} passes the wrong answer {wrong:?}",
                t.id
            );
        }
    }
}

/// Runs the binary's reference arm over every task, then cuts the results as an
/// interruption would (the last runs missing, a line half written) and resumes.
#[test]
fn every_reference_passes_its_validator_and_a_run_resumes_after_an_interruption() {
    let project = common::project_dir();
    let out = project.path().join("out");
    let tasks_dir = tasks_dir();
    let bin = programs().bin_dir.unwrap();
    let args = [
        "bench",
        "agents",
        "--arms",
        "reference",
        "--parallel",
        "3",
        "--tasks-dir",
        tasks_dir.to_str().unwrap(),
        "--servers-bin",
        bin.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    let o = mcpr_in(project.path(), &args);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let results_path = out.join("results.jsonl");
    let results = load_results(&results_path).unwrap();
    let total = task::load_all(&tasks_dir).unwrap().len();
    assert_eq!(results.len(), total);
    let broken: Vec<String> = results
        .iter()
        .filter(|r| !r.solved)
        .map(|r| {
            format!(
                "{}: {:?} {:?} answer {:?}",
                r.task, r.failures, r.errors, r.answer
            )
        })
        .collect();
    assert!(broken.is_empty(), "broken tasks:\n{}", broken.join("\n"));
    assert!(
        results.iter().all(|r| r.tool_calls >= 1),
        "a reference made no tool call"
    );
    assert!(out.join("report.md").is_file() && out.join("solved.svg").is_file());

    // The interruption: two runs never finished, a third was being written.
    let text = std::fs::read_to_string(&results_path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let kept = &lines[..lines.len() - 3];
    let cut = &lines[lines.len() - 3][..20];
    std::fs::write(&results_path, format!("{}\n{cut}", kept.join("\n"))).unwrap();
    let o = mcpr_in(project.path(), &args);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let text = std::fs::read_to_string(&results_path).unwrap();
    let after: Vec<&str> = text.lines().collect();
    assert_eq!(after.len(), total, "{text}");
    assert_eq!(&after[..kept.len()], kept, "finished runs were redone");
    assert!(stderr(&o).contains("3/3"), "{}", stderr(&o));
}

fn demo_task() -> (tempfile::TempDir, setup::Prepared) {
    let dir = tempfile::tempdir().unwrap();
    let t = task::load(&tasks_dir().join("single/single-calculate.toml")).unwrap();
    let run = setup::prepare(&t, &dir.path().join("run"), &programs()).unwrap();
    (dir, run)
}

fn provider(fake: &FakeOpenAi) -> OpenAiProvider {
    OpenAiProvider::new(OpenAiSettings {
        base_url: fake.base_url(),
        api_key: None,
        model: "test-model".into(),
        max_attempts: 1,
        timeout: std::time::Duration::from_secs(30),
        temperature: None,
        max_tokens: None,
    })
    .unwrap()
}

async fn json_arm(
    plan: serde_json::Value,
    task: &str,
) -> (arms::ArmRun, FakeOpenAi, setup::Prepared, tempfile::TempDir) {
    let (dir, run) = demo_task();
    let fake = FakeOpenAi::start(dir.path(), plan);
    let tools = arms::start_tools(&run).await.unwrap();
    let result =
        function_calling::run(&provider(&fake), &tools.hub, task, &Limits { max_turns: 4 }).await;
    tools.hub.shutdown().await;
    (result, fake, run, dir)
}

#[tokio::test]
async fn json_arm_calls_a_tool_returns_its_result_and_ends_with_the_answer() {
    let plan = json!([
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
        {"content": "It is 18 degrees and cloudy in Paris."}
    ]);
    let (result, fake, run, _dir) = json_arm(plan, "Weather in Paris?").await;
    assert_eq!(result.answer, "It is 18 degrees and cloudy in Paris.");
    assert_eq!((result.model_calls, result.tool_calls), (2, 1));
    assert!(result.errors.is_empty(), "{:?}", result.errors);
    assert!(result.prompt_tokens > 0);
    let requests = fake.requests();
    let first = &requests[0].1;
    let names: Vec<&str> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"get_weather") && names.contains(&"add_note"),
        "{names:?}"
    );
    assert_eq!(first["messages"][1]["content"], "Weather in Paris?");
    let second = &requests[1].1["messages"];
    assert_eq!(
        second[2]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );
    assert_eq!(second[3]["role"], "tool");
    assert_eq!(second[3]["tool_call_id"], "call_0");
    assert!(
        second[3]["content"].as_str().unwrap().contains("cloudy"),
        "{second}"
    );
    // The call reached the real server, once.
    assert_eq!(demo_calls_logged(&run.notes_db), 1);
}

#[tokio::test]
async fn both_model_arms_end_their_system_prompt_with_the_same_body() {
    let plan = json!([{"content": "The answer is 42."}]);
    let (_, fake, _, _dir) = json_arm(plan, "What is 6 times 7?").await;
    let system = |fake: &FakeOpenAi| {
        let first = &fake.requests()[0].1["messages"][0];
        assert_eq!(first["role"], "system");
        first["content"].as_str().unwrap().to_string()
    };
    let json_system = system(&fake);

    let (dir, run) = demo_task();
    let t = task::load(&tasks_dir().join("single/single-calculate.toml")).unwrap();
    let fake = FakeOpenAi::start(
        dir.path(),
        json!([{"content": "```python\nprint(6 * 7)\n```"}]),
    );
    let launcher = common::launcher(mcpr::sandbox::IsolationRequest::Namespaces);
    let result = arms::code(
        &t,
        &run,
        launcher,
        Arc::new(provider(&fake)),
        &Limits { max_turns: 2 },
    )
    .await;
    assert!(result.answer.contains("42"), "{result:?}");
    let code_system = system(&fake);

    // The same words end both; what comes before is each arm's way of calling tools.
    let body = function_calling::SHARED_BODY;
    assert!(json_system.ends_with(body), "{json_system}");
    assert!(code_system.ends_with(body), "{code_system}");
    assert!(code_system.contains("```python"), "{code_system}");
    assert!(!json_system.contains("```python"), "{json_system}");
}

#[tokio::test]
async fn json_arm_reports_a_malformed_call_to_the_model_and_goes_on() {
    let plan = json!([
        {"tool_calls": [{"name": "get_weather", "arguments": "{city: Paris"}]},
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
        {"content": "18"}
    ]);
    let (result, fake, run, _dir) = json_arm(plan, "Weather in Paris?").await;
    assert_eq!(result.answer, "18");
    assert_eq!(
        (result.model_calls, result.tool_calls, result.retries),
        (3, 1, 1)
    );
    assert!(
        result.errors[0].contains("not valid JSON"),
        "{:?}",
        result.errors
    );
    let told = &fake.requests()[1].1["messages"][3]["content"];
    assert!(
        told.as_str()
            .unwrap()
            .starts_with("error: the arguments of get_weather are not valid JSON"),
        "{told}"
    );
    assert_eq!(
        demo_calls_logged(&run.notes_db),
        1,
        "the malformed call reached the server"
    );
}

#[tokio::test]
async fn json_arm_names_the_tools_when_the_model_calls_an_unknown_one() {
    let plan = json!([
        {"tool_calls": [{"name": "fly_to_the_moon", "arguments": {}}]},
        {"content": "I cannot."}
    ]);
    let (result, fake, run, _dir) = json_arm(plan, "Fly.").await;
    assert_eq!((result.model_calls, result.tool_calls), (2, 0));
    let told = fake.requests()[1].1["messages"][3]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        told.contains("no tool named \"fly_to_the_moon\"") && told.contains("get_weather"),
        "{told}"
    );
    assert_eq!(demo_calls_logged(&run.notes_db), 0);
}

#[tokio::test]
async fn json_arm_reads_a_fenced_json_call_and_stops_at_the_turn_limit() {
    let fenced =
        "```json\n{\"name\": \"calculate\", \"arguments\": {\"expression\": \"2+3\"}}\n```";
    let plan =
        json!([{"content": fenced}, {"content": fenced}, {"content": fenced}, {"content": fenced}]);
    let (result, fake, _run, _dir) = json_arm(plan, "2+3?").await;
    assert_eq!((result.model_calls, result.tool_calls), (4, 4));
    assert!(
        result
            .errors
            .iter()
            .any(|e| e.contains("no final answer within 4 turns")),
        "{:?}",
        result.errors
    );
    let second = &fake.requests()[1].1["messages"];
    assert_eq!(second[2]["tool_calls"][0]["function"]["name"], "calculate");
    assert!(
        second[3]["content"].as_str().unwrap().contains('5'),
        "{second}"
    );
}

#[test]
fn the_report_from_a_fixed_results_file() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bench_agents_results.jsonl");
    let results = load_results(&path).unwrap();
    insta::assert_snapshot!(report::markdown(&results, &Prices::default()));
    let charts = chart::all(&results);
    assert_eq!(charts.len(), 3);
    for (name, svg) in charts {
        assert!(
            svg.starts_with("<svg") && svg.contains("<rect"),
            "{name}: {svg}"
        );
        assert!(svg.contains("fanout") && svg.contains("json"), "{name}");
    }
}

#[test]
fn the_validator_does_not_follow_a_link_planted_in_the_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside.txt");
    std::fs::write(&outside, "the expected text").unwrap();
    let mut t = task::load(&tasks_dir().join("single/single-calculate.toml")).unwrap();
    t.check = task::Check {
        files: vec![task::FileCheck {
            path: "answer.txt".into(),
            contains: vec!["expected".into()],
        }],
        ..task::Check::default()
    };
    let run = setup::prepare(&t, &dir.path().join("run"), &programs()).unwrap();
    std::os::unix::fs::symlink(&outside, run.workspace.join("answer.txt")).unwrap();
    let verdict = validate::validate(&t, &run, "");
    assert!(!verdict.solved, "the validator read through a planted link");
    let _ = Arc::new(());
}
