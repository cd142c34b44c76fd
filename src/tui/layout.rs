//! Where each pane goes for a terminal size: four columns when wide (timeline, code,
//! output, variables), two when medium (the timeline above the code; output and
//! variables as tabs), one pane with a tab bar when narrow; the prompt across the bottom above the status bar; a zoomed pane
//! alone. Pure: rendering and mouse hit-testing use the same answer.

use ratatui::layout::{Constraint, Layout, Rect};

/// The panes that can take focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pane {
    Prompt,
    Output,
    Code,
    Variables,
    /// The skill library (a tab beside Variables).
    Skills,
    /// The session's steps as a tree; its focus step is what the other panes show.
    Timeline,
}

impl Pane {
    /// Focus order for Tab.
    pub const ORDER: [Pane; 6] = [
        Pane::Prompt,
        Pane::Output,
        Pane::Code,
        Pane::Variables,
        Pane::Timeline,
        Pane::Skills,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Prompt => "Prompt",
            Pane::Output => "Output",
            Pane::Code => "Code",
            Pane::Variables => "Variables",
            Pane::Skills => "Skills",
            Pane::Timeline => "Timeline",
        }
    }
}

/// Narrow terminals get one pane at a time, under this many columns.
pub const NARROW: u16 = 100;
/// Three columns from this many columns on.
pub const WIDE: u16 = 160;

#[derive(Debug, Clone, PartialEq)]
pub struct Areas {
    pub status: Rect,
    /// The panes on screen.
    pub panes: Vec<(Pane, Rect)>,
    /// A tab bar and the panes it switches between, when panes share a slot.
    pub tabs: Option<(Rect, Vec<Pane>)>,
}

impl Areas {
    pub fn rect(&self, pane: Pane) -> Option<Rect> {
        self.panes.iter().find(|(p, _)| *p == pane).map(|(_, r)| *r)
    }

    /// The pane under a screen position.
    pub fn pane_at(&self, x: u16, y: u16) -> Option<Pane> {
        self.panes
            .iter()
            .find(|(_, r)| r.contains((x, y).into()))
            .map(|(p, _)| *p)
    }

    /// The tab under a screen position, by the tab bar's own layout.
    pub fn tab_at(&self, x: u16, y: u16) -> Option<Pane> {
        let (bar, tabs) = self.tabs.as_ref()?;
        if y != bar.y || x < bar.x {
            return None;
        }
        let mut at = bar.x + 1;
        for pane in tabs {
            let w = tab_label(*pane).len() as u16;
            if (at..at + w).contains(&x) {
                return Some(*pane);
            }
            at += w + 3;
        }
        None
    }
}

/// A tab's label in the tab bar (`1` … `4` are the focus keys).
pub fn tab_label(pane: Pane) -> String {
    let n = Pane::ORDER.iter().position(|p| *p == pane).unwrap_or(0) + 1;
    format!("{n} {}", pane.title())
}

/// The areas for a screen of `size`, `shown` being the pane last focused other than the
/// prompt, `prompt_lines` the prompt's lines of text.
pub fn areas(size: Rect, zoom: Option<Pane>, shown: Pane, prompt_lines: usize) -> Areas {
    let [body, status] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(size);
    if let Some(pane) = zoom {
        return Areas {
            status,
            panes: vec![(pane, body)],
            tabs: None,
        };
    }
    let most = (body.height / 3).max(3);
    let prompt_h = (prompt_lines as u16 + 2).clamp(3, most);
    let [main, prompt] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(prompt_h)]).areas(body);
    let mut panes = Vec::with_capacity(4);
    let tabs;
    if size.width < NARROW {
        let [bar, slot] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(main);
        let shown = if shown == Pane::Prompt {
            Pane::Output
        } else {
            shown
        };
        panes.push((shown, slot));
        tabs = Some((
            bar,
            vec![
                Pane::Output,
                Pane::Code,
                Pane::Variables,
                Pane::Timeline,
                Pane::Skills,
            ],
        ));
    } else if size.width < WIDE {
        let [bar, rest] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(main);
        let [left, slot] =
            Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
                .areas(rest);
        let [timeline, code] =
            Layout::vertical([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(left);
        panes.push((Pane::Timeline, timeline));
        panes.push((Pane::Code, code));
        let right_pane = if matches!(shown, Pane::Variables | Pane::Skills) {
            shown
        } else {
            Pane::Output
        };
        panes.push((right_pane, slot));
        tabs = Some((
            bar,
            vec![
                Pane::Output,
                Pane::Code,
                Pane::Variables,
                Pane::Timeline,
                Pane::Skills,
            ],
        ));
    } else {
        let [timeline, code, output, vars] = Layout::horizontal([
            Constraint::Percentage(22),
            Constraint::Percentage(26),
            Constraint::Percentage(34),
            Constraint::Percentage(18),
        ])
        .areas(main);
        panes.push((Pane::Timeline, timeline));
        panes.push((Pane::Code, code));
        panes.push((Pane::Output, output));
        // Variables and Skills share the last column, with a tab bar of their own.
        let [bar, slot] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(vars);
        let third = if shown == Pane::Skills {
            Pane::Skills
        } else {
            Pane::Variables
        };
        panes.push((third, slot));
        tabs = Some((bar, vec![Pane::Variables, Pane::Skills]));
    }
    panes.push((Pane::Prompt, prompt));
    Areas {
        status,
        panes,
        tabs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(w: u16, h: u16) -> Areas {
        areas(Rect::new(0, 0, w, h), None, Pane::Output, 1)
    }

    #[test]
    fn columns_follow_the_width() {
        assert_eq!(at(80, 24).panes.len(), 2);
        assert!(at(80, 24).tabs.is_some());
        let medium = at(120, 40);
        assert!(medium.rect(Pane::Code).is_some() && medium.rect(Pane::Output).is_some());
        assert!(medium.rect(Pane::Timeline).is_some());
        assert!(medium.rect(Pane::Variables).is_none());
        let wide = at(160, 50);
        assert_eq!(wide.panes.len(), 5);
        // Variables and Skills share the fourth column's tabs.
        assert_eq!(
            wide.tabs.as_ref().map(|(_, t)| t.clone()),
            Some(vec![Pane::Variables, Pane::Skills])
        );
    }

    #[test]
    fn everything_fits_and_the_status_bar_is_last() {
        for (w, h) in [(60, 20), (80, 24), (120, 40), (160, 50), (20, 5)] {
            let a = at(w, h);
            assert_eq!(a.status.y, h - 1);
            for (_, r) in &a.panes {
                assert!(r.right() <= w && r.bottom() < h, "{w}x{h}: {r:?}");
            }
        }
    }

    #[test]
    fn zoom_gives_one_pane_the_screen() {
        let a = areas(Rect::new(0, 0, 80, 24), Some(Pane::Code), Pane::Output, 1);
        assert_eq!(a.panes, vec![(Pane::Code, Rect::new(0, 0, 80, 23))]);
    }

    #[test]
    fn tabs_are_found_where_they_are_drawn() {
        let a = at(80, 24);
        assert_eq!(a.tab_at(1, 0), Some(Pane::Output));
        let code_x = 1 + tab_label(Pane::Output).len() as u16 + 3;
        assert_eq!(a.tab_at(code_x, 0), Some(Pane::Code));
        assert_eq!(a.tab_at(1, 1), None);
    }
}
