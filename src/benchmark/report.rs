//! The benchmark's Markdown report from its results: solved rate, model calls, tokens,
//! tool calls and time per arm and per category, with 95 % confidence intervals over all
//! runs (tasks × repeats), and what the tokens would cost at the prices of a table.
//! A pure function of the results and the prices, so it is snapshot-tested.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use super::arms::Arm;
use super::harness::Outcome;
use super::task::Category;

/// USD per million tokens, per model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    pub models: BTreeMap<String, Price>,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// USD per million prompt tokens.
    pub input: f64,
    /// USD per million completion tokens.
    pub output: f64,
}

impl Default for Prices {
    /// List prices (USD per million tokens) of a few hosted models, for scale only: pass
    /// `--prices` with a table of your own.
    fn default() -> Self {
        let models = [
            ("gpt-4o-mini", 0.15, 0.60),
            ("gpt-4.1", 2.00, 8.00),
            ("claude-sonnet-4", 3.00, 15.00),
        ]
        .into_iter()
        .map(|(m, input, output)| (m.to_string(), Price { input, output }))
        .collect();
        Prices { models }
    }
}

impl Prices {
    pub fn load(path: &Path) -> Result<Prices, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the price table {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| {
            format!(
                "the price table {} is not valid ({e}); write [models.\"NAME\"] with input = and output = in USD per million tokens",
                path.display()
            )
        })
    }
}

/// Mean and the half-width of its 95 % confidence interval (normal approximation).
pub fn mean_ci(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, f64::NAN);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, 1.96 * (var / n).sqrt())
}

/// Wilson score interval (95 %) of a proportion: (low, high).
pub fn wilson(successes: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let z = 1.96_f64;
    let (s, n) = (successes as f64, n as f64);
    let p = s / n;
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * ((p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt()) / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

fn arms_in(results: &[Outcome]) -> Vec<Arm> {
    let mut arms: Vec<Arm> = results.iter().map(|r| r.arm).collect();
    arms.sort();
    arms.dedup();
    arms
}

fn solved_cell(runs: &[&Outcome]) -> String {
    if runs.is_empty() {
        return "—".into();
    }
    let s = runs.iter().filter(|r| r.solved).count();
    let (lo, hi) = wilson(s, runs.len());
    format!(
        "{s}/{} ({:.0} %, {:.0}–{:.0})",
        runs.len(),
        100.0 * s as f64 / runs.len() as f64,
        100.0 * lo,
        100.0 * hi
    )
}

fn mean_cell(runs: &[&Outcome], f: impl Fn(&Outcome) -> f64, digits: usize) -> String {
    let values: Vec<f64> = runs.iter().map(|r| f(r)).collect();
    match mean_ci(&values) {
        (m, _) if m.is_nan() => "—".into(),
        (m, h) if h.is_nan() => format!("{m:.digits$}"),
        (m, h) => format!("{m:.digits$} ± {h:.digits$}"),
    }
}

/// The report in Markdown.
pub fn markdown(results: &[Outcome], prices: &Prices) -> String {
    let mut out = String::new();
    let arms = arms_in(results);
    let tasks: std::collections::BTreeSet<&str> = results.iter().map(|r| r.task.as_str()).collect();
    let repeats = results.iter().map(|r| r.repeat).max().unwrap_or(0);
    let models: std::collections::BTreeSet<&str> = results
        .iter()
        .map(|r| r.model.as_str())
        .filter(|m| !m.is_empty())
        .collect();
    let _ = writeln!(
        out,
        "# mcpr bench agents\n\n{} runs: {} tasks, arms {}, up to {} repeat(s); model {}.\n",
        results.len(),
        tasks.len(),
        arms.iter().map(|a| a.name()).collect::<Vec<_>>().join(", "),
        repeats,
        if models.is_empty() {
            "none".to_string()
        } else {
            models.into_iter().collect::<Vec<_>>().join(", ")
        }
    );
    let _ = writeln!(
        out,
        "Means are per run, ± the half-width of a 95 % confidence interval; solved rates give the 95 % Wilson interval.\n"
    );
    let _ = writeln!(out, "## Per arm\n");
    let _ = writeln!(
        out,
        "| arm | solved | model calls | prompt tokens | completion tokens | tool calls | retries | runs with errors | wall time (s) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for arm in &arms {
        let runs: Vec<&Outcome> = results.iter().filter(|r| r.arm == *arm).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            arm.name(),
            solved_cell(&runs),
            mean_cell(&runs, |r| r.model_calls as f64, 1),
            mean_cell(&runs, |r| r.prompt_tokens as f64, 0),
            mean_cell(&runs, |r| r.completion_tokens as f64, 0),
            mean_cell(&runs, |r| r.tool_calls as f64, 1),
            mean_cell(&runs, |r| r.retries as f64, 1),
            runs.iter().filter(|r| !r.errors.is_empty()).count(),
            mean_cell(&runs, |r| r.wall_ms / 1000.0, 2),
        );
    }
    let _ = writeln!(out, "\n## Solved per category\n");
    let _ = write!(out, "| category |");
    for arm in &arms {
        let _ = write!(out, " {} |", arm.name());
    }
    let _ = writeln!(out, "\n|---|{}", "---|".repeat(arms.len()));
    for cat in Category::ALL {
        if !results.iter().any(|r| r.category == cat) {
            continue;
        }
        let _ = write!(out, "| {} |", cat.name());
        for arm in &arms {
            let runs: Vec<&Outcome> = results
                .iter()
                .filter(|r| r.arm == *arm && r.category == cat)
                .collect();
            let _ = write!(out, " {} |", solved_cell(&runs));
        }
        let _ = writeln!(out);
    }
    let model_arms: Vec<Arm> = arms.iter().copied().filter(|a| a.needs_model()).collect();
    if !model_arms.is_empty() {
        let _ = writeln!(
            out,
            "\n## Tokens per category (prompt + completion, mean per run)\n"
        );
        let _ = write!(out, "| category |");
        for arm in &model_arms {
            let _ = write!(out, " {} |", arm.name());
        }
        let _ = writeln!(out, "\n|---|{}", "---|".repeat(model_arms.len()));
        for cat in Category::ALL {
            if !results.iter().any(|r| r.category == cat) {
                continue;
            }
            let _ = write!(out, "| {} |", cat.name());
            for arm in &model_arms {
                let runs: Vec<&Outcome> = results
                    .iter()
                    .filter(|r| r.arm == *arm && r.category == cat)
                    .collect();
                let _ = write!(
                    out,
                    " {} |",
                    mean_cell(&runs, |r| (r.prompt_tokens + r.completion_tokens) as f64, 0)
                );
            }
            let _ = writeln!(out);
        }
    }
    if !model_arms.is_empty() && !prices.models.is_empty() {
        let _ = writeln!(
            out,
            "\n## What the tokens would cost (USD per 1,000 runs; example list prices, set your own with --prices)\n"
        );
        let _ = write!(out, "| priced as | input / output per M |");
        for arm in &model_arms {
            let _ = write!(out, " {} |", arm.name());
        }
        let _ = writeln!(out, "\n|---|---|{}", "---|".repeat(model_arms.len()));
        for (model, price) in &prices.models {
            let _ = write!(out, "| {model} | ${} / ${} |", price.input, price.output);
            for arm in &model_arms {
                let runs: Vec<&Outcome> = results.iter().filter(|r| r.arm == *arm).collect();
                let cost = |r: &Outcome| {
                    (r.prompt_tokens as f64 * price.input
                        + r.completion_tokens as f64 * price.output)
                        / 1e6
                        * 1000.0
                };
                let _ = write!(out, " {} |", mean_cell(&runs, cost, 2));
            }
            let _ = writeln!(out);
        }
    }
    let failed: Vec<&Outcome> = results.iter().filter(|r| !r.solved).collect();
    if !failed.is_empty() {
        let _ = writeln!(out, "\n## Runs not solved\n");
        let _ = writeln!(out, "| task | arm | repeat | why |");
        let _ = writeln!(out, "|---|---|---|---|");
        for r in failed {
            let why = r
                .errors
                .first()
                .or(r.failures.first())
                .map(|w| w.replace('|', "\\|").replace('\n', " "))
                .unwrap_or_default();
            let why: String = why.chars().take(120).collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {why} |",
                r.task,
                r.arm.name(),
                r.repeat
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_sane() {
        let (lo, hi) = wilson(5, 10);
        assert!(lo > 0.2 && lo < 0.5 && hi > 0.5 && hi < 0.8, "{lo} {hi}");
        assert_eq!(wilson(0, 4).0, 0.0);
        let (m, h) = mean_ci(&[1.0, 2.0, 3.0]);
        assert_eq!(m, 2.0);
        assert!((h - 1.96 * (1.0f64 / 3.0).sqrt()).abs() < 1e-9);
    }
}
