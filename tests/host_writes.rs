//! The sandbox boundary includes mcpr's own file operations. Code in a real sandboxed
//! kernel plants symlinks (at the file, its folder, a parent folder), `..` and racing
//! swaps wherever the host writes or reads in the workspace; the host's files outside the
//! workspace must stay exactly as they were while the session carries on or says clearly
//! what it refused.

mod common;

use std::path::{Path, PathBuf};

use common::{TestSession, demo_entry, stderr, stdout};
use mcpr::event::CellStatus;
use mcpr::kernel::output::OVERFLOW_DIR;
use mcpr::sandbox::IsolationRequest::Namespaces;
use serde_json::json;

/// A host folder outside every workspace, standing for the rest of the machine, with a
/// file the sandboxed code would love to overwrite or read.
struct Outside {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

const ORIGINAL: &str = "ORIGINAL host content: HOST-SECRET-7f3a";

impl Outside {
    fn new() -> Outside {
        let dir = common::project_dir();
        let path = dir.path().join("host");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("target"), ORIGINAL).unwrap();
        Outside { _dir: dir, path }
    }

    fn target(&self) -> String {
        self.path.join("target").display().to_string()
    }

    fn dir(&self) -> String {
        self.path.display().to_string()
    }

    /// Nothing was written, created or given away outside.
    fn assert_untouched(&self) {
        use std::os::unix::fs::MetadataExt;
        let names: Vec<_> = std::fs::read_dir(&self.path)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["target"], "files appeared outside the workspace");
        let target = self.path.join("target");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), ORIGINAL);
        let me = nix::unistd::geteuid().as_raw();
        for path in [&self.path, &target] {
            assert_eq!(
                std::fs::metadata(path).unwrap().uid(),
                me,
                "{path:?} was chowned"
            );
        }
    }
}

/// Python that plants a symlink to `to` at `at` (relative to the workspace), removing what
/// was there and creating the folders leading to it.
fn plant(at: &str, to: &str) -> String {
    format!(
        "import os, shutil\nat = {at:?}\nif os.path.islink(at) or os.path.isfile(at): os.remove(at)\nelif os.path.isdir(at): shutil.rmtree(at)\nos.makedirs(os.path.dirname(at) or '.', exist_ok=True)\nos.symlink({to:?}, at)\n"
    )
}

fn small_inline(s: &TestSession) -> mcpr::kernel::CellOptions {
    let mut opts = s.session.cell_options();
    opts.output.inline_bytes = 1024;
    opts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overflowing_output_never_follows_a_planted_symlink() {
    let outside = Outside::new();
    let mut s = TestSession::new(Namespaces).await;
    let opts = small_inline(&s);
    // The file itself (every cell number it could get), its folder, a parent folder.
    let files: String = (1..=8)
        .map(|n| {
            plant(
                &format!("{OVERFLOW_DIR}/cell-{n}.stdout.txt"),
                &outside.target(),
            )
        })
        .collect();
    let plants = [
        files,
        plant(OVERFLOW_DIR, &outside.dir()),
        plant(".mcpr", &outside.dir()),
    ];
    for planted in plants {
        let code = format!("{planted}print('echo PWNED # ' + 'x' * 200_000)");
        let r = s.run_with(&code, &opts).await;
        r.assert_ok();
        outside.assert_untouched();
        let (path, bytes) = r
            .events
            .iter()
            .find_map(|(_, e)| match e {
                mcpr::event::Event::CellFinished { overflow, .. } => {
                    overflow.first().map(|o| (o.path.clone(), o.bytes))
                }
                _ => None,
            })
            .expect("the output overflowed to a file");
        let kept = s.workspace().join(&path);
        assert!(!kept.is_symlink(), "{path:?}");
        assert_eq!(std::fs::metadata(&kept).unwrap().len(), bytes);
        assert!(
            std::fs::read_to_string(&kept)
                .unwrap()
                .starts_with("echo PWNED")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_swapped_for_a_symlink_while_the_host_writes_output_leaks_nothing() {
    let outside = Outside::new();
    let mut s = TestSession::new(Namespaces).await;
    let opts = small_inline(&s);
    // A thread of the kernel swaps the output folder for a symlink and back, flat out,
    // across the cells that follow (threads outlive their cell).
    let swapper = format!(
        "import os, shutil, threading\nstop = False\nswaps = 0\ndef swap():\n    global swaps\n    while not stop:\n        try:\n            os.makedirs({OVERFLOW_DIR:?}, exist_ok=True)\n            shutil.rmtree({OVERFLOW_DIR:?}, ignore_errors=True)\n            os.symlink({dir:?}, {OVERFLOW_DIR:?})\n            os.remove({OVERFLOW_DIR:?})\n            swaps += 1\n        except OSError:\n            pass\nt = threading.Thread(target=swap, daemon=True)\nt.start()",
        dir = outside.dir()
    );
    s.run(&swapper).await.assert_ok();
    for _ in 0..25 {
        let r = s
            .run_with(
                "import sys\nfor i in range(20): print('y' * 1000); sys.stderr.write('z' * 1000)",
                &opts,
            )
            .await;
        // The host either wrote a real file in the workspace or said it could not.
        assert_eq!(r.status, CellStatus::Ok, "{:?}", r.error());
    }
    let r = s.run("stop = True\nt.join()\nswaps").await;
    let swaps = r.value().and_then(|v| v.as_u64()).unwrap_or(0);
    assert!(swaps > 50, "the race was not exercised: {swaps} swaps");
    outside.assert_untouched();
}

fn tools_config(db: &Path) -> String {
    json!({"mcpServers": {"demo": demo_entry(db)}}).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_modules_and_results_are_written_beneath_the_workspace_only() {
    let outside = Outside::new();
    let dir = common::project_dir();
    let mut s = TestSession::with_tools(Namespaces, &tools_config(&dir.path().join("n.db"))).await;
    s.run("from tools.demo import calculate\ncalculate(expression='1+1')['result']")
        .await
        .assert_ok();
    // The generated module itself, then the `tools` folder (what the host writes into on
    // `tools.module`).
    for planted in [
        plant("tools/demo.py", &outside.target()),
        plant("tools", &outside.dir()),
    ] {
        let code =
            format!("{planted}import mcpr\nmcpr.host_call('tools.module', server='demo')['path']");
        let r = s.run(&code).await;
        r.assert_ok();
        assert_eq!(r.value(), Some(json!("tools/demo.py")));
        outside.assert_untouched();
        let module = s.workspace().join("tools/demo.py");
        assert!(!module.is_symlink() && module.is_file());
        assert!(
            std::fs::read_to_string(&module)
                .unwrap()
                .contains("def calculate")
        );
    }
    // A server name is never a path.
    let r = s
        .run("import mcpr\ntry:\n    mcpr.host_call('tools.module', server='../../' + 'x')\nexcept mcpr.HostCallError as e:\n    print(e)")
        .await;
    assert!(r.stdout().contains("no MCP server named"), "{}", r.stdout());
    // Large results and images go to `.mcpr/results`: planted as a link to a host folder.
    let code = format!(
        "{}from tools.demo import repeat_text, color_swatch\nbig = repeat_text(text='0123456789', times=10_000)\nimg = color_swatch(color='#102030')\n[big.path, img.path, len(str(big))]",
        plant(".mcpr/results", &outside.dir())
    );
    let r = s.run(&code).await;
    r.assert_ok();
    outside.assert_untouched();
    let value = r.value().unwrap();
    assert_eq!(value[2], json!(100_000));
    for i in 0..2 {
        let path = value[i].as_str().unwrap();
        let path = path.strip_prefix("/workspace/").unwrap_or(path);
        let saved = s.workspace().join(path);
        assert!(saved.is_file() && !saved.is_symlink(), "{path}");
    }
    assert!(!s.workspace().join(".mcpr/results").is_symlink());
}

/// Runs `mcpr` in `dir`, insisting it succeeded; its stdout and stderr.
fn ok(dir: &Path, args: &[&str]) -> String {
    let o = common::mcpr_ok(dir, args);
    stdout(&o) + &stderr(&o)
}

/// Every object of the store, as bytes.
/// Every object of the project's store as read back (packed or loose, chunks joined),
/// and every file of the store as it is on disk (packs, indexes): a secret must be in
/// neither.
fn objects(project: &Path) -> Vec<Vec<u8>> {
    let root = project.join(".replay/objects");
    let store = mcpr::record::objects::ObjectStore::existing(&root);
    let stored = store
        .list()
        .unwrap()
        .into_iter()
        .map(|h| store.get(&h).unwrap());
    let files = walkdir::WalkDir::new(&root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| std::fs::read(e.path()).unwrap());
    stored.chain(files).collect()
}

#[test]
fn snapshots_record_symlinks_as_symlinks_and_never_read_through_a_racing_swap() {
    let outside = Outside::new();
    let project = common::project_dir();
    let dir = project.path();
    // A link to a host file stays a link in the record.
    let code = format!(
        "import os\nos.symlink({:?}, 'link')\nos.makedirs('d')\nos.symlink({:?}, 'd/dirlink')",
        outside.target(),
        outside.dir()
    );
    let step1 = format!("{code}\nprint('planted')");
    let mut args = vec!["exec", "--session", "s", &step1];
    // Then a thread keeps exchanging (atomically, so each name always exists) a file with
    // a link to the host file, and a folder with a link to the host folder, while later
    // steps end and are snapshotted.
    let swapper = format!(
        "import os, threading, ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nAT_FDCWD, RENAME_EXCHANGE = -100, 2\nopen('leak.txt', 'w').write('harmless')\nos.symlink({:?}, 'leak-other')\nos.makedirs('sub')\nopen('sub/target', 'w').write('harmless')\nos.symlink({:?}, 'sub-other')\nstop = False\nswaps = 0\ndef swap():\n    global swaps\n    while not stop:\n        for a, b in ((b'leak.txt', b'leak-other'), (b'sub', b'sub-other')):\n            if libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) == 0:\n                swaps += 1\nt = threading.Thread(target=swap, daemon=True)\nt.start()",
        outside.target(),
        outside.dir()
    );
    args.push(&swapper);
    let steps: Vec<String> = (0..60).map(|i| format!("x = {i}")).collect();
    args.extend(steps.iter().map(String::as_str));
    args.push("stop = True\nt.join()\nprint('swaps', swaps)");
    let out = ok(dir, &args);
    let swaps: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("swaps "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(swaps > 1000, "the race was not exercised: {out}");
    outside.assert_untouched();
    for object in objects(dir) {
        let text = String::from_utf8_lossy(&object);
        assert!(
            !text.contains("HOST-SECRET-7f3a"),
            "a host file's content reached the record: {text:.200}"
        );
    }
    let manifests: Vec<serde_json::Value> = objects(dir)
        .iter()
        .filter_map(|o| serde_json::from_slice(o).ok())
        .filter(|v: &serde_json::Value| v.get("entries").is_some())
        .collect();
    // Manifests are stored per folder: the workspace's names `link`, folder `d`'s names
    // `dirlink`.
    assert!(manifests.iter().any(|m| {
        m["entries"]["link"] == json!({"kind": "symlink", "target": outside.target()})
            && m["dirs"]["d"].is_object()
    }));
    assert!(manifests.iter().any(|m| {
        m["entries"]["dirlink"] == json!({"kind": "symlink", "target": outside.dir()})
    }));
}

#[test]
fn rewinding_and_keeping_hand_made_files_never_write_through_planted_symlinks() {
    let outside = Outside::new();
    let project = common::project_dir();
    let dir = project.path();
    let ws = dir.join("workspace/s");
    // Step 1 has a real folder; step 2 replaces it by a link to a host folder.
    ok(
        dir,
        &[
            "exec",
            "--session",
            "s",
            "import os\nos.makedirs('data')\nopen('data/a.txt', 'w').write('step 1')",
            &plant("data", &outside.dir()),
        ],
    );
    assert!(ws.join("data").is_symlink());
    ok(dir, &["replay", "rewind", "s", "1"]);
    outside.assert_untouched();
    assert!(!ws.join("data").is_symlink());
    assert_eq!(
        std::fs::read_to_string(ws.join("data/a.txt")).unwrap(),
        "step 1"
    );

    // A step that plants the link again; by hand, the user makes `data` a folder with a
    // file of their own. Continuing re-runs the step (planting the link) and then puts the
    // hand-made file back: into a real folder of the workspace, not the host's.
    ok(
        dir,
        &["exec", "--session", "s", &plant("data", &outside.dir())],
    );
    std::fs::remove_file(ws.join("data")).unwrap();
    std::fs::create_dir(ws.join("data")).unwrap();
    std::fs::write(ws.join("data/hand.txt"), "by hand").unwrap();
    let out = ok(
        dir,
        &[
            "exec",
            "--session",
            "s",
            "print(sorted(os.listdir('data')))",
        ],
    );
    outside.assert_untouched();
    assert!(out.contains("hand.txt"), "{out}");
    assert!(!ws.join("data").is_symlink());
    assert_eq!(
        std::fs::read_to_string(ws.join("data/hand.txt")).unwrap(),
        "by hand"
    );
}

#[test]
fn the_context_input_is_a_copy_the_sandbox_cannot_use_to_reach_the_original() {
    let outside = Outside::new();
    let ws = common::project_dir();
    // Planted: `context` as a link to a host folder, then the file name as a link.
    std::os::unix::fs::symlink(&outside.path, ws.path().join("context")).unwrap();
    let input = common::project_dir();
    let file = input.path().join("target");
    std::fs::write(&file, "[1, 2, 3]").unwrap();
    let installed = mcpr::agent::ContextInput::install(&file, ws.path()).unwrap();
    outside.assert_untouched();
    let copy = ws.path().join(&installed.rel_path);
    assert!(!ws.path().join("context").is_symlink());
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), "[1, 2, 3]");
    // A copy, not a hard link: changing it leaves the user's file alone.
    std::fs::write(&copy, "changed in the sandbox").unwrap();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "[1, 2, 3]");
    std::fs::remove_file(&copy).unwrap();
    std::os::unix::fs::symlink(outside.path.join("target"), &copy).unwrap();
    mcpr::agent::ContextInput::install(&file, ws.path()).unwrap();
    outside.assert_untouched();
    assert!(!copy.is_symlink());
}

/// Files of `src/` allowed to touch the filesystem with `std::fs`, each for paths the
/// sandbox cannot write. Anything under a workspace goes through
/// `mcpr::sandbox::confined::ConfinedDir` (docs/ARCHITECTURE.md, "Host file operations in
/// the workspace"); a new file that needs `std::fs` is added here with its reason.
const HOST_ONLY: &[(&str, &str)] = &[
    (
        "src/sandbox/confined.rs",
        "the gate itself: opens the workspace root",
    ),
    (
        "src/sandbox/bwrap.rs",
        "reads the host's system folders to mount them",
    ),
    (
        "src/sandbox/host_view.rs",
        "reads the host's system folders to mount them",
    ),
    (
        "src/sandbox/etc.rs",
        "reads the host's /etc to build the sandbox's",
    ),
    ("src/backend/subprocess.rs", "reads /proc"),
    ("src/backend/docker/engine.rs", "reads /proc"),
    ("src/tools/client.rs", "reads /proc"),
    (
        "src/project.rs",
        "mcpr.toml and the project's folders, before any kernel runs",
    ),
    (
        "src/kernel/runtime.rs",
        "the embedded runtime in the user's own runtime folder",
    ),
    ("src/python.rs", "the user's cache folder"),
    ("src/tools/catalog.rs", "the user's cache folder"),
    ("src/tools/config.rs", "reads the user's MCP configuration"),
    ("src/llm/offline.rs", "reads the user's script file"),
    (
        "src/agent/mod.rs",
        "reads the user's --context file (copied in through ConfinedDir)",
    ),
    (
        "src/record/journal_tests.rs",
        "unit tests of the change journal (all of it test code): they make their own trees",
    ),
    (
        "src/record/objects.rs",
        ".replay/, never mounted into a sandbox",
    ),
    (
        "src/record/pack.rs",
        ".replay/objects/pack, never mounted into a sandbox",
    ),
    (
        "src/record/gc.rs",
        ".replay/ and its objects, never mounted into a sandbox",
    ),
    (
        "src/record/log.rs",
        ".replay/, never mounted into a sandbox",
    ),
    (
        "src/record/log/cache.rs",
        ".replay/cache/, never mounted into a sandbox",
    ),
    (
        "src/record/recorder.rs",
        ".replay/, never mounted into a sandbox",
    ),
    (
        "src/record/racy.rs",
        "a scratch file in .replay/objects (never mounted) to probe timestamp granularity; \
         only stats the workspace folder itself",
    ),
    (
        "src/engine/live_fork.rs",
        "renames session folders within the project's workspace root (never mounted); \
         their contents are read and written through the snapshotter's confined handles",
    ),
    (
        "src/record/bundle.rs",
        ".replay/ and the user's bundle files",
    ),
    (
        "src/record/index.rs",
        ".replay/, never mounted into a sandbox",
    ),
    (
        "src/skills/mod.rs",
        "the project's skill library, mounted read-only",
    ),
    (
        "src/skills/index.rs",
        "the project's skill library, mounted read-only",
    ),
    (
        "src/skills/stats.rs",
        "the project's skill library, mounted read-only",
    ),
    (
        "src/skills/prune.rs",
        "the project's skill library, mounted read-only",
    ),
    (
        "src/skills/validate.rs",
        "creates and removes its scratch folder (remove_dir_all never follows a symlink)",
    ),
    (
        "src/pool.rs",
        "folders of warm kernels that ran no user code; entries moved by rename, which never follows a symlink",
    ),
    ("src/cli/bench.rs", "the benchmark's own scratch folders"),
    (
        "src/cli/bench_timeline.rs",
        "the benchmark's own scratch project",
    ),
    (
        "src/cli/bench_record.rs",
        "the benchmark's own scratch folders",
    ),
    (
        "src/cli/bench_checkpoints.rs",
        "the benchmark's own scratch folders",
    ),
    ("src/cli/doctor.rs", "a trial folder of its own"),
    (
        "src/cli/bench_agents.rs",
        "the benchmark's output folder (results, report, charts) and its run folders",
    ),
    ("src/benchmark/task.rs", "reads the benchmark's task files"),
    (
        "src/benchmark/setup.rs",
        "a run's folder: the servers' data beside the workspace, never mounted; the workspace itself only through ConfinedDir",
    ),
    (
        "src/benchmark/harness.rs",
        "the results file and the run folders, outside every workspace",
    ),
    ("src/benchmark/report.rs", "reads the user's price table"),
    (
        "src/cli/bench_tui.rs",
        "reads /proc and writes its own scratch project",
    ),
    (
        "src/engine/query/skills.rs",
        "reads a skill of the library, mounted read-only",
    ),
    (
        "src/engine/query/timeline.rs",
        "reads session logs in .replay/, outside every workspace",
    ),
    ("src/cli/exec.rs", "reads the user's cell file"),
    ("src/cli/init.rs", "creates the project"),
    ("src/cli/replay.rs", "the user's bundle files"),
    ("src/cli/skills.rs", "reads a skill of the library"),
    ("src/cli/tools.rs", "its own scratch folder"),
    ("src/cli/serve.rs", "removes its own scratch folder"),
    (
        "src/serve/http.rs",
        "the user's token file, and the generated token in the user's state folder",
    ),
    (
        "src/cli/bench_serve.rs",
        "the benchmark's own scratch folders",
    ),
    ("src/tui/theme.rs", "reads the user's theme files"),
    (
        "src/tui/keymap.rs",
        "reads the user's and the project's keymap files",
    ),
    (
        "src/tui/editor.rs",
        "the file being edited, in a fresh folder under the host's temporary folder",
    ),
];

#[test]
fn host_file_operations_outside_the_listed_modules_go_through_confined_dir() {
    const CALLS: &[&str] = &[
        "fs::write",
        "fs::rename",
        "fs::copy",
        "fs::hard_link",
        "fs::set_permissions",
        "fs::remove_file",
        "fs::remove_dir",
        "fs::create_dir",
        "fs::read",
        "fs::read_dir",
        "fs::symlink_metadata",
        "fs::metadata",
        "fs::read_link",
        "File::create",
        "File::open",
        "OpenOptions",
        "unix::fs::symlink",
        "unix::fs::lchown",
        "unix::fs::chown",
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut offenders = Vec::new();
    for entry in walkdir::WalkDir::new(root.join("src")) {
        let entry = entry.unwrap();
        if entry.path().extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(entry.path()).unwrap();
        // Unit tests make their own trees.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let uses: Vec<&str> = CALLS.iter().copied().filter(|c| code.contains(c)).collect();
        if !uses.is_empty() && !HOST_ONLY.iter().any(|(file, _)| *file == rel) {
            offenders.push(format!("{rel}: {uses:?}"));
        }
    }
    assert!(
        offenders.is_empty(),
        "these files use std::fs directly; paths under a workspace must go through \
         sandbox::confined::ConfinedDir (or add the file to HOST_ONLY with the reason it \
         only touches host-owned paths):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_skills_package_is_written_beneath_the_workspace_only() {
    let outside = Outside::new();
    let project = common::project_dir();
    let dir = project.path();
    // The package folder, then its entry file, as links out of the workspace; each next
    // process writes the package again at start.
    for planted in [
        plant("skills", &outside.dir()),
        plant("skills/__init__.py", &outside.target()),
    ] {
        ok(dir, &["exec", "--session", "p", &planted]);
        ok(dir, &["exec", "--session", "p", "print('continued')"]);
        outside.assert_untouched();
    }
    // Written over a planted link, the package is a real one in the workspace (a later
    // restore may put the session's own link back: that is the session's doing).
    let ws = common::project_dir();
    std::os::unix::fs::symlink(&outside.path, ws.path().join("skills")).unwrap();
    mcpr::skills::package::write(ws.path(), &[PathBuf::from("/opt/mcpr-skills")]).unwrap();
    outside.assert_untouched();
    assert!(ws.path().join("skills/__init__.py").is_file());
    assert!(!ws.path().join("skills").is_symlink());
}
