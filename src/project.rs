//! The project folder, found like git finds a repository.
//!
//! `skills/`, `workspace/`, `.replay/` and an optional `mcpr.toml` live in the current
//! directory or the nearest parent holding an `mcpr.toml`. `mcpr init` creates one.
//! Each session gets its own folder under `workspace/`. This module owns paths and the
//! configuration file; it never starts processes.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::sandbox::{IsolationRequest, Limits};

pub const CONFIG_FILE: &str = "mcpr.toml";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub kernel: KernelConfig,
    pub tools: crate::tools::hub::ToolSettings,
    pub llm: crate::llm::select::LlmSettings,
    pub agent: crate::agent::AgentSettings,
    pub console: ConsoleSettings,
    /// `[docker]`: engine and image of `isolation = "docker"`.
    pub docker: crate::backend::docker::DockerSettings,
    pub checkpoints: CheckpointSettings,
}

/// The `[checkpoints]` section: how a session's state is kept to continue or rewind it
/// without re-running its cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointSettings {
    /// Save the kernel's picklable globals in the record at each step boundary, and
    /// continue from them (off: every continuation replays the recorded cells).
    pub saved: bool,
    /// Keep frozen copies of the kernel at step boundaries in front ends that rewind
    /// (the console, `mcpr serve`), so a rewind to a kept step is a hand-over.
    pub live: bool,
    /// At most this many frozen copies per session (also bounded by the sandbox's
    /// process limit, which they count against).
    pub live_count: usize,
    /// At most this much memory held by frozen copies alone (pages they no longer share
    /// with the kernel), in MiB.
    pub live_memory_mb: u64,
}

impl Default for CheckpointSettings {
    fn default() -> Self {
        CheckpointSettings {
            saved: true,
            live: true,
            live_count: 16,
            live_memory_mb: 1024,
        }
    }
}

/// The `[console]` section: how `mcpr tui` starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSettings {
    /// A built-in theme (dark, light, high-contrast), a theme in
    /// `~/.config/mcpr/themes/`, or a theme file; `--theme` wins.
    pub theme: Option<String>,
    /// Mouse capture at start (off: the terminal's own selection works).
    pub mouse: bool,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        ConsoleSettings {
            theme: None,
            mouse: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KernelConfig {
    /// Interpreter name or path; default `MCPR_PYTHON` or `python3` on PATH.
    pub python: Option<String>,
    pub isolation: IsolationRequest,
    /// Wall-clock limit per cell; 0 means none.
    pub timeout_seconds: f64,
    /// Time between the interrupt and the kill of a cell that overran.
    pub grace_seconds: f64,
    pub output_inline_kb: usize,
    pub output_overflow_mb: u64,
    pub max_frame_mb: usize,
    /// Accepted for files written by earlier versions, and ignored (with a warning): the
    /// warm pool's size is `warm_pool`.
    #[serde(default, skip_serializing)]
    pub pool_size: Option<usize>,
    /// Ready kernels the console and `mcpr serve` keep warm per launcher (subprocess
    /// backend; `[docker] pool_size` for containers); 0 keeps none. One-shot commands
    /// keep none.
    pub warm_pool: usize,
    /// Warm kernels nobody took for this long are shut down (the pool fills again on
    /// the next session).
    pub warm_pool_idle_seconds: f64,
    /// Host environment variables the kernel may see besides LANG/LC_*/TZ.
    pub env_passthrough: Vec<String>,
    /// Host paths a `namespaces` kernel may read, at the same path.
    pub readonly_paths: Vec<PathBuf>,
    pub limits: Limits,
    /// The `[docker]` section, carried here so everything that starts kernels from the
    /// kernel settings has it (filled in when mcpr.toml is read).
    #[serde(skip)]
    pub docker: crate::backend::docker::DockerSettings,
}

impl Default for KernelConfig {
    fn default() -> Self {
        Self {
            python: None,
            isolation: IsolationRequest::Auto,
            timeout_seconds: 60.0,
            grace_seconds: 2.0,
            output_inline_kb: 1024,
            output_overflow_mb: 256,
            max_frame_mb: 16,
            pool_size: None,
            warm_pool: 1,
            warm_pool_idle_seconds: 300.0,
            env_passthrough: Vec::new(),
            readonly_paths: Vec::new(),
            limits: Limits::default(),
            docker: Default::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("could not read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("could not create {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{name:?} is not a valid session name: use letters, digits, '-', '_' and '.', not starting with '.' or '-' (at most 64 characters)"
    )]
    BadSessionName { name: String },
    #[error(
        "{start} is not in an mcpr project (no mcpr.toml there or above), and this system names no data folder for a default project; run `mcpr init` to make one here"
    )]
    NoDefault { start: PathBuf },
    #[error(
        "{name:?} cannot name a session: it is also a command (`mcpr replay {name}`); choose another name"
    )]
    ReservedSessionName { name: String },
}

#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    /// The mcpr.toml that configured this project, if there is one.
    pub config_file: Option<PathBuf>,
    pub config: Config,
    /// No project was found from the current folder: this is the user's default project
    /// in the platform's data folder.
    pub is_default: bool,
}

impl Project {
    /// The nearest folder from `start` upwards holding an mcpr.toml, or else a `.replay`
    /// folder (a project used before it had a configuration file); outside any project,
    /// the user's default project ([`default_root`]). Nothing is created.
    pub fn discover(start: &Path) -> Result<Project, ProjectError> {
        let start = std::path::absolute(start).unwrap_or_else(|_| start.to_path_buf());
        for dir in start.ancestors() {
            let file = dir.join(CONFIG_FILE);
            if file.is_file() {
                let config = load_config(&file)?;
                return Ok(Project {
                    root: dir.to_path_buf(),
                    config_file: Some(file),
                    config,
                    is_default: false,
                });
            }
        }
        if let Some(dir) = start.ancestors().find(|d| d.join(".replay").is_dir()) {
            return Ok(Project {
                root: dir.to_path_buf(),
                config_file: None,
                config: Config::default(),
                is_default: false,
            });
        }
        let root = default_root().ok_or_else(|| ProjectError::NoDefault {
            start: start.clone(),
        })?;
        let file = root.join(CONFIG_FILE);
        let (config_file, config) = if file.is_file() {
            (Some(file.clone()), load_config(&file)?)
        } else {
            (None, Config::default())
        };
        Ok(Project {
            root,
            config_file,
            config,
            is_default: true,
        })
    }

    /// Creates the project layout in `dir`; existing files are left as they are.
    pub fn init(dir: &Path) -> Result<Vec<PathBuf>, ProjectError> {
        let mut created = Vec::new();
        for sub in ["skills", "workspace", ".replay"] {
            let path = dir.join(sub);
            if !path.exists() {
                std::fs::create_dir_all(&path).map_err(|source| ProjectError::Create {
                    path: path.clone(),
                    source,
                })?;
                created.push(path);
            }
        }
        let files = [
            (dir.join(CONFIG_FILE), default_config_text()),
            (
                dir.join(".replay/.gitignore"),
                "# session records are local\n*\n!.gitignore\n".to_string(),
            ),
            (
                dir.join("workspace/.gitignore"),
                "# session workspaces are local\n*\n!.gitignore\n".to_string(),
            ),
        ];
        for (path, text) in files {
            if !path.exists() {
                std::fs::write(&path, text).map_err(|source| ProjectError::Create {
                    path: path.clone(),
                    source,
                })?;
                created.push(path);
            }
        }
        Ok(created)
    }

    pub fn workspace_root(&self) -> PathBuf {
        self.root.join("workspace")
    }

    pub fn skills_dir(&self) -> PathBuf {
        self.root.join("skills")
    }

    pub fn replay_dir(&self) -> PathBuf {
        self.root.join(".replay")
    }

    /// The workspace folder of session `name`, created if missing.
    pub fn session_workspace(&self, name: &str) -> Result<PathBuf, ProjectError> {
        validate_session_name(name)?;
        let path = self.workspace_root().join(name);
        std::fs::create_dir_all(&path).map_err(|source| ProjectError::Create {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }
}

pub fn validate_session_name(name: &str) -> Result<(), ProjectError> {
    if RESERVED_SESSION_NAMES.contains(&name) {
        return Err(ProjectError::ReservedSessionName {
            name: name.to_string(),
        });
    }
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ProjectError::BadSessionName {
            name: name.to_string(),
        })
    }
}

/// The user's default project, used outside any project: `mcpr/default` in the platform's
/// data folder (`$XDG_DATA_HOME`, `~/.local/share` on Linux).
pub fn default_root() -> Option<PathBuf> {
    Some(dirs::data_dir()?.join("mcpr").join("default"))
}

/// Words `mcpr replay WORD` takes as a command, so never as a session's name.
const RESERVED_SESSION_NAMES: &[&str] = &[
    "list", "show", "search", "rewind", "diff", "export", "import", "help", "timeline", "gc",
];

/// A fresh session name: `YYYYMMDD-HHMMSS-xxxx`.
pub fn new_session_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    let now = jiff::Zoned::now();
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(now.timestamp().as_nanosecond() as u128);
    h.write_u32(std::process::id());
    format!(
        "{}-{:04x}",
        now.strftime("%Y%m%d-%H%M%S"),
        h.finish() & 0xffff
    )
}

fn load_config(path: &Path) -> Result<Config, ProjectError> {
    let text = std::fs::read_to_string(path).map_err(|source| ProjectError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut config: Config = toml::from_str(&text).map_err(|e| ProjectError::Invalid {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    config.check().map_err(|message| ProjectError::Invalid {
        path: path.to_path_buf(),
        message,
    })?;
    config.kernel.docker = config.docker.clone();
    Ok(config)
}

/// Checks one numeric setting against its range; the message names the key and range.
fn in_range<T>(
    key: &str,
    value: T,
    range: std::ops::RangeInclusive<T>,
    unit: &str,
) -> Result<(), String>
where
    T: PartialOrd + std::fmt::Display,
{
    if range.contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "{key} = {value} is out of range: use {unit} from {} to {}",
            range.start(),
            range.end()
        ))
    }
}

impl Config {
    /// Every numeric setting within the range where mcpr works, or why not (the first
    /// problem, naming the key and its range). NaN is out of every range.
    pub fn check(&self) -> Result<(), String> {
        let k = &self.kernel;
        in_range(
            "[kernel] timeout_seconds",
            k.timeout_seconds,
            0.0..=MAX_SECONDS,
            "seconds (0 = no limit)",
        )?;
        in_range(
            "[kernel] grace_seconds",
            k.grace_seconds,
            0.0..=3600.0,
            "seconds",
        )?;
        in_range(
            "[kernel] output_inline_kb",
            k.output_inline_kb,
            0..=1024 * 1024,
            "KiB",
        )?;
        in_range(
            "[kernel] output_overflow_mb",
            k.output_overflow_mb,
            0..=1024 * 1024,
            "MiB",
        )?;
        in_range("[kernel] max_frame_mb", k.max_frame_mb, 1..=1024, "MiB")?;
        in_range("[kernel] warm_pool", k.warm_pool, 0..=16, "ready kernels")?;
        in_range(
            "[kernel] warm_pool_idle_seconds",
            k.warm_pool_idle_seconds,
            1.0..=86_400.0,
            "seconds",
        )?;
        k.limits.check()?;
        self.docker.check()?;
        let t = &self.tools;
        in_range(
            "[tools] call_timeout_seconds",
            t.call_timeout_seconds,
            0.001..=86_400.0,
            "seconds",
        )?;
        in_range(
            "[tools] start_timeout_seconds",
            t.start_timeout_seconds,
            0.001..=3600.0,
            "seconds",
        )?;
        in_range(
            "[tools] large_result_kb",
            t.large_result_kb,
            1..=1024 * 1024,
            "KiB",
        )?;
        t.policy.check()?;
        let l = &self.llm;
        if let Some(v) = l.timeout_seconds {
            in_range("[llm] timeout_seconds", v, 1.0..=86_400.0, "seconds")?;
        }
        if let Some(v) = l.max_retries {
            in_range("[llm] max_retries", v, 0..=20, "retries")?;
        }
        if let Some(v) = l.temperature {
            in_range("[llm] temperature", v, 0.0..=2.0, "a temperature")?;
        }
        if let Some(v) = l.max_tokens {
            in_range("[llm] max_tokens", v, 1..=10_000_000, "tokens")?;
        }
        let a = &self.agent;
        in_range("[agent] max_attempts", a.max_attempts, 1..=20, "attempts")?;
        in_range(
            "[agent] output_excerpt_bytes",
            a.output_excerpt_bytes,
            0..=10_000_000,
            "bytes",
        )?;
        in_range("[agent] history_steps", a.history_steps, 0..=1000, "steps")?;
        in_range(
            "[agent] tools_in_prompt",
            a.tools_in_prompt,
            0..=100,
            "tools",
        )?;
        in_range(
            "[agent] skills_in_prompt",
            a.skills_in_prompt,
            0..=100,
            "skills",
        )?;
        in_range(
            "[agent] ask_llm_max_calls",
            a.ask_llm_max_calls,
            0..=1_000_000,
            "calls",
        )?;
        in_range(
            "[agent] ask_llm_max_tokens",
            a.ask_llm_max_tokens,
            0..=1_000_000_000,
            "tokens",
        )?;
        let c = &self.checkpoints;
        in_range("[checkpoints] live_count", c.live_count, 0..=1000, "copies")?;
        in_range(
            "[checkpoints] live_memory_mb",
            c.live_memory_mb,
            0..=1_048_576,
            "MiB",
        )?;
        Ok(())
    }
}

impl Config {
    /// Settings that are accepted but do nothing, in words for a warning.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.kernel.pool_size.is_some() {
            out.push(
                "[kernel] pool_size is ignored: the warm pool's size is [kernel] warm_pool (and [docker] pool_size for containers); remove the key from mcpr.toml"
                    .to_string(),
            );
        }
        out
    }
}

/// The longest time limit mcpr takes (about 11 days): far past any cell, well inside what
/// a `Duration` holds.
pub const MAX_SECONDS: f64 = 1_000_000.0;

fn default_config_text() -> String {
    let d = KernelConfig::default();
    let l = d.limits;
    let t = crate::tools::hub::ToolSettings::default();
    let a = crate::agent::AgentSettings::default();
    let dk = crate::backend::docker::DockerSettings::default();
    format!(
        r#"# mcpr project configuration. Every key is optional; these are the defaults.

[kernel]
# python = "python3"          # interpreter name or path (default: $MCPR_PYTHON, then python3)
isolation = "auto"             # none | namespaces | auto (strongest available) | docker
timeout_seconds = {timeout}    # wall clock per cell; 0 = no limit
grace_seconds = {grace}        # interrupt first, kill after this long
output_inline_kb = {inline}    # output beyond this goes to workspace/<session>/.mcpr/output/
output_overflow_mb = {overflow}
max_frame_mb = {frame}
warm_pool = {warm}                  # console and serve: ready kernels kept per launcher (0: none; containers: [docker] pool_size)
warm_pool_idle_seconds = {warm_idle}    # warm kernels nobody took for this long are shut down
env_passthrough = []           # host variables the sandbox may see (never put secrets here)
readonly_paths = []            # host paths a namespaces kernel may read, at the same path (e.g. "/usr/local/share/fonts")

[kernel.limits]
memory_mb = {mem}
cpu_seconds = {cpu}
file_size_mb = {fsize}
open_files = {files}
processes = {procs}

[tools]
call_timeout_seconds = {call_timeout}
start_timeout_seconds = {start_timeout}
large_result_kb = {large}          # larger tool results are saved in the workspace, passed as a handle
suggestion_wait_seconds = {suggest_wait}   # the agent's tool suggestions leave out servers slower than this

[tools.policy]
# Whether code may call a tool: "allow", "ask" (the front end asks you; where nobody can
# be asked, as in `mcpr exec`, the call is refused) or "deny". Tools are classed by the
# MCP annotations their server gives; many servers give none, and those are "unannotated".
read_only = "{read_only}"           # readOnlyHint = true
destructive = "{destructive}"           # destructiveHint = true, or readOnlyHint = false without destructiveHint
additive = "{additive}"            # readOnlyHint = false, destructiveHint = false
unannotated = "{unannotated}"         # neither hint given

[tools.policy.servers]
# Rules for a server or one tool, over the ones above; the most specific wins.
# git = "ask"                 # every tool of the server "git"
# "git.git_status" = "allow"  # one tool: "SERVER.TOOL"

[llm]
# provider = "openai"          # openai | manual | script:FILE (default: chosen as `mcpr run` explains)
# base_url = "http://127.0.0.1:8080/v1"
# model = "local"
# timeout_seconds = 300
# max_retries = 3

[agent]
max_attempts = {attempts}               # tries per step: the first and its fixes
output_excerpt_bytes = {excerpt}     # output shown back to the model
history_steps = {history}
tools_in_prompt = {tools_k}
skills_in_prompt = {skills_k}
ask_llm_max_calls = {ask_calls}
ask_llm_max_tokens = {ask_tokens}
require_code = {require_code}             # answered without code? ask once for code (false for chat-like use)

[console]
# theme = "dark"               # dark (16 colours) | light | high-contrast | a name in ~/.config/mcpr/themes/ | a .toml file
mouse = true                   # mouse capture at start (false: the terminal selects text; alt+m toggles)

[docker]                       # used by isolation = "docker" (scripts/setup-docker.sh prepares an engine)
image = "{docker_image}"   # any image with python3; mcpr puts its runtime in read-only
python = "python3"
# host = "unix:///var/run/docker.sock"   # engine address; default $DOCKER_HOST, then this
# engines = ["unix:///var/run/docker.sock", "tcp://kernels-2:2376"]   # several as one pool (docs/REMOTE-ENGINES.md)
# cert_path = "/etc/mcpr/docker-tls"     # ca.pem, cert.pem, key.pem for tcp:// with TLS; default $DOCKER_CERT_PATH
# ssh_identity = "/home/me/.ssh/id_ed25519"  # key for ssh://USER@HOST engines; default: ssh's own configuration
# capacity = 0                           # kernels per engine for placement; 0: its CPUs / cpus and memory / memory_mb
workspace = "auto"                       # bind | sync (copied in at start, back at each step) | auto: bind on unix://, else sync
workspace_mb = {docker_ws}                # sync mode: size of the container's /workspace (a tmpfs)
pool_size = {docker_pool}                       # console and serve: ready containers kept warm per image (0: none)
cpus = {docker_cpus:.1}
tmp_mb = {docker_tmp}                    # private tmpfs at /tmp

[checkpoints]
saved = true                   # keep the kernel's picklable globals in the record at each step; continuing loads them instead of re-running cells
live = true                    # console and serve: keep frozen copies of the kernel, so a rewind is a hand-over
live_count = 16                # frozen copies kept per session (they count against [kernel.limits] processes)
live_memory_mb = 1024          # memory the frozen copies may hold on their own; the oldest go first
"#,
        docker_image = dk.image,
        docker_cpus = dk.cpus,
        docker_tmp = dk.tmp_mb,
        docker_ws = dk.workspace_mb,
        docker_pool = dk.pool_size,
        timeout = d.timeout_seconds,
        grace = d.grace_seconds,
        inline = d.output_inline_kb,
        overflow = d.output_overflow_mb,
        frame = d.max_frame_mb,
        warm = d.warm_pool,
        warm_idle = d.warm_pool_idle_seconds,
        mem = l.memory_mb,
        cpu = l.cpu_seconds,
        fsize = l.file_size_mb,
        files = l.open_files,
        procs = l.processes,
        call_timeout = t.call_timeout_seconds,
        start_timeout = t.start_timeout_seconds,
        large = t.large_result_kb,
        suggest_wait = t.suggestion_wait_seconds,
        read_only = t.policy.read_only.as_str(),
        destructive = t.policy.destructive.as_str(),
        additive = t.policy.additive.as_str(),
        unannotated = t.policy.unannotated.as_str(),
        attempts = a.max_attempts,
        excerpt = a.output_excerpt_bytes,
        history = a.history_steps,
        tools_k = a.tools_in_prompt,
        skills_k = a.skills_in_prompt,
        ask_calls = a.ask_llm_max_calls,
        ask_tokens = a.ask_llm_max_tokens,
        require_code = a.require_code,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_writes_a_config_that_parses_to_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        Project::init(dir.path()).unwrap();
        let nested = dir.path().join("workspace/a/b");
        std::fs::create_dir_all(&nested).unwrap();
        let project = Project::discover(&nested).unwrap();
        assert_eq!(project.root, dir.path());
        assert_eq!(project.config, Config::default());
        assert!(dir.path().join(".replay/.gitignore").is_file());
    }

    #[test]
    fn a_bad_config_names_the_file_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "[kernel]\ntimeout_secs = 3\n").unwrap();
        let err = Project::discover(dir.path()).unwrap_err().to_string();
        assert!(err.contains("mcpr.toml"), "{err}");
        assert!(err.contains("timeout_secs"), "{err}");
    }

    #[test]
    fn tool_policy_rules_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(CONFIG_FILE);
        std::fs::write(
            &file,
            "[tools.policy]\nunannotated = \"ask\"\n[tools.policy.servers]\ngit = \"deny\"\n\"git.git_status\" = \"allow\"\n",
        )
        .unwrap();
        let policy = Project::discover(dir.path()).unwrap().config.tools.policy;
        use crate::tools::policy::Rule;
        assert_eq!(policy.unannotated, Rule::Ask);
        assert_eq!(
            policy.destructive,
            Rule::Ask,
            "the others keep their defaults"
        );
        assert_eq!(policy.servers["git.git_status"], Rule::Allow);
        for (text, names) in [
            (
                "[tools.policy]\ndestructive = \"never\"\n",
                &["mcpr.toml", "destructive", "allow, ask or deny"][..],
            ),
            ("[tools.policy]\nwrite = \"ask\"\n", &["write"][..]),
            (
                "[tools.policy.servers]\n\"git.\" = \"ask\"\n",
                &["[tools.policy.servers] \"git.\"", "SERVER.TOOL"][..],
            ),
        ] {
            std::fs::write(&file, text).unwrap();
            let err = Project::discover(dir.path()).unwrap_err().to_string();
            for name in names {
                assert!(err.contains(name), "{name}: {err}");
            }
        }
    }

    #[test]
    fn session_names_are_checked() {
        assert!(validate_session_name("my-run_1.2").is_ok());
        for bad in ["", ".hidden", "a/b", "..", "x y"] {
            assert!(validate_session_name(bad).is_err(), "{bad}");
        }
        assert!(validate_session_name(&new_session_name()).is_ok());
    }
}
