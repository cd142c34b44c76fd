//! The prompt for one attempt: a short fixed system part that teaches the pattern, the
//! tools relevant to this task with their signatures (top-k by search, bounded in
//! tokens, never the whole list; see `tools::suggest`), what the context
//! input is (its size and kind, never its content), and the conversation so far.

use crate::llm::ChatMessage;

pub const SYSTEM_PROMPT: &str = r#"You complete tasks by writing Python that runs in a persistent, sandboxed kernel: variables and imports stay between steps, the working directory is your workspace, and there is no network.
Answer with one ```python block that does the work and prints the result; it runs as is. Never state a result your code did not compute. Print only what matters (counts, short summaries, the answer), not raw data.
If the code fails you will see the error; answer with corrected code. Answer in plain words, without code, only when the task needs no computation, files, data or tools.
`ask_llm(prompt, data=None) -> str` (no import needed) asks a language model for judgement over data: classify, summarise, extract. Call it from your code, in loops, or from threads for many items."#;

/// What the prompt builder knows about the run.
pub struct PromptParts<'a> {
    /// Tool instructions, when tools are configured.
    pub tool_instructions: Option<&'a str>,
    /// Per tool an import line and its signature, e.g. `from tools.demo import get_weather`
    /// and `get_weather(*, city: str, ...) -> dict[str, Any]  # Current weather for a city`.
    pub relevant_tools: &'a [String],
    /// Lines like `from skills.weather_report import run  # Weather summary for cities`.
    pub relevant_skills: &'a [String],
    /// E.g. "50.0 MB of JSON text".
    pub context: Option<&'a str>,
    /// Earlier steps: (task, code, output excerpt).
    pub history: &'a [(String, Option<String>, String)],
    /// A paragraph that ends the system part.
    pub note: Option<&'a str>,
    pub task: &'a str,
}

/// The fixed part, whose size the benchmark tracks: no tools, no history.
pub fn fixed_part(with_tools: bool) -> String {
    let mut s = SYSTEM_PROMPT.to_string();
    if with_tools {
        s.push_str("\n\n");
        s.push_str(crate::tools::instructions::TOOL_INSTRUCTIONS);
    }
    s
}

pub fn build(parts: &PromptParts<'_>) -> Vec<ChatMessage> {
    let mut system = SYSTEM_PROMPT.to_string();
    if let Some(t) = parts.tool_instructions {
        system.push_str("\n\n");
        system.push_str(t);
        if !parts.relevant_tools.is_empty() {
            system.push_str("\nLikely useful for this task (keyword arguments only):\n");
            push_indented(&mut system, parts.relevant_tools);
        }
    }
    if !parts.relevant_skills.is_empty() {
        system.push_str("\n\nSkills (code that solved earlier tasks; import and call `run`):\n");
        push_indented(&mut system, parts.relevant_skills);
    }
    if let Some(c) = parts.context {
        system.push_str(&format!(
            "\n\nThe input for this run is in `CONTEXT_DATA` ({c}); it is not in this prompt. Read it from code: CONTEXT_DATA.text(), .read(offset, n), .lines(), .json(), len(CONTEXT_DATA) is its size in bytes."
        ));
    }
    if let Some(note) = parts.note {
        system.push_str("\n\n");
        system.push_str(note);
    }
    let mut messages = vec![ChatMessage::system(system.trim_end())];
    for (task, code, output) in parts.history {
        messages.push(ChatMessage::user(task.clone()));
        match code {
            Some(code) => {
                messages.push(ChatMessage::assistant(format!(
                    "```python\n{}\n```",
                    code.trim_end()
                )));
                messages.push(ChatMessage::user(format!("Output:\n{output}")));
                messages.push(ChatMessage::assistant("Done.".to_string()));
            }
            None => messages.push(ChatMessage::assistant(output.clone())),
        }
    }
    messages.push(ChatMessage::user(parts.task.to_string()));
    messages
}

fn push_indented(out: &mut String, lines: &[String]) {
    for line in lines {
        out.push_str("    ");
        out.push_str(line);
        out.push('\n');
    }
}

/// The head and tail of a long text, with the middle left out.
pub fn excerpt(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_string();
    }
    let half = max_bytes / 2;
    let head_end = (0..=half)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    let tail_start = (text.len() - half..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    format!(
        "{}\n[... {} bytes left out ...]\n{}",
        &text[..head_end],
        tail_start - head_end,
        &text[tail_start..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_part_is_small_and_excerpts_keep_both_ends() {
        let tokens = crate::tokens::count(&fixed_part(true));
        assert!(tokens < 500, "{tokens}");
        let e = excerpt(
            &"a".repeat(100)
                .chars()
                .chain("b".repeat(100).chars())
                .collect::<String>(),
            20,
        );
        assert!(
            e.starts_with("aaaaaaaaaa")
                && e.ends_with("bbbbbbbbbb")
                && e.contains("180 bytes left out"),
            "{e}"
        );
    }
}
