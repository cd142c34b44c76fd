//! The tool policy: whether a tool call goes ahead (`allow`), waits for someone's approval
//! (`ask`) or is refused (`deny`), and the seam through which a front end answers `ask`.
//!
//! A tool's class comes from the MCP annotations its server gives ([`ToolClass::of`]):
//! read-only, destructive, additive, or unannotated (many servers annotate nothing). Each
//! class has a rule in `[tools.policy]`; `[tools.policy.servers]` sets rules for every
//! tool of a server (`SERVER`) or for one tool (`SERVER.TOOL`), and overrides from the
//! command line (`SERVER[.TOOL]=RULE`) go over the file's. Annotations are the server's
//! word: the policy guards against a model calling what the task never needed, not
//! against a server that lies (give such a server a rule of its own).
//!
//! This module decides and describes; the hub applies the decision before it calls the
//! server, and asks the [`Approver`] a front end installed. It never calls a tool.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use super::catalog::{ToolAnnotations, ToolInfo};
use super::config::McpConfig;

/// What happens to a call of a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    Allow,
    /// Ask the front end's [`Approver`]; refused when there is none.
    Ask,
    Deny,
}

impl Rule {
    /// The values a rule takes, in words for error messages.
    pub const CHOICES: &'static str = "allow, ask or deny";

    pub fn parse(text: &str) -> Option<Rule> {
        match text {
            "allow" => Some(Rule::Allow),
            "ask" => Some(Rule::Ask),
            "deny" => Some(Rule::Deny),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Allow => "allow",
            Rule::Ask => "ask",
            Rule::Deny => "deny",
        }
    }
}

impl<'de> Deserialize<'de> for Rule {
    /// Names the allowed values (the TOML error around it names the key).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Rule, D::Error> {
        let text = String::deserialize(deserializer)?;
        Rule::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{text:?} is not a tool policy rule: use {}",
                Rule::CHOICES
            ))
        })
    }
}

/// What a tool's annotations say it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolClass {
    /// `readOnlyHint: true`.
    ReadOnly,
    /// Not read-only, and `destructiveHint: true` or absent (the MCP default) while
    /// `readOnlyHint: false` is given.
    Destructive,
    /// `destructiveHint: false` and not read-only: it only adds.
    Additive,
    /// Neither `readOnlyHint` nor `destructiveHint` given (or no annotations at all).
    Unannotated,
}

impl ToolClass {
    pub fn of(annotations: Option<&ToolAnnotations>) -> ToolClass {
        let (read_only, destructive) = annotations
            .map(|a| (a.read_only_hint, a.destructive_hint))
            .unwrap_or_default();
        match (read_only, destructive) {
            (Some(true), _) => ToolClass::ReadOnly,
            (_, Some(true)) => ToolClass::Destructive,
            (_, Some(false)) => ToolClass::Additive,
            // A tool that says it is not read-only and says no more may destroy (the
            // MCP default for destructiveHint is true).
            (Some(false), None) => ToolClass::Destructive,
            (None, None) => ToolClass::Unannotated,
        }
    }

    /// Its key in `[tools.policy]`.
    pub fn key(self) -> &'static str {
        match self {
            ToolClass::ReadOnly => "read_only",
            ToolClass::Destructive => "destructive",
            ToolClass::Additive => "additive",
            ToolClass::Unannotated => "unannotated",
        }
    }

    /// Why a tool is of this class, e.g. "destructive tool (destructiveHint)".
    fn explain(self, annotations: Option<&ToolAnnotations>) -> &'static str {
        match self {
            ToolClass::ReadOnly => "read-only tool (readOnlyHint)",
            ToolClass::Destructive if annotations.and_then(|a| a.destructive_hint).is_none() => {
                "destructive tool (readOnlyHint false without destructiveHint, which MCP defaults to true)"
            }
            ToolClass::Destructive => "destructive tool (destructiveHint)",
            ToolClass::Additive => "additive tool (destructiveHint false)",
            ToolClass::Unannotated => {
                "tool without annotations (its server gives no readOnlyHint or destructiveHint)"
            }
        }
    }
}

/// `[tools.policy]` in mcpr.toml, and overrides from the command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Tools whose server says they change nothing.
    pub read_only: Rule,
    /// Tools that may destroy.
    pub destructive: Rule,
    /// Tools that change things by adding only.
    pub additive: Rule,
    /// Tools whose server says nothing about what they do.
    pub unannotated: Rule,
    /// Rules for every tool of a server (`SERVER`) or one tool (`SERVER.TOOL`), by server
    /// name or module and tool name or Python function; over the class rules.
    pub servers: BTreeMap<String, Rule>,
    /// Rules from the command line (`SERVER[.TOOL]=RULE`), over the file's.
    #[serde(skip)]
    pub overrides: BTreeMap<String, Rule>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            read_only: Rule::Allow,
            destructive: Rule::Ask,
            additive: Rule::Allow,
            unannotated: Rule::Allow,
            servers: BTreeMap::new(),
            overrides: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error(
        "tool policy override {spec:?} is not valid: {why}; write SERVER=RULE or SERVER.TOOL=RULE with RULE one of {}",
        Rule::CHOICES
    )]
    BadOverride { spec: String, why: String },
}

/// Where the rule in force came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleSource {
    /// A command-line override, by its key.
    Override(String),
    /// `[tools.policy.servers]`, by its key.
    Servers(String),
    /// The class rule in `[tools.policy]`.
    Class(ToolClass),
}

/// The policy's answer for one tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub rule: Rule,
    pub class: ToolClass,
    pub source: RuleSource,
    /// The class and the rule with its origin, e.g. `destructive tool (destructiveHint) —
    /// [tools.policy] destructive = "ask"`.
    pub reason: String,
}

impl Verdict {
    /// What to change so that the tool `server.tool` is allowed.
    pub fn how_to_allow(&self, server: &str, tool: &str) -> String {
        match &self.source {
            RuleSource::Override(key) => format!(
                "run without the override `--tool-policy {key}={}` or make it `{key}=allow`",
                self.rule.as_str()
            ),
            RuleSource::Servers(key) => format!(
                "change {} = \"{}\" under [tools.policy.servers] in mcpr.toml",
                toml_key(key),
                self.rule.as_str()
            ),
            RuleSource::Class(_) => format!(
                "set {} = \"allow\" under [tools.policy.servers] in mcpr.toml",
                toml_key(&format!("{server}.{tool}"))
            ),
        }
    }
}

impl Policy {
    /// The policy with command-line overrides (`SERVER=RULE`, `SERVER.TOOL=RULE`) over the
    /// file's rules; a later override of the same key wins.
    pub fn with_overrides(mut self, specs: &[String]) -> Result<Policy, PolicyError> {
        for spec in specs {
            let bad = |why: &str| PolicyError::BadOverride {
                spec: spec.clone(),
                why: why.to_string(),
            };
            let (key, rule) = spec.split_once('=').ok_or_else(|| bad("it has no '='"))?;
            let key = key.trim();
            check_key(key).map_err(|why| bad(&why))?;
            let rule = rule.trim();
            let rule = Rule::parse(rule).ok_or_else(|| bad(&format!("{rule:?} is not a rule")))?;
            self.overrides.insert(key.to_string(), rule);
        }
        Ok(self)
    }

    /// The rule for `tool` of the server named `server` (module `module`): command-line
    /// overrides, then `[tools.policy.servers]`, each the tool's rule before the server's;
    /// else the rule of the tool's class.
    pub fn decide(&self, server: &str, module: &str, tool: &ToolInfo) -> Verdict {
        let annotations = tool.annotations.as_ref();
        let class = ToolClass::of(annotations);
        let mut tool_keys = Vec::new();
        for s in [server, module] {
            for t in [tool.name.as_str(), tool.function.as_str()] {
                tool_keys.push(format!("{s}.{t}"));
            }
        }
        let server_keys = [server.to_string(), module.to_string()];
        let find = |rules: &BTreeMap<String, Rule>| {
            tool_keys
                .iter()
                .chain(&server_keys)
                .find_map(|k| rules.get(k).map(|r| (k.clone(), *r)))
        };
        let (rule, source) = if let Some((key, rule)) = find(&self.overrides) {
            (rule, RuleSource::Override(key))
        } else if let Some((key, rule)) = find(&self.servers) {
            (rule, RuleSource::Servers(key))
        } else {
            (self.class_rule(class), RuleSource::Class(class))
        };
        let origin = match &source {
            RuleSource::Override(key) => format!("--tool-policy {key}={}", rule.as_str()),
            RuleSource::Servers(key) => format!(
                "[tools.policy.servers] {} = \"{}\"",
                toml_key(key),
                rule.as_str()
            ),
            RuleSource::Class(class) => {
                format!("[tools.policy] {} = \"{}\"", class.key(), rule.as_str())
            }
        };
        Verdict {
            rule,
            class,
            reason: format!("{} — {origin}", class.explain(annotations)),
            source,
        }
    }

    pub fn class_rule(&self, class: ToolClass) -> Rule {
        match class {
            ToolClass::ReadOnly => self.read_only,
            ToolClass::Destructive => self.destructive,
            ToolClass::Additive => self.additive,
            ToolClass::Unannotated => self.unannotated,
        }
    }

    /// Every key of `[tools.policy.servers]` well formed, or what is wrong with the first.
    pub fn check(&self) -> Result<(), String> {
        for key in self.servers.keys() {
            check_key(key).map_err(|why| {
                format!(
                    "[tools.policy.servers] {} is not a valid key: {why}; use SERVER or \"SERVER.TOOL\"",
                    toml_key(key)
                )
            })?;
        }
        Ok(())
    }

    /// Warnings for rules naming no configured server: they apply to nothing (a typo
    /// would otherwise go unnoticed).
    pub fn unmatched(&self, config: &McpConfig) -> Vec<String> {
        let names: Vec<&str> = config.servers.iter().map(|s| s.name.as_str()).collect();
        let matches = |key: &str| {
            config.servers.iter().any(|s| {
                [s.name.as_str(), s.module.as_str()].iter().any(|n| {
                    key == *n
                        || key
                            .strip_prefix(n)
                            .is_some_and(|rest| rest.starts_with('.'))
                })
            })
        };
        let file = self.servers.keys().map(|k| (k, "[tools.policy.servers]"));
        let flags = self.overrides.keys().map(|k| (k, "--tool-policy"));
        file.chain(flags)
            .filter(|(key, _)| !matches(key))
            .map(|(key, place)| {
                format!(
                    "{place} {} names no configured MCP server, so it applies to nothing (configured: {})",
                    toml_key(key),
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                )
            })
            .collect()
    }
}

fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("the server name is empty".into());
    }
    if key.starts_with('.') || key.ends_with('.') {
        return Err(format!("{key:?} has an empty server or tool name"));
    }
    if key.chars().any(|c| c.is_whitespace() || c == '=') {
        return Err(format!("{key:?} holds a space or '='"));
    }
    Ok(())
}

/// A key as written in TOML: bare when it can be, else quoted (`"git.git_status"`).
fn toml_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

/// A call the policy asks about, as the approver sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    /// Unique within the hub that asks.
    pub id: u64,
    pub server: String,
    /// The tool's name on its server.
    pub tool: String,
    /// The call's arguments, secrets redacted.
    pub args: Value,
    pub class: ToolClass,
    /// Why the policy asks, e.g. `destructive tool (destructiveHint) — [tools.policy]
    /// destructive = "ask"`.
    pub reason: String,
}

/// The approver's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// This call only.
    AllowOnce,
    /// This call and every later call of the same tool of the same server, for the life
    /// of the hub (the session).
    AllowSession,
    Deny,
}

/// Who answers `ask`: a front end (asking its user, or emitting an event and waiting for
/// the answer). Set on a hub with [`super::hub::ToolHub::set_approver`].
pub trait Approver: Send + Sync {
    fn decide(&self, request: ApprovalRequest) -> Pin<Box<dyn Future<Output = Decision> + Send>>;
}

impl<F, Fut> Approver for F
where
    F: Fn(ApprovalRequest) -> Fut + Send + Sync,
    Fut: Future<Output = Decision> + Send + 'static,
{
    fn decide(&self, request: ApprovalRequest) -> Pin<Box<dyn Future<Output = Decision> + Send>> {
        Box::pin(self(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::catalog::test_catalog;
    use serde_json::json;

    fn tool(annotations: Value) -> ToolInfo {
        test_catalog(
            "git",
            json!([{"name": "git-reset", "annotations": annotations}]),
            None,
        )
        .tools
        .remove(0)
    }

    fn bare_tool() -> ToolInfo {
        test_catalog("git", json!([{"name": "git-reset"}]), None)
            .tools
            .remove(0)
    }

    #[test]
    fn tools_are_classed_by_their_annotations_with_the_mcp_defaults() {
        let class = |a: Value| ToolClass::of(tool(a).annotations.as_ref());
        assert_eq!(class(json!({"readOnlyHint": true})), ToolClass::ReadOnly);
        // readOnlyHint wins: destructiveHint only means something for tools that write.
        assert_eq!(
            class(json!({"readOnlyHint": true, "destructiveHint": true})),
            ToolClass::ReadOnly
        );
        assert_eq!(
            class(json!({"readOnlyHint": false, "destructiveHint": true})),
            ToolClass::Destructive
        );
        assert_eq!(
            class(json!({"destructiveHint": true})),
            ToolClass::Destructive
        );
        assert_eq!(
            class(json!({"readOnlyHint": false})),
            ToolClass::Destructive
        );
        assert_eq!(
            class(json!({"readOnlyHint": false, "destructiveHint": false})),
            ToolClass::Additive
        );
        assert_eq!(
            class(json!({"destructiveHint": false})),
            ToolClass::Additive
        );
        // A title or other hints say nothing about writing.
        assert_eq!(
            class(json!({"title": "Reset", "idempotentHint": true})),
            ToolClass::Unannotated
        );
        assert_eq!(ToolClass::of(None), ToolClass::Unannotated);
    }

    #[test]
    fn defaults_ask_only_for_destructive_tools() {
        let p = Policy::default();
        let rule = |t: &ToolInfo| p.decide("git", "git", t).rule;
        assert_eq!(rule(&tool(json!({"readOnlyHint": true}))), Rule::Allow);
        assert_eq!(rule(&tool(json!({"destructiveHint": false}))), Rule::Allow);
        assert_eq!(rule(&bare_tool()), Rule::Allow);
        let v = p.decide("git", "git", &tool(json!({"destructiveHint": true})));
        assert_eq!((v.rule, v.class), (Rule::Ask, ToolClass::Destructive));
        assert_eq!(
            v.reason,
            "destructive tool (destructiveHint) — [tools.policy] destructive = \"ask\""
        );
        assert_eq!(
            v.how_to_allow("git", "git-reset"),
            "set \"git.git-reset\" = \"allow\" under [tools.policy.servers] in mcpr.toml"
        );
        let v = p.decide("git", "git", &tool(json!({"readOnlyHint": false})));
        assert!(v.reason.contains("MCP defaults to true"), "{}", v.reason);
    }

    #[test]
    fn the_most_specific_rule_wins_and_overrides_beat_the_file() {
        let p: Policy = toml::from_str(
            r#"
            unannotated = "deny"
            [servers]
            git = "ask"
            "git.git_reset" = "allow"
            "#,
        )
        .unwrap();
        let reset = bare_tool();
        // By tool (its Python function name here), over the server's rule.
        let v = p.decide("git", "git", &reset);
        assert_eq!(v.rule, Rule::Allow);
        assert_eq!(v.source, RuleSource::Servers("git.git_reset".into()));
        assert!(
            v.reason
                .ends_with("[tools.policy.servers] \"git.git_reset\" = \"allow\""),
            "{}",
            v.reason
        );
        let other = test_catalog("git", json!([{"name": "git_log"}]), None).tools[0].clone();
        assert_eq!(p.decide("git", "git", &other).rule, Rule::Ask);
        // Another server falls back to the class rule.
        assert_eq!(p.decide("time", "time", &other).rule, Rule::Deny);
        // A server-wide override beats even the file's rule for one tool.
        let p = p
            .with_overrides(&["git=deny".into(), " time.git_log = allow ".into()])
            .unwrap();
        let v = p.decide("git", "git", &reset);
        assert_eq!(
            (v.rule, v.source.clone()),
            (Rule::Deny, RuleSource::Override("git".into()))
        );
        assert!(v.reason.ends_with("--tool-policy git=deny"), "{}", v.reason);
        assert!(
            v.how_to_allow("git", "git-reset")
                .contains("--tool-policy git=deny")
        );
        assert_eq!(p.decide("time", "time", &other).rule, Rule::Allow);
    }

    #[test]
    fn bad_overrides_say_what_is_wrong_and_what_to_write() {
        let err = |s: &str| {
            Policy::default()
                .with_overrides(&[s.to_string()])
                .unwrap_err()
                .to_string()
        };
        let e = err("git");
        assert!(e.contains("\"git\"") && e.contains("no '='"), "{e}");
        assert!(
            e.contains("SERVER.TOOL=RULE") && e.contains("allow, ask or deny"),
            "{e}"
        );
        assert!(err("git=maybe").contains("\"maybe\" is not a rule"));
        assert!(err("=allow").contains("server name is empty"));
        assert!(err("git.=allow").contains("empty server or tool name"));
        let later = Policy::default()
            .with_overrides(&["git=deny".into(), "git=ask".into()])
            .unwrap();
        assert_eq!(later.overrides["git"], Rule::Ask);
    }

    #[test]
    fn rules_that_name_no_configured_server_are_warned_about() {
        let config = McpConfig::parse(
            r#"{"mcpServers": {"my.git": {"command": "x"}, "time": {"command": "y"}}}"#,
            std::path::Path::new("/p/.mcp.json"),
            &|_| None,
        )
        .unwrap();
        let p: Policy = toml::from_str(
            "[servers]\n\"my.git.git_log\" = \"ask\"\nmy_git = \"ask\"\ntime = \"deny\"\ngti = \"deny\"\n",
        )
        .unwrap();
        let p = p.with_overrides(&["tim.x=allow".into()]).unwrap();
        let warnings = p.unmatched(&config);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].starts_with("[tools.policy.servers] gti names no configured MCP server"),
            "{warnings:?}"
        );
        assert!(
            warnings[0].ends_with("(configured: my.git, time)"),
            "{warnings:?}"
        );
        assert!(
            warnings[1].starts_with("--tool-policy \"tim.x\""),
            "{warnings:?}"
        );
    }

    #[test]
    fn a_bad_rule_in_the_file_names_the_allowed_values() {
        let err = toml::from_str::<Policy>("destructive = \"maybe\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("destructive"), "{err}");
        assert!(
            err.contains("\"maybe\" is not a tool policy rule: use allow, ask or deny"),
            "{err}"
        );
        let bad: Policy = toml::from_str("[servers]\n\"git. x\" = \"ask\"").unwrap();
        let err = bad.check().unwrap_err();
        assert!(err.contains("[tools.policy.servers] \"git. x\""), "{err}");
    }

    #[test]
    fn requests_and_decisions_have_a_stable_wire_form() {
        let r = ApprovalRequest {
            id: 7,
            server: "demo".into(),
            tool: "delete_note".into(),
            args: json!({"id": 1}),
            class: ToolClass::ReadOnly,
            reason: "r".into(),
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["class"], "read_only");
        assert_eq!(serde_json::from_value::<ApprovalRequest>(v).unwrap(), r);
        assert_eq!(
            serde_json::to_value(Decision::AllowSession).unwrap(),
            "allow_session"
        );
    }
}
