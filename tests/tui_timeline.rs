//! Time travel in the console, end to end in a real terminal (tmux): a session of four
//! task steps with tool calls is recorded through the console with a scripted model and
//! the demo server; `mcpr replay SESSION 2` opens it with step 2 in focus; a rewind there
//! through the keys rebuilds step 2's state without one new call at the demo server (its
//! own log counts them); a fork at step 3 becomes the live session; the terminal is sane
//! after quitting.

mod common;

use common::tmux::{Tmux, console_bin, tmux_missing};
use std::time::Duration;

const SCRIPT: &str = r#"```python
from tools.demo import get_weather
w = get_weather(city="Paris")
step = 1
print("did step", step, w["city"])
```
%%%
```python
from tools.demo import calculate
v = calculate(expression="6 * 7")["result"]
step = 2
print("did step", step, v)
```
%%%
```python
from tools.demo import get_weather
w = get_weather(city="Oslo")
step = 3
print("did step", step, w["city"])
```
%%%
```python
from tools.demo import calculate
v = calculate(expression="1 + 1")["result"]
step = 4
print("did step", step, v)
```
"#;

/// Ctrl+C twice (Escape then `q` can arrive as one Alt+Q).
fn quit(t: &Tmux) {
    t.keys(&["C-c"]);
    t.wait_for("Ctrl+C again", Duration::from_secs(10));
    t.keys(&["C-c"]);
    t.wait_until(Duration::from_secs(30), "the shell's prompt", |s| {
        s.contains("READY$") && !s.contains("╭")
    });
}

#[test]
fn replay_opens_at_a_step_and_rewind_and_fork_continue_from_the_record() {
    if tmux_missing() {
        return;
    }
    let dir = common::project_dir();
    let db = dir.path().join("notes.sqlite");
    let mcp = serde_json::json!({"mcpServers": {"demo": common::demo_entry(&db)}});
    std::fs::write(dir.path().join(".mcp.json"), mcp.to_string()).unwrap();
    std::fs::write(dir.path().join("script.txt"), SCRIPT).unwrap();
    let bin = console_bin();
    let long = Duration::from_secs(90);
    let t = Tmux::start("timeline", dir.path(), 200, 50);

    // Four steps, each with a tool call, recorded through the console.
    t.type_text(&format!(
        "{} tui --session tl --llm script:script.txt --no-skills",
        bin.display()
    ));
    t.keys(&["Enter"]);
    t.wait_until(long, "the session to open", |s| {
        s.contains("│ idle │") && s.contains("Task ▸")
    });
    for n in 1..=4 {
        t.type_text(&format!("task number {n}"));
        t.keys(&["Enter"]);
        t.wait_for(&format!("step {n} done"), long);
        t.wait_for("│ idle │", long);
    }
    let screen = t.wait_for("Timeline · tl · 4 steps", long);
    assert!(screen.contains("4◀ task number 4"), "{screen}");
    quit(&t);
    let calls = common::demo_calls_logged(&db);
    assert_eq!(calls, 4, "one call at the demo server a step");

    // `mcpr replay tl 2`: browse mode, step 2 in focus, its panes from the record.
    t.keys(&["C-l"]);
    t.type_text(&format!("{} replay tl 2", bin.display()));
    t.keys(&["Enter"]);
    let screen = t.wait_for("── step 2 of tl", long);
    assert!(
        screen.contains("Timeline · tl · 4 steps browse"),
        "{screen}"
    );
    assert!(screen.contains("demo.calculate(expression="), "{screen}");
    assert!(
        screen.contains("v = calculate(expression=\"6 * 7\")"),
        "{screen}"
    );
    assert!(screen.contains("browsing the record"), "{screen}");

    // Rewind there: the confirmation counts what will be re-run and served.
    t.keys(&["r"]);
    let screen = t.wait_for("Rewind to step 2?", long);
    assert!(screen.contains("2 cell(s) of 2 step(s) re-run"), "{screen}");
    assert!(
        screen.contains("2 tool call(s) and 0 model call(s) served from the record"),
        "{screen}"
    );
    assert!(
        screen.contains("the 2 later step(s) stay in the record as a branch"),
        "{screen}"
    );
    t.keys(&["Enter"]);
    t.wait_for("continues from step 2", long);
    t.wait_until(long, "the session to be idle", |s| s.contains("│ idle │"));

    // A cell sees step 2's state: `step` is 2, `v` is step 2's, Oslo's weather never came.
    t.keys(&["i"]);
    let screen = t.screen();
    if screen.contains("Task ▸") {
        t.keys(&["C-t"]);
        t.wait_for("Code · Python cell ▸", Duration::from_secs(5));
    }
    t.type_text("print('state', step, w['city'], v)");
    t.keys(&["Enter"]);
    let screen = t.wait_for("state 2 Paris", long);
    assert!(screen.contains("state 2 Paris 42"), "{screen}");
    t.wait_for("│ idle │", long);
    assert_eq!(
        common::demo_calls_logged(&db),
        calls,
        "the rewind called nothing at the demo server"
    );

    // Fork at step 3: the new branch becomes the live session.
    t.keys(&["Escape"]);
    t.keys(&["5"]);
    t.keys(&["Home"]);
    t.keys(&["Down", "Down"]);
    let screen = t.wait_for("── step 3 of tl", Duration::from_secs(10));
    assert!(screen.contains("did step 3 Oslo"), "{screen}");
    t.keys(&["f"]);
    t.wait_for("Fork tl at step 3", Duration::from_secs(10));
    t.keys(&["Enter"]);
    let screen = t.wait_for("now in tl-fork-1", long);
    assert!(screen.contains("Timeline · tl-fork-1"), "{screen}");
    t.wait_for("│ idle │", long);
    assert_eq!(common::demo_calls_logged(&db), calls, "nor did the fork");

    // The record has the new branch.
    let out = common::mcpr_ok(dir.path(), &["replay", "list"]);
    let text = common::stdout(&out);
    assert!(text.contains("(fork of tl@3)"), "{text}");

    quit(&t);
    let stty = t.sane_terminal();
    assert!(stty.contains("echo icanon <stty"), "{stty}");
}

#[test]
fn replay_without_a_terminal_or_with_plain_prints_as_before() {
    let dir = common::project_dir();
    common::mcpr_ok(
        dir.path(),
        &["exec", "--session", "p", "x = 41 + 1\nprint(x)"],
    );
    let out = common::mcpr_ok(dir.path(), &["replay", "p", "1", "--plain"]);
    assert!(common::stdout(&out).contains("x = 41 + 1"));
    let out = common::mcpr_ok(dir.path(), &["replay", "p"]);
    assert!(common::stdout(&out).contains("42"), "no terminal: printed");
    let out = common::mcpr_ok(dir.path(), &["replay", "p", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&common::stdout(&out)).unwrap();
    assert!(json.to_string().contains("x = 41 + 1"), "{json}");
}
