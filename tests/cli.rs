//! The `mcpr` binary as a user runs it.

mod common;

use common::mcpr_bin;
use mcpr::event::Event;
use std::io::Write;
use std::os::unix::fs::FileTypeExt;
use std::process::{Command, Output, Stdio};

fn mcpr(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(mcpr_bin())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn exec_prints_the_value_of_the_last_cell() {
    let dir = common::project_dir();
    let out = mcpr(dir.path(), &["exec", "x = 41", "x + 1"]);
    assert_eq!(text(&out.stdout), "42\n", "stderr: {}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn exec_exit_codes_say_success_failure_and_usage() {
    let dir = common::project_dir();
    let out = mcpr(dir.path(), &["exec", "1/0", "print('not reached')"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("ZeroDivisionError: division by zero"), "{err}");
    assert!(err.contains("skipped 1 remaining cell"), "{err}");
    assert!(!text(&out.stdout).contains("not reached"));

    let out = mcpr(
        dir.path(),
        &["exec", "--keep-going", "1/0", "print('reached')"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "reached\n");

    assert_eq!(mcpr(dir.path(), &["exec"]).status.code(), Some(2));
    assert_eq!(
        mcpr(dir.path(), &["exec", "--isolation", "bogus", "1"])
            .status
            .code(),
        Some(2)
    );
    let out = mcpr(dir.path(), &["exec", "@does-not-exist.py"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read cell file does-not-exist.py"));
    let out = mcpr(dir.path(), &["exec", "--timeout", "-1", "1"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn exec_reads_cells_from_files_and_stdin() {
    let dir = common::project_dir();
    std::fs::write(dir.path().join("cell.py"), "y = 'from file'\n").unwrap();
    let mut child = Command::new(mcpr_bin())
        .args(["exec", "@cell.py", "-"])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"print(y, 'and stdin')\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(text(&out.stdout), "from file and stdin\n");
}

#[test]
fn exec_json_emits_one_event_per_line() {
    let dir = common::project_dir();
    let out = mcpr(
        dir.path(),
        &[
            "exec",
            "--json",
            "print('hi')",
            "import mcpr\nmcpr.host_call('echo', v=1)",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let events: Vec<Event> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        matches!(events[0], Event::SessionStarted { .. }),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Output { text, .. } if text == "hi\n"))
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::HostCall { name, .. } if name == "echo"))
    );
    let finished = events
        .iter()
        .filter(|e| matches!(e, Event::CellFinished { .. }))
        .count();
    assert_eq!(finished, 2);
}

#[test]
fn help_lists_every_command() {
    let out = Command::new(mcpr_bin()).arg("--help").output().unwrap();
    let help = text(&out.stdout);
    for cmd in ["init", "doctor", "exec", "bench"] {
        assert!(
            help.contains(&format!("  {cmd} ")),
            "{cmd} missing from:\n{help}"
        );
    }
}

#[test]
fn init_creates_a_project_found_from_subfolders() {
    let dir = tempfile::tempdir().unwrap();
    let out = mcpr(dir.path(), &["init"]);
    assert!(out.status.success());
    for p in ["mcpr.toml", "skills", "workspace", ".replay"] {
        assert!(dir.path().join(p).exists(), "{p}");
    }
    let sub = dir.path().join("deep/er");
    std::fs::create_dir_all(&sub).unwrap();
    let out = mcpr(&sub, &["exec", "open('marker.txt', 'w').write('x')"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let sessions: Vec<_> = std::fs::read_dir(dir.path().join("workspace"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("marker.txt").is_file())
        .collect();
    assert_eq!(
        sessions.len(),
        1,
        "the session workspace lives in the project root"
    );
    // Running init again changes nothing.
    assert!(text(&mcpr(dir.path(), &["init"]).stdout).contains("already an mcpr project"));
}

#[test]
fn a_broken_config_is_a_usage_error_naming_the_key() {
    let dir = common::project_dir();
    std::fs::write(
        dir.path().join("mcpr.toml"),
        "[kernel]\nisolation = \"maximum\"\n",
    )
    .unwrap();
    let out = mcpr(dir.path(), &["exec", "1"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("mcpr.toml") && err.contains("maximum"),
        "{err}"
    );
}

#[test]
fn doctor_reports_each_item_with_a_verdict() {
    let dir = common::project_dir();
    let out = mcpr(dir.path(), &["doctor", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let checks: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let items: Vec<&str> = checks.iter().filter_map(|c| c["item"].as_str()).collect();
    for item in [
        "python",
        "bubblewrap",
        "namespaces",
        "isolation",
        "llm",
        "docker",
    ] {
        assert!(items.contains(&item), "{item} missing: {items:?}");
    }
    let isolation = checks.iter().find(|c| c["item"] == "isolation").unwrap();
    assert_eq!(isolation["verdict"], "ok", "{isolation}");
    assert!(isolation["detail"].as_str().unwrap().contains("namespaces"));
}

/// Runs `mcpr args` with stdout going to `stdout`; returns (exit code, stderr).
fn with_stdout(dir: &std::path::Path, args: &[&str], stdout: Stdio) -> (Option<i32>, String) {
    let out = Command::new(mcpr_bin())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (out.status.code(), text(&out.stderr))
}

/// A pipe whose reading end is already closed: every write to it fails with EPIPE.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Stdio::from(writer)
}

fn dev_full() -> Stdio {
    Stdio::from(
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap(),
    )
}

#[test]
fn a_closed_stdout_ends_quietly_and_a_full_disk_is_a_failure() {
    let dir = common::project_dir();
    mcpr(dir.path(), &["init"]);
    let out = mcpr(dir.path(), &["exec", "--session", "a", "print('hello')"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listing: &[&[&str]] = &[
        &["replay", "list"],
        &["replay", "a", "--json"],
        &["replay", "a"],
        &["skills", "list"],
        &["exec", "print('x' * 100000)"],
    ];
    for args in listing {
        let (code, err) = with_stdout(dir.path(), args, closed_pipe());
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(code == Some(0), "{args:?} on a closed pipe: {code:?} {err}");
        let (code, err) = with_stdout(dir.path(), args, dev_full());
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(code, Some(1), "{args:?} into a full disk must fail: {err}");
        assert!(err.contains("could not write the output"), "{err}");
    }
}

#[test]
fn export_never_replaces_a_device_or_folder_and_leaves_no_partial_file() {
    let dir = common::project_dir();
    let out = mcpr(dir.path(), &["exec", "--session", "a", "x = 1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listing = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let before = listing();
    std::fs::create_dir(dir.path().join("folder")).unwrap();
    std::os::unix::fs::symlink("/dev/null", dir.path().join("link")).unwrap();
    for target in ["/dev/full", "folder", "link"] {
        let out = mcpr(dir.path(), &["replay", "export", "a", "-o", target]);
        assert_eq!(out.status.code(), Some(2), "{target}");
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!("refusing to replace {target}")),
            "{err}"
        );
    }
    assert!(
        std::fs::symlink_metadata("/dev/full")
            .unwrap()
            .file_type()
            .is_char_device()
    );
    let out = mcpr(
        dir.path(),
        &["replay", "export", "nosuch", "-o", "n.bundle"],
    );
    assert_eq!(out.status.code(), Some(2));
    let mut expected = before.clone();
    expected.extend(["folder".to_string(), "link".to_string()]);
    expected.sort();
    assert_eq!(listing(), expected, "a failed export left files behind");
    let out = mcpr(dir.path(), &["replay", "export", "a", "-o", "a.bundle"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::write(dir.path().join("a.bundle"), "old").unwrap();
    let out = mcpr(dir.path(), &["replay", "export", "a", "-o", "a.bundle"]);
    assert!(out.status.success(), "a regular file is replaced");
    assert!(
        std::fs::read_to_string(dir.path().join("a.bundle"))
            .unwrap()
            .len()
            > 3
    );
}

#[test]
fn numbers_out_of_range_are_usage_errors_naming_the_key_and_range() {
    let dir = common::project_dir();
    for flag in ["1e20", "-5", "nan", "inf"] {
        let out = mcpr(
            dir.path(),
            &["exec", &format!("--timeout={flag}"), "print(1)"],
        );
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--timeout {flag}: {err}");
        assert!(err.contains("--timeout must be"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let out = mcpr(
        dir.path(),
        &["run", "--max-attempts", "1000", "--llm", "manual", "x"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let cases = [
        (
            "[kernel]\ntimeout_seconds = 1e300\n",
            "[kernel] timeout_seconds = ",
        ),
        (
            "[kernel]\ntimeout_seconds = nan\n",
            "[kernel] timeout_seconds = NaN",
        ),
        (
            "[kernel]\ngrace_seconds = -1\n",
            "[kernel] grace_seconds = -1",
        ),
        ("[kernel]\nmax_frame_mb = 0\n", "[kernel] max_frame_mb = 0"),
        (
            "[kernel.limits]\nmemory_mb = 1\n",
            "[kernel.limits] memory_mb = 1",
        ),
        (
            "[kernel.limits]\nopen_files = 3\n",
            "[kernel.limits] open_files = 3",
        ),
        (
            "[kernel.limits]\ncpu_seconds = 0\n",
            "[kernel.limits] cpu_seconds = 0",
        ),
        (
            "[tools]\ncall_timeout_seconds = 0\n",
            "[tools] call_timeout_seconds = 0",
        ),
        ("[llm]\ntemperature = 9.0\n", "[llm] temperature = 9"),
        ("[agent]\nmax_attempts = 0\n", "[agent] max_attempts = 0"),
    ];
    for (toml, key) in cases {
        std::fs::write(dir.path().join("mcpr.toml"), toml).unwrap();
        let out = mcpr(dir.path(), &["exec", "print(1)"]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{toml}: {err}");
        assert!(
            err.contains("mcpr.toml") && err.contains(key),
            "{toml}: {err}"
        );
        assert!(err.contains("out of range: use"), "{err}");
    }
}

#[test]
fn a_kernel_out_of_cpu_time_is_told_so() {
    let dir = common::project_dir();
    std::fs::write(
        dir.path().join("mcpr.toml"),
        "[kernel.limits]\ncpu_seconds = 1\n",
    )
    .unwrap();
    let out = mcpr(dir.path(), &["exec", "while True: pass"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("SIGXCPU") && err.contains("CPU-time limit of 1 s"),
        "{err}"
    );
    assert!(!err.contains("out-of-memory"), "{err}");
}

#[test]
fn a_setting_that_does_nothing_is_accepted_with_a_warning() {
    let dir = common::project_dir();
    std::fs::write(dir.path().join("mcpr.toml"), "[kernel]\npool_size = 2\n").unwrap();
    let out = mcpr(dir.path(), &["exec", "print(1)"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("[kernel] pool_size is ignored"), "{err}");
    // `mcpr init` no longer writes it (the warm pool's size is `[docker] pool_size`).
    let fresh = tempfile::tempdir().unwrap();
    assert!(mcpr(fresh.path(), &["init"]).status.success());
    let toml = std::fs::read_to_string(fresh.path().join("mcpr.toml")).unwrap();
    let config: toml::Table = toml.parse().unwrap();
    assert!(config["kernel"].get("pool_size").is_none(), "{toml}");
    assert!(config["docker"].get("pool_size").is_some(), "{toml}");
}

#[test]
fn outside_a_project_the_default_project_is_used_and_reading_creates_nothing() {
    let cwd = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(mcpr_bin())
            .args(args)
            .current_dir(cwd.path())
            .env("XDG_DATA_HOME", data.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let entries = |dir: &std::path::Path| std::fs::read_dir(dir).unwrap().count();
    for args in [
        &["replay", "list"][..],
        &["replay", "search", "x"],
        &["replay", "s"],
        &["skills", "list"],
    ] {
        let out = run(args);
        assert!(!text(&out.stderr).contains("panicked"), "{args:?}");
        assert_eq!(
            entries(cwd.path()),
            0,
            "{args:?} created files in the current folder"
        );
        assert_eq!(
            entries(data.path()),
            0,
            "{args:?} created the default project"
        );
    }
    let out = run(&["exec", "--session", "s", "x = 41"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    let default = data.path().join("mcpr/default");
    assert!(
        err.contains("no mcpr project here") && err.contains(&default.display().to_string()),
        "{err}"
    );
    assert_eq!(
        err.matches("no mcpr project here").count(),
        1,
        "said once: {err}"
    );
    assert_eq!(entries(cwd.path()), 0, "nothing in the current folder");
    assert!(default.join(".replay/s.jsonl").is_file());
    let out = run(&["exec", "--session", "s", "print(x + 1)"]);
    assert_eq!(text(&out.stdout), "42\n", "{}", text(&out.stderr));
    let out = run(&["doctor", "--json"]);
    assert!(
        text(&out.stdout).contains("default project"),
        "{}",
        text(&out.stdout)
    );
}

/// Every `--flag` an LLM error or an engine error tells the user to use exists on the
/// commands that print it.
#[test]
fn flags_named_in_model_errors_exist() {
    use clap::CommandFactory;
    use mcpr::llm::LlmError;
    let cli = mcpr::cli::Cli::command();
    let run = cli
        .get_subcommands()
        .find(|c| c.get_name() == "run")
        .unwrap();
    let longs: Vec<String> = run
        .get_arguments()
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .collect();
    let e = || "e".to_string();
    let errors = [
        LlmError::BadKey { endpoint: e() },
        LlmError::UnknownModel {
            endpoint: e(),
            model: e(),
            message: e(),
        },
        LlmError::Unreachable {
            endpoint: e(),
            message: e(),
        },
        LlmError::GaveUp {
            endpoint: e(),
            attempts: 1,
            message: e(),
        },
        LlmError::Rejected {
            endpoint: e(),
            message: e(),
        },
    ];
    for error in errors {
        let text = error.to_string();
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
            if word.starts_with("--") {
                assert!(
                    longs.iter().any(|l| l == word),
                    "{text:?} names {word}, which `mcpr run` lacks"
                );
            }
        }
    }
}
