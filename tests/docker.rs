//! What only the Docker backend has: the hardening as seen from inside the container, an
//! engine OOM kill explained as such, and the sweep of containers an mcpr process left
//! behind when it was killed. The behaviour shared with the subprocess backend is tested
//! on both in tests/kernel.rs, tests/limits.rs, tests/tools.rs and tests/replay.rs.
//!
//! Each test needs an engine with the default image (scripts/setup-docker.sh); without
//! one it says why and skips, unless `MCPR_REQUIRE_DOCKER=1` (CI) makes that a failure.

mod common;

use common::{TestSession, docker_level, mcpr_bin};
use mcpr::event::CellStatus;
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_container_is_hardened_as_seen_from_inside() {
    let Some(level) = docker_level().await else {
        return;
    };
    let mut s = TestSession::new(level).await;
    let r = s
        .run(
            r#"
import os, socket
status = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines() if ':' in l)
def writable(path):
    try:
        with open(path, 'w') as f:
            f.write('x')
        os.remove(path)
        return True
    except OSError:
        return False
def limit(*paths):
    for p in paths:
        if os.path.exists(p):
            return open(p).read().strip()
tmp = os.statvfs('/tmp')
{
    'interfaces': [name for _, name in socket.if_nameindex()],
    'uid': os.getuid(),
    'caps': sorted({status[k].strip() for k in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb')}),
    'no_new_privs': status['NoNewPrivs'].strip(),
    'seccomp': status['Seccomp'].strip(),
    'writable': {p: writable(p) for p in ['/workspace/w', '/tmp/w', '/w', '/etc/w', '/usr/w', '/opt/mcpr-runtime/w', '/var/tmp/w']},
    'sockets': [p for p in ['/var/run/docker.sock', '/run/docker.sock', '/workspace/docker.sock'] if os.path.exists(p)],
    'tmp_mib': tmp.f_blocks * tmp.f_frsize // (1 << 20),
    'memory': limit('/sys/fs/cgroup/memory/memory.limit_in_bytes', '/sys/fs/cgroup/memory.max'),
    'pids': limit('/sys/fs/cgroup/pids/pids.max', '/sys/fs/cgroup/pids.max'),
}
"#,
        )
        .await;
    r.assert_ok();
    let v = r.value().expect("a value");
    assert_eq!(v["interfaces"], json!(["lo"]), "no network but loopback");
    assert_ne!(v["uid"], json!(0), "not root");
    assert_eq!(v["caps"], json!(["0000000000000000"]), "no capabilities");
    assert_eq!(v["no_new_privs"], json!("1"));
    assert_eq!(v["seccomp"], json!("2"), "a seccomp filter is in force");
    assert_eq!(
        v["writable"],
        json!({"/workspace/w": true, "/tmp/w": true, "/w": false, "/etc/w": false,
               "/usr/w": false, "/opt/mcpr-runtime/w": false, "/var/tmp/w": false}),
        "only /workspace and /tmp are writable"
    );
    assert_eq!(v["sockets"], json!([]), "the engine's socket is not inside");
    assert_eq!(v["tmp_mib"], json!(64), "/tmp is a 64 MiB tmpfs");
    assert_eq!(v["memory"], json!((512u64 << 20).to_string()));
    assert_eq!(v["pids"], json!("64"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_oom_kill_is_explained_and_survived() {
    let Some(level) = docker_level().await else {
        return;
    };
    let mut s = TestSession::new(level).await;
    s.run("kept = 1").await.assert_ok();
    // Children fill the container's memory together (each stays under the address-space
    // limit); the kernel volunteers as the OOM killer's victim before letting them go.
    let r = s
        .run(
            r#"
import os, time
r, w = os.pipe()
for _ in range(4):
    if os.fork() == 0:
        os.close(w)
        os.read(r, 1)
        hog = b'x' * (200 << 20)
        time.sleep(60)
        os._exit(0)
os.close(r)
with open('/proc/self/oom_score_adj', 'w') as f:
    f.write('1000')
os.close(w)
time.sleep(60)
"#,
        )
        .await;
    assert_eq!(r.status, CellStatus::KernelDied);
    let (ename, message, ..) = r.error().expect("an error");
    assert_eq!(ename, "KernelDied");
    assert!(message.contains("out-of-memory killer"), "{message}");
    assert!(message.contains("512 MiB"), "{message}");
    let r = s.run("'kept' in globals()").await;
    assert_eq!(r.value(), Some(json!(false)));
    assert!(r.restarted().is_some(), "the next cell is told");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_of_a_killed_mcpr_are_swept_at_the_next_start() {
    if docker_level().await.is_none() {
        return;
    }
    let dir = common::project_dir_at(mcpr::sandbox::IsolationRequest::Docker);
    let mut child = Command::new(mcpr_bin())
        .args(["exec", "--session", "k", "import time\ntime.sleep(120)"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mcpr starts");
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    while common::engines::containers_of(pid).await.is_empty() {
        assert!(
            Instant::now() < deadline,
            "no container of mcpr {pid} appeared"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    // Nothing of the killed process removed its container...
    assert_eq!(common::engines::containers_of(pid).await.len(), 1);
    // ...until the next mcpr talks to the engine.
    common::mcpr_ok(dir.path(), &["exec", "--session", "n", "1"]);
    assert_eq!(
        common::engines::containers_of(pid).await,
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_the_hardening_of_a_trial_container() {
    if docker_level().await.is_none() {
        return;
    }
    let dir = common::project_dir_at(mcpr::sandbox::IsolationRequest::Docker);
    let doctor = |dir: &std::path::Path| -> Vec<serde_json::Value> {
        let out = common::mcpr_ok(dir, &["doctor", "--json"]);
        serde_json::from_slice(&out.stdout).expect("JSON")
    };
    let item = |checks: &[serde_json::Value], name: &str| {
        checks
            .iter()
            .find(|c| c["item"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} line: {checks:?}"))
    };
    let checks = doctor(dir.path());
    assert!(
        !checks.iter().any(|c| c["item"] == "isolation"),
        "the subprocess isolation line does not judge docker kernels: {checks:?}"
    );
    let engine = item(&checks, "docker");
    assert_eq!(engine["verdict"], "ok", "{engine}");
    assert!(
        engine["detail"].as_str().unwrap().contains("API 1."),
        "{engine}"
    );
    let hardening = item(&checks, "hardening");
    assert_eq!(hardening["verdict"], "ok", "{hardening}");
    for part in [
        "no network",
        "read-only root",
        "no capabilities",
        "seccomp",
        "non-root uid",
    ] {
        assert!(
            hardening["detail"].as_str().unwrap().contains(part),
            "{hardening}"
        );
    }

    // An image the engine does not have is named, with what to do.
    std::fs::write(
        dir.path().join("mcpr.toml"),
        "[kernel]\nisolation = \"docker\"\n[docker]\nimage = \"mcpr-no-such-image:1\"\n",
    )
    .unwrap();
    let checks = doctor(dir.path());
    let engine = item(&checks, "docker");
    assert_eq!(engine["verdict"], "missing", "{engine}");
    assert!(
        engine["detail"]
            .as_str()
            .unwrap()
            .contains("no image mcpr-no-such-image:1"),
        "{engine}"
    );
    assert!(
        engine["fix"].as_str().unwrap().contains("setup-docker.sh"),
        "{engine}"
    );
}

#[test]
fn a_remote_engine_in_bind_mode_is_refused_with_what_to_do() {
    // No engine is needed: the address is refused before anything is contacted.
    let dir = common::project_dir_at(mcpr::sandbox::IsolationRequest::Docker);
    std::fs::write(
        dir.path().join("mcpr.toml"),
        "[kernel]\nisolation = \"docker\"\n[docker]\nhost = \"tcp://203.0.113.1:2376\"\nworkspace = \"bind\"\n",
    )
    .unwrap();
    let out = common::mcpr_in(dir.path(), &["exec", "1"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("needs an engine on this host") && err.contains("tcp://203.0.113.1:2376"),
        "{err}"
    );
    assert!(
        err.contains("workspace = \"sync\"") && err.contains("docs/REMOTE-ENGINES.md"),
        "{err}"
    );
}

/// Two engines (dockerd each with its own socket and data root) as one pool: sessions
/// spread over both; one engine is killed while cells run on both; the other engine's
/// sessions carry on with their state, the lost ones say which engine went and what to
/// do, and new kernels go to the engine that is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_as_one_pool_survive_the_death_of_one() {
    if docker_level().await.is_none() {
        return;
    }
    let (Some(a), Some(b)) = (
        common::engines::local("pool-a"),
        common::engines::local("pool-b"),
    ) else {
        return;
    };
    // Bound workspaces: the test finds each session's engine by its container's bind
    // source and talks to the running cells through the host's folders.
    let settings = mcpr::backend::docker::DockerSettings {
        engines: vec![a.clone(), b.clone()],
        workspace: mcpr::backend::docker::settings::WorkspaceMode::Bind,
        ..mcpr::backend::docker::DockerSettings::default()
    };
    let launcher = common::engines::launcher(settings);
    let root = tempfile::tempdir().unwrap();
    let mut sessions = Vec::new();
    for i in 0..4 {
        let ws = root.path().join(format!("s{i}"));
        std::fs::create_dir_all(&ws).unwrap();
        let ws = ws.canonicalize().unwrap();
        let mut s = mcpr::session::Session::start(
            launcher.clone(),
            mcpr::hostcall::HostCalls::with_builtins(),
            format!("s{i}"),
            ws.clone(),
        )
        .await
        .expect("session starts");
        let mut ok = true;
        s.run_cell(&format!("x = {i}"), &mut |e| {
            if matches!(e, mcpr::event::Event::Error { .. }) {
                ok = false
            }
        })
        .await;
        assert!(ok, "session {i} runs a cell");
        sessions.push((ws, s));
    }
    let on_a = common::engines::workspaces_on(&a).await;
    let on_b = common::engines::workspaces_on(&b).await;
    assert_eq!(
        (on_a.len(), on_b.len()),
        (2, 2),
        "placed by free capacity: {on_a:?} {on_b:?}"
    );

    // Every session runs a cell that waits for the host's word; engine b dies meanwhile.
    let code = "import os, time\nopen('started', 'w').close()\nwhile not os.path.exists('go'):\n    time.sleep(0.02)\n'done'";
    let mut running = Vec::new();
    for (ws, mut s) in sessions {
        running.push(tokio::spawn(async move {
            let mut events = Vec::new();
            let status = s.run_cell(code, &mut |e| events.push(e)).await;
            (ws, s, status, events)
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while !on_a
        .iter()
        .chain(&on_b)
        .all(|ws| ws.join("started").exists())
    {
        assert!(Instant::now() < deadline, "the cells did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    common::engines::kill("pool-b");
    for ws in on_a.iter().chain(&on_b) {
        std::fs::write(ws.join("go"), "").unwrap();
    }
    let mut survivors = Vec::new();
    for task in running {
        let (ws, s, status, events) = task.await.unwrap();
        let error = events.iter().find_map(|e| match e {
            mcpr::event::Event::Error { message, .. } => Some(message.clone()),
            _ => None,
        });
        if on_b.contains(&ws) {
            assert_eq!(status, CellStatus::KernelDied, "{events:?}");
            let message = error.expect("the lost kernel says why");
            assert!(
                message.contains(&format!("Docker engine at {b}"))
                    && message.contains("stopped answering")
                    && message.contains("Start the engine again"),
                "{message}"
            );
            survivors.push((ws, s, true));
        } else {
            assert_eq!(status, CellStatus::Ok, "{error:?}");
            survivors.push((ws, s, false));
        }
    }
    // The other engine's sessions kept their kernels; the lost ones restart on it.
    for (ws, s, lost) in &mut survivors {
        let mut value = None;
        let mut restarted = None;
        s.run_cell("x", &mut |e| match e {
            mcpr::event::Event::Value { json, .. } => value = json,
            mcpr::event::Event::KernelRestarted { reason } => restarted = Some(reason),
            _ => {}
        })
        .await;
        if *lost {
            let reason = restarted.expect("told of the restart");
            assert!(reason.contains(&b), "{reason}");
        } else {
            assert!(restarted.is_none(), "{ws:?} kept its kernel");
            assert!(value.is_some(), "{ws:?} kept its state");
        }
    }
    let now_on_a = common::engines::workspaces_on(&a).await;
    assert_eq!(now_on_a.len(), 4, "every session now runs on {a}");
    // Engine b comes back (removing what its death left running); once its back-off is
    // over it is tried again, and as the emptier engine it gets the next kernels.
    common::engines::local("pool-b");
    let mut later = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while common::engines::workspaces_on(&b).await.is_empty() {
        assert!(Instant::now() < deadline, "{b} was never tried again");
        let ws = root.path().join(format!("later{}", later.len()));
        std::fs::create_dir_all(&ws).unwrap();
        later.push(
            mcpr::session::Session::start(
                launcher.clone(),
                mcpr::hostcall::HostCalls::with_builtins(),
                "later".into(),
                ws,
            )
            .await
            .expect("a session starts while one engine is down"),
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for s in later {
        s.close().await;
    }
    for (_, s, _) in survivors {
        s.close().await;
    }
    common::engines::stop("pool-b");
}

/// An engine that hangs (its dockerd stopped: the socket still accepts, nothing answers,
/// as with a remote engine behind a network partition): the session on it ends its cell
/// at the time limit with an error naming the engine instead of waiting for it, the
/// session on the other engine carries on, and a new session is placed on the engine
/// that answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_engine_costs_its_own_sessions_only() {
    if docker_level().await.is_none() {
        return;
    }
    let (Some(a), Some(b)) = (
        common::engines::local("hang-a"),
        common::engines::local("hang-b"),
    ) else {
        return;
    };
    let config = mcpr::project::KernelConfig {
        timeout_seconds: 3.0,
        grace_seconds: 1.0,
        docker: mcpr::backend::docker::DockerSettings {
            engines: vec![a.clone(), b.clone()],
            workspace: mcpr::backend::docker::settings::WorkspaceMode::Bind,
            ..mcpr::backend::docker::DockerSettings::default()
        },
        ..mcpr::project::KernelConfig::default()
    };
    let launcher = mcpr::session::Launcher::from_config(
        &config,
        Some(mcpr::sandbox::IsolationRequest::Docker),
    )
    .expect("launcher");
    let root = tempfile::tempdir().unwrap();
    let start = |name: &'static str| common::engines::start_session(&launcher, root.path(), name);
    let (ws1, mut s1) = start("one").await;
    let (ws2, mut s2) = start("two").await;
    for s in [&mut s1, &mut s2] {
        assert_eq!(s.run_cell("x = 1", &mut |_| {}).await, CellStatus::Ok);
    }
    let on_b = common::engines::workspaces_on(&b).await;
    assert_eq!(on_b.len(), 1, "one session on each engine: {on_b:?}");
    let (mut hung, mut healthy) = if on_b[0] == ws1 { (s1, s2) } else { (s2, s1) };
    assert!(on_b[0] == ws1 || on_b[0] == ws2);

    common::engines::hang("hang-b", true);
    let healthy_cell = async {
        let mut value = None;
        let status = healthy
            .run_cell("x + 1", &mut |e| {
                if let mcpr::event::Event::Value { json, .. } = e {
                    value = json
                }
            })
            .await;
        (status, value)
    };
    let hung_cell = async {
        let mut errors = Vec::new();
        let status = hung
            .run_cell("x + 1", &mut |e| {
                if let mcpr::event::Event::Error { message, .. } = e {
                    errors.push(message)
                }
            })
            .await;
        (status, errors)
    };
    let ((status, value), (hung_status, errors)) = tokio::time::timeout(
        Duration::from_secs(120),
        futures::future::join(healthy_cell, hung_cell),
    )
    .await
    .expect("no cell waits for the hung engine past its own limits");
    assert_eq!(status, CellStatus::Ok);
    assert_eq!(value, Some(json!(2)));
    assert_ne!(hung_status, CellStatus::Ok);
    assert!(
        errors.iter().any(|m| m.contains(&b)),
        "the error names the engine: {errors:?}"
    );
    // A new kernel goes to the engine that answers.
    let (ws3, s3) = tokio::time::timeout(Duration::from_secs(60), start("three"))
        .await
        .expect("placement does not wait for the hung engine");
    assert!(common::engines::workspaces_on(&a).await.contains(&ws3));

    common::engines::hang("hang-b", false);
    s3.close().await;
    healthy.close().await;
    hung.close().await;
    common::engines::stop("hang-a");
    common::engines::stop("hang-b");
}

/// Placement by free capacity when the engines are not equally busy: kernels already
/// running on one engine (here another pool's, as another mcpr's would be) send new
/// sessions to the other until both have the same room left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_kernels_go_where_the_most_room_is_left() {
    if docker_level().await.is_none() {
        return;
    }
    let (Some(a), Some(b)) = (
        common::engines::local("place-a"),
        common::engines::local("place-b"),
    ) else {
        return;
    };
    let settings = |engines: Vec<String>| mcpr::backend::docker::DockerSettings {
        engines,
        capacity: 4,
        workspace: mcpr::backend::docker::settings::WorkspaceMode::Bind,
        ..mcpr::backend::docker::DockerSettings::default()
    };
    let root = tempfile::tempdir().unwrap();
    // Two kernels on a alone (a launcher that knows only a).
    let only_a = common::engines::launcher(settings(vec![a.clone()]));
    let mut sessions = Vec::new();
    for i in 0..2 {
        sessions
            .push(common::engines::start_session(&only_a, root.path(), &format!("busy{i}")).await);
    }
    // The pool of both: a has 2 of 4 free, b 4 of 4, so two new kernels go to b, and
    // the fifth (a tie at 2 each) to a, the first listed.
    let both = common::engines::launcher(settings(vec![a.clone(), b.clone()]));
    let mut placed = Vec::new();
    for i in 0..3 {
        let (ws, s) = common::engines::start_session(&both, root.path(), &format!("new{i}")).await;
        let on_b = common::engines::workspaces_on(&b).await.contains(&ws);
        placed.push(if on_b { "b" } else { "a" });
        sessions.push((ws, s));
    }
    assert_eq!(placed, ["b", "b", "a"]);
    for (_, s) in sessions {
        s.close().await;
    }
    common::engines::stop("place-a");
    common::engines::stop("place-b");
}
