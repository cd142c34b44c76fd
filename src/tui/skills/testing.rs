//! Helpers for the skills pane's tests: a library of four skills as the listing query
//! returns it, the pane focused and loaded, a detail highlighted as the worker would.

use std::path::PathBuf;

use super::state::View;
use super::{Job, Listing, Reply};
use crate::engine::query::skills::{PrunePlan, ShownList, SkillShown, TrashedSkill};
use crate::skills::Skill;
use crate::skills::file::Header;
use crate::skills::prune::Removal;
use crate::skills::stats::Stats;
use crate::tui::action::{Action, Effect};
use crate::tui::layout::Pane;
use crate::tui::state::State;
use crate::tui::update::{focus, update};

pub const WEATHER: &str = "\"\"\"What is the weather in <city>?\n\nname: weather_report\nsession: 20261128-091500-ab12\nstep: 2\n\"\"\"\n\nfrom tools.demo import get_weather\n\n\ndef run(city: str = 'Paris') -> dict:\n    w = get_weather(city=city)\n    return {'city': city, 'temperature': w['temperature']}\n";

fn stats(uses: u64, ok: u64, last: Option<&str>, created: &str) -> Stats {
    Stats {
        uses,
        successes: ok,
        failures: uses - ok,
        rederived: 0,
        last_used: last.map(str::to_string),
        created: Some(created.to_string()),
        source: None,
    }
}

fn skill(name: &str, description: &str, signature: &str, stats: Stats, code: &str) -> SkillShown {
    SkillShown {
        skill: Skill {
            name: name.into(),
            path: PathBuf::from(format!("/p/skills/{name}.py")),
            description: description.into(),
            signature: signature.into(),
            header: Header {
                description: description.into(),
                name: name.into(),
                signature: signature.into(),
                task: format!("{description} (the task)"),
                session: "20261128-091500-ab12".into(),
                step: Some(2),
                created: stats.created.clone().unwrap_or_default(),
                model: "gpt-4o-mini".into(),
                version: 1,
                arguments: Default::default(),
            },
            hash: format!("hash-{name}"),
            stats,
            tools: Vec::new(),
            header_problems: Vec::new(),
        },
        code: code.into(),
    }
}

/// Four skills, in name order as the query lists them.
pub fn library() -> ShownList {
    let mut weather = skill(
        "weather_report",
        "What is the weather in <city>?",
        "run(city: str = 'Paris') -> dict",
        stats(5, 4, Some("2026-11-28T09:15:00Z"), "2026-11-20T10:00:00Z"),
        WEATHER,
    );
    weather.skill.tools = vec!["demo.get_weather".into()];
    let mut hand = skill(
        "old_unused",
        "Slugify a title",
        "run(title: str = 'Hello World') -> str",
        stats(0, 0, None, "2025-01-01T00:00:00Z"),
        "def run(title: str = 'Hello World') -> str:\n    return title.lower().replace(' ', '-')\n",
    );
    hand.skill.header.session.clear();
    hand.skill.header.step = None;
    hand.skill.header.model.clear();
    ShownList {
        skills: vec![
            skill(
                "celsius_to_fahrenheit",
                "Convert <c> celsius to fahrenheit",
                "run(c: float = 21.5) -> float",
                stats(12, 12, Some("2026-11-30T08:00:00Z"), "2026-10-01T12:00:00Z"),
                "def run(c: float = 21.5) -> float:\n    return c * 9 / 5 + 32\n",
            ),
            skill(
                "flaky_fetch",
                "Fetch the notes tagged <tag>",
                "run(tag: str = 'todo') -> list",
                stats(4, 1, Some("2026-11-29T17:45:00Z"), "2026-11-02T08:30:00Z"),
                "from tools.demo import list_notes\n\n\ndef run(tag: str = 'todo') -> list:\n    return [n for n in list_notes() if tag in n['tags']]\n",
            ),
            hand,
            weather,
        ],
        problems: vec![crate::skills::index::Problem {
            path: PathBuf::from("/p/skills/half_written.py"),
            message: "line 3: SyntaxError: '(' was never closed".into(),
        }],
    }
}

/// Focuses the pane (which asks for the listing) and answers with [`library`].
pub fn loaded(s: &mut State) -> Vec<Effect> {
    focus(s, Pane::Skills);
    let mut fx = update(s, Action::Tick);
    let id = s.skills.list_job.unwrap_or(0);
    fx.extend(update(
        s,
        Action::Skills(Reply::Listed {
            id,
            result: Ok(Listing::Skills(library())),
        }),
    ));
    fx
}

/// Highlights the detail's code as the worker would.
pub fn highlight_detail(s: &mut State) {
    let Some((name, key)) = s.skills.detail.clone() else {
        return;
    };
    let Some(code) = s.skills.skill(&name).map(|r| r.code.clone()) else {
        return;
    };
    let syntaxes = two_face::syntax::extra_newlines();
    let themes = two_face::theme::extra();
    let wanted = s.theme.syntax.clone();
    let theme = two_face::theme::EmbeddedLazyThemeSet::theme_names()
        .iter()
        .find(|t| t.as_name() == wanted)
        .map(|t| themes.get(*t))
        .unwrap_or_else(|| themes.get(two_face::theme::EmbeddedThemeName::Ansi));
    let lines = crate::tui::highlight::highlight(&code, &syntaxes, theme);
    update(s, Action::Highlighted { key, lines });
}

/// A prune plan of two skills, as the query returns it.
pub fn plan() -> PrunePlan {
    PrunePlan {
        removals: vec![
            Removal {
                name: "flaky_fetch".into(),
                reasons: vec!["failed 3 of 4 uses (failure rate 0.75 > 0.5)".into()],
            },
            Removal {
                name: "old_unused".into(),
                reasons: vec![
                    "never used in the 699 days since it was created".into(),
                    "failed 0 of 0 uses".into(),
                ],
            },
        ],
        problems: Vec::new(),
    }
}

/// The trash as the query lists it, newest first.
pub fn trash() -> Vec<TrashedSkill> {
    vec![
        TrashedSkill {
            name: "old_unused".into(),
            file: "/p/skills/.trash/old_unused.py".into(),
            description: "Slugify a title".into(),
            removed: Some("2026-11-30T10:05:00Z".into()),
            reason: Some("pruned: never used in the 699 days since it was created".into()),
            stats: Stats::default(),
        },
        TrashedSkill {
            name: "greet".into(),
            file: "/p/skills/.trash/greet.py".into(),
            description: "Greet someone".into(),
            removed: Some("2026-11-12T16:40:00Z".into()),
            reason: Some("removed in the console".into()),
            stats: Stats::default(),
        },
    ]
}

/// The job an effect list asks for, if one.
pub fn job(fx: &[Effect]) -> Option<&Job> {
    fx.iter().find_map(|e| match e {
        Effect::Skills(j) => Some(j),
        _ => None,
    })
}

/// Opens the trash and answers with [`trash`].
pub fn in_trash(s: &mut State) {
    let fx = update(s, crate::tui::testing::ch('T'));
    assert_eq!(s.skills.view, View::Trash);
    let Some(Job::Trash { id }) = job(&fx).cloned() else {
        panic!("no trash listing asked: {fx:?}")
    };
    update(
        s,
        Action::Skills(Reply::Trashed {
            id,
            result: Ok(trash()),
        }),
    );
}
