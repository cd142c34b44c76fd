//! The console end to end in a real terminal: tmux runs the `mcpr` binary with a scripted
//! model and the demo server; keys go in with send-keys, the screen comes back with
//! capture-pane. After quitting, and after a forced panic, the shell's terminal must be
//! sane again (`stty -a` shows icanon and echo).

mod common;

use common::tmux::{Tmux, console_bin, tmux_missing};
use std::process::Command;
use std::time::Duration;

const SCRIPT: &str = r#"I will ask the demo server.

```python
from tools.demo import get_weather
w = get_weather(city="Paris")
for i in range(3):
    print("line", i)
w["conditions"]
```
%%%
This will take a while.

```python
import time
for i in range(10000):
    print("tick", i, flush=True)
    time.sleep(0.2)
```
"#;

fn project() -> tempfile::TempDir {
    let dir = common::project_dir();
    let db = dir.path().join("notes.sqlite");
    let mcp = serde_json::json!({"mcpServers": {"demo": common::demo_entry(&db)}});
    std::fs::write(dir.path().join(".mcp.json"), mcp.to_string()).unwrap();
    std::fs::write(dir.path().join("script.txt"), SCRIPT).unwrap();
    dir
}

fn start_console(t: &Tmux, env: &str) {
    t.type_text(&format!(
        "{env} {} tui --llm script:script.txt --no-skills",
        console_bin().display()
    ));
    t.keys(&["Enter"]);
}

#[test]
fn the_console_runs_tasks_and_cells_and_gives_the_terminal_back() {
    if tmux_missing() {
        return;
    }
    let dir = project();
    let t = Tmux::start("run", dir.path(), 160, 50);
    start_console(&t, "");
    let long = Duration::from_secs(90);
    t.wait_until(long, "the session to open", |s| {
        s.contains("│ idle │") && s.contains("Task ▸")
    });

    // A task: the code, its streamed output and the tool call's line appear.
    t.type_text("what is the weather in Paris?");
    t.keys(&["Enter"]);
    let screen = t.wait_for("step 1 done", long);
    assert!(
        screen.contains("1  from tools.demo import get_weather"),
        "{screen}"
    );
    assert!(
        screen.contains("⇄ demo.get_weather(city='Paris'"),
        "{screen}"
    );
    assert!(screen.contains(" B in "), "{screen}");
    assert!(screen.contains("line 2"), "{screen}");
    // The value of the cell's last expression.
    assert!(screen.contains("'cloudy'"), "{screen}");

    // A long cell: Ctrl+C cancels it, the session stays usable.
    t.wait_for("│ idle │", long);
    t.type_text("count slowly");
    t.keys(&["Enter"]);
    t.wait_for("tick 3", long);
    t.keys(&["C-c"]);
    let screen = t.wait_for("was cancelled", long);
    assert!(screen.contains("KeyboardInterrupt"), "{screen}");
    t.wait_for("│ idle │", long);

    // Code mode: a cell runs in the same kernel, no model.
    t.keys(&["C-t"]);
    t.wait_for("Code · Python cell ▸", Duration::from_secs(5));
    t.type_text("print(6 * 7, w['city'])");
    t.keys(&["Enter"]);
    t.wait_for("42 Paris", long);
    t.wait_for("│ idle │", long);

    // Output past the inline cap goes to a file of the workspace; Enter on the line that
    // names it opens the file in the pager (read through the workspace's handle), which
    // shows rows that never travelled inline.
    t.type_text("for i in range(120000): print(f'row {i:06d} ' + 'y' * 20)");
    t.keys(&["Enter"]);
    t.wait_for("the first part is shown", long);
    t.wait_for("│ idle │", long);
    t.keys(&["Escape"]);
    t.keys(&["Enter"]);
    let screen = t.wait_for("stdout ═", long);
    assert!(screen.contains("row 000000"), "{screen}");
    t.keys(&["G"]);
    t.wait_for("row 119999", Duration::from_secs(10));
    t.keys(&["Escape"]);
    t.wait_until(Duration::from_secs(10), "the pager to close", |s| {
        !s.contains("row 119999") && !s.contains("stdout ═")
    });
    t.keys(&["i"]);

    // Resize: three columns become one pane with a tab bar.
    assert!(t.screen().contains("╭ Variables"));
    t.tmux(&["resize-window", "-t", "t", "-x", "70", "-y", "30"]);
    let screen = t.wait_for("2 Output │ 3 Code │ 4 Variables", Duration::from_secs(10));
    assert!(!screen.contains("╭ Variables"), "{screen}");
    assert!(screen.lines().all(|l| l.chars().count() <= 70), "{screen}");

    // Quit from outside the prompt; the shell's screen and terminal come back.
    t.keys(&["Escape"]);
    t.keys(&["q"]);
    t.wait_for_shell(long, "the shell's prompt");
    let stty = t.sane_terminal();
    assert!(stty.contains("echo icanon <stty"), "{stty}");
}

#[test]
fn a_panic_gives_the_terminal_back() {
    if tmux_missing() {
        return;
    }
    let dir = project();
    let t = Tmux::start("panic", dir.path(), 100, 30);
    start_console(&t, "MCPR_TUI_TEST_PANIC=1");
    t.wait_for("MCPR_TUI_TEST_PANIC is set", Duration::from_secs(60));
    t.wait_for_shell(Duration::from_secs(10), "the shell after the panic");
    let stty = t.sane_terminal();
    assert!(stty.contains("echo icanon <stty"), "{stty}");
}

#[test]
fn a_bad_keymap_file_is_named_with_its_line_and_key_and_the_defaults_stay() {
    let dir = common::project_dir();
    std::fs::write(
        dir.path().join("keymap.toml"),
        "zoom = \"alt+f\"\nteleport = \"x\"\n",
    )
    .unwrap();
    let out = Command::new(console_bin())
        .args(["tui", "--print-keymap"])
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("keymap.toml"), "{stderr}");
    assert!(stderr.contains("line 2"), "{stderr}");
    assert!(stderr.contains("teleport"), "{stderr}");
    // The whole file is ignored: zoom keeps its default keys.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("zoom = [\"z\", \"alt+z\"]"), "{stdout}");

    // A good file rebinds only what it names.
    std::fs::write(dir.path().join("keymap.toml"), "zoom = \"alt+f\"\n").unwrap();
    let out = Command::new(console_bin())
        .args(["tui", "--print-keymap"])
        .current_dir(dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("zoom = [\"alt+f\"]"), "{stdout}");
    assert!(stdout.contains("quit = [\"q\"]"), "{stdout}");
}

#[test]
fn without_a_terminal_the_console_says_what_to_use_instead() {
    let dir = common::project_dir();
    let out = Command::new(console_bin())
        .arg("tui")
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("needs a terminal"), "{stderr}");
}

/// The pid of the console running in the pane (the shell's child).
fn console_pid(t: &Tmux) -> String {
    let shell = t.tmux(&["display-message", "-p", "-t", "t", "#{pane_pid}"]);
    let out = Command::new("pgrep")
        .args(["-P", shell.trim(), "-x", "mcpr"])
        .output()
        .expect("pgrep runs");
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!pid.is_empty(), "no mcpr under the pane's shell {shell}");
    pid
}

#[test]
fn suspend_resume_and_termination_signals_give_the_terminal_back() {
    if tmux_missing() {
        return;
    }
    let dir = project();
    let t = Tmux::start("signals", dir.path(), 120, 30);
    let long = Duration::from_secs(90);
    let open = |s: &str| s.contains("│ idle │") && s.contains("Task ▸");

    // Ctrl+Z gives the shell back with a sane terminal; `fg` brings the console back.
    start_console(&t, "");
    t.wait_until(long, "the session to open", open);
    t.keys(&["C-z"]);
    let screen = t.wait_for_shell(long, "the shell after Ctrl+Z");
    assert!(screen.contains("Stopped"), "{screen}");
    let stty = t.sane_terminal();
    assert!(stty.contains("echo icanon <stty"), "{stty}");
    t.type_text("fg");
    t.keys(&["Enter"]);
    t.wait_until(long, "the console after fg", open);
    // It still takes keys after resuming.
    t.keys(&["C-t"]);
    t.wait_for("Code · Python cell ▸", Duration::from_secs(10));

    // SIGTERM and SIGHUP: the console ends and the terminal is the shell's again.
    for signal in ["TERM", "HUP"] {
        if signal == "HUP" {
            // A recorded session exists now: the console offers the list first.
            start_console(&t, "");
            t.wait_for("Sessions ═", long);
            t.keys(&["Escape"]);
            t.wait_until(long, "the session to open", open);
        }
        let pid = console_pid(&t);
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(status.success());
        t.wait_for_shell(long, &format!("the shell after SIG{signal}"));
        let stty = t.sane_terminal();
        assert!(stty.contains("echo icanon <stty"), "SIG{signal}: {stty}");
        t.keys(&["C-l"]);
    }
}

#[test]
fn a_bad_theme_file_is_named_with_its_line_and_key_and_the_console_starts() {
    if tmux_missing() {
        return;
    }
    let dir = project();
    std::fs::write(
        dir.path().join("mine.toml"),
        "base = \"dark\"\n[colors]\nstderr = \"red\"\nglitter = \"yellow\"\n",
    )
    .unwrap();
    let t = Tmux::start("theme", dir.path(), 160, 40);
    t.type_text(&format!(
        "{} tui --llm script:script.txt --no-skills --theme mine.toml",
        common::mcpr_bin().display()
    ));
    t.keys(&["Enter"]);
    let screen = t.wait_until(Duration::from_secs(90), "the session to open", |s| {
        s.contains("│ idle │") && s.contains("Task ▸")
    });
    assert!(screen.contains("mine.toml"), "{screen}");
    assert!(screen.contains("line 4"), "{screen}");
    assert!(screen.contains("glitter"), "{screen}");
    assert!(screen.contains("using the default theme"), "{screen}");
    t.keys(&["C-c", "C-c"]);
    t.wait_for_shell(Duration::from_secs(30), "the shell");
}
