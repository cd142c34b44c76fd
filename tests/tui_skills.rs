//! The skills pane end to end in a real terminal: a recorded session with a scripted
//! model keeps three skills and uses one of them in a step that fails; in the console
//! (tmux, the `mcpr` binary) the library is listed, a skill is tested in a fresh kernel,
//! a prune by failure rate shows what would go and why, removes it on confirmation, the
//! trash shows it and restores it, a delete asks first — each checked against the real
//! files too — and the terminal is sane after quitting. The pane's jobs are also run on
//! their own against a real library: list, test, plan, prune, trash, restore, remove.

mod common;

use common::tmux::{Tmux, tmux_missing};
use mcpr::tui::skills::state::PruneChoice;
use mcpr::tui::skills::work::Worker;
use mcpr::tui::skills::{Job, Listing, Reply};
use std::path::Path;
use std::time::{Duration, Instant};

const STEPS: [(&str, &str); 3] = [
    (
        "the most common word in 'the cat and the hat and the bat'",
        "import collections\ntext = \"the cat and the hat and the bat\"\ncounts = collections.Counter(text.split())\nprint(counts.most_common(1)[0][0])\n",
    ),
    (
        "convert 0, 21.5 and 100 celsius to fahrenheit",
        "temps = [0, 21.5, 100]\nout = [c * 9 / 5 + 32 for c in temps]\nprint(out)\n",
    ),
    (
        "shout 'hello brave new world'",
        "words = \"hello brave new world\".split()\nloud = []\nfor w in words:\n    loud.append(w.upper())\nprint(\" \".join(loud))\n",
    ),
];

/// Runs one task of session `demo` with a script answering `code`.
fn step(dir: &Path, n: usize, task: &str, code: &str, extra: &[&str]) {
    let script = format!("script{n}.txt");
    std::fs::write(
        dir.join(&script),
        format!("Here is the code.\n\n```python\n{code}```\n"),
    )
    .unwrap();
    let llm = format!("script:{script}");
    let mut args = vec!["run", "--session", "demo", "--llm", &llm];
    args.extend_from_slice(extra);
    args.push(task);
    common::mcpr_in(dir, &args);
}

/// A project whose library holds three skills made by a recorded session, `shout` used
/// once and failing.
fn project() -> tempfile::TempDir {
    let dir = common::project_dir();
    let p = dir.path();
    for (n, (task, code)) in STEPS.iter().enumerate() {
        step(p, n + 1, task, code, &[]);
    }
    step(
        p,
        4,
        "shout nothing",
        "from skills.shout import run\nprint(run(text=None))\n",
        &["--max-attempts", "1"],
    );
    for name in ["most_common_word", "convert_celsius_fahrenheit", "shout"] {
        assert!(
            p.join(format!("skills/{name}.py")).is_file(),
            "the session kept no skill {name}: {:?}",
            std::fs::read_dir(p.join("skills")).map(|d| d.count())
        );
    }
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("skills/.stats.json")).unwrap())
            .unwrap();
    assert_eq!(stats["skills"]["shout"]["failures"], 1, "{stats}");
    dir
}

fn wait_for_file(path: &Path, present: bool) {
    let start = Instant::now();
    while path.is_file() != present {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{} is {}there",
            path.display(),
            if present { "not " } else { "still " }
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_skills_pane_tests_prunes_with_a_preview_and_restores_from_the_trash() {
    if tmux_missing() {
        return;
    }
    let dir = project();
    let p = dir.path();
    let t = Tmux::start("skills", p, 80, 24);
    t.type_text(&format!(
        "{} tui --llm script:script1.txt",
        common::mcpr_bin().display()
    ));
    t.keys(&["Enter"]);
    let long = Duration::from_secs(90);
    // Recorded sessions exist: the console offers their list first.
    t.wait_for("Sessions ═", long);
    t.keys(&["Escape"]);
    t.wait_until(long, "the session to open", |s| {
        s.contains("│ idle │") && s.contains("Task ▸")
    });

    // The pane lists the library: three skills, shout used once and failed.
    t.keys(&["Escape"]);
    t.keys(&["6"]);
    let screen = t.wait_for("Skills · 3", long);
    assert!(screen.contains("most_common_word"), "{screen}");
    assert!(screen.contains("convert_celsius_fahrenheit"), "{screen}");
    let shout = screen.lines().find(|l| l.contains("shout")).unwrap();
    assert!(shout.contains("    1    0    1 "), "{screen}");

    // The detail of shout, and the library's test of it in a fresh kernel.
    t.keys(&["G"]);
    t.keys(&["Enter"]);
    let screen = t.wait_for("Skills · shout", long);
    assert!(screen.contains("signature  run(text: str"), "{screen}");
    assert!(screen.contains("session demo, step 3"), "{screen}");
    assert!(screen.contains(" 3 name: shout"), "{screen}");
    t.keys(&["t"]);
    t.wait_for("✓ passed: imports cleanly", long);
    t.keys(&["T"]);
    t.wait_for("The trash is empty", long);
    t.keys(&["T"]);
    t.wait_for("Skills · 3", long);

    // Prune by failure rate: the preview names shout and why; nothing moved yet.
    t.keys(&["p"]);
    t.wait_for("What should go to the trash?", long);
    t.keys(&["Space"]);
    t.keys(&["j"]);
    t.keys(&["Space"]);
    t.keys(&["Enter"]);
    let screen = t.wait_for("1 of 3 skill(s) would go to the trash", long);
    assert!(
        screen.contains("policy: failing more than 50% of uses"),
        "{screen}"
    );
    assert!(screen.contains("✗ shout"), "{screen}");
    assert!(
        screen.contains("failed 1 of 1 uses (failure rate 1.00 > 0.5)"),
        "{screen}"
    );
    assert!(!screen.contains("most_common_word"), "{screen}");
    assert!(p.join("skills/shout.py").is_file());

    // Confirmed: shout goes to the trash, the others stay.
    t.keys(&["y"]);
    let screen = t.wait_for("Skills · 2", long);
    assert!(!screen.contains("shout '<text>'"), "{screen}");
    wait_for_file(&p.join("skills/.trash/shout.py"), true);
    assert!(!p.join("skills/shout.py").exists());
    assert!(p.join("skills/most_common_word.py").is_file());

    // The trash shows it and why; r restores it with its stats.
    t.keys(&["T"]);
    let screen = t.wait_for("trash · 1", long);
    assert!(screen.contains("pruned: failed 1 of 1 uses"), "{screen}");
    t.keys(&["r"]);
    t.wait_for("restored shout", long);
    wait_for_file(&p.join("skills/shout.py"), true);
    assert!(!p.join("skills/.trash/shout.py").exists());
    t.wait_for("trash · 0", long);
    t.keys(&["T"]);
    let screen = t.wait_for("Skills · 3", long);
    let shout = screen.lines().find(|l| l.contains("shout")).unwrap();
    assert!(shout.contains("    1    0    1 "), "{screen}");

    // Delete asks first: no keeps it, yes moves it to the trash.
    t.keys(&["g"]);
    t.keys(&["d"]);
    t.wait_for("Move convert_celsius_fahrenheit to the trash?", long);
    t.keys(&["n"]);
    t.wait_until(long, "the question to close", |s| {
        !s.contains("to the trash?")
    });
    assert!(p.join("skills/convert_celsius_fahrenheit.py").is_file());
    t.keys(&["d"]);
    t.wait_for("Move convert_celsius_fahrenheit to the trash?", long);
    t.keys(&["y"]);
    t.wait_for("Skills · 2", long);
    wait_for_file(&p.join("skills/.trash/convert_celsius_fahrenheit.py"), true);
    assert!(!p.join("skills/convert_celsius_fahrenheit.py").exists());

    // Quit; the shell's screen and a sane terminal come back.
    t.keys(&["q"]);
    t.wait_until(long, "the shell's prompt", |s| {
        s.contains("READY$") && !s.contains("╭")
    });
    let stty = t.sane_terminal();
    assert!(stty.contains("echo icanon <stty"), "{stty}");
}

/// Runs one job of the pane's worker and waits for its reply.
async fn run_job(worker: &Worker, job: Job) -> Reply {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    worker.start(job, move |reply| {
        let _ = tx.send(reply);
    });
    tokio::time::timeout(Duration::from_secs(120), rx.recv())
        .await
        .expect("the job answered")
        .expect("a reply")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_panes_jobs_read_and_change_the_real_library() {
    let dir = common::project_dir();
    let p = dir.path();
    let project = mcpr::project::Project::discover(p).unwrap();
    let worker = Worker::new(project.clone());

    // Looking never creates the skills folder.
    let Reply::Listed { id: 1, result } = run_job(&worker, Job::List { id: 1 }).await else {
        panic!("not a listing")
    };
    match result.unwrap() {
        Listing::NoFolder(why) => assert!(why.contains("does not exist"), "{why}"),
        Listing::Skills(l) => panic!("{l:?}"),
    }
    assert!(!p.join("skills").exists());

    let folder = p.join("skills");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(
        folder.join("greet.py"),
        "\"\"\"Greet someone by name.\n\nname: greet\nsession: demo\nstep: 4\n\"\"\"\n\ndef run(name: str = 'Ada') -> str:\n    return f'hello {name}'\n",
    )
    .unwrap();
    std::fs::write(
        folder.join("twice.py"),
        "\"\"\"Say it twice.\"\"\"\n\ndef run(word: str = 'hi') -> str:\n    return word * 2\n",
    )
    .unwrap();
    let worker = Worker::new(project);
    let Reply::Listed { result, .. } = run_job(&worker, Job::List { id: 2 }).await else {
        panic!("not a listing")
    };
    let Ok(Listing::Skills(list)) = result else {
        panic!("{result:?}")
    };
    let names: Vec<&str> = list.skills.iter().map(|s| s.skill.name.as_str()).collect();
    assert_eq!(names, ["greet", "twice"]);
    assert!(list.skills[0].code.contains("return f'hello {name}'"));
    assert_eq!(list.skills[0].skill.header.step, Some(4));

    // The test runs in a fresh kernel.
    let Reply::Tested { name, result } = run_job(
        &worker,
        Job::Test {
            name: "twice".into(),
        },
    )
    .await
    else {
        panic!("not a test")
    };
    assert_eq!(name, "twice");
    assert!(result.as_ref().is_ok_and(|c| c.passed()), "{result:?}");

    // A plan changes nothing; the prune removes exactly what it is given.
    let choice = PruneChoice {
        unused: true,
        days: 0,
        ..PruneChoice::default()
    };
    let Reply::Planned { result, .. } = run_job(&worker, Job::Plan { id: 3, choice }).await else {
        panic!("not a plan")
    };
    let plan = result.unwrap();
    assert_eq!(plan.removals.len(), 2, "{plan:?}");
    assert!(folder.join("greet.py").is_file() && folder.join("twice.py").is_file());
    let only_twice: Vec<_> = plan
        .removals
        .into_iter()
        .filter(|r| r.name == "twice")
        .collect();
    let Reply::Pruned { results } = run_job(
        &worker,
        Job::Prune {
            removals: only_twice,
        },
    )
    .await
    else {
        panic!("not a prune")
    };
    assert_eq!(results.len(), 1);
    assert!(results[0].1.is_ok(), "{results:?}");
    assert!(!folder.join("twice.py").exists());
    assert!(folder.join("greet.py").is_file());

    // The trash lists it with the prune's reason; restore brings it back.
    let Reply::Trashed { result, .. } = run_job(&worker, Job::Trash { id: 4 }).await else {
        panic!("not the trash")
    };
    let trash = result.unwrap();
    assert_eq!(trash.len(), 1);
    assert_eq!(trash[0].name, "twice");
    assert_eq!(trash[0].description, "Say it twice.");
    assert!(
        trash[0]
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("pruned: never used")),
        "{trash:?}"
    );
    let Reply::Restored { result, .. } = run_job(
        &worker,
        Job::Restore {
            name: "twice".into(),
            copy: Some("twice.py".into()),
        },
    )
    .await
    else {
        panic!("not a restore")
    };
    assert_eq!(result.unwrap().restored_as, "twice");
    assert!(folder.join("twice.py").is_file());

    // Delete, and a name that is not there says so.
    let Reply::Removed { result, .. } = run_job(
        &worker,
        Job::Remove {
            name: "greet".into(),
        },
    )
    .await
    else {
        panic!("not a removal")
    };
    assert!(result.unwrap().to.starts_with(folder.join(".trash")));
    let Reply::Removed { result, .. } = run_job(
        &worker,
        Job::Remove {
            name: "nosuch".into(),
        },
    )
    .await
    else {
        panic!("not a removal")
    };
    assert!(result.unwrap_err().contains("no skill named \"nosuch\""));
}
