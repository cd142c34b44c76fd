//! The fixed text that teaches a model to use tools from code. It names no server and no
//! tool, so its size does not grow with what is configured: the model discovers tools by
//! calling `tools.search` and friends from its code.

pub const TOOL_INSTRUCTIONS: &str = r#"Tools from MCP servers are Python modules under `tools`. Find them with code instead of guessing:
    import tools
    tools.search("what you need")   # best matches: tool, import line, description
    tools.describe("git_log")       # signature and documentation
    tools.list_servers(); tools.list_tools("git")
Then import and call them with keyword arguments (positional ones are refused): `from tools.git import git_log; log = git_log(repo_path=".")`.
Calls return plain data (dict, list, str); a failure raises tools.ToolError with the server's message (kind "denied": the user refused it; do not retry). In async code, `await` each call and use asyncio.gather for many at once. A very large result arrives as a LargeResult (use it like the data, or page with .read(offset, n)); images arrive as objects with .mime and .path.
Loop, filter and combine results in Python and print only what matters."#;

#[cfg(test)]
mod tests {
    #[test]
    fn instructions_stay_within_their_budget() {
        let tokens = crate::tokens::count(super::TOOL_INSTRUCTIONS);
        assert!(tokens <= 300, "{tokens} tokens");
    }
}
