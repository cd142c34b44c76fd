//! The skill library against real parts: real kernels (sandboxed), the real analyser
//! (Python's `ast`), a real SQLite index on disk, the demo MCP server as a real process,
//! the agent loop with scripted and manual providers, and the `mcpr skills` binary.

mod common;

use common::{demo_calls_logged, demo_entry, mcpr_bin, stderr, stdout};
use mcpr::agent::ask::{AskLimits, AskState};
use mcpr::agent::{Agent, AgentSettings};
use mcpr::event::{Event, StepSummary};
use mcpr::hostcall::HostCalls;
use mcpr::llm::Provider;
use mcpr::python::PythonInfo;
use mcpr::sandbox::IsolationRequest;
use mcpr::session::Session;
use mcpr::skills::evolve::{Kept, keep};
use mcpr::skills::source::LibrarySource;
use mcpr::skills::{Provenance, SkillLibrary, package};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

fn python() -> PythonInfo {
    PythonInfo::resolve("python3").expect("python3")
}

fn library(dir: &Path) -> Arc<SkillLibrary> {
    Arc::new(SkillLibrary::open(&dir.join("skills"), python()).expect("library opens"))
}

/// A hand-written skill file.
fn write_skill(dir: &Path, name: &str, description: &str, task: &str, body: &str) -> PathBuf {
    let path = dir.join("skills").join(format!("{name}.py"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        &path,
        format!("\"\"\"{description}\n\nname: {name}\ntask: {task}\n\"\"\"\n\n{body}"),
    )
    .unwrap();
    path
}

/// A session whose kernels can import the library in `dir/skills`.
async fn skill_session(
    level: IsolationRequest,
    library: &SkillLibrary,
    ws: PathBuf,
    calls: HostCalls,
) -> (Session, mcpr::session::Launcher) {
    let launcher = package::mount(common::launcher(level), library.dir());
    std::fs::create_dir_all(&ws).unwrap();
    package::write(
        &ws,
        &[package::inside_path(launcher.isolation(), library.dir())],
    )
    .unwrap();
    let session = Session::start(launcher.clone(), calls, "s".into(), ws)
        .await
        .expect("session starts");
    (session, launcher)
}

struct Harness {
    agent: Agent,
    library: Arc<SkillLibrary>,
}

/// An agent over a scripted provider, with the skill library of `dir/skills` and,
/// optionally, MCP tools.
async fn agent(dir: &Path, responses: &[&str], mcp_json: Option<String>) -> Harness {
    let script = dir.join("script.json");
    std::fs::write(&script, serde_json::to_string(responses).unwrap()).unwrap();
    let provider: Arc<dyn Provider> =
        Arc::new(mcpr::llm::offline::ScriptProvider::load(&script).unwrap());
    let library = library(dir);
    let ws = dir.join("workspace").join("s");
    std::fs::create_dir_all(&ws).unwrap();
    let mut calls = HostCalls::with_builtins();
    let hub = mcp_json.map(|text| {
        let path = dir.join(".mcp.json");
        std::fs::write(&path, text).unwrap();
        let config = mcpr::tools::config::McpConfig::load(&path).unwrap();
        mcpr::tools::hub::ToolHub::new(config, ws.clone())
    });
    if let Some(hub) = &hub {
        hub.register(&mut calls);
        hub.prepare_workspace().await.unwrap();
    }
    let ask = AskState::new(provider.clone(), AskLimits::default());
    ask.register(&mut calls);
    let (session, launcher) = skill_session(IsolationRequest::Auto, &library, ws, calls).await;
    let agent = Agent::new(provider, session, ask, hub, AgentSettings::default(), None)
        .await
        .unwrap()
        .with_skills(Arc::new(LibrarySource::new(library.clone(), launcher)));
    Harness { agent, library }
}

impl Harness {
    async fn step(&mut self, task: &str) -> (StepSummary, Vec<Event>) {
        let mut events = Vec::new();
        let summary = self.agent.run_step(task, &mut |e| events.push(e)).await;
        (summary, events)
    }
}

fn system_prompt(events: &[Event]) -> String {
    events
        .iter()
        .find_map(|e| match e {
            Event::LlmCall { request, .. } => Some(request[0].content.clone()),
            _ => None,
        })
        .expect("an LLM call")
}

fn output(events: &[Event]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Output { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

fn fenced(code: &str) -> String {
    format!("```python\n{code}\n```")
}

const WEATHER_PARIS: &str = "from tools.demo import get_weather\ncity = \"Paris\"\nw = get_weather(city=city)\nprint(f\"{w['city']}: {w['temperature']} degrees, {w['conditions']}\")";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn working_code_becomes_a_skill_that_later_steps_import_and_count() {
    let dir = common::project_dir();
    let db = dir.path().join("notes.db");
    let mcp = json!({"mcpServers": {"demo": demo_entry(&db)}}).to_string();
    let responses = [
        fenced(WEATHER_PARIS),
        fenced(&WEATHER_PARIS.replace("Paris", "Oslo")),
        fenced("from skills.weather import run as weather\nprint(weather(\"Oslo\"))"),
        fenced("from skills.weather import run as weather\nprint(weather(\"Atlantis\"))"),
        fenced("print('no weather for Atlantis')"),
    ];
    let responses: Vec<&str> = responses.iter().map(String::as_str).collect();
    let mut h = agent(dir.path(), &responses, Some(mcp.clone())).await;

    // Step 1: a flat script that calls a tool becomes a typed skill.
    let (s1, _) = h.step("What is the weather in Paris?").await;
    assert!(s1.success, "{s1:?}");
    assert_eq!(s1.skills_created, ["weather"], "{s1:?}");
    assert!(s1.skills_used.is_empty());
    let file = std::fs::read_to_string(dir.path().join("skills/weather.py")).unwrap();
    for expected in [
        "\"\"\"What is the weather in <city>?\n",
        "name: weather\n",
        "signature: run(city: str = 'Paris') -> str\n",
        "task: What is the weather in Paris?\n",
        "session: s\n",
        "step: 1\n",
        "version: 1\n",
        "arguments: {\"city\":\"Paris\"}\n",
        "def run(city: str='Paris') -> str:\n    from tools.demo import get_weather\n",
    ] {
        assert!(
            file.contains(expected),
            "{expected:?} missing from:\n{file}"
        );
    }
    assert_eq!(demo_calls_logged(&db), 1);

    // Step 2: the same code for another city is not saved again; the skill is counted.
    let (s2, e2) = h.step("What is the weather in Oslo?").await;
    assert!(s2.success && s2.skills_created.is_empty(), "{s2:?}");
    assert!(
        system_prompt(&e2).contains(
            "from skills.weather import run  # run(city: str = 'Paris') -> str: What is the weather in <city>?"
        ),
        "{}",
        system_prompt(&e2)
    );
    let listing = h.library.refresh().unwrap();
    assert_eq!(listing.skills.len(), 1, "{:?}", listing.skills);
    assert_eq!(listing.skills[0].stats.rederived, 1);

    // Step 3: a later step imports the skill and uses it.
    let (s3, e3) = h.step("Weather report for Oslo").await;
    assert!(s3.success, "{s3:?}");
    assert_eq!(s3.skills_used, ["weather"]);
    assert!(
        s3.skills_created.is_empty(),
        "calling a skill adds no logic"
    );
    assert!(output(&e3).starts_with("Oslo: "), "{}", output(&e3));

    // Step 4: a run that fails inside the skill counts as a failure, the fix as nothing.
    let (s4, _) = h.step("Weather report for Atlantis").await;
    assert!(s4.success && s4.attempts == 2, "{s4:?}");
    assert_eq!(s4.skills_used, ["weather"]);
    let stats = h.library.get("weather").unwrap().stats;
    assert_eq!(
        (stats.uses, stats.successes, stats.failures, stats.rederived),
        (3, 2, 1, 1),
        "{stats:?}"
    );
    assert!(stats.last_used.is_some() && stats.created.is_some());
    assert_eq!(stats.source.as_deref(), Some("session s, step 1"));
    h.agent.close().await;

    // Importing the skill in a fresh kernel runs nothing: no output, no host calls, no
    // tool call reaches the server. Calling run() does call the tool.
    let calls_before = demo_calls_logged(&db);
    let mut calls = HostCalls::with_builtins();
    let config = mcpr::tools::config::McpConfig::load(&dir.path().join(".mcp.json")).unwrap();
    let ws = dir.path().join("workspace").join("fresh");
    std::fs::create_dir_all(&ws).unwrap();
    let hub = mcpr::tools::hub::ToolHub::new(config, ws.clone());
    hub.register(&mut calls);
    hub.prepare_workspace().await.unwrap();
    let lib = library(dir.path());
    let (mut session, _) = skill_session(IsolationRequest::Auto, &lib, ws, calls).await;
    let mut events = Vec::new();
    let status = session
        .run_cell("import skills.weather", &mut |e| events.push(e))
        .await;
    assert!(status.is_success(), "{events:?}");
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::Output { .. } | Event::HostCall { .. })),
        "importing a skill must not print or call anything: {events:?}"
    );
    assert_eq!(demo_calls_logged(&db), calls_before);
    let mut events = Vec::new();
    session
        .run_cell("skills.weather.run('Paris')", &mut |e| events.push(e))
        .await;
    let value = events.iter().find_map(|e| match e {
        Event::Value { json, .. } => json.clone(),
        _ => None,
    });
    assert!(
        value
            .as_ref()
            .and_then(Value::as_str)
            .is_some_and(|v| v.starts_with("Paris: ")),
        "{events:?}"
    );
    assert_eq!(demo_calls_logged(&db), calls_before + 1);
    session.close().await;
    hub.shutdown().await;
}

fn provenance(task: &str) -> Provenance {
    Provenance {
        session: "s".into(),
        step: 1,
        model: "m".into(),
        task: task.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedup_versions_and_what_is_not_kept() {
    let dir = common::project_dir();
    let lib = library(dir.path());
    let launcher = package::mount(common::launcher(IsolationRequest::Auto), lib.dir());
    let area = "import math\nradius = 2.5\narea = math.pi * radius ** 2\nprint(round(area, 2))";
    let task = "area of a circle with radius 2.5";
    let first = keep(&lib, &launcher, area, &provenance(task))
        .await
        .unwrap();
    assert_eq!(first, Kept::Created("area_circle_radius".into()));
    let skill = lib.get("area_circle_radius").unwrap();
    assert_eq!(skill.signature, "run(radius: float = 2.5) -> float");
    assert_eq!(skill.description, "area of a circle with radius <radius>");

    // Equal apart from the literal: a duplicate, counted on the existing skill.
    let again = keep(
        &lib,
        &launcher,
        &area.replace("2.5", "4.0"),
        &provenance("area of a circle with radius 4.0"),
    )
    .await
    .unwrap();
    assert_eq!(again, Kept::Duplicate("area_circle_radius".into()));
    assert_eq!(lib.get("area_circle_radius").unwrap().stats.rederived, 1);

    // Different code under the same name: a new version, the old file untouched.
    let before = std::fs::read_to_string(&skill.path).unwrap();
    let other = "radius = 2.5\narea = 3.14159 * radius * radius\nfor digits in (1, 2):\n    print(round(area, digits))";
    let v2 = keep(&lib, &launcher, other, &provenance(task))
        .await
        .unwrap();
    assert_eq!(v2, Kept::Created("area_circle_radius_v2".into()));
    assert_eq!(std::fs::read_to_string(&skill.path).unwrap(), before);
    let v2 = lib.get("area_circle_radius_v2").unwrap();
    assert_eq!(v2.header.version, 2);
    assert_eq!(v2.signature, "run(radius: float = 2.5) -> None");

    // Not worth keeping, or not valid: nothing is saved, and the reason is given.
    for (code, why) in [
        ("print(6 * 7)", "too small"),
        (
            "total = 0\nfor row in rows:\n    total += row\nprint(total)",
            "names from earlier steps: rows",
        ),
        (
            "import module_that_does_not_exist_xyz\nfor i in range(3):\n    print(i)",
            "importing it failed: ModuleNotFoundError",
        ),
        ("def f(:\n    pass", "does not parse"),
    ] {
        match keep(&lib, &launcher, code, &provenance("something")).await {
            Ok(Kept::Skipped(reason)) => assert!(reason.contains(why), "{code}: {reason}"),
            other => panic!("{code}: {other:?}"),
        }
    }
    assert_eq!(lib.refresh().unwrap().skills.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_with_helpers_keeps_them_and_runs_as_a_function() {
    let dir = common::project_dir();
    let lib = library(dir.path());
    let launcher = package::mount(common::launcher(IsolationRequest::Auto), lib.dir());
    // A helper reading a global the script sets, a constant, a final expression.
    let code = "import re\nfrom collections import Counter\nPATTERN = re.compile(r'[a-z]+')\ndef words(text):\n    return PATTERN.findall(text.lower())\ntext = open('notes.txt').read()\ncounts = Counter(words(text))\nprint('counted', len(counts))\ncounts.most_common(3)";
    let task = "the 3 most common words in notes.txt";
    let kept = keep(&lib, &launcher, code, &provenance(task))
        .await
        .unwrap();
    let Kept::Created(name) = kept else {
        panic!("{kept:?}")
    };
    let skill = lib.get(&name).unwrap();
    assert_eq!(
        skill.signature,
        "run(path: str = 'notes.txt', count: int = 3) -> Any"
    );
    // Use it from a kernel on another file: it prints only when called, and returns.
    let ws = dir.path().join("workspace").join("use");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(ws.join("other.txt"), "b a b c b a").unwrap();
    let (mut session, _) =
        skill_session(IsolationRequest::Auto, &lib, ws, HostCalls::with_builtins()).await;
    let mut events = Vec::new();
    session
        .run_cell(
            &format!("from skills.{name} import run\nrun('other.txt', count=2)"),
            &mut |e| events.push(e),
        )
        .await;
    assert_eq!(output(&events), "counted 3\n", "{events:?}");
    let value = events.iter().find_map(|e| match e {
        Event::Value { json, .. } => json.clone(),
        _ => None,
    });
    assert_eq!(value, Some(json!([["b", 3], ["a", 2]])), "{events:?}");
    session.close().await;
}

const TOPICS: &[&str] = &[
    "csv",
    "invoice",
    "pdf",
    "image",
    "resize",
    "email",
    "calendar",
    "git",
    "docker",
    "json",
    "yaml",
    "sql",
    "backup",
    "archive",
    "thumbnail",
    "currency",
    "stock",
    "translate",
    "spellcheck",
    "markdown",
    "html",
    "scrape",
    "sitemap",
    "password",
    "hash",
    "encrypt",
    "compress",
    "unzip",
    "audio",
    "video",
    "subtitle",
    "playlist",
    "recipe",
    "calorie",
    "workout",
    "budget",
    "mortgage",
    "loan",
    "tax",
    "payroll",
    "inventory",
    "shipping",
    "barcode",
    "qrcode",
    "geocode",
    "route",
    "distance",
    "timezone",
    "holiday",
    "birthday",
    "contact",
    "phone",
    "sms",
    "chess",
    "sudoku",
    "maze",
    "fractal",
    "prime",
    "fibonacci",
    "matrix",
];

fn many_skills(dir: &Path, with_others: bool) {
    write_skill(
        dir,
        "weather",
        "What is the weather in <city>?",
        "What is the weather in Paris?",
        "def run(city: str = 'Paris') -> str:\n    return city\n",
    );
    write_skill(
        dir,
        "forecast_rain",
        "Will it rain tomorrow in <city> (weather forecast)",
        "Will it rain tomorrow in Rome?",
        "def run(city: str = 'Rome') -> bool:\n    return False\n",
    );
    if with_others {
        for (i, topic) in TOPICS.iter().enumerate() {
            write_skill(
                dir,
                &format!("{topic}_tool"),
                &format!("Process {topic} data and report on it"),
                &format!("process the {topic} file and summarise the {topic} entries"),
                &format!("def run(path: str = '{topic}.dat') -> int:\n    return {i}\n"),
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prompt_holds_only_relevant_skills_and_does_not_grow_with_the_library() {
    let small = common::project_dir();
    let large = common::project_dir();
    many_skills(small.path(), false);
    many_skills(large.path(), true);
    assert_eq!(
        library(large.path()).refresh().unwrap().skills.len(),
        TOPICS.len() + 2
    );
    let task = "What is the weather in Oslo?";
    let mut prompts = Vec::new();
    for dir in [small.path(), large.path()] {
        let mut h = agent(dir, &["```python\nprint('It is sunny.')\n```"], None).await;
        let (summary, events) = h.step(task).await;
        assert!(summary.success);
        prompts.push(system_prompt(&events));
        h.agent.close().await;
    }
    assert_eq!(
        prompts[0], prompts[1],
        "62 skills give the same prompt as 2"
    );
    let prompt = &prompts[1];
    assert!(
        prompt.contains("from skills.weather import run  # run(city: str = 'Paris') -> str"),
        "{prompt}"
    );
    assert!(
        prompt.contains("from skills.forecast_rain import run"),
        "{prompt}"
    );
    for topic in TOPICS {
        assert!(
            !prompt.contains(&format!("{topic}_tool")),
            "{topic} in {prompt}"
        );
    }
    // Any task sees at most k skills.
    let source = LibrarySource::new(
        library(large.path()),
        common::launcher(IsolationRequest::Auto),
    );
    use mcpr::agent::SkillSource;
    let lines = source.relevant("process the data file and report", 5);
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert!(source.relevant("the of and", 5).is_empty());
}

fn mcpr_skills(dir: &Path, args: &[&str]) -> Output {
    Command::new(mcpr_bin())
        .arg("skills")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn project() -> tempfile::TempDir {
    let dir = common::project_dir();
    std::fs::write(dir.path().join("mcpr.toml"), "").unwrap();
    dir
}

fn write_stats(dir: &Path, stats: Value) {
    std::fs::write(
        dir.join("skills/.stats.json"),
        json!({ "skills": stats }).to_string(),
    )
    .unwrap();
}

#[test]
fn prune_policies_say_why_and_dry_run_changes_nothing() {
    let dir = project();
    let p = dir.path();
    let now = mcpr::skills::stats::now();
    for name in ["old_unused", "stale", "fresh", "flaky", "dup_a"] {
        write_skill(
            p,
            name,
            &format!("{name} skill"),
            name,
            &format!("def run(x: int = 1) -> str:\n    return '{name}' * x\n"),
        );
    }
    // The same code as dup_a apart from the default.
    write_skill(
        p,
        "dup_b",
        "dup_b skill",
        "dup_b",
        "def run(x: int = 7) -> str:\n    return 'dup_a' * x\n",
    );
    write_stats(
        p,
        json!({
            "old_unused": {"created": "2020-01-01T00:00:00Z"},
            "stale": {"uses": 2, "successes": 2, "last_used": "2020-01-01T00:00:00Z", "created": "2019-06-01T00:00:00Z"},
            "fresh": {"uses": 1, "successes": 1, "last_used": now, "created": now},
            "flaky": {"uses": 4, "successes": 1, "failures": 3, "last_used": now, "created": now},
            "dup_a": {"uses": 5, "successes": 5, "last_used": now, "created": now},
            "dup_b": {"uses": 1, "successes": 1, "last_used": now, "created": now},
        }),
    );
    let out = mcpr_skills(p, &["prune"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--unused-days"), "{}", stderr(&out));
    let out = mcpr_skills(p, &["prune", "--max-failure-rate", "2"]);
    assert_eq!(out.status.code(), Some(2));

    let out = mcpr_skills(p, &["prune", "--unused-days", "30", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("would remove old_unused: never used in the"),
        "{text}"
    );
    assert!(
        text.contains("would remove stale: unused for") && text.contains("last used 2020-01-01"),
        "{text}"
    );
    assert!(!text.contains("fresh") && !text.contains("flaky"), "{text}");
    assert!(p.join("skills/old_unused.py").is_file() && p.join("skills/stale.py").is_file());

    let out = mcpr_skills(p, &["prune", "--unused-days", "30"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("removed old_unused: never used"));
    assert!(!p.join("skills/old_unused.py").exists() && !p.join("skills/stale.py").exists());
    assert!(p.join("skills/.trash/old_unused.py").is_file());

    let out = mcpr_skills(p, &["prune", "--max-failure-rate", "0.5"]);
    assert!(
        stdout(&out).contains("removed flaky: failed 3 of 4 uses (failure rate 0.75 > 0.5)"),
        "{}",
        stdout(&out)
    );
    let out = mcpr_skills(p, &["prune", "--duplicates", "--dry-run"]);
    assert!(
        stdout(&out).contains("would remove dup_b: duplicate of dup_a"),
        "{}",
        stdout(&out)
    );
    assert!(p.join("skills/dup_b.py").is_file());
    mcpr_skills(p, &["prune", "--duplicates"]);
    let out = mcpr_skills(p, &["list", "--json"]);
    let names: Vec<String> = serde_json::from_slice::<Vec<Value>>(&out.stdout)
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["dup_a", "fresh"]);
    let out = mcpr_skills(p, &["prune", "--unused-days", "30"]);
    assert_eq!(stdout(&out), "nothing to prune\n");
}

#[test]
fn removed_skills_are_restored_from_the_trash_with_their_stats() {
    let dir = project();
    let p = dir.path();
    // Before any skill exists, review commands say so and create nothing.
    let out = mcpr_skills(p, &["list"]);
    assert!(
        stdout(&out).starts_with("no skills yet"),
        "{}",
        stdout(&out)
    );
    let out = mcpr_skills(p, &["show", "greet"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no skills yet"), "{}", stderr(&out));
    assert!(!p.join("skills").exists());
    write_skill(
        p,
        "greet",
        "Greet someone",
        "say hello to Ada",
        "def run(name: str = 'Ada') -> str:\n    return 'hello ' + name\n",
    );
    write_stats(p, json!({"greet": {"uses": 3, "successes": 3}}));
    let out = mcpr_skills(p, &["rm", "greet"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(p.join("skills/.trash/greet.py").is_file());
    assert!(!p.join("skills/greet.py").exists());
    let out = mcpr_skills(p, &["show", "greet"]);
    assert_eq!(out.status.code(), Some(2));

    let out = mcpr_skills(p, &["restore", "greet"]);
    assert_eq!(stdout(&out), "restored greet\n", "{}", stderr(&out));
    let out = mcpr_skills(p, &["show", "greet"]);
    let text = stdout(&out);
    assert!(text.contains("3 uses (3 succeeded, 0 failed)"), "{text}");
    assert!(text.contains("return 'hello ' + name"), "{text}");

    // Removed again while a new skill took the name: restored as a new version.
    mcpr_skills(p, &["rm", "greet"]);
    write_skill(
        p,
        "greet",
        "Greet loudly",
        "shout hello",
        "def run() -> str:\n    return 'HELLO'\n",
    );
    let out = mcpr_skills(p, &["restore", "greet"]);
    assert_eq!(
        stdout(&out),
        "restored greet as greet_v2 (the name greet is taken)\n"
    );
    assert!(
        std::fs::read_to_string(p.join("skills/greet_v2.py"))
            .unwrap()
            .contains("'hello ' + name")
    );
    let out = mcpr_skills(p, &["restore", "nothing"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("the trash is empty"),
        "{}",
        stderr(&out)
    );
    let out = mcpr_skills(p, &["rm", "gret"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("did you mean greet, greet_v2?"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_index_follows_the_files_and_malformed_files_are_reported_not_deleted() {
    let dir = project();
    let p = dir.path();
    let a = write_skill(
        p,
        "alpha",
        "Sum numbers",
        "add up the numbers",
        "def run(n: int = 3) -> int:\n    return sum(range(n))\n",
    );
    write_skill(
        p,
        "beta",
        "Reverse a text",
        "reverse the text",
        "def run(t: str = 'ab') -> str:\n    return t[::-1]\n",
    );
    let lib = library(p);
    assert_eq!(lib.refresh().unwrap().skills.len(), 2);
    assert_eq!(lib.search("reverse", 5).unwrap()[0].name, "beta");
    lib.record_runs(&[(vec!["alpha".into()], true)]).unwrap();

    // Edited by hand (a new description and signature), one deleted, one added.
    std::fs::write(
        &a,
        "\"\"\"Multiply numbers together\n\"\"\"\n\ndef run(n: int = 4, start: int = 1) -> int:\n    import math\n    return math.prod(range(start, n))\n",
    )
    .unwrap();
    std::fs::remove_file(p.join("skills/beta.py")).unwrap();
    write_skill(
        p,
        "gamma",
        "Shout a text",
        "upper case the text",
        "def run(t: str = 'ab') -> str:\n    return t.upper()\n",
    );
    let listing = lib.refresh().unwrap();
    let names: Vec<&str> = listing.skills.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["alpha", "gamma"]);
    let alpha = listing.get("alpha").unwrap();
    assert_eq!(alpha.description, "Multiply numbers together");
    assert_eq!(alpha.signature, "run(n: int = 4, start: int = 1) -> int");
    assert!(lib.search("reverse", 5).unwrap().is_empty());
    assert_eq!(lib.search("multiply", 5).unwrap()[0].name, "alpha");

    // A corrupt index is rebuilt from the files; the stats live beside it and survive.
    std::fs::write(p.join("skills/.index.sqlite"), b"this is not a database").unwrap();
    let listing = lib.refresh().unwrap();
    assert_eq!(listing.skills.len(), 2);
    assert_eq!(listing.get("alpha").unwrap().stats.uses, 1);
    std::fs::remove_file(p.join("skills/.index.sqlite")).unwrap();
    assert_eq!(lib.search("shout", 5).unwrap()[0].name, "gamma");

    // Malformed files: reported with path and reason, skipped, never touched.
    let broken = p.join("skills/broken.py");
    std::fs::write(&broken, "def run(:\n    pass\n").unwrap();
    std::fs::write(p.join("skills/no_entry.py"), "def helper():\n    pass\n").unwrap();
    std::fs::write(
        p.join("skills/bad-name.py"),
        "def run() -> None:\n    pass\n",
    )
    .unwrap();
    let listing = lib.refresh().unwrap();
    assert_eq!(listing.skills.len(), 2);
    let problems: Vec<(String, String)> = listing
        .problems
        .iter()
        .map(|p| {
            (
                p.path.file_name().unwrap().to_string_lossy().into_owned(),
                p.message.clone(),
            )
        })
        .collect();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[0].0 == "bad-name.py" && problems[0].1.contains("rename the file"));
    assert!(
        problems[1].0 == "broken.py" && problems[1].1.contains("invalid syntax (line 1"),
        "{problems:?}"
    );
    assert!(problems[2].0 == "no_entry.py" && problems[2].1.contains("defines no run()"));
    let out = mcpr_skills(p, &["list"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains(&format!(
            "warning: {}: invalid syntax (line 1",
            broken.canonicalize().unwrap().display()
        )) || stderr(&out).contains("broken.py: invalid syntax (line 1"),
        "{}",
        stderr(&out)
    );
    let out = mcpr_skills(p, &["prune", "--duplicates", "--unused-days", "0"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(broken.is_file(), "a malformed file is never removed");
    assert_eq!(
        std::fs::read_to_string(&broken).unwrap(),
        "def run(:\n    pass\n"
    );
    // Fixed by hand: picked up.
    std::fs::write(&broken, "def run() -> int:\n    return 1\n").unwrap();
    assert!(lib.refresh().unwrap().get("broken").is_some());
}

/// Imports from inside a kernel: a skill, the trash, a private name; a write when
/// WRITE is set.
const IMPORT_CHECK: &str = r#"
import importlib, skills
from skills.greet import run
out = [run("Bo"), skills.available()]
for name in ("skills.old", "skills..trash.old", "skills._private"):
    try:
        importlib.import_module(name)
        out.append("imported " + name)
    except ImportError as e:
        out.append(type(e).__name__)
if WRITE:
    try:
        open(skills._DIRS[0] + "/evil.py", "w").write("x = 1")
        out.append("wrote")
    except OSError:
        out.append("read-only")
out
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skills_import_in_the_sandbox_read_only_and_never_from_the_trash() {
    let dir = common::project_dir();
    let p = dir.path();
    write_skill(
        p,
        "greet",
        "Greet someone",
        "say hello",
        "def run(name: str = 'Ada') -> str:\n    return 'hello ' + name\n",
    );
    write_skill(
        p,
        "old",
        "Old skill",
        "old",
        "def run() -> int:\n    return 1\n",
    );
    let lib = library(p);
    lib.remove("old", "test").unwrap();
    for level in [IsolationRequest::Namespaces, IsolationRequest::None] {
        let ws = p.join("workspace").join(format!("{level:?}"));
        let (mut session, _) = skill_session(level, &lib, ws, HostCalls::with_builtins()).await;
        // Only the sandbox promises a read-only library (without isolation the kernel may
        // run as this user, who owns the folder).
        let namespaces = level == IsolationRequest::Namespaces;
        let code = format!(
            "WRITE = {}\n{IMPORT_CHECK}",
            if namespaces { "True" } else { "False" }
        );
        let code = &code;
        let mut events = Vec::new();
        session.run_cell(code, &mut |e| events.push(e)).await;
        let value = events.iter().find_map(|e| match e {
            Event::Value { json, .. } => json.clone(),
            _ => None,
        });
        let mut expected = json!([
            "hello Bo",
            ["greet"],
            "ModuleNotFoundError",
            "ModuleNotFoundError",
            "ModuleNotFoundError"
        ]);
        if namespaces {
            expected.as_array_mut().unwrap().push("read-only".into());
        }
        assert_eq!(value, Some(expected), "{level:?}: {events:?}");
        let _ = std::fs::remove_file(p.join("skills/evil.py"));
        session.close().await;
    }
}

#[test]
fn skills_test_revalidates_and_reports_top_level_side_effects() {
    let dir = project();
    let p = dir.path();
    write_skill(
        p,
        "good",
        "Good skill",
        "good",
        "def run(x: int = 2) -> int:\n    return x * 2\n",
    );
    let out = mcpr_skills(p, &["test"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("ok     good run(x: int = 2) -> int"));

    write_skill(
        p,
        "noisy",
        "Prints on import",
        "noisy",
        "print('the old task ran again')\ndef run() -> None:\n    pass\n",
    );
    write_skill(
        p,
        "untyped",
        "No return annotation",
        "untyped",
        "def run(x=1):\n    return x\n",
    );
    let out = mcpr_skills(p, &["test"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("FAILED noisy: importing it printed output (top-level code must not run at import): the old task ran again"),
        "{text}"
    );
    assert!(
        text.contains("FAILED untyped: TypeError: run() has no return annotation"),
        "{text}"
    );
    let out = mcpr_skills(p, &["test", "good"]);
    assert_eq!(out.status.code(), Some(0));
    let out = mcpr_skills(p, &["search", "good"]);
    assert_eq!(
        stdout(&out),
        "from skills.good import run  # run(x: int = 2) -> int: Good skill\n"
    );
}

#[test]
fn mcpr_run_keeps_a_manual_step_as_a_skill_unless_told_not_to() {
    use std::io::Write;
    let dir = project();
    let code = b"import collections\ntext = 'the cat and the hat'\ncounts = collections.Counter(text.split())\nprint(counts.most_common(1)[0][0])\n.\n";
    let run = |extra: &[&str]| {
        let mut child = Command::new(mcpr_bin())
            .args(["run", "--json", "--llm", "manual"])
            .args(extra)
            .arg("the most common word in 'the cat and the hat'")
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(code).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| match serde_json::from_str::<Event>(l) {
                Ok(Event::StepFinished(s)) => Some(s),
                _ => None,
            })
            .next()
            .unwrap()
    };
    let summary = run(&["--no-skills"]);
    assert!(summary.skills_created.is_empty());
    assert!(
        !dir.path().join("skills").exists()
            || library(dir.path()).refresh().unwrap().skills.is_empty()
    );

    let summary = run(&[]);
    assert_eq!(summary.skills_created, ["most_common_word"], "{summary:?}");
    let out = mcpr_skills(dir.path(), &["show", "most_common_word", "--json"]);
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        shown["signature"],
        "run(text: str = 'the cat and the hat') -> Any"
    );
    assert_eq!(shown["header"]["model"], "you");
    assert!(
        shown["code"]
            .as_str()
            .unwrap()
            .contains("return counts.most_common(1)[0][0]"),
        "{shown}"
    );
    // The same code again is not a second skill.
    let summary = run(&[]);
    assert!(summary.skills_created.is_empty(), "{summary:?}");
    assert_eq!(
        summary.skill_not_kept.as_deref(),
        Some("the same code as skill most_common_word, which was counted")
    );
    assert_eq!(library(dir.path()).refresh().unwrap().skills.len(), 1);
}

#[test]
fn literals_passed_to_the_codes_own_functions_are_named_after_their_parameters() {
    let python = python();
    let analyzer = mcpr::skills::analyze::Analyzer::new(&python);
    let out = analyzer
        .extract(
            "def area(width, height):\n    return width * height\n\nprint(area(3, 4))",
            "the area of a 3 by 4 rectangle",
        )
        .unwrap();
    assert!(out.keep, "{:?}", out.why);
    assert_eq!(out.signature, "run(width: int = 3, height: int = 4) -> Any");
}

/// The cells of tests/data/analyzer_corpus.txt as (task, code).
fn corpus() -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/analyzer_corpus.txt");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut cells: Vec<(String, String)> = Vec::new();
    for line in text.split_inclusive('\n') {
        if let Some(task) = line.strip_prefix("### task:") {
            cells.push((task.trim().to_string(), String::new()));
        } else if let Some((_, code)) = cells.last_mut() {
            code.push_str(line);
        }
    }
    cells
}

/// For each module: "ok <signature>" when Python compiles it and it defines an annotated
/// `run`, else what is wrong. Python checks, independently of the analyser.
const MODULE_CHECK: &str = r#"
import ast, json, sys
out = []
for source in json.load(sys.stdin):
    try:
        tree = ast.parse(source)
        compile(source, "<skill>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as e:
        out.append(f"does not compile: {e}")
        continue
    defs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    entry = defs.get("run")
    for n in tree.body:
        if isinstance(n, ast.Assign) and [getattr(t, "id", None) for t in n.targets] == ["run"]:
            entry = defs.get(getattr(n.value, "id", None))
    if entry is None:
        out.append("defines no run")
    elif entry.returns is None:
        out.append("run has no return annotation")
    else:
        out.append("ok")
json.dump(out, sys.stdout)
"#;

fn check_modules(sources: &[String]) -> Vec<String> {
    use std::io::Write;
    let mut child = Command::new("python3")
        .args(["-I", "-c", MODULE_CHECK])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(sources).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_analyser_never_crashes_on_a_corpus_of_real_cells() {
    let python = python();
    let analyzer = mcpr::skills::analyze::Analyzer::new(&python);
    let mut cells = corpus();
    assert!(cells.len() >= 200, "{} cells", cells.len());
    // Cells no agent should write, but that must not break the analyser either.
    cells.push(("a null byte".into(), "x = 1\0\nprint(x)\n".into()));
    cells.push((
        "deep nesting".into(),
        format!("x = {}1{}\nprint(x)\n", "[".repeat(150), "]".repeat(150)),
    ));
    // Deep syntax trees: Python reads them, an analyser that recurses per level did not.
    cells.push((
        "a long sum".into(),
        format!(
            "x = 0{}\nfor i in range(2):\n    print(x)\n",
            " + 1".repeat(500)
        ),
    ));
    let branches: String = (1..200)
        .map(|i| format!("elif code == {i}:\n    name = 'c{i}'\n"))
        .collect();
    cells.push((
        "the name of code 150".into(),
        format!("code = 150\nif code == 0:\n    name = 'c0'\n{branches}else:\n    name = '?'\nprint(name)\n"),
    ));
    cells.push(("empty".into(), String::new()));
    let answers: Vec<_> = std::thread::scope(|scope| {
        let chunks: Vec<_> = cells
            .chunks(cells.len().div_ceil(4))
            .map(|chunk| {
                let analyzer = &analyzer;
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|(task, code)| analyzer.extract(code, task))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        chunks.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut kept = Vec::new();
    for ((task, code), answer) in cells.iter().zip(&answers) {
        let answer = match answer {
            Ok(a) => a,
            Err(e) => panic!("the analyser failed on {task:?}:\n{code}\n{e}"),
        };
        if answer.keep {
            assert!(
                answer
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{task}: {}",
                answer.name
            );
            kept.push((task, code, answer));
        } else {
            let why = answer.why.as_deref().unwrap_or("");
            assert!(
                !why.is_empty() && !why.contains('\n') && why.len() < 300,
                "{task}: the reason must be one short line: {why:?}"
            );
            assert!(
                !why.contains("analyser failed"),
                "{task}: an analyser fault, not a reason:\n{code}\n{why}"
            );
        }
    }
    // Kept modules: Python compiles each with its header and finds an annotated run; the
    // library's own scan reads the same signature back.
    let files: Vec<String> = kept
        .iter()
        .map(|(_, _, a)| {
            let header = mcpr::skills::file::Header {
                description: a.description.clone(),
                name: a.name.clone(),
                signature: a.signature.clone(),
                version: 1,
                ..Default::default()
            };
            mcpr::skills::file::compose(&header, &a.source)
        })
        .collect();
    for (verdict, (task, code, a)) in check_modules(&files).iter().zip(&kept) {
        assert_eq!(
            verdict, "ok",
            "{task}:\n{code}\n--- became ---\n{}",
            a.source
        );
    }
    let paths: Vec<PathBuf> = (0..files.len())
        .map(|i| PathBuf::from(format!("s{i}.py")))
        .collect();
    let inputs: Vec<(&Path, &str)> = paths
        .iter()
        .zip(&files)
        .map(|(p, f)| (p.as_path(), f.as_str()))
        .collect();
    for (scanned, (task, _, a)) in analyzer.scan(&inputs).unwrap().iter().zip(&kept) {
        assert!(scanned.ok, "{task}: {:?}", scanned.error);
        assert_eq!(scanned.signature, a.signature, "{task}");
    }
    // The corpus is mostly reusable code: an analyser that refused everything would
    // pass the checks above.
    assert!(
        kept.len() * 10 >= cells.len() * 6,
        "only {} of {} kept",
        kept.len(),
        cells.len()
    );
    let by_task = |task: &str| {
        let i = cells.iter().position(|(t, _)| t == task).unwrap();
        answers[i].as_ref().unwrap()
    };
    let lambda = by_task("rank the words by count, biggest first");
    assert!(lambda.keep, "{:?}", lambda.why);
    assert!(
        lambda.source.contains("key=lambda kv: -kv[1]"),
        "{}",
        lambda.source
    );
    let star = by_task("describe a command with match");
    assert!(
        star.keep,
        "a `case [\"take\", *things]` binds things: {:?}",
        star.why
    );
    let chain = by_task("the name of code 150");
    assert_eq!(
        chain.signature, "run(code: int = 150) -> Any",
        "{:?}",
        chain.why
    );
    let status = by_task("classify the http status 404");
    assert!(status.keep, "{:?}", status.why);
    assert!(
        status.source.contains("case 404:") && status.signature == "run(status: int = 404) -> Any",
        "patterns are not parameters:\n{}",
        status.source
    );
    let top_return = by_task("return at the top level");
    assert!(
        top_return
            .why
            .as_deref()
            .unwrap()
            .contains("'return' outside function"),
        "{:?}",
        top_return.why
    );
    assert_eq!(
        by_task("a docstring only").why.as_deref(),
        Some("the code has no statements (only a docstring, imports or pass)")
    );
}

/// A stand-in interpreter that fails with a long traceback, as a crashing analyser would.
#[test]
fn an_analyser_failure_is_reported_in_one_line() {
    use std::os::unix::fs::PermissionsExt;
    let dir = common::project_dir();
    let fake = dir.path().join("python3");
    std::fs::write(
        &fake,
        "#!/bin/sh\ncat >/dev/null\ni=0\nwhile [ $i -lt 2000 ]; do echo '  File \"analyze.py\", line 368, in visit_arg' >&2; i=$((i+1)); done\necho 'RecursionError: maximum recursion depth exceeded' >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let python = PythonInfo {
        executable: fake,
        ..python()
    };
    let analyzer = mcpr::skills::analyze::Analyzer::new(&python);
    let err = analyzer.extract("print(1)", "x").unwrap_err().to_string();
    assert!(
        !err.contains('\n') && err.len() < 400,
        "one line, not the traceback: {} bytes",
        err.len()
    );
    assert!(
        err.contains("RecursionError: maximum recursion depth exceeded"),
        "{err}"
    );
}

#[test]
fn task_numbers_match_whole_floats_and_the_codes_own_return_types_are_used() {
    let python = python();
    let analyzer = mcpr::skills::analyze::Analyzer::new(&python);
    let code = "def fahrenheit_from_celsius(c: float) -> float:\n    return c * 9 / 5 + 32\n\nprint(fahrenheit_from_celsius(100.0))";
    let out = analyzer
        .extract(code, "convert 100 celsius to fahrenheit")
        .unwrap();
    assert!(out.keep, "{:?}", out.why);
    assert_eq!(out.signature, "run(c: float = 100.0) -> float");
    assert_eq!(out.name, "convert_celsius_fahrenheit");
    assert_eq!(out.description, "convert <c> celsius to fahrenheit");
    // An int literal passed where the code's function wants a float is a float parameter.
    let out = analyzer
        .extract(
            &code.replace("100.0", "100"),
            "convert 100 celsius to fahrenheit",
        )
        .unwrap();
    assert_eq!(out.signature, "run(c: float = 100) -> float");
    // A bare call of a class defined in the code returns that class.
    let out = analyzer
        .extract(
            "class Box:\n    def __init__(self, n):\n        self.n = n\nBox(3)",
            "a box of 3",
        )
        .unwrap();
    assert_eq!(out.signature, "run(n: int = 3) -> Box");

    // A tag before the task is not part of the name or the description.
    let compare = "from tools.demo import get_weather\ncities = ['Paris', 'Oslo']\nreport = {}\nfor city in cities:\n    report[city] = get_weather(city=city)['temperature']\nprint(report)";
    for task in [
        "[demo] Compare the temperature in Paris and Oslo",
        "task: Compare the temperature in Paris and Oslo",
        "TODO: Compare the temperature in Paris and Oslo",
        "(demo) [v2] Compare the temperature in Paris and Oslo",
        "Compare the temperature in Paris and Oslo",
    ] {
        let out = analyzer.extract(compare, task).unwrap();
        assert_eq!(out.name, "compare_temperature", "{task}");
        assert_eq!(
            out.description, "Compare the temperature in <cities>",
            "{task}"
        );
    }
    // Only a tag, or a colon that is the task's content: kept as it is.
    let out = analyzer
        .extract(compare, "Paris: compare the temperature with Oslo")
        .unwrap();
    assert!(out.name.starts_with("compare_temperature"), "{}", out.name);
}

/// `mcpr run` of examples/compare-weather.txt in `dir` as session `session`.
fn compare_weather_run(dir: &Path, session: &str) -> std::process::Child {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/compare-weather.txt");
    Command::new(mcpr_bin())
        .args(["run", "--json", "--llm"])
        .arg(format!("script:{}", script.display()))
        .args(["--session", session])
        .arg("Compare the temperature in Paris and Oslo")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn parallel_runs_of_one_task_save_one_skill() {
    let dir = project();
    let p = dir.path();
    let db = p.join("notes.db");
    std::fs::write(
        p.join(".mcp.json"),
        json!({"mcpServers": {"demo": demo_entry(&db)}}).to_string(),
    )
    .unwrap();
    let children: Vec<_> = ["s1", "s2", "s3"]
        .iter()
        .map(|s| compare_weather_run(p, s))
        .collect();
    let mut created = Vec::new();
    let mut not_kept = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let summary = stdout(&out)
            .lines()
            .find_map(|l| match serde_json::from_str::<Event>(l) {
                Ok(Event::StepFinished(s)) => Some(s),
                _ => None,
            })
            .unwrap();
        assert!(summary.success, "{summary:?}");
        created.extend(summary.skills_created);
        not_kept.extend(summary.skill_not_kept);
    }
    let mut files: Vec<String> = std::fs::read_dir(p.join("skills"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|f| f.ends_with(".py"))
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["compare_temperature.py"],
        "{created:?} {not_kept:?}"
    );
    assert_eq!(created, ["compare_temperature"]);
    assert_eq!(
        not_kept,
        [
            "the same code as skill compare_temperature, which was counted",
            "the same code as skill compare_temperature, which was counted"
        ]
    );
    let skill = library(p).get("compare_temperature").unwrap();
    assert_eq!(skill.stats.rederived, 2, "{:?}", skill.stats);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_that_calls_a_tool_is_kept_and_every_reason_is_true() {
    let dir = common::project_dir();
    let lib = library(dir.path());
    let launcher = package::mount(common::launcher(IsolationRequest::Auto), lib.dir());
    let code = "from tools.demo import get_weather\nprint(get_weather(city='Oslo'))";
    let kept = keep(&lib, &launcher, code, &provenance("weather in Oslo"))
        .await
        .unwrap();
    assert_eq!(kept, Kept::Created("weather".into()));
    let skill = lib.get("weather").unwrap();
    assert_eq!(skill.signature, "run(city: str = 'Oslo') -> Any");
    assert_eq!(
        serde_json::to_value(&skill).unwrap()["tools"],
        json!(["demo.get_weather"])
    );

    let python = python();
    let analyzer = mcpr::skills::analyze::Analyzer::new(&python);
    for (code, why) in [
        (
            "import math\nprint(math.sqrt(2))",
            "the code is too small to be worth a skill: 1 statement, using math in only one; no def or class, loop, with, try, if, match or comprehension, and no tool call",
        ),
        (
            "xs = [3, 1, 2]\nprint(sorted(xs, key=lambda x: -x))",
            "the code is too small to be worth a skill: 2 statements; no def or class, loop, with, try, if, match or comprehension, and no tool call",
        ),
        (
            "from skills.weather import run\nprint(run('Oslo'))",
            "the code only calls existing skills (weather)",
        ),
    ] {
        let out = analyzer.extract(code, "something").unwrap();
        assert_eq!(out.why.as_deref(), Some(why), "{code}");
    }
}

/// A skill that calls get_weather without saying "weather" in its name or description.
fn write_tool_skill(p: &Path) {
    write_skill(
        p,
        "compare_temperature",
        "Compare the temperature in <cities>",
        "Compare the temperature in Paris and Oslo",
        "from typing import Sequence\n\ndef run(cities: Sequence[str] = ('Paris', 'Oslo')) -> dict:\n    from tools.demo import get_weather as gw\n    import tools.time\n    tools.time.get_current_time(timezone='UTC')\n    return {c: gw(city=c)['temperature'] for c in cities}\n",
    );
}

#[test]
fn search_and_the_prompt_find_skills_by_the_tools_they_call() {
    let dir = project();
    let p = dir.path();
    write_tool_skill(p);
    many_skills(p, true);
    std::fs::remove_file(p.join("skills/weather.py")).unwrap();
    let out = mcpr_skills(p, &["search", "weather"]);
    assert!(
        stdout(&out).contains("from skills.compare_temperature import run"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let out = mcpr_skills(p, &["show", "compare_temperature"]);
    assert!(
        stdout(&out).contains("  tools:      demo.get_weather, time.get_current_time\n"),
        "{}",
        stdout(&out)
    );
    let source = LibrarySource::new(library(p), common::launcher(IsolationRequest::Auto));
    use mcpr::agent::SkillSource;
    let lines = source.relevant("what is the weather like in Lima", 3);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("skills.compare_temperature")),
        "{lines:?}"
    );
}

#[test]
fn broken_skill_files_can_be_shown_and_removed() {
    let dir = project();
    let p = dir.path();
    write_skill(
        p,
        "fine",
        "A fine skill",
        "fine",
        "def run() -> int:\n    return 1\n",
    );
    std::fs::write(p.join("skills/broken.py"), "def run(:\n    pass\n").unwrap();
    std::fs::write(
        p.join("skills/bad_header.py"),
        "\"\"\"Greets\n\nname: greet\nversion: two\nstep: x\narguments: {not json\n\"\"\"\n\ndef run(name: str = 'Ada') -> str:\n    return name\n",
    )
    .unwrap();

    let out = mcpr_skills(p, &["show", "broken"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("broken — not a usable skill: invalid syntax (line 1"),
        "{text}"
    );
    assert!(
        text.contains("def run(:"),
        "the file's text is shown: {text}"
    );
    let out = mcpr_skills(p, &["show", "broken", "--json"]);
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        shown["problem"]
            .as_str()
            .unwrap()
            .contains("invalid syntax")
    );

    let out = mcpr_skills(p, &["show", "bad_header"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for expected in [
        "header: `version: two` is not a version number",
        "header: `step: x` is not a step number",
        "header: `arguments:` is not a JSON object",
        "header: `name: greet` differs from the file's name bad_header",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    let out = mcpr_skills(p, &["list"]);
    assert!(
        stderr(&out).contains("bad_header.py: header: `version: two`"),
        "{}",
        stderr(&out)
    );

    let out = mcpr_skills(p, &["rm", "broken"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("removed broken (moved to")
            && stdout(&out).contains("it was not a usable skill: invalid syntax"),
        "{}",
        stdout(&out)
    );
    assert!(!p.join("skills/broken.py").exists());
    assert_eq!(
        std::fs::read_to_string(p.join("skills/.trash/broken.py")).unwrap(),
        "def run(:\n    pass\n"
    );
    let out = mcpr_skills(p, &["restore", "broken"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(p.join("skills/broken.py").is_file());
}

#[test]
fn a_restored_version_is_named_in_its_own_header() {
    let dir = project();
    let p = dir.path();
    let lib = library(p);
    let header = mcpr::skills::file::Header {
        description: "Greet someone".into(),
        name: "greet".into(),
        signature: "run(name: str = 'Ada') -> str".into(),
        task: "say hello to Ada".into(),
        version: 1,
        ..Default::default()
    };
    let code = "def run(name: str = 'Ada') -> str:\n    return 'hello ' + name\n";
    let created = |name: &str| mcpr::skills::Saved::Created(name.into());
    assert_eq!(
        lib.save("greet", &header, code, "test", "h1").unwrap(),
        created("greet")
    );
    lib.remove("greet", "test").unwrap();
    let other = "def run() -> str:\n    return 'HELLO'\n";
    assert_eq!(
        lib.save("greet", &header, other, "test", "h2").unwrap(),
        created("greet")
    );
    assert_eq!(lib.restore("greet").unwrap(), "greet_v2");
    let restored = lib.get("greet_v2").unwrap();
    assert_eq!(
        (restored.header.name.as_str(), restored.header.version),
        ("greet_v2", 2)
    );
    assert_eq!(
        serde_json::to_value(&restored).unwrap()["header_problems"],
        json!([])
    );
    let text = std::fs::read_to_string(p.join("skills/greet_v2.py")).unwrap();
    assert!(
        text.contains("name: greet_v2\n") && text.contains("version: 2\n"),
        "{text}"
    );
    assert!(text.contains("task: say hello to Ada\n"), "{text}");
    // Removed and restored again while greet_v2 exists: the next free version.
    lib.remove("greet_v2", "test").unwrap();
    assert_eq!(
        lib.save(
            "greet",
            &header,
            "def run() -> int:\n    return 2\n",
            "test",
            "h3"
        )
        .unwrap(),
        created("greet_v2")
    );
    assert_eq!(lib.restore("greet_v2").unwrap(), "greet_v3");
    let text = std::fs::read_to_string(p.join("skills/greet_v3.py")).unwrap();
    assert!(
        text.contains("name: greet_v3\n") && text.contains("version: 3\n"),
        "{text}"
    );
}

#[test]
fn an_older_removed_copy_is_restored_by_its_trash_file() {
    let dir = project();
    let p = dir.path();
    let lib = library(p);
    let header = mcpr::skills::file::Header {
        description: "Greet someone".into(),
        name: "greet".into(),
        signature: "run() -> str".into(),
        task: "say hello".into(),
        version: 1,
        ..Default::default()
    };
    // Two removals of the same name: greet.py (older) and greet.2.py (newer).
    for (body, hash) in [("'first'", "h1"), ("'second'", "h2")] {
        let code = format!("def run() -> str:\n    return {body}\n");
        lib.save("greet", &header, &code, "test", hash).unwrap();
        lib.remove("greet", "test").unwrap();
    }
    let copies: Vec<String> = lib
        .trashed()
        .unwrap()
        .iter()
        .map(|(_, f)| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(copies, ["greet.py", "greet.2.py"]);
    // A copy that is not there is refused by name, listing the ones that are.
    let err = lib.restore_copy("greet", Some("greet.7.py")).unwrap_err();
    assert!(err.to_string().contains("greet.py, greet.2.py"), "{err}");
    // The older copy comes back, not the newest one.
    assert_eq!(
        lib.restore_copy("greet", Some("greet.py")).unwrap(),
        "greet"
    );
    let text = std::fs::read_to_string(p.join("skills/greet.py")).unwrap();
    assert!(text.contains("'first'"), "{text}");
    assert!(p.join("skills/.trash/greet.2.py").is_file());
    // And the newest by default.
    assert_eq!(lib.restore("greet").unwrap(), "greet_v2");
    let text = std::fs::read_to_string(p.join("skills/greet_v2.py")).unwrap();
    assert!(text.contains("'second'"), "{text}");
}
