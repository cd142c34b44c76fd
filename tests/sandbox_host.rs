//! How little of the host kernel and filesystem a `namespaces` kernel sees and may use:
//! a minimal /etc, no /usr/local, no nested user namespaces, a seccomp filter refusing
//! what a Python kernel never needs — while ordinary Python keeps working. Checked from
//! inside real sandboxed kernels.

mod common;

use std::path::{Path, PathBuf};

use common::{TestSession, mcpr_bin, stderr, stdout};
use mcpr::event::CellStatus;
use mcpr::hostcall::HostCalls;
use mcpr::project::KernelConfig;
use mcpr::sandbox::IsolationRequest::Namespaces;
use mcpr::sandbox::etc::FROM_HOST;
use mcpr::session::{Launcher, Session};
use serde_json::{Value, json};

/// A world-readable file planted on the host for one test, removed even if it fails.
struct Planted(PathBuf);

impl Planted {
    /// Plants `name` in `dir`, or returns None when this user may not write there.
    fn new(dir: &str, name: &str) -> Option<Planted> {
        use std::os::unix::fs::PermissionsExt;
        let path = Path::new(dir).join(format!("{name}-{}", std::process::id()));
        std::fs::write(&path, "planted by mcpr's tests").ok()?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).ok()?;
        Some(Planted(path))
    }
}

impl Drop for Planted {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn running_as_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The kernel's name in the sandbox's generated passwd: its own `mcpr` entry, unless it
/// runs as the caller and the caller is `nobody` (65534).
fn kernel_user_name() -> &'static str {
    if nix::unistd::getuid().as_raw() == 65534 {
        "nobody"
    } else {
        "mcpr"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_planted_in_etc_and_usr_local_are_invisible() {
    let in_etc = Planted::new("/etc", "mcpr-planted");
    let in_usr_local = Planted::new("/usr/local", "mcpr-planted");
    if running_as_root() {
        assert!(in_etc.is_some() && in_usr_local.is_some(), "root can plant");
    }
    let mut s = TestSession::new(Namespaces).await;
    let planted: Vec<String> = [&in_etc, &in_usr_local]
        .into_iter()
        .flatten()
        .map(|p| p.0.display().to_string())
        .collect();
    // Under /usr/local only the interpreter's own folders may show (Debian's Python
    // reads /usr/local/lib/python3.X/dist-packages).
    let code = format!(
        "import os, sys\ndef usr_local():\n    found = []\n    for root, dirs, files in os.walk('/usr/local'):\n        found += [os.path.join(root, f) for f in files]\n    return [p for p in found if not any(p.startswith(s + '/') for s in sys.path)]\n{{'planted': [p for p in {planted:?} if os.path.exists(p)], 'etc': sorted(os.listdir('/etc')), 'usr_local': usr_local()}}"
    );
    let r = s.run(&code).await;
    let v = r.value().unwrap_or_else(|| panic!("{:?}", r.error()));
    assert_eq!(v["planted"], json!([]), "planted files are visible");
    assert_eq!(v["usr_local"], json!([]), "/usr/local is visible");
    // /etc holds only the listed host entries (by first component) and generated files.
    let mut allowed: Vec<&str> = FROM_HOST
        .iter()
        .map(|(name, _)| name.split('/').next().unwrap_or(name))
        .collect();
    allowed.extend(["passwd", "group", "hosts", "nsswitch.conf", "mtab"]);
    let etc: Vec<&str> = v["etc"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    for name in &etc {
        assert!(allowed.contains(name), "/etc/{name} is visible: {etc:?}");
    }
    for needed in ["ld.so.cache", "passwd", "group", "nsswitch.conf"] {
        assert!(etc.contains(&needed), "/etc/{needed} is missing: {etc:?}");
    }
    // What is there cannot be changed.
    let r = s.run("open('/etc/passwd', 'a').write('x')").await;
    assert_eq!(r.status, CellStatus::Error);
}

/// Tries `unshare(CLONE_NEWUSER)` (os.unshare on 3.12+, libc's otherwise) and gives the
/// errno it failed with, 0 if it worked.
const TRY_UNSHARE_USER: &str = r#"import ctypes, os
def try_unshare_user():
    if hasattr(os, "unshare"):
        try:
            os.unshare(os.CLONE_NEWUSER)
            return 0
        except OSError as e:
            return e.errno
    libc = ctypes.CDLL(None, use_errno=True)
    return 0 if libc.unshare(0x10000000) == 0 else ctypes.get_errno()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_user_namespaces_are_refused_in_a_child_and_in_the_kernel() {
    let mut s = TestSession::new(Namespaces).await;
    s.run(TRY_UNSHARE_USER).await.assert_ok();
    let r = s
        .run("pid = os.fork()\nif pid == 0:\n    os._exit(try_unshare_user())\n_, status = os.waitpid(pid, 0)\n[os.waitstatus_to_exitcode(status), try_unshare_user()]")
        .await;
    assert_eq!(
        r.value(),
        Some(json!([libc::EPERM, libc::EPERM])),
        "{:?}",
        r.error()
    );
    // The command-line tool fails the same way, and the kernel carries on.
    let r = s
        .run("import shutil, subprocess\nu = shutil.which('unshare')\nNone if u is None else subprocess.run([u, '-U', 'true'], capture_output=True).returncode != 0")
        .await;
    assert_ne!(r.value(), Some(json!(false)), "{:?}", r.error());
    let r = s.run("6 * 7").await;
    assert_eq!(r.value(), Some(json!(42)));
}

/// Calls each system call through libc's `syscall` with harmless arguments, giving the
/// errno name it failed with (or "ok"). Unfiltered, most of these fail otherwise (EFAULT,
/// EBADF, ESRCH) or succeed, so EPERM is the filter's answer.
fn denied_calls_code() -> String {
    let calls: [(&str, i64, &str); 10] = [
        ("mount", libc::SYS_mount, "0, 0, 0, 0, 0"),
        ("keyctl", libc::SYS_keyctl, "0, -3, 0"),
        ("bpf", libc::SYS_bpf, "0, 0, 0"),
        (
            "perf_event_open",
            libc::SYS_perf_event_open,
            "0, 0, -1, -1, 0",
        ),
        // UFFD_USER_MODE_ONLY | O_CLOEXEC: allowed to anyone unfiltered.
        ("userfaultfd", libc::SYS_userfaultfd, "1 | 0o2000000"),
        ("io_uring_setup", libc::SYS_io_uring_setup, "1, 0"),
        ("ptrace", libc::SYS_ptrace, "16, 999999, 0, 0"),
        ("unshare", libc::SYS_unshare, "0x10000000"),
        ("setns", libc::SYS_setns, "-1, 0"),
        ("clone3", libc::SYS_clone3, "0, 0"),
    ];
    let mut code = String::from(
        "import ctypes, errno\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.syscall.restype = ctypes.c_long\ndef call(nr, *args):\n    ctypes.set_errno(0)\n    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])\n    return 'ok' if r >= 0 else errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))\nresults = {}\n",
    );
    for (name, nr, args) in calls {
        code.push_str(&format!("results[{name:?}] = call({nr}, {args})\n"));
    }
    code.push_str("results['seccomp_mode'] = [l.split(':')[1].strip() for l in open('/proc/self/status') if l.startswith('Seccomp:')][0]\nresults");
    code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_system_calls_fail_with_eperm_while_ordinary_python_works() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let host_zone = std::process::Command::new("python3")
        .args(["-c", "import time; print(time.localtime().tm_zone)"])
        .output()
        .map(|o| stdout(&o).trim().to_string())
        .unwrap();
    let mut s = TestSession::new(Namespaces).await;

    let r = s.run(&denied_calls_code()).await;
    let v = r.value().unwrap_or_else(|| panic!("{:?}", r.error()));
    assert_eq!(v["seccomp_mode"], json!("2"), "no seccomp filter: {v}");
    for name in [
        "mount",
        "keyctl",
        "bpf",
        "perf_event_open",
        "userfaultfd",
        "io_uring_setup",
        "ptrace",
        "unshare",
        "setns",
    ] {
        assert_eq!(v[name], json!("EPERM"), "{name}: {v}");
    }
    // clone3's flags cannot be inspected: it answers "not implemented" so glibc uses clone.
    assert_eq!(v["clone3"], json!("ENOSYS"), "{v}");

    let code = format!(
        r#"import threading, subprocess, multiprocessing, ctypes, ssl, socket, pwd, os, time
import sqlite3, json, decimal
out = {{}}
done = []
t = threading.Thread(target=lambda: done.append(sum(range(10))))
t.start(); t.join()
out["thread"] = done
ls = subprocess.run(["ls", "/"], capture_output=True, text=True)
out["ls"] = [ls.returncode, "workspace" in ls.stdout.split()]
with multiprocessing.get_context("fork").Pool(2) as pool:
    out["pool"] = pool.map(abs, [-1, -2, -3])
out["cdll"] = ctypes.CDLL(None).getpid() > 0
out["ssl_cas"] = ssl.create_default_context().cert_store_stats()["x509_ca"] > 0
sock = socket.socket()
try:
    sock.connect(("127.0.0.1", {port}))
    out["connect"] = "connected"
except ConnectionRefusedError:
    out["connect"] = "refused"
finally:
    sock.close()
out["user"] = pwd.getpwuid(os.getuid()).pw_name
out["zone"] = time.localtime().tm_zone
out["stdlib"] = [sqlite3.connect(":memory:").execute("select 1").fetchone()[0], json.loads("[2]")[0], str(decimal.Decimal("1.1") + decimal.Decimal("2.2"))]
out"#
    );
    let r = s.run(&code).await;
    assert_eq!(
        r.value(),
        Some(json!({
            "thread": [45],
            "ls": [0, true],
            "pool": [1, 2, 3],
            "cdll": true,
            "ssl_cas": true,
            "connect": "refused",
            "user": kernel_user_name(),
            "zone": host_zone,
            "stdlib": [1, 2, "3.3"],
        })),
        "{:?}",
        r.error()
    );
    drop(listener);
}

/// A session whose kernel may also read `readonly_paths`.
async fn session_with_readonly_paths(
    readonly_paths: Vec<PathBuf>,
) -> Result<(Session, tempfile::TempDir), String> {
    let config = KernelConfig {
        timeout_seconds: 20.0,
        readonly_paths,
        ..KernelConfig::default()
    };
    let launcher = Launcher::from_config(&config, Some(Namespaces)).map_err(|e| e.to_string())?;
    let dir = common::project_dir();
    let ws = dir.path().join("workspace").join("s");
    std::fs::create_dir_all(&ws).unwrap();
    let session = Session::start(launcher, HostCalls::with_builtins(), "s".into(), ws)
        .await
        .map_err(|e| e.to_string())?;
    Ok((session, dir))
}

async fn run(session: &mut Session, code: &str) -> (CellStatus, Option<Value>) {
    let mut events = Vec::new();
    let status = session.run_cell(code, &mut |e| events.push(e)).await;
    let value = events.iter().find_map(|e| match e {
        mcpr::event::Event::Value { json, .. } => json.clone(),
        _ => None,
    });
    (status, value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readonly_paths_are_readable_at_their_host_path_and_not_writable() {
    use std::os::unix::fs::PermissionsExt;
    // Not under /tmp, which the sandbox replaces with its own (nor in the checkout, which
    // may itself live under /tmp).
    let shared = tempfile::tempdir_in("/var/tmp").unwrap();
    // Writable by anyone on the host, so only the read-only mount stops the kernel.
    std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::write(shared.path().join("data.txt"), "shared data").unwrap();
    std::fs::set_permissions(
        shared.path().join("data.txt"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    let (mut session, _dir) = session_with_readonly_paths(vec![shared.path().to_path_buf()])
        .await
        .unwrap();
    let path = shared.path().join("data.txt");
    let (_, value) = run(&mut session, &format!("open({path:?}).read()")).await;
    assert_eq!(value, Some(json!("shared data")));
    let (status, _) = run(&mut session, &format!("open({path:?}, 'a').write('x')")).await;
    assert_eq!(status, CellStatus::Error);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "shared data",
        "the host file changed"
    );

    let err = session_with_readonly_paths(vec![PathBuf::from("/no/such/mcpr/folder")])
        .await
        .err()
        .unwrap_or_default();
    assert!(
        err.contains("kernel.readonly_paths") && err.contains("/no/such/mcpr/folder"),
        "{err}"
    );
}

#[test]
fn doctor_lists_what_the_sandbox_sees_and_verifies_the_filter() {
    let dir = common::project_dir();
    std::fs::write(
        dir.path().join("mcpr.toml"),
        "[kernel]\nisolation = \"namespaces\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(mcpr_bin())
        .args(["doctor", "--json"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let checks: Vec<Value> = serde_json::from_str(&stdout(&out)).unwrap();
    let item = |name: &str| {
        checks
            .iter()
            .find(|c| c["item"] == name)
            .unwrap_or_else(|| panic!("no {name} in {checks:?}"))
    };
    for name in ["host paths", "etc", "extra paths", "userns", "seccomp"] {
        assert_eq!(item(name)["verdict"], "ok", "{:?}", item(name));
    }
    let etc = item("etc")["detail"].as_str().unwrap();
    assert!(
        etc.contains("ld.so.cache") && etc.contains("passwd"),
        "{etc}"
    );
    assert!(!etc.contains("shadow"), "{etc}");
    let host = item("host paths")["detail"].as_str().unwrap();
    let shown = host.split("; interpreter").next().unwrap_or_default();
    assert!(
        shown.contains("/usr/bin") && !shown.contains("/usr/local"),
        "{host}"
    );
    let userns = item("userns")["detail"].as_str().unwrap();
    assert!(userns.contains("Operation not permitted"), "{userns}");
    let seccomp = item("seccomp")["detail"].as_str().unwrap();
    assert!(
        seccomp.contains("Seccomp: 2") && seccomp.contains("keyctl"),
        "{seccomp}"
    );
}
