//! Python highlighting off the draw path: a worker thread owns the syntax set and themes
//! (two-face's bundle of bat's, loaded once, lazily), takes jobs keyed by the hash of the
//! code and the theme, and hands back styled lines that the state caches. Rendering
//! only ever looks the cache up.

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::mpsc;
use syntect::easy::HighlightLines;
use syntect::highlighting::{FontStyle, Theme};
use syntect::parsing::SyntaxSet;
use two_face::theme::{EmbeddedLazyThemeSet, EmbeddedThemeName};

/// Highlighted code: one styled line per line of code.
pub type Highlighted = Arc<Vec<Line<'static>>>;

/// The cache key of `code` in `theme`.
pub fn key(code: &str, theme: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    code.hash(&mut h);
    theme.hash(&mut h);
    h.finish()
}

pub fn syntax_theme_names() -> Vec<&'static str> {
    EmbeddedLazyThemeSet::theme_names()
        .iter()
        .map(|t| t.as_name())
        .collect()
}

pub fn syntax_theme_exists(name: &str) -> bool {
    theme_by_name(name).is_some()
}

fn theme_by_name(name: &str) -> Option<EmbeddedThemeName> {
    EmbeddedLazyThemeSet::theme_names()
        .iter()
        .copied()
        .find(|t| t.as_name().eq_ignore_ascii_case(name))
}

struct Job {
    key: u64,
    code: String,
    theme: String,
}

/// Sends jobs to the worker; dropping it ends the worker.
pub struct Highlighter {
    jobs: mpsc::Sender<Job>,
}

impl Highlighter {
    /// Starts the worker; `done` receives each job's key and lines (on the worker).
    pub fn spawn(done: impl Fn(u64, Vec<Line<'static>>) + Send + 'static) -> Highlighter {
        let (jobs, rx) = mpsc::channel::<Job>();
        // Without a worker (no thread could start) code stays plain: jobs go nowhere.
        let _worker = std::thread::Builder::new()
            .name("mcpr-highlight".into())
            .spawn(move || {
                // Loaded with the first job: an idle console never pays for them.
                let Ok(first) = rx.recv() else { return };
                let syntaxes = two_face::syntax::extra_newlines();
                let themes = two_face::theme::extra();
                for job in std::iter::once(first).chain(rx.iter()) {
                    let theme = theme_by_name(&job.theme)
                        .map(|t| themes.get(t))
                        .unwrap_or_else(|| themes.get(EmbeddedThemeName::Ansi));
                    done(job.key, highlight(&job.code, &syntaxes, theme));
                }
            });
        Highlighter { jobs }
    }

    pub fn request(&self, key: u64, code: String, theme: String) {
        let _ = self.jobs.send(Job { key, code, theme });
    }
}

/// Highlights Python `code` with `theme`; plain lines when the syntax is missing.
pub fn highlight(code: &str, syntaxes: &SyntaxSet, theme: &Theme) -> Vec<Line<'static>> {
    let Some(syntax) = syntaxes.find_syntax_by_extension("py") else {
        return code.lines().map(|l| Line::raw(l.to_string())).collect();
    };
    let mut h = HighlightLines::new(syntax, theme);
    let mut out = Vec::new();
    for line in syntect::util::LinesWithEndings::from(code) {
        let spans = match h.highlight_line(line, syntaxes) {
            Ok(ranges) => ranges
                .into_iter()
                .filter_map(|(style, text)| {
                    let text = text.trim_end_matches(['\n', '\r']);
                    (!text.is_empty()).then(|| Span::styled(text.to_string(), convert(style)))
                })
                .collect(),
            Err(_) => vec![Span::raw(line.trim_end_matches(['\n', '\r']).to_string())],
        };
        out.push(Line::from(spans));
    }
    out
}

/// A syntect style as a terminal style. bat's `ansi`/`base16` themes encode palette
/// colours with alpha 0 (the index in red) and the terminal's default with alpha 1;
/// named colours keep them working on 16-colour terminals.
fn convert(style: syntect::highlighting::Style) -> Style {
    let c = style.foreground;
    let fg = match c.a {
        0 => match c.r {
            0 => Color::Black,
            1 => Color::Red,
            2 => Color::Green,
            3 => Color::Yellow,
            4 => Color::Blue,
            5 => Color::Magenta,
            6 => Color::Cyan,
            7 => Color::Gray,
            8 => Color::DarkGray,
            9 => Color::LightRed,
            10 => Color::LightGreen,
            11 => Color::LightYellow,
            12 => Color::LightBlue,
            13 => Color::LightMagenta,
            14 => Color::LightCyan,
            15 => Color::White,
            n => Color::Indexed(n),
        },
        1 => Color::Reset,
        _ => Color::Rgb(c.r, c.g, c.b),
    };
    let mut out = Style::default().fg(fg);
    if style.font_style.contains(FontStyle::BOLD) {
        out = out.add_modifier(Modifier::BOLD);
    }
    if style.font_style.contains(FontStyle::ITALIC) {
        out = out.add_modifier(Modifier::ITALIC);
    }
    if style.font_style.contains(FontStyle::UNDERLINE) {
        out = out.add_modifier(Modifier::UNDERLINED);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_is_highlighted_in_palette_colours() {
        let syntaxes = two_face::syntax::extra_newlines();
        let themes = two_face::theme::extra();
        let lines = highlight(
            "def f(x):\n    return x + 1  # one\n",
            &syntaxes,
            themes.get(EmbeddedThemeName::Base16),
        );
        assert_eq!(lines.len(), 2);
        let text: String = lines[1].spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(text, "    return x + 1  # one");
        // More than one style on a line, none of them true colour.
        assert!(lines[0].spans.len() > 1);
        for span in lines.iter().flat_map(|l| &l.spans) {
            assert!(!matches!(span.style.fg, Some(Color::Rgb(..))), "{span:?}");
        }
    }

    #[test]
    fn the_worker_answers_by_key() {
        let (tx, rx) = mpsc::channel();
        let h = Highlighter::spawn(move |k, lines| {
            let _ = tx.send((k, lines.len()));
        });
        h.request(42, "x = 1\ny = 2\n".into(), "base16".into());
        let (k, n) = rx.recv_timeout(std::time::Duration::from_secs(30)).unwrap();
        assert_eq!((k, n), (42, 2));
    }
}
