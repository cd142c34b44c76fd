//! Helpers shared by the integration tests: real kernels, real processes.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mcpr::event::{CellStatus, Event, Stream};
use mcpr::hostcall::HostCalls;
use mcpr::project::KernelConfig;
use mcpr::sandbox::{IsolationRequest, SandboxProbe};
use mcpr::session::{Launcher, Session};

pub mod engines;
pub mod tmux;

/// A launcher at `level` with short limits suited to tests.
pub fn launcher(level: IsolationRequest) -> Launcher {
    if level == IsolationRequest::Namespaces
        && let Err(why) = &SandboxProbe::get().namespaces
    {
        panic!(
            "these tests need the namespaces sandbox, which is unavailable here: {why}. Install bubblewrap (apt-get install bubblewrap)"
        );
    }
    let config = KernelConfig {
        timeout_seconds: 20.0,
        grace_seconds: 1.0,
        docker: test_docker_settings(),
        ..KernelConfig::default()
    };
    Launcher::from_config(&config, Some(level)).expect("launcher")
}

/// `MCPR_TEST_DOCKER_WORKSPACE=sync` runs every Docker test with the workspace copied in
/// and out instead of bound, as on a remote engine (`[docker] workspace = "sync"`).
pub fn docker_workspace_mode() -> Option<&'static str> {
    match std::env::var("MCPR_TEST_DOCKER_WORKSPACE").as_deref() {
        Ok("sync") => Some("sync"),
        Ok("bind") => Some("bind"),
        _ => None,
    }
}

/// The `[docker]` settings of the tests: the defaults, in sync mode when asked.
pub fn test_docker_settings() -> mcpr::backend::docker::DockerSettings {
    let mut docker = mcpr::backend::docker::DockerSettings::default();
    if docker_workspace_mode() == Some("sync") {
        docker.workspace = mcpr::backend::docker::settings::WorkspaceMode::Sync;
    }
    docker
}

/// The Docker backend when an engine with the default image can be had, else None after
/// saying why on stderr. With `MCPR_REQUIRE_DOCKER=1` (CI, after scripts/setup-docker.sh)
/// a missing engine fails the test instead of skipping it.
pub async fn docker_level() -> Option<IsolationRequest> {
    let settings = mcpr::backend::docker::DockerSettings::default();
    match mcpr::backend::docker::check_ready(&settings).await {
        Ok(_) => Some(IsolationRequest::Docker),
        Err(why) if std::env::var("MCPR_REQUIRE_DOCKER").as_deref() == Ok("1") => {
            panic!("MCPR_REQUIRE_DOCKER=1 but the Docker backend cannot run: {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED (Docker backend): {why}");
            None
        }
    }
}

/// Runs each listed test (an `async fn(IsolationRequest)`) once per backend: in module
/// `subprocess` at the level given, in module `docker` in a container (skipped, saying
/// why, when no engine can be had). `cargo test --test NAME docker::` runs one side.
#[macro_export]
macro_rules! on_each_backend {
    ($($name:ident($level:ident)),* $(,)?) => {
        mod subprocess {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(mcpr::sandbox::IsolationRequest::$level).await
                }
            )*
        }
        mod docker {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(level) = $crate::common::docker_level().await {
                        super::$name(level).await
                    }
                }
            )*
        }
    };
}

pub struct TestSession {
    pub session: Session,
    pub dir: tempfile::TempDir,
    pub hub: Option<std::sync::Arc<mcpr::tools::hub::ToolHub>>,
}

impl TestSession {
    pub async fn new(level: IsolationRequest) -> TestSession {
        Self::with_calls(level, HostCalls::with_builtins()).await
    }

    pub async fn with_calls(level: IsolationRequest, calls: HostCalls) -> TestSession {
        let dir = tempfile::tempdir().expect("tempdir");
        let ws = dir.path().join("workspace").join("s");
        std::fs::create_dir_all(&ws).unwrap();
        let session = Session::start(launcher(level), calls, "s".into(), ws)
            .await
            .expect("session starts");
        TestSession {
            session,
            dir,
            hub: None,
        }
    }

    /// A session whose kernel can import the servers of `mcp_json` as `tools.<name>`.
    pub async fn with_tools(level: IsolationRequest, mcp_json: &str) -> TestSession {
        let dir = tempfile::tempdir().expect("tempdir");
        let ws = dir.path().join("workspace").join("s");
        std::fs::create_dir_all(&ws).unwrap();
        let config_path = dir.path().join(".mcp.json");
        std::fs::write(&config_path, mcp_json).unwrap();
        let config = mcpr::tools::config::McpConfig::load(&config_path).expect("valid MCP config");
        let hub = mcpr::tools::hub::ToolHub::new(config, ws.clone());
        let mut calls = HostCalls::with_builtins();
        hub.register(&mut calls);
        hub.prepare_workspace()
            .await
            .expect("tools package written");
        let session = Session::start(launcher(level), calls, "s".into(), ws)
            .await
            .expect("session starts");
        TestSession {
            session,
            dir,
            hub: Some(hub),
        }
    }

    pub fn workspace(&self) -> &Path {
        self.session.workspace()
    }

    pub async fn run(&mut self, code: &str) -> Run {
        let opts = self.session.cell_options();
        self.run_with(code, &opts).await
    }

    pub async fn run_with(&mut self, code: &str, opts: &mcpr::kernel::CellOptions) -> Run {
        let started = Instant::now();
        let mut events = Vec::new();
        let status = self
            .session
            .run_cell_with(code, opts, &mut |e| events.push((started.elapsed(), e)))
            .await;
        Run { status, events }
    }
}

/// (ename, message, traceback, line, column) of a cell's error.
pub type ErrorParts = (String, String, String, Option<u32>, Option<u32>);

pub struct Run {
    pub status: CellStatus,
    /// Each event with the time it reached the host, from the start of the cell.
    pub events: Vec<(Duration, Event)>,
}

impl Run {
    pub fn stream(&self, which: Stream) -> String {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Output { stream, text, .. } if *stream == which => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    pub fn stdout(&self) -> String {
        self.stream(Stream::Stdout)
    }

    pub fn value(&self) -> Option<serde_json::Value> {
        self.events.iter().find_map(|(_, e)| match e {
            Event::Value { json, .. } => json.clone(),
            _ => None,
        })
    }

    pub fn repr(&self) -> Option<String> {
        self.events.iter().find_map(|(_, e)| match e {
            Event::Value { repr, .. } => Some(repr.clone()),
            _ => None,
        })
    }

    /// (ename, message, traceback, line, column) of the cell's error.
    pub fn error(&self) -> Option<ErrorParts> {
        self.events.iter().find_map(|(_, e)| match e {
            Event::Error {
                ename,
                message,
                traceback,
                line,
                column,
                ..
            } => Some((
                ename.clone(),
                message.clone(),
                traceback.clone(),
                *line,
                *column,
            )),
            _ => None,
        })
    }

    pub fn restarted(&self) -> Option<String> {
        self.events.iter().find_map(|(_, e)| match e {
            Event::KernelRestarted { reason } => Some(reason.clone()),
            _ => None,
        })
    }

    pub fn assert_ok(&self) -> &Self {
        assert_eq!(
            self.status,
            CellStatus::Ok,
            "cell failed: {:?}",
            self.error()
        );
        self
    }
}

/// The `mcpr` binary the tests run: `MCPR_BIN` when set (CI points it at the release
/// build, the binary users run), else the one this `cargo test` built.
pub fn mcpr_bin() -> PathBuf {
    match std::env::var_os("MCPR_BIN") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_mcpr")),
    }
}

/// A server from the project's `.venv` (made by scripts/setup-mcp-servers.sh).
pub fn venv_server(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".venv/bin")
        .join(name);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/setup-mcp-servers.sh (CI runs it from .ci/run)",
        path.display()
    );
    path.display().to_string()
}

pub fn venv_python() -> String {
    venv_server("python")
}

/// An `mcpServers` entry starting our demo server with its notes in `db`.
pub fn demo_entry(db: &Path) -> serde_json::Value {
    serde_json::json!({"command": mcpr_bin(), "args": ["demo-server", "--notes-db", db]})
}

/// Calls logged by the demo server in its database: side effects counted at the server.
pub fn demo_calls_logged(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT count(*) FROM calls", [], |r| r.get(0))
        .unwrap()
}

/// The OpenAI-compatible HTTP server of tests/fixtures/openai_server.py, answering from a
/// plan and logging every request.
pub struct FakeOpenAi {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl FakeOpenAi {
    pub fn start(dir: &Path, plan: Value) -> FakeOpenAi {
        let port = free_port();
        let plan_path = dir.join("plan.json");
        std::fs::write(&plan_path, plan.to_string()).unwrap();
        let log = dir.join("requests.jsonl");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openai_server.py");
        let child = Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(&plan_path)
            .arg(&log)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_port(port);
        FakeOpenAi { child, port, log }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// Bodies of the chat-completion requests received, parsed.
    /// A function counting the requests received so far, usable from another thread.
    pub fn requests_len_probe(&self) -> impl Fn() -> usize + Send + 'static {
        let log = self.log.clone();
        move || {
            std::fs::read_to_string(&log)
                .map(|t| t.lines().count())
                .unwrap_or(0)
        }
    }

    pub fn requests(&self) -> Vec<(u64, Value)> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let entry: Value = serde_json::from_str(l).unwrap();
                let body =
                    serde_json::from_str(entry["body"].as_str().unwrap()).unwrap_or(Value::Null);
                (entry["bytes"].as_u64().unwrap(), body)
            })
            .collect()
    }
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A local TCP port nobody listens on (for a server a test starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (up to 10 s) until something accepts connections on `port`.
pub fn wait_for_port(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A folder that is an mcpr project (an empty mcpr.toml, as `mcpr init` leaves one), so
/// that the binary run there records into it rather than into the default project.
pub fn project_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("mcpr.toml"), "").expect("mcpr.toml");
    dir
}

/// A project whose kernels run at isolation `level` (`[kernel] isolation`).
pub fn project_dir_at(level: IsolationRequest) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = format!("[kernel]\nisolation = \"{}\"\n", level.as_str());
    if let Some(mode) = docker_workspace_mode() {
        text.push_str(&format!("[docker]\nworkspace = \"{mode}\"\n"));
    }
    std::fs::write(dir.path().join("mcpr.toml"), text).expect("mcpr.toml");
    dir
}

/// [`docker_level`] for tests that are not async.
pub fn docker_level_blocking() -> Option<IsolationRequest> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(docker_level())
}

/// Runs the `mcpr` binary in `dir` with no stdin and no OpenAI settings from the host.
pub fn mcpr_in(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(mcpr_bin())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .output()
        .expect("mcpr runs")
}

/// Runs `mcpr` and insists it succeeded.
pub fn mcpr_ok(dir: &Path, args: &[&str]) -> std::process::Output {
    let o = mcpr_in(dir, args);
    assert!(
        o.status.success(),
        "mcpr {args:?} failed ({:?})\nstdout: {}\nstderr: {}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
    o
}
