//! End to end with a real model: `mcpr run` against llama.cpp's server running
//! Qwen2.5-Coder-1.5B (examples/local-llm.sh). Asserts on structure — code ran, a tool was
//! called, an error went back and was answered, the loop ended — never on wording.
//!
//! Needs the server: `examples/local-llm.sh start`, then
//! `MCPR_LOCAL_LLM_URL=http://127.0.0.1:8080/v1 cargo test --test local_llm -- --ignored`
//! (.ci/run does both).

mod common;

use common::{demo_entry, mcpr_bin};
use mcpr::event::Event;
use serde_json::json;
use std::process::Command;

fn endpoint() -> String {
    std::env::var("MCPR_LOCAL_LLM_URL").unwrap_or_else(|_| {
        panic!("set MCPR_LOCAL_LLM_URL (e.g. http://127.0.0.1:8080/v1) after `examples/local-llm.sh start`")
    })
}

fn run(dir: &std::path::Path, args: &[&str], task: &str) -> Vec<Event> {
    let out = Command::new(mcpr_bin())
        .args([
            "run",
            "--json",
            "--base-url",
            &endpoint(),
            "--model",
            "local",
        ])
        .args(args)
        .arg(task)
        .current_dir(dir)
        .output()
        .unwrap();
    let events: Vec<Event> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        events.iter().any(|e| matches!(e, Event::StepFinished(_))),
        "the loop must end with a summary; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    events
}

fn project() -> tempfile::TempDir {
    let dir = common::project_dir();
    // Greedy decoding keeps the runs close to reproducible.
    std::fs::write(
        dir.path().join("mcpr.toml"),
        "[llm]\ntemperature = 0\nmax_tokens = 400\n",
    )
    .unwrap();
    dir
}

#[test]
#[ignore = "needs a local model server: examples/local-llm.sh start"]
fn the_model_uses_a_demo_server_tool_from_code() {
    let dir = project();
    let cfg = dir.path().join("mcp.json");
    std::fs::write(
        &cfg,
        json!({"mcpServers": {"demo": demo_entry(&dir.path().join("notes.db"))}}).to_string(),
    )
    .unwrap();
    let events = run(
        dir.path(),
        &["--mcp-config", cfg.to_str().unwrap()],
        "What is the weather in Paris and in Oslo? Use the weather tool and print both temperatures.",
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::CodeGenerated { .. })),
        "code was written"
    );
    let weather_calls = events
        .iter()
        .filter(|e| matches!(e, Event::HostCall { name, args, .. } if name == "tools.call" && args["tool"] == "get_weather"))
        .count();
    assert!(weather_calls >= 1, "the demo tool was called from code");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::CellFinished { .. })),
        "code ran"
    );
}

#[test]
#[ignore = "needs a local model server: examples/local-llm.sh start"]
fn an_error_goes_back_to_the_model_and_it_answers_with_new_code() {
    let dir = project();
    // JSON Lines in a file named .json: code that parses it as one JSON document, or
    // treats lines as records, fails at run time, whatever the model writes first.
    let data = dir.path().join("orders.json");
    let lines: Vec<String> = (1..=40)
        .map(|i| json!({"id": i, "amount": i as f64 * 2.5}).to_string())
        .collect();
    std::fs::write(&data, lines.join("\n") + "\n").unwrap();
    let events = run(
        dir.path(),
        &["--context", data.to_str().unwrap(), "--max-attempts", "3"],
        "CONTEXT_DATA holds our orders. Print the total of their amount fields.",
    );
    let first_error = events.iter().position(|e| matches!(e, Event::Error { .. }));
    let codes: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, Event::CodeGenerated { .. }))
        .map(|(i, _)| i)
        .collect();
    let first_error = first_error.expect("the first attempt failed at run time");
    assert!(codes.len() >= 2, "a second attempt was generated");
    assert!(codes[1] > first_error, "after the error was seen");
    // A later request carried the failure back (a request asking for code, when the
    // model first answered in words, may come between).
    let requests: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::LlmCall { request, .. } => Some(request),
            _ => None,
        })
        .collect();
    assert!(
        requests.iter().skip(1).any(|r| r
            .last()
            .is_some_and(|m| m.content.contains("The code failed"))),
        "{:?}",
        requests.iter().map(|r| r.last()).collect::<Vec<_>>()
    );
}

#[test]
#[ignore = "needs a local model server: examples/local-llm.sh start"]
fn native_function_calls_come_back_as_tool_calls() {
    // The shipped chat template lets llama-server parse the model's calls (see
    // examples/qwen2.5-fenced-tool-calls.jinja); the benchmark's JSON baseline needs this.
    let body = json!({
        "model": "local",
        "temperature": 0,
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "tools": [{"type": "function", "function": {
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
        }}]
    });
    let out = Command::new("curl")
        .args([
            "-sf",
            &format!("{}/chat/completions", endpoint()),
            "-H",
            "Content-Type: application/json",
            "-d",
        ])
        .arg(body.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let call = &reply["choices"][0]["message"]["tool_calls"][0]["function"];
    assert_eq!(call["name"], "get_weather", "{reply}");
    let args: serde_json::Value =
        serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args["city"], "Paris");
}
