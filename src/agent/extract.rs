//! Finding the code in a model's answer: fenced blocks with or without a language tag,
//! several blocks (joined in order), or no fence at all when the whole answer is Python.
//! An answer with no code is the final answer.

/// The code to run, or None when the answer is prose.
pub fn extract_code(answer: &str) -> Option<String> {
    let blocks = fenced_blocks(answer);
    if !blocks.is_empty() {
        let python: Vec<&(Option<String>, String)> = blocks
            .iter()
            .filter(|(lang, _)| lang.as_deref().is_none_or(is_python_tag))
            .collect();
        let code: Vec<&str> = python
            .iter()
            .map(|(_, c)| c.trim_end())
            .filter(|c| !c.trim().is_empty())
            .collect();
        return (!code.is_empty()).then(|| code.join("\n\n") + "\n");
    }
    let trimmed = answer.trim();
    (!trimmed.is_empty() && looks_like_python(trimmed)).then(|| trimmed.to_string() + "\n")
}

fn is_python_tag(tag: &str) -> bool {
    matches!(
        tag.to_ascii_lowercase().as_str(),
        "python" | "py" | "python3" | "ipython" | ""
    )
}

/// (language tag, body) of each ``` or ~~~ fenced block. An unclosed fence runs to the end.
fn fenced_blocks(text: &str) -> Vec<(Option<String>, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, Option<String>, String)> = None;
    for line in text.split_inclusive('\n') {
        let stripped = line.trim_start();
        let fence = ["```", "~~~"].into_iter().find(|f| stripped.starts_with(f));
        match (&mut current, fence) {
            (None, Some(f)) => {
                let tag = stripped[f.len()..]
                    .split_whitespace()
                    .next()
                    .map(str::to_string);
                current = Some((f.to_string(), tag, String::new()));
            }
            (Some((open, _, _)), Some(f)) if f == open && stripped.trim() == f => {
                if let Some((_, tag, body)) = current.take() {
                    blocks.push((tag, body));
                }
            }
            (Some((_, _, body)), _) => body.push_str(line),
            (None, None) => {}
        }
    }
    if let Some((_, tag, body)) = current
        && !body.trim().is_empty()
    {
        blocks.push((tag, body));
    }
    blocks
}

/// An unfenced answer counts as code when Python itself would mostly accept its lines:
/// the first meaningful line reads as a statement, not as a sentence.
fn looks_like_python(text: &str) -> bool {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    let Some(first) = first else {
        // Only comments: not an answer worth running.
        return false;
    };
    const STARTS: &[&str] = &[
        "import ", "from ", "def ", "class ", "for ", "while ", "if ", "with ", "try:", "print(",
        "async ", "await ", "return ", "@",
    ];
    if STARTS.iter().any(|s| first.starts_with(s)) {
        return true;
    }
    // `name = …` or a call `name(…)`, with no sentence punctuation at the end.
    let ends_like_prose = first.ends_with('.') || first.ends_with('!') || first.ends_with('?');
    let assignment = match first.split_once('=') {
        Some((lhs, rhs)) if !rhs.starts_with('=') && !lhs.ends_with(['!', '<', '>']) => {
            let lhs = lhs.trim().trim_end_matches(['+', '-', '*', '/']).trim();
            !lhs.is_empty()
                && lhs
                    .chars()
                    .all(|c| c.is_alphanumeric() || "_,.[]'\" ".contains(c))
                && (!lhs.contains(' ') || lhs.contains(','))
        }
        _ => false,
    };
    let call = first.contains('(') && first.ends_with(')') && !first.contains(" (");
    !ends_like_prose && (assignment || call)
}

#[cfg(test)]
mod tests {
    use super::extract_code;

    #[test]
    fn fenced_with_and_without_tag() {
        assert_eq!(
            extract_code("Here:\n```python\nprint(1)\n```\nDone.").as_deref(),
            Some("print(1)\n")
        );
        assert_eq!(extract_code("```\nx = 2\n```").as_deref(), Some("x = 2\n"));
        assert_eq!(
            extract_code("~~~py\nx = 3\n~~~").as_deref(),
            Some("x = 3\n")
        );
    }

    #[test]
    fn several_blocks_join_and_other_languages_are_skipped() {
        let answer = "First:\n```python\na = 1\n```\nThen a shell aside:\n```bash\nls -la\n```\nAnd:\n```python\nprint(a)\n```";
        assert_eq!(extract_code(answer).as_deref(), Some("a = 1\n\nprint(a)\n"));
    }

    #[test]
    fn unfenced_code_and_prose() {
        assert_eq!(
            extract_code("import os\nprint(os.getcwd())").as_deref(),
            Some("import os\nprint(os.getcwd())\n")
        );
        assert_eq!(
            extract_code("total = sum(range(10))\nprint(total)").as_deref(),
            Some("total = sum(range(10))\nprint(total)\n")
        );
        assert_eq!(extract_code("The answer is 42."), None);
        assert_eq!(extract_code("Paris has 18 degrees and it is cloudy."), None);
        assert_eq!(extract_code(""), None);
    }

    #[test]
    fn unclosed_fence_runs_to_the_end() {
        assert_eq!(
            extract_code("```python\nprint('cut off')\n").as_deref(),
            Some("print('cut off')\n")
        );
    }

    #[test]
    fn indented_fences_inside_prose() {
        assert_eq!(
            extract_code("Steps:\n  ```python\n  x = 1\n  ```\n").as_deref(),
            Some("  x = 1\n")
        );
    }
}
