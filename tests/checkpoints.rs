//! Saved checkpoints, end to end through the `mcpr` binary: a new process continues a
//! session from the kernel state kept in the record instead of re-running its cells,
//! re-creates what could not be saved by re-running only the steps that defined it, and
//! falls back to replay, saying why, when a checkpoint is damaged or cannot be trusted.
//! The reports are read from the `state_restored` event (`--json`), never from a clock.

mod common;

use common::{stderr, stdout};
use mcpr::record::log::Detail;
use mcpr::record::recorder::ReplayDir;
use serde_json::Value;
use std::path::Path;
use std::process::Output;

/// Runs one cell of `session` with `--json`; the output and the events it printed.
fn exec_json(dir: &Path, session: &str, code: &str) -> (Output, Vec<Value>) {
    let o = common::mcpr_in(dir, &["exec", "--json", "--session", session, code]);
    let events = stdout(&o)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    (o, events)
}

fn ok(dir: &Path, session: &str, code: &str) -> Vec<Value> {
    let (o, events) = exec_json(dir, session, code);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    events
}

/// What the cell printed on stdout.
fn printed(events: &[Value]) -> String {
    events
        .iter()
        .filter(|e| e["type"] == "output" && e["stream"] == "stdout")
        .map(|e| e["text"].as_str().unwrap_or_default())
        .collect()
}

fn restored(events: &[Value]) -> Value {
    events
        .iter()
        .find(|e| e["type"] == "state_restored")
        .cloned()
        .unwrap_or_else(|| panic!("no state_restored event in {events:#?}"))
}

fn notices(events: &[Value]) -> String {
    events
        .iter()
        .filter(|e| e["type"] == "notice")
        .map(|e| format!("{}\n", e["message"].as_str().unwrap_or_default()))
        .collect()
}

fn checkpoint(dir: &Path, session: &str, step: u64) -> mcpr::record::checkpoint::Checkpoint {
    let rd = ReplayDir::open_existing(&dir.join(".replay")).unwrap();
    let log = rd.read(session, Detail::Full).unwrap();
    log.step(step)
        .and_then(|s| s.checkpoint.clone())
        .unwrap_or_else(|| panic!("step {step} has no checkpoint"))
}

#[test]
fn a_new_process_continues_from_the_saved_checkpoint_without_re_running_cells() {
    let project = common::project_dir();
    let d = project.path();
    let first = ok(
        d,
        "s",
        "import random, time\ntime.sleep(3)\nr = random.random()\ndata = {'r': r, 'xs': list(range(1000))}\nalias = data\nprint(r)",
    );
    let r = printed(&first);
    let c = checkpoint(d, "s", 1);
    assert!(c.saved.contains_key("r"), "{c:?}");
    // `alias` and `data` are one object, saved once.
    assert_eq!(c.aliases.len(), 1, "{c:?}");
    assert_eq!(c.saved.len(), 2, "{c:?}");
    assert_eq!(c.modules.get("random").map(String::as_str), Some("random"));

    let next = ok(
        d,
        "s",
        "alias['new'] = 1\nprint(r, data is alias, data['new'])",
    );
    assert_eq!(printed(&next), format!("{} True 1\n", r.trim()));
    let how = restored(&next);
    assert_eq!(how["source"], "saved", "{how}");
    assert_eq!(how["checkpoint"], 1, "{how}");
    assert_eq!(how["cells"], 0, "the 3 s cell did not run again: {how}");
    // No replay progress either: nothing was re-run.
    assert!(!next.iter().any(|e| e["type"] == "replay_progress"));

    // The second step's checkpoint stores only what changed: `r` is the same object.
    let c2 = checkpoint(d, "s", 2);
    assert_eq!(c2.saved["r"], c.saved["r"]);
    assert_ne!(c2.saved, c.saved);

    // Off in mcpr.toml: the continuation replays, and says so.
    std::fs::write(d.join("mcpr.toml"), "[checkpoints]\nsaved = false\n").unwrap();
    let replayed = ok(d, "s", "print(r)");
    assert_eq!(restored(&replayed)["source"], "replay");
    assert_eq!(restored(&replayed)["cells"], 2);
}

#[test]
fn unpicklable_objects_continue_through_partial_replay() {
    let project = common::project_dir();
    let d = project.path();
    ok(d, "u", "data = [1, 2, 3]");
    ok(
        d,
        "u",
        "import threading\nfh = open('log.txt', 'w')\ngen = (x * x for x in data)\nt = threading.Thread(target=lambda: None)\ndef bump(v):\n    return v + 1",
    );
    ok(d, "u", "y = 41");
    let c = checkpoint(d, "u", 3);
    for name in ["fh", "gen", "t", "bump"] {
        assert!(c.unsaved.contains_key(name), "{name} unsaved: {c:?}");
        assert_eq!(c.defined[name], 2, "{name} defined in step 2");
    }
    assert!(c.saved.contains_key("y") && c.saved.contains_key("data"));

    let next = ok(
        d,
        "u",
        "print(bump(y), next(gen), fh.closed, type(t).__name__)",
    );
    assert_eq!(printed(&next), "42 1 False Thread\n");
    let how = restored(&next);
    assert_eq!(how["source"], "saved", "{how}");
    assert_eq!(how["cells"], 1, "only step 2 re-ran: {how}");
    let recreated: Vec<&str> = how["recreated"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(recreated, vec!["bump", "fh", "gen", "t"]);
    assert!(notices(&next).contains("re-created by replay: bump, fh, gen, t"));
}

/// Flips one byte of the object `hash` where the store keeps it (loose or packed).
fn corrupt(dir: &Path, hash: &str) {
    use std::os::unix::fs::PermissionsExt;
    let objects = dir.join(".replay/objects");
    let flip = |path: &Path, at: u64| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut bytes = std::fs::read(path).unwrap();
        bytes[at as usize] ^= 0xff;
        std::fs::write(path, bytes).unwrap();
    };
    let loose = objects.join(&hash[..2]).join(&hash[2..]);
    if loose.is_file() {
        return flip(&loose, 0);
    }
    for (pack, entries) in mcpr::record::pack::list_packs(&objects).unwrap() {
        if let Some(e) = entries.iter().find(|e| e.hash == hash) {
            let path = objects.join("pack").join(format!("{pack}.pack"));
            return flip(&path, e.offset + e.len / 2);
        }
    }
    panic!("object {hash} not found");
}

#[test]
fn a_damaged_or_untrusted_checkpoint_falls_back_to_replay_with_a_notice() {
    let project = common::project_dir();
    let d = project.path();
    ok(d, "c", "xs = list(range(100))");
    let c = checkpoint(d, "c", 1);
    corrupt(d, &c.saved["xs"]);
    let next = ok(d, "c", "print(sum(xs))");
    assert_eq!(printed(&next), "4950\n");
    let how = restored(&next);
    assert_eq!(how["source"], "replay", "{how}");
    assert_eq!(how["cells"], 1);
    assert!(how["fallback"].as_str().is_some(), "{how}");
    assert!(
        notices(&next).contains("the saved checkpoint of step 1 was not used"),
        "{}",
        notices(&next)
    );

    // A checkpoint written by another Python is not trusted.
    let log = d.join(".replay/c.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let changed: Vec<String> = text
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            if v["type"] == "checkpoint" {
                v["python"] = "2.7.18".into();
            }
            v.to_string()
        })
        .collect();
    std::fs::write(&log, changed.join("\n") + "\n").unwrap();
    let next = ok(d, "c", "print(len(xs))");
    assert_eq!(printed(&next), "100\n");
    let how = restored(&next);
    assert_eq!(how["source"], "replay");
    assert!(
        how["fallback"]
            .as_str()
            .is_some_and(|f| f.contains("written by Python 2.7.18")),
        "{how}"
    );
}

#[test]
fn a_checkpoint_never_holds_a_secret() {
    let project = common::project_dir();
    let d = project.path();
    let secret = "sk-live-abcdef123456";
    let run = |code: &str| {
        std::process::Command::new(common::mcpr_bin())
            .args(["exec", "--json", "--session", "k", code])
            .current_dir(d)
            .stdin(std::process::Stdio::null())
            .env("MY_API_KEY", secret)
            .output()
            .unwrap()
    };
    assert!(run("plain = 'nothing to hide'").status.success());
    // The kernel can only hold a secret the user typed in; its step is marked inexact.
    let o = run(&format!("pw = '{secret}'\nkeep = [pw, 1]"));
    assert!(o.status.success(), "{}", stderr(&o));
    let c = checkpoint(d, "k", 2);
    assert!(c.unsaved["pw"].contains("secret"), "{c:?}");
    assert!(c.unsaved["keep"].contains("secret"), "{c:?}");
    assert!(c.saved.contains_key("plain"));
    for entry in walkdir(d.join(".replay")) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{} holds the secret",
            entry.display()
        );
    }
}

fn walkdir(root: std::path::PathBuf) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![root];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}
