//! Themes: colours by role (text, stderr, tool, selection, …) and the syntax theme for
//! code, read from TOML. The built-in themes are the repository's `themes/*.toml`,
//! embedded; a user theme names a `base` and sets only the roles it changes. Never draws.

use ratatui::style::Color;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The built-in themes, in the order `--theme` lists them.
pub const BUILTIN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
];

/// The theme used when none is chosen: named colours only, so it works on 16 colours.
pub const DEFAULT: &str = "dark";

/// Colours by role. Every role has a value; a file may set any subset.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    /// A syntax theme bundled with two-face, by its name (e.g. `base16`, `GitHub`).
    pub syntax: String,
    pub text: Color,
    pub dim: Color,
    pub border: Color,
    pub border_focused: Color,
    pub title: Color,
    pub title_focused: Color,
    pub stdout: Color,
    pub stderr: Color,
    pub agent: Color,
    pub value: Color,
    pub error: Color,
    pub error_line: Color,
    pub success: Color,
    pub warning: Color,
    pub tool: Color,
    pub tool_running: Color,
    pub selection_fg: Color,
    pub selection_bg: Color,
    pub status_fg: Color,
    pub status_bg: Color,
    pub line_number: Color,
    pub search_match: Color,
    pub mode_task: Color,
    pub mode_code: Color,
    pub dialog_border: Color,
}

/// What a theme file may hold; everything optional so that a file patches a base.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: Option<String>,
    /// A built-in theme (or another user theme) this one starts from.
    base: Option<String>,
    syntax: Option<String>,
    #[serde(default)]
    colors: BTreeMap<String, ColorValue>,
}

/// A colour as written: a name (`red`, `lightblue`, `reset`), `#rrggbb`, or 0–255.
#[derive(Debug, Clone, Copy)]
struct ColorValue(Color);

impl<'de> Deserialize<'de> for ColorValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Name(String),
            Index(u8),
        }
        match Raw::deserialize(d)? {
            Raw::Index(i) => Ok(ColorValue(Color::Indexed(i))),
            Raw::Name(s) => parse_color(&s)
                .map(ColorValue)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// A problem with a theme file, naming the file (and, from the parser, line and key).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("theme {file}: {message}")]
pub struct ThemeError {
    pub file: String,
    pub message: String,
}

pub fn parse_color(s: &str) -> Result<Color, String> {
    let lower = s.trim().to_ascii_lowercase();
    let named = match lower.as_str() {
        "reset" | "default" => Color::Reset,
        "black" => Color::Black,
        "red" => Color::Red,
        "green" => Color::Green,
        "yellow" => Color::Yellow,
        "blue" => Color::Blue,
        "magenta" => Color::Magenta,
        "cyan" => Color::Cyan,
        "gray" | "grey" => Color::Gray,
        "darkgray" | "darkgrey" => Color::DarkGray,
        "lightred" => Color::LightRed,
        "lightgreen" => Color::LightGreen,
        "lightyellow" => Color::LightYellow,
        "lightblue" => Color::LightBlue,
        "lightmagenta" => Color::LightMagenta,
        "lightcyan" => Color::LightCyan,
        "white" => Color::White,
        _ => {
            if let Some(hex) = lower.strip_prefix('#')
                && hex.len() == 6
                && let Ok(v) = u32::from_str_radix(hex, 16)
            {
                return Ok(Color::Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8));
            }
            if let Ok(i) = lower.parse::<u8>() {
                return Ok(Color::Indexed(i));
            }
            return Err(format!(
                "{s:?} is not a colour: use a name (black, red, green, yellow, blue, magenta, cyan, gray, darkgray, light…, white, reset), #rrggbb, or 0-255"
            ));
        }
    };
    Ok(named)
}

/// The roles, in file order, with accessors: one list drives parsing and printing.
type Field = (&'static str, fn(&mut Theme) -> &mut Color);

const FIELDS: &[Field] = &[
    ("text", |t| &mut t.text),
    ("dim", |t| &mut t.dim),
    ("border", |t| &mut t.border),
    ("border_focused", |t| &mut t.border_focused),
    ("title", |t| &mut t.title),
    ("title_focused", |t| &mut t.title_focused),
    ("stdout", |t| &mut t.stdout),
    ("stderr", |t| &mut t.stderr),
    ("agent", |t| &mut t.agent),
    ("value", |t| &mut t.value),
    ("error", |t| &mut t.error),
    ("error_line", |t| &mut t.error_line),
    ("success", |t| &mut t.success),
    ("warning", |t| &mut t.warning),
    ("tool", |t| &mut t.tool),
    ("tool_running", |t| &mut t.tool_running),
    ("selection_fg", |t| &mut t.selection_fg),
    ("selection_bg", |t| &mut t.selection_bg),
    ("status_fg", |t| &mut t.status_fg),
    ("status_bg", |t| &mut t.status_bg),
    ("line_number", |t| &mut t.line_number),
    ("search_match", |t| &mut t.search_match),
    ("mode_task", |t| &mut t.mode_task),
    ("mode_code", |t| &mut t.mode_code),
    ("dialog_border", |t| &mut t.dialog_border),
];

impl Theme {
    /// Every role the terminal's default colour: the start a built-in patches.
    fn blank() -> Theme {
        Theme {
            name: String::new(),
            syntax: "ansi".into(),
            text: Color::Reset,
            dim: Color::Reset,
            border: Color::Reset,
            border_focused: Color::Reset,
            title: Color::Reset,
            title_focused: Color::Reset,
            stdout: Color::Reset,
            stderr: Color::Reset,
            agent: Color::Reset,
            value: Color::Reset,
            error: Color::Reset,
            error_line: Color::Reset,
            success: Color::Reset,
            warning: Color::Reset,
            tool: Color::Reset,
            tool_running: Color::Reset,
            selection_fg: Color::Reset,
            selection_bg: Color::Reset,
            status_fg: Color::Reset,
            status_bg: Color::Reset,
            line_number: Color::Reset,
            search_match: Color::Reset,
            mode_task: Color::Reset,
            mode_code: Color::Reset,
            dialog_border: Color::Reset,
        }
    }

    /// A built-in theme by name.
    pub fn builtin(name: &str) -> Option<Theme> {
        let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name)?;
        // The built-in files are tested to parse; a broken one falls back to blank.
        Some(
            Theme::blank()
                .patched(text, &format!("themes/{name}.toml"), 0)
                .unwrap_or_else(|_| Theme::blank()),
        )
    }

    /// The default theme.
    pub fn default_theme() -> Theme {
        Theme::builtin(DEFAULT).unwrap_or_else(Theme::blank)
    }

    /// This theme with the roles `text` (a theme file) sets. `depth` bounds `base` chains.
    fn patched(self, text: &str, file: &str, depth: u32) -> Result<Theme, ThemeError> {
        let err = |message: String| ThemeError {
            file: file.to_string(),
            message,
        };
        let parsed: ThemeFile = toml::from_str(text).map_err(|e| err(one_line(&e.to_string())))?;
        let mut theme = match &parsed.base {
            Some(base) if depth < 4 => Theme::named(base, depth + 1)
                .map_err(|e| err(format!("base = {base:?}: {}", e.message)))?,
            Some(_) => return Err(err("too many nested `base` themes".into())),
            None => self,
        };
        if let Some(name) = parsed.name {
            theme.name = name;
        }
        if let Some(syntax) = parsed.syntax {
            if !crate::tui::highlight::syntax_theme_exists(&syntax) {
                return Err(err(format!(
                    "syntax = {syntax:?} is not a bundled syntax theme (try: {})",
                    crate::tui::highlight::syntax_theme_names().join(", ")
                )));
            }
            theme.syntax = syntax;
        }
        for (key, ColorValue(color)) in parsed.colors {
            match FIELDS.iter().find(|(name, _)| *name == key) {
                Some((_, field)) => *field(&mut theme) = color,
                None => {
                    let line = line_of(text, &key);
                    return Err(err(format!(
                        "line {line}: unknown colour role {key:?} (roles: {})",
                        FIELDS
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
            }
        }
        Ok(theme)
    }

    /// A theme by name: a user file `~/.config/mcpr/themes/NAME.toml` first, then a
    /// built-in; or a path to a file when `name` holds a `/` or ends in `.toml`.
    pub fn named(name: &str, depth: u32) -> Result<Theme, ThemeError> {
        if name.contains('/') || name.ends_with(".toml") {
            return Theme::from_file(Path::new(name), depth);
        }
        if let Some(file) = user_theme_file(name)
            && file.is_file()
        {
            return Theme::from_file(&file, depth);
        }
        Theme::builtin(name).ok_or_else(|| ThemeError {
            file: name.to_string(),
            message: format!(
                "no such theme (built in: {}; or a file in ~/.config/mcpr/themes/)",
                BUILTIN
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }

    /// A theme file; without `base` it patches the default theme.
    pub fn from_file(path: &Path, depth: u32) -> Result<Theme, ThemeError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ThemeError {
            file: file.clone(),
            message: e.to_string(),
        })?;
        let mut theme = Theme::default_theme().patched(&text, &file, depth)?;
        if theme.name == DEFAULT {
            theme.name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
        }
        Ok(theme)
    }

    /// The roles and their colours, as a theme file would set them.
    pub fn roles(&self) -> Vec<(&'static str, Color)> {
        let mut copy = self.clone();
        FIELDS.iter().map(|(n, f)| (*n, *f(&mut copy))).collect()
    }
}

fn user_theme_file(name: &str) -> Option<PathBuf> {
    Some(
        dirs::config_dir()?
            .join("mcpr")
            .join("themes")
            .join(format!("{name}.toml")),
    )
}

/// The 1-based line of the first `key =` in `text` (for errors serde cannot place).
pub fn line_of(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.strip_prefix(key)
                .or_else(|| l.strip_prefix(&format!("\"{key}\"")))
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map_or(0, |i| i + 1)
}

/// A parser message on one line ("TOML parse error at line 3, column 1: …").
pub fn one_line(message: &str) -> String {
    let mut lines = message.lines().filter(|l| !l.trim().is_empty());
    let head = lines.next().unwrap_or_default().trim().to_string();
    let detail = lines
        .filter(|l| !l.trim_start().starts_with('|') && !l.contains(" | "))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    if detail.is_empty() {
        head
    } else {
        format!("{head}: {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses_and_sets_every_role() {
        for (name, text) in BUILTIN {
            let theme = Theme::blank()
                .patched(text, name, 0)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(theme.name, *name);
            let table: toml::Table = toml::from_str(text).unwrap();
            let colors = table["colors"].as_table().unwrap();
            for (role, _) in FIELDS {
                assert!(colors.contains_key(*role), "{name} lacks {role}");
            }
        }
    }

    #[test]
    fn the_default_uses_only_the_16_named_colours() {
        for (role, color) in Theme::default_theme().roles() {
            assert!(
                !matches!(color, Color::Rgb(..) | Color::Indexed(_)),
                "{role} is {color:?}"
            );
        }
    }

    #[test]
    fn a_user_theme_changes_only_what_it_names() {
        let dark = Theme::default_theme();
        let patched = Theme::default_theme()
            .patched("base = \"dark\"\n[colors]\nstderr = \"#ff0000\"\n", "t", 0)
            .unwrap();
        assert_eq!(patched.stderr, Color::Rgb(255, 0, 0));
        assert_eq!(patched.stdout, dark.stdout);
        assert_eq!(patched.syntax, dark.syntax);
    }

    #[test]
    fn errors_name_the_file_line_and_key() {
        let e = Theme::default_theme()
            .patched("[colors]\ntext = \"red\"\nbogus = \"red\"\n", "my.toml", 0)
            .unwrap_err();
        assert_eq!(e.file, "my.toml");
        assert!(e.message.contains("line 3"), "{}", e.message);
        assert!(e.message.contains("bogus"), "{}", e.message);
        let e = Theme::default_theme()
            .patched("[colors]\n\ntext = \"purple\"\n", "my.toml", 0)
            .unwrap_err();
        assert!(e.message.contains("line 3"), "{}", e.message);
        assert!(e.message.contains("purple"), "{}", e.message);
        let e = Theme::default_theme()
            .patched("colour = 1\n", "my.toml", 0)
            .unwrap_err();
        assert!(e.message.contains("colour"), "{}", e.message);
    }
}
