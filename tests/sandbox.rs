//! What code inside a `namespaces` kernel can and cannot reach, checked from inside a real
//! sandboxed kernel against real host resources.

mod common;

use common::{TestSession, mcpr_bin};
use mcpr::event::CellStatus;
use mcpr::sandbox::IsolationRequest::Namespaces;
use serde_json::json;

/// Runs `code` expecting it to fail with `ename`.
async fn fails_with(s: &mut TestSession, code: &str, ename: &str) -> String {
    let r = s.run(code).await;
    assert_eq!(r.status, CellStatus::Error, "{code} should fail");
    let (got, message, ..) = r.error().unwrap();
    assert_eq!(got, ename, "{code}: {message}");
    message
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_home_and_root_are_invisible() {
    let home = dirs::home_dir().expect("home");
    let secret = home.join(format!(".mcpr-sandbox-test-{}", std::process::id()));
    std::fs::write(&secret, "top secret").unwrap();
    let mut s = TestSession::new(Namespaces).await;
    let code = format!("open({:?}).read()", secret.to_str().unwrap());
    let r = s.run(&code).await;
    std::fs::remove_file(&secret).unwrap();
    assert_eq!(r.status, CellStatus::Error);
    assert!(!r.stdout().contains("top secret"));
    let (ename, ..) = r.error().unwrap();
    assert!(
        ename == "FileNotFoundError" || ename == "PermissionError",
        "{ename}"
    );
    // /root holds at most the folders leading to the interpreter; /home is absent.
    let r = s.run("import os\n[p for p in ('/root', '/home') if os.path.exists(p) and set(os.listdir(p)) - {'.pyenv', '.local'}]").await;
    assert_eq!(r.value(), Some(json!([])), "{:?}", r.error());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_workspace_and_private_tmp_are_writable() {
    let mut s = TestSession::new(Namespaces).await;
    for path in [
        "/usr/evil",
        "/etc/evil",
        "/evil",
        "/opt/mcpr-runtime/mcpr/evil.py",
    ] {
        let code = format!("open({path:?}, 'w').write('x')");
        let r = s.run(&code).await;
        assert_eq!(r.status, CellStatus::Error, "writing {path} must fail");
    }
    let r = s.run("open('in-workspace.txt', 'w').write('ok')\nopen('/tmp/scratch', 'w').write('ok')\nimport os\nos.getcwd()").await;
    r.assert_ok();
    assert_eq!(r.value(), Some(json!("/workspace")));
    assert_eq!(
        std::fs::read_to_string(s.workspace().join("in-workspace.txt")).unwrap(),
        "ok"
    );
    // The private /tmp is not the host's.
    assert!(!std::path::Path::new("/tmp/scratch").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_sessions_and_the_replay_store_are_invisible() {
    let mut s = TestSession::new(Namespaces).await;
    let project = s.dir.path();
    std::fs::create_dir_all(project.join(".replay")).unwrap();
    std::fs::write(project.join(".replay/record.jsonl"), "{}").unwrap();
    std::fs::create_dir_all(project.join("workspace/other")).unwrap();
    std::fs::write(project.join("workspace/other/private.txt"), "theirs").unwrap();
    let code = format!(
        "import os\n[os.path.exists(p) for p in ({:?}, {:?}, '../other/private.txt', '/workspace/../other')]",
        project.join(".replay/record.jsonl").to_str().unwrap(),
        project
            .join("workspace/other/private.txt")
            .to_str()
            .unwrap(),
    );
    let r = s.run(&code).await;
    assert_eq!(
        r.value(),
        Some(json!([false, false, false, false])),
        "{:?}",
        r.error()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_network_not_even_host_loopback() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut s = TestSession::new(Namespaces).await;
    let code = format!("import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=3)");
    fails_with(&mut s, &code, "ConnectionRefusedError").await;
    let r = s
        .run("import socket\ndef lookup():\n    try:\n        socket.getaddrinfo('pypi.org', 443)\n        return 'resolved'\n    except OSError:\n        return 'no dns'\nlookup()")
        .await;
    assert_eq!(r.value(), Some(json!("no dns")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_pids_no_terminal_unprivileged_identity() {
    let mut s = TestSession::new(Namespaces).await;
    let r = s
        .run("import os\npids = [p for p in os.listdir('/proc') if p.isdigit()]\n{'few_pids': len(pids) < 10, 'tty': os.isatty(0), 'sid_is_self': os.getsid(0) == os.getpgid(0), 'root': os.getuid() == 0}")
        .await;
    assert_eq!(
        r.value(),
        Some(json!({"few_pids": true, "tty": false, "sid_is_self": true, "root": false})),
        "{:?}",
        r.error()
    );
    let r = s.run("import os\nopen('/dev/tty')").await;
    assert_eq!(r.status, CellStatus::Error);
}

#[test]
fn host_secrets_never_reach_the_kernel_environment() {
    let out = std::process::Command::new(mcpr_bin())
        .args(["exec", "--json", "import os\ndict(os.environ)"])
        .env("OPENAI_API_KEY", "sk-mcpr-test-secret")
        .env("GITHUB_TOKEN", "ghp-mcpr-test-secret")
        .env("AWS_SECRET_ACCESS_KEY", "aws-mcpr-test-secret")
        .current_dir(common::project_dir().path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("\"PATH\""),
        "the environment was printed: {text}"
    );
    assert!(!text.contains("mcpr-test-secret"), "{text}");
    for name in ["OPENAI_API_KEY", "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY"] {
        assert!(!text.contains(name), "{name} leaked: {text}");
    }
}
