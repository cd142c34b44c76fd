//! `mcpr serve`: mcpr as an MCP server. A client's model calls `run_python` (and the
//! discovery, session and skill tools) instead of every tool's schema; the code it sends
//! runs in a recorded session of the engine, importing the configured MCP servers' tools
//! as modules. Everything goes through the engine: sessions are opened with
//! [`crate::engine::start`] and driven with its operations, the record and the skills are
//! read through [`crate::engine::query`].

mod args;
mod calls;
mod format;
pub mod http;
mod resources;
mod sessions;
mod stdio;

use rmcp::handler::server::{router::tool::ToolRouter, wrapper::Parameters};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams, ContentBlock,
    GetTaskParams, GetTaskResult, ServerCapabilities, ServerConfig, UpdateTaskParams,
};
use rmcp::schemars::{self, JsonSchema};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use serde::Deserialize;
use std::sync::Arc;

use crate::engine::{Context, Op, SessionSpec};
pub use sessions::Sessions;

/// What every session this server opens shares (flags, project) and its discovery hub.
pub struct Shared {
    pub sessions: Sessions,
    /// For `search_tools` and `describe_tool`, outside every session.
    pub hub: Arc<crate::tools::hub::ToolHub>,
    /// Whether `run_task` has a model.
    pub has_model: bool,
    /// Calls that became MCP tasks, shared by every connection (over HTTP a client may
    /// poll on another connection than the one it started the call on).
    pub tasks: rmcp::task_manager::TaskManager,
}

impl Shared {
    pub fn new(
        ctx: Context,
        base: SessionSpec,
        hub: Arc<crate::tools::hub::ToolHub>,
    ) -> Arc<Shared> {
        let has_model = base.need_model;
        Arc::new(Shared {
            sessions: Sessions::new(ctx, base),
            hub,
            has_model,
            tasks: rmcp::task_manager::TaskManager::new(),
        })
    }

    /// Stops every task and closes every session: kernels, warm kernels and tool servers
    /// stop.
    pub async fn shutdown(&self) {
        self.sessions.close_all().await;
        // The warm kernels go too: no process or container outlives the server.
        self.sessions.context().shutdown().await;
        self.tasks.shutdown();
        self.hub.shutdown().await;
    }
}

/// One client connection: its default session, and what all connections share.
#[derive(Clone)]
pub struct McprServer {
    tool_router: ToolRouter<Self>,
    shared: Arc<Shared>,
    /// The session of calls that name none (one per connection).
    default_session: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct RunPythonArgs {
    /// Python code to run. Variables, imports and files persist between calls of a session.
    pub code: String,
    /// Session name: calls naming the same session share its state (default: this
    /// connection's own session). A recorded session is continued.
    #[serde(default)]
    pub session: Option<String>,
    /// Stop the code after this many seconds (0.1 to 3600).
    #[serde(default)]
    pub timeout: Option<f64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct RunTaskArgs {
    /// What to do, in plain words.
    pub task: String,
    #[serde(default)]
    pub session: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct QueryArgs {
    /// What you need, in plain words (e.g. "commit history", "weather").
    pub query: String,
    /// Most results (default 5).
    #[serde(default)]
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct NameArgs {
    /// The name (a tool as `server.tool`, or a skill).
    pub name: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct StepArgs {
    pub session: String,
    pub step: u64,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ForkArgs {
    pub session: String,
    /// The last step the new session shares.
    pub step: u64,
    /// Name of the new session (default: SESSION-fork-N).
    #[serde(default)]
    pub name: Option<String>,
}

fn text(s: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(s.into())])
}

fn failure(s: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(s.into())])
}

fn json_text(value: &impl serde::Serialize) -> CallToolResult {
    match serde_json::to_string_pretty(value) {
        Ok(t) => text(t),
        Err(e) => failure(e.to_string()),
    }
}

/// What the server's instructions and `run_python` teach: the same size whatever tools
/// are configured.
pub const INSTRUCTIONS: &str = "mcpr runs Python for you in a persistent, sandboxed kernel (no network). Call run_python with code: variables, imports and files persist between calls of a session. Tools of MCP servers are Python modules: find them with search_tools or, in code, `import tools; tools.search(\"what you need\")`; then `from tools.SERVER import TOOL` and call it with keyword arguments. Loop, filter and combine results in code and print only what matters. A failing tool raises tools.ToolError.";

impl McprServer {
    /// The session of a call that names none: over HTTP without an MCP session, the TCP
    /// connection's; otherwise this connection's own.
    fn default_for(&self, ctx: &RequestContext<RoleServer>) -> String {
        ctx.extensions
            .get::<::http::request::Parts>()
            .filter(|p| !p.headers.contains_key("mcp-session-id"))
            .and_then(|p| p.extensions.get::<http::ConnectionSession>())
            .map(|c| c.0.clone())
            .unwrap_or_else(|| self.default_session.clone())
    }

    /// A `run_python` call, or the tool error saying why it cannot run.
    fn python_call(
        &self,
        args: RunPythonArgs,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<calls::Call, String> {
        if let Some(t) = args.timeout
            && !(0.1..=3600.0).contains(&t)
        {
            return Err(format!(
                "bad arguments for run_python: `timeout` must be from 0.1 to 3600 seconds, got {t}"
            ));
        }
        args::check_size("code", &args.code)?;
        Ok(calls::Call {
            session: args.session.unwrap_or_else(|| self.default_for(ctx)),
            op: Op::RunCell(args.code),
            timeout: args.timeout,
        })
    }

    /// A `run_task` call, or the tool error saying why it cannot run.
    fn task_call(
        &self,
        args: RunTaskArgs,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<calls::Call, String> {
        if !self.shared.has_model {
            return Err(
                "no model is configured for this server: start it with `mcpr serve --llm openai --base-url URL` (or [llm] in mcpr.toml), or write the code yourself with run_python".into(),
            );
        }
        args::check_size("task", &args.task)?;
        Ok(calls::Call {
            session: args.session.unwrap_or_else(|| self.default_for(ctx)),
            op: Op::RunTask(args.task),
            timeout: None,
        })
    }

    /// `run_python` or `run_task` for a client that takes MCP tasks: the result at once
    /// when the call is quick, else a task.
    async fn call_or_task(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let arguments = serde_json::Value::Object(request.arguments.unwrap_or_default());
        let bad = |e: serde_json::Error| format!("bad arguments for {}: {e}", request.name);
        let call = if request.name == "run_task" {
            serde_json::from_value(arguments)
                .map_err(bad)
                .and_then(|args| self.task_call(args, &ctx))
        } else {
            serde_json::from_value(arguments)
                .map_err(bad)
                .and_then(|args| self.python_call(args, &ctx))
        };
        let call = match call {
            Ok(call) => call,
            Err(refused) => return Ok(CallToolResponse::Complete(failure(refused))),
        };
        let session = call.session.clone();
        Ok(calls::start(self.shared.clone(), call, &ctx)
            .or_task(&ctx.ct, &self.shared.tasks, &session)
            .await)
    }
}

#[tool_router]
impl McprServer {
    pub fn new(shared: Arc<Shared>) -> McprServer {
        McprServer {
            tool_router: Self::tool_router(),
            shared,
            default_session: crate::project::new_session_name(),
        }
    }

    #[tool(
        description = "Run Python code in a persistent sandboxed kernel and get its stdout, stderr, final value and error. State persists per session. MCP tools are importable: `from tools.SERVER import TOOL` (find them with search_tools). Print only what matters."
    )]
    async fn run_python(
        &self,
        Parameters(args): Parameters<RunPythonArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        Ok(match self.python_call(args, &ctx) {
            Ok(call) => {
                calls::start(self.shared.clone(), call, &ctx)
                    .wait(&ctx.ct)
                    .await
            }
            Err(refused) => failure(refused),
        })
    }

    #[tool(
        description = "Do a task in plain words with mcpr's own agent (a model writes and runs the code, fixing its errors). Returns the answer, the code and a summary. Needs `mcpr serve` started with a model."
    )]
    async fn run_task(
        &self,
        Parameters(args): Parameters<RunTaskArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        Ok(match self.task_call(args, &ctx) {
            Ok(call) => {
                calls::start(self.shared.clone(), call, &ctx)
                    .wait(&ctx.ct)
                    .await
            }
            Err(refused) => failure(refused),
        })
    }

    #[tool(
        description = "Find tools of the configured MCP servers for a need in plain words: each with its import line and a one-line description."
    )]
    async fn search_tools(
        &self,
        Parameters(args): Parameters<QueryArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let limit = args.limit.unwrap_or(5).clamp(1, 50);
        match crate::engine::query::tools::search(&self.shared.hub, &args.query, limit).await {
            Ok(found) if found.hits.is_empty() => Ok(text(format!(
                "no tool matches {:?}{}",
                args.query,
                format::problems(&found.problems)
            ))),
            Ok(found) => Ok(text(format!(
                "{}{}",
                found
                    .hits
                    .iter()
                    .map(|h| format!(
                        "from tools.{} import {}  # {}",
                        h.module,
                        h.function,
                        crate::tools::catalog::first_line(&h.description)
                    ))
                    .collect::<Vec<_>>()
                    .join("\n"),
                format::problems(&found.problems)
            ))),
            Err(e) => Ok(failure(e.to_string())),
        }
    }

    #[tool(
        description = "Show a tool's Python signature and documentation (name as server.tool, or the tool alone when one server has it)."
    )]
    async fn describe_tool(
        &self,
        Parameters(args): Parameters<NameArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        match crate::engine::query::tools::describe(&self.shared.hub, &args.name).await {
            Ok(d) => Ok(text(format!("{}\n\n{}", d.import, d.source))),
            Err(e) => Ok(failure(e.to_string())),
        }
    }

    #[tool(description = "List the recorded sessions: name, steps, last task.")]
    async fn list_sessions(&self) -> Result<CallToolResult, ErrorData> {
        let Some(dir) = self.shared.sessions.record_dir() else {
            return Ok(text("no sessions are recorded yet"));
        };
        match crate::engine::query::sessions(&dir) {
            Ok(s) => Ok(json_text(&s.sessions)),
            Err(e) => Ok(failure(e.to_string())),
        }
    }

    #[tool(
        description = "Show one recorded step of a session as JSON: code, output, tool calls, result."
    )]
    async fn show_step(
        &self,
        Parameters(args): Parameters<StepArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let Some(dir) = self.shared.sessions.record_dir() else {
            return Ok(failure("no sessions are recorded yet"));
        };
        match crate::engine::query::step_view(&dir, &args.session, args.step) {
            Ok(v) => Ok(json_text(&v)),
            Err(e) => Ok(failure(e.to_string())),
        }
    }

    #[tool(
        description = "Rewind a session to a step: its state is rebuilt from the record (no tool is called again) and the next call continues from there."
    )]
    async fn rewind(
        &self,
        Parameters(args): Parameters<StepArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        match self
            .shared
            .sessions
            .run(
                &args.session,
                Op::Rewind(args.step),
                None,
                &ctx.ct,
                &mut |_| {},
            )
            .await
        {
            Ok(_) => Ok(text(format!(
                "session {} is back at step {}",
                args.session, args.step
            ))),
            Err(e) => Ok(failure(e)),
        }
    }

    #[tool(
        description = "Branch a new session off a recorded one at a step (the original is untouched); returns the new session's name for run_python."
    )]
    async fn fork(
        &self,
        Parameters(args): Parameters<ForkArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let ctx = self.shared.sessions.context();
        match crate::engine::record::fork(
            &ctx.project,
            &args.session,
            args.step,
            args.name.as_deref(),
        ) {
            Ok(name) => Ok(text(name)),
            Err(e) => Ok(failure(e.to_string())),
        }
    }

    #[tool(
        description = "Search the project's skill library (reusable code kept from earlier tasks)."
    )]
    async fn search_skills(
        &self,
        Parameters(args): Parameters<QueryArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let project = self.shared.sessions.context().project.clone();
        let limit = args.limit.unwrap_or(5).clamp(1, 50);
        let found = tokio::task::spawn_blocking(move || {
            let library = crate::engine::query::skills::open_library(&project)?;
            crate::engine::query::skills::search(&library, &args.query, limit)
        })
        .await;
        Ok(match found {
            Ok(Ok(skills)) if skills.is_empty() => text("no skill matches"),
            Ok(Ok(skills)) => text(
                skills
                    .iter()
                    .map(|s| s.prompt_line())
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            Ok(Err(e)) => failure(e.to_string()),
            Err(e) => failure(e.to_string()),
        })
    }

    #[tool(description = "Show a skill's Python source and how to import it in run_python code.")]
    async fn show_skill(
        &self,
        Parameters(args): Parameters<NameArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        use crate::engine::query::skills::{self, SkillDetail};
        let project = self.shared.sessions.context().project.clone();
        let shown = tokio::task::spawn_blocking(move || {
            skills::show(&skills::open_library(&project)?, &args.name)
        })
        .await;
        Ok(match shown {
            Ok(Ok(SkillDetail::Skill(s))) => text(format!(
                "from skills.{} import run\n\n{}",
                s.skill.name, s.code
            )),
            Ok(Ok(SkillDetail::Broken(b))) => failure(format!(
                "skill {} cannot be imported: {}\n\n{}",
                b.name, b.problem, b.code
            )),
            Ok(Err(e)) => failure(e.to_string()),
            Err(e) => failure(e.to_string()),
        })
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for McprServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_tasks()
                .build(),
        )
        .with_server_info(rmcp::model::Implementation::new(
            "mcpr",
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(INSTRUCTIONS)
    }

    /// A request rmcp could not read as one it knows: bad params of a known method, or
    /// an unknown method; the error says which.
    async fn on_custom_request(
        &self,
        request: rmcp::model::CustomRequest,
        _context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::CustomResult, ErrorData> {
        Err(args::request_error(
            &request.method,
            request.params.as_ref(),
        ))
    }

    /// Arguments are checked against the tool's schema first (the error names the
    /// field); `run_python` and `run_task` may become tasks for clients that take them.
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if let Some(tool) = self.tool_router.get(&request.name)
            && let Err(e) = args::check(tool, request.arguments.as_ref())
        {
            return Ok(CallToolResponse::Complete(failure(e)));
        }
        let takes_tasks = ctx
            .client_capabilities()
            .is_some_and(|caps| caps.supports_tasks());
        if takes_tasks && matches!(request.name.as_ref(), "run_python" | "run_task") {
            return self.call_or_task(request, ctx).await;
        }
        let call = rmcp::handler::server::tool::ToolCallContext::new(self, request, ctx);
        self.tool_router.call(call).await
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        Ok(GetTaskResult::new(
            self.shared.tasks.get_task(&request.task_id)?,
        ))
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        // No call of this server asks the client for input; answers are ignored.
        self.shared
            .tasks
            .update_task(&request.task_id, request.input_responses)
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.shared.tasks.cancel_task(&request.task_id)
    }

    async fn list_resources(
        &self,
        _request: Option<rmcp::model::PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ListResourcesResult, ErrorData> {
        let shared = self.shared.clone();
        let resources = tokio::task::spawn_blocking(move || resources::list(&shared))
            .await
            .unwrap_or_default();
        Ok(rmcp::model::ListResourcesResult::with_all_items(resources))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<rmcp::model::PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ListResourceTemplatesResult, ErrorData> {
        Ok(rmcp::model::ListResourceTemplatesResult::with_all_items(
            resources::templates(),
        ))
    }

    async fn read_resource(
        &self,
        request: rmcp::model::ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ReadResourceResponse, ErrorData> {
        let shared = self.shared.clone();
        let uri = request.uri.clone();
        let contents = tokio::task::spawn_blocking(move || resources::read(&shared, &uri))
            .await
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))??;
        Ok(rmcp::model::ReadResourceResponse::Complete(
            rmcp::model::ReadResourceResult::new(vec![contents]),
        ))
    }
}

/// Serves one client on stdin/stdout until it goes away, then closes every session.
pub async fn serve_stdio(shared: Arc<Shared>) -> Result<(), String> {
    let server = McprServer::new(shared.clone());
    let running = server
        .serve(stdio::transport(tokio::io::stdin(), tokio::io::stdout()))
        .await
        .map_err(|e| format!("MCP handshake failed: {e}"))?;
    let result = tokio::select! {
        r = running.waiting() => r.map(|_| ()).map_err(|e| e.to_string()),
        () = terminated() => Ok(()),
    };
    shared.shutdown().await;
    result
}

/// SIGTERM or SIGHUP.
pub async fn terminated() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(mut term), Ok(mut hup)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}
