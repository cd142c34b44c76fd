//! Engines that cannot see this host's folders: the workspace copied into the container
//! at start and back at each step boundary (forced on the local engine with
//! `[docker] workspace = "sync"`, and by default on a tcp+TLS engine), the copy back never
//! writing outside the workspace whatever the container's code planted, and bind mounts
//! of host paths holding ':'.
//!
//! Each test needs an engine with the default image (scripts/setup-docker.sh); without
//! one it says why and skips, unless `MCPR_REQUIRE_DOCKER=1` (CI) makes that a failure.

mod common;

use common::docker_level;
use mcpr::backend::docker::DockerSettings;
use mcpr::backend::docker::settings::WorkspaceMode;
use mcpr::event::{CellStatus, Event};
use mcpr::hostcall::HostCalls;
use mcpr::session::{Launcher, Session};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// A session of `launcher` in `ws`; runs cells and returns (status, value, stderr).
struct Synced {
    session: Session,
}

impl Synced {
    async fn start(launcher: Launcher, ws: &Path) -> Synced {
        let session = Session::start(launcher, HostCalls::with_builtins(), "s".into(), ws.into())
            .await
            .expect("session starts");
        Synced { session }
    }

    async fn run(&mut self, code: &str) -> (CellStatus, Option<Value>, String) {
        let mut value = None;
        let mut stderr = String::new();
        let status = self
            .session
            .run_cell(code, &mut |e| match e {
                Event::Value { json, .. } => value = json,
                Event::Error { ename, message, .. } => {
                    stderr.push_str(&format!("{ename}: {message}\n"))
                }
                Event::Output {
                    text,
                    stream: mcpr::event::Stream::Stderr,
                    ..
                } => stderr.push_str(&text),
                _ => {}
            })
            .await;
        (status, value, stderr)
    }
}

fn sync_settings() -> DockerSettings {
    DockerSettings {
        workspace: WorkspaceMode::Sync,
        ..DockerSettings::default()
    }
}

fn workspace(root: &Path) -> PathBuf {
    let ws = root.join("workspace");
    std::fs::create_dir_all(ws.join("sub")).unwrap();
    std::fs::write(ws.join("in.txt"), "from the host").unwrap();
    std::fs::write(ws.join("sub/deep.txt"), "deep").unwrap();
    ws
}

/// Host files are in the container at start; what a cell writes, makes and removes is
/// so on the host once the step is over, while the kernel keeps running.
async fn round_trip(launcher: Launcher) {
    let root = tempfile::tempdir().unwrap();
    let ws = workspace(root.path());
    let mut s = Synced::start(launcher, &ws).await;
    let (status, value, stderr) = s
        .run(
            "import os\nfs = [l.split()[2] for l in open('/proc/mounts') if l.split()[1] == '/workspace']\nfound = [fs, open('in.txt').read(), open('sub/deep.txt').read()]\nopen('out.txt', 'w').write('from the kernel')\nos.makedirs('made/deeper')\nopen('made/deeper/f.bin', 'wb').write(bytes(range(256)) * 1000)\nos.remove('sub/deep.txt')\nos.chmod('out.txt', 0o600)\nfound",
        )
        .await;
    assert_eq!(status, CellStatus::Ok, "{stderr}");
    // A copy in a tmpfs volume, not a bind of the host's folder.
    assert_eq!(value, Some(json!([["tmpfs"], "from the host", "deep"])));
    assert_eq!(
        std::fs::read_to_string(ws.join("out.txt")).unwrap(),
        "from the kernel"
    );
    assert_eq!(
        std::fs::read(ws.join("made/deeper/f.bin")).unwrap(),
        (0..=255u8).collect::<Vec<_>>().repeat(1000)
    );
    assert!(
        !ws.join("sub/deep.txt").exists(),
        "removed in the container"
    );
    assert!(ws.join("sub").is_dir());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(ws.join("out.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // The next step sees its own files, and changes them again.
    let (status, value, stderr) = s
        .run("open('out.txt', 'a').write(' again')\nsorted(os.listdir('.'))")
        .await;
    assert_eq!(status, CellStatus::Ok, "{stderr}");
    assert_eq!(value, Some(json!(["in.txt", "made", "out.txt", "sub"])));
    assert_eq!(
        std::fs::read_to_string(ws.join("out.txt")).unwrap(),
        "from the kernel again"
    );
    // What the host changes between steps (a rewind restoring files, a hand-made edit)
    // is in the container before the next cell: new files, changed ones, removed ones.
    std::fs::write(ws.join("made/host-new.txt"), "new on the host").unwrap();
    std::fs::write(ws.join("in.txt"), "changed on the host").unwrap();
    std::fs::remove_dir_all(ws.join("made/deeper")).unwrap();
    let (status, value, stderr) = s
        .run("[open('made/host-new.txt').read(), open('in.txt').read(), os.path.exists('made/deeper')]")
        .await;
    assert_eq!(status, CellStatus::Ok, "{stderr}");
    assert_eq!(
        value,
        Some(json!(["new on the host", "changed on the host", false]))
    );
    // A host call in the middle of a cell brings the host's changes in, never the
    // host's older copy of what the kernel just changed.
    let (status, value, stderr) = s
        .run(
            "open('out.txt', 'w').write('changed in the cell')
import mcpr
mcpr.host_call('echo', x=1)
open('out.txt').read()",
        )
        .await;
    assert_eq!(status, CellStatus::Ok, "{stderr}");
    assert_eq!(value, Some(json!("changed in the cell")));
    s.session.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synced_workspace_goes_in_at_start_and_comes_back_at_each_step() {
    if docker_level().await.is_none() {
        return;
    }
    round_trip(common::engines::launcher(sync_settings())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_over_tcp_with_tls_gets_a_synced_workspace() {
    if docker_level().await.is_none() {
        return;
    }
    let Some((address, certs)) = common::engines::tls("tls1", 23760) else {
        return;
    };
    // Any address that is not a local socket syncs by default.
    let settings = DockerSettings {
        host: Some(address.clone()),
        cert_path: Some(certs.clone()),
        ..DockerSettings::default()
    };
    assert!(settings.syncs(&address));
    round_trip(common::engines::launcher(settings)).await;

    // Without the client files there is no TLS to speak: the error says which engine and
    // which setting names the files.
    let settings = DockerSettings {
        host: Some(address.clone()),
        cert_path: Some(PathBuf::from("/nonexistent-certs")),
        ..DockerSettings::default()
    };
    let root = tempfile::tempdir().unwrap();
    let ws = workspace(root.path());
    let err = Session::start(
        common::engines::launcher(settings),
        HostCalls::with_builtins(),
        "t".into(),
        ws,
    )
    .await
    .err()
    .expect("no session without TLS files")
    .to_string();
    assert!(err.contains(&address) && err.contains("cert_path"), "{err}");
}

/// An engine reached over ssh (`docker system dial-stdio` on the other side, as the
/// Docker CLI does): the kernel protocol, the attachment and the workspace copies all go
/// through the ssh connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_over_ssh_gets_a_synced_workspace() {
    if docker_level().await.is_none() {
        return;
    }
    let Some((address, key)) = common::engines::ssh(23790) else {
        return;
    };
    let settings = DockerSettings {
        host: Some(address.clone()),
        ssh_identity: Some(key),
        ..DockerSettings::default()
    };
    assert!(settings.syncs(&address));
    round_trip(common::engines::launcher(settings)).await;

    // A key that is not there is named, with the setting that names it.
    let settings = DockerSettings {
        host: Some(address.clone()),
        ssh_identity: Some(PathBuf::from("/nonexistent-key")),
        ..DockerSettings::default()
    };
    let root = tempfile::tempdir().unwrap();
    let err = start_error(settings, root.path(), "no session without the key").await;
    assert!(
        err.contains(&address) && err.contains("ssh_identity") && err.contains("/nonexistent-key"),
        "{err}"
    );

    // A key the host does not let in: what ssh said reaches the user.
    let stranger = root.path().join("stranger");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&stranger)
        .status()
        .unwrap();
    assert!(made.success());
    let settings = DockerSettings {
        host: Some(address.clone()),
        ssh_identity: Some(stranger),
        ..DockerSettings::default()
    };
    let err = start_error(
        settings,
        root.path(),
        "no session with a key the host refuses",
    )
    .await;
    assert!(
        err.contains(&address) && err.contains("ssh said") && err.contains("Permission denied"),
        "{err}"
    );
}

/// Why a session on `settings` does not start (it must not).
async fn start_error(settings: DockerSettings, root: &Path, what: &str) -> String {
    match Session::start(
        common::engines::launcher(settings),
        HostCalls::with_builtins(),
        "t".into(),
        workspace(root),
    )
    .await
    {
        Ok(_) => panic!("{what}"),
        Err(e) => e.to_string(),
    }
}

/// A host folder outside the workspace with a file code would love to overwrite.
const ORIGINAL: &str = "ORIGINAL host content";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_copy_back_never_writes_through_a_planted_symlink() {
    if docker_level().await.is_none() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let outside = root.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("target"), ORIGINAL).unwrap();
    let ws = workspace(root.path());
    let mut s = Synced::start(common::engines::launcher(sync_settings()), &ws).await;
    let target = outside.join("target").display().to_string();
    let dir = outside.display().to_string();
    // Step 1: links to the host file and folder (meaningless inside the container).
    let (status, _, stderr) = s
        .run(&format!(
            "import os\nos.symlink({target:?}, 'link')\nos.symlink({dir:?}, 'linkdir')\nos.remove('in.txt')\nos.symlink({target:?}, 'in.txt')"
        ))
        .await;
    assert_eq!(status, CellStatus::Ok, "{stderr}");
    assert!(ws.join("link").is_symlink(), "links come back as links");
    // Step 2: the same names become a file and a folder with a file in it.
    let (status, _, stderr) = s
        .run("os.remove('link')\nopen('link', 'w').write('pwned')\nos.remove('linkdir')\nos.mkdir('linkdir')\nopen('linkdir/target', 'w').write('pwned')\nos.remove('in.txt')\nopen('in.txt', 'w').write('pwned')")
        .await;
    assert_eq!(status, CellStatus::Ok, "{stderr}");
    assert_eq!(
        std::fs::read_to_string(outside.join("target")).unwrap(),
        ORIGINAL
    );
    let names: Vec<_> = std::fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["target"], "nothing appeared outside");
    assert!(!ws.join("link").is_symlink());
    assert_eq!(std::fs::read_to_string(ws.join("link")).unwrap(), "pwned");
    assert!(!ws.join("linkdir").is_symlink() && ws.join("linkdir").is_dir());
    assert_eq!(
        std::fs::read_to_string(ws.join("linkdir/target")).unwrap(),
        "pwned"
    );
    s.session.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bound_workspace_path_may_hold_a_colon() {
    if docker_level().await.is_none() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let ws = root.path().join("work:space").join("s:1");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(ws.join("in.txt"), "from the host").unwrap();
    let settings = DockerSettings {
        workspace: WorkspaceMode::Bind,
        ..DockerSettings::default()
    };
    let mut s = Synced::start(common::engines::launcher(settings), &ws).await;
    let (status, value, stderr) = s
        .run("open('out.txt', 'w').write('bound')\nopen('in.txt').read()")
        .await;
    assert_eq!(status, CellStatus::Ok, "{stderr}");
    assert_eq!(value, Some(json!("from the host")));
    assert_eq!(
        std::fs::read_to_string(ws.join("out.txt")).unwrap(),
        "bound"
    );
    s.session.close().await;
}
