//! What the skills pane holds: the library as last listed (with each skill's code, for
//! the filter and the detail), how it is sorted and filtered, which view is up (table,
//! detail, trash, prune policy, prune preview), a question waiting for its answer, test
//! results, and the skills the focus step used or created. Only the pane's update
//! changes it; its render reads it.

use std::collections::{BTreeSet, HashMap};

use crate::engine::query::skills::{PrunePlan, SkillShown, TrashedSkill};
use crate::skills::index::Problem;
use crate::skills::prune::Policy;

/// The table's sort column; `s` moves to the next one, `S` reverses the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortColumn {
    #[default]
    Name,
    Uses,
    Ok,
    Failed,
    LastUsed,
}

impl SortColumn {
    pub const ALL: [SortColumn; 5] = [
        SortColumn::Name,
        SortColumn::Uses,
        SortColumn::Ok,
        SortColumn::Failed,
        SortColumn::LastUsed,
    ];

    pub fn title(self) -> &'static str {
        match self {
            SortColumn::Name => "name",
            SortColumn::Uses => "uses",
            SortColumn::Ok => "ok",
            SortColumn::Failed => "failed",
            SortColumn::LastUsed => "last used",
        }
    }

    pub fn next(self) -> SortColumn {
        let i = SortColumn::ALL.iter().position(|c| *c == self).unwrap_or(0);
        SortColumn::ALL[(i + 1) % SortColumn::ALL.len()]
    }

    /// The natural order of a column: names A→Z, counts and dates biggest/newest first.
    pub fn descending_by_default(self) -> bool {
        self != SortColumn::Name
    }
}

/// Which of the pane's screens is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    #[default]
    Table,
    /// One skill: code, signature, provenance, stats, its last test.
    Detail,
    Trash,
    /// Choosing what a prune removes.
    PrunePolicy,
    /// What the chosen policy would remove and why; confirming removes exactly that.
    PrunePreview,
}

/// How far loading the library got.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Load {
    #[default]
    NotYet,
    Loading,
    Loaded,
    /// Nothing to list, and why (no folder yet).
    Empty(String),
    Failed(String),
}

/// The last test of a skill in a fresh kernel.
#[derive(Debug, Clone, PartialEq)]
pub enum TestState {
    Running,
    Passed(String),
    Failed(String),
}

/// A question the pane waits on.
#[derive(Debug, Clone, PartialEq)]
pub enum Confirm {
    Delete(String),
}

/// Days a prune's "unused" policy offers, and failure rates.
pub const DAYS: [f64; 9] = [0.0, 1.0, 7.0, 14.0, 30.0, 60.0, 90.0, 180.0, 365.0];
pub const RATES: [f64; 10] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/// The prune policy being chosen (the same three policies as `mcpr skills prune`).
#[derive(Debug, Clone, PartialEq)]
pub struct PruneChoice {
    pub unused: bool,
    /// Index into [`DAYS`].
    pub days: usize,
    pub failing: bool,
    /// Index into [`RATES`].
    pub rate: usize,
    pub duplicates: bool,
    /// The policy row the cursor is on (0 unused, 1 failing, 2 duplicates).
    pub row: usize,
}

impl Default for PruneChoice {
    fn default() -> Self {
        PruneChoice {
            unused: true,
            days: 4,
            failing: false,
            rate: 5,
            duplicates: false,
            row: 0,
        }
    }
}

impl PruneChoice {
    pub fn policy(&self) -> Policy {
        Policy {
            unused_days: self.unused.then(|| DAYS[self.days.min(DAYS.len() - 1)]),
            max_failure_rate: self.failing.then(|| RATES[self.rate.min(RATES.len() - 1)]),
            duplicates: self.duplicates,
        }
    }

    /// The policy in words, as the preview's title says it.
    pub fn describe(&self) -> String {
        let p = self.policy();
        let mut parts = Vec::new();
        if let Some(d) = p.unused_days {
            parts.push(format!("unused for more than {d} days"));
        }
        if let Some(r) = p.max_failure_rate {
            parts.push(format!("failing more than {:.0}% of uses", r * 100.0));
        }
        if p.duplicates {
            parts.push("duplicates".to_string());
        }
        parts.join(" or ")
    }
}

/// The skills the focus step used and created, marked in the table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepSkills {
    pub used: BTreeSet<String>,
    pub created: BTreeSet<String>,
}

#[derive(Debug, Default)]
pub struct SkillsView {
    pub load: Load,
    /// The library's skills in name order, with their code.
    pub rows: Vec<SkillShown>,
    /// Files in the folder that are not usable skills.
    pub problems: Vec<Problem>,
    /// Indices into `rows` that pass the filter, in sort order.
    pub visible: Vec<usize>,
    pub sort: SortColumn,
    pub descending: bool,
    pub filter: String,
    /// The filter is being typed (after `/`).
    pub typing: bool,
    /// The selected row of `visible`.
    pub selected: usize,
    pub view: View,
    /// The skill the detail shows, and the highlight cache key of its code.
    pub detail: Option<(String, u64)>,
    pub detail_scroll: usize,
    pub trash: Vec<TrashedSkill>,
    pub trash_load: Load,
    pub trash_selected: usize,
    pub prune: PruneChoice,
    /// The preview of `prune`, once planned.
    pub plan: Option<PrunePlan>,
    pub plan_scroll: usize,
    pub confirm: Option<Confirm>,
    pub tests: HashMap<String, TestState>,
    pub step: StepSkills,
    /// What is being done to the library (removing, restoring, pruning), shown in the title.
    pub busy: Option<String>,
    /// The library changed (a step created a skill): list it again when shown.
    pub stale: bool,
    /// The id of the latest listing, trash listing and plan asked for; older answers are
    /// dropped.
    pub last_job: u64,
    pub list_job: Option<u64>,
    pub trash_job: Option<u64>,
    pub plan_job: Option<u64>,
}

impl SkillsView {
    /// The skill of the selected table row.
    pub fn selected_skill(&self) -> Option<&SkillShown> {
        self.visible
            .get(self.selected)
            .and_then(|i| self.rows.get(*i))
    }

    pub fn skill(&self, name: &str) -> Option<&SkillShown> {
        self.rows.iter().find(|r| r.skill.name == name)
    }

    /// The skill the current view is about: the detail's, else the selected row's.
    pub fn current(&self) -> Option<&SkillShown> {
        match (&self.view, &self.detail) {
            (View::Detail, Some((name, _))) => self.skill(name),
            _ => self.selected_skill(),
        }
    }

    pub fn next_job(&mut self) -> u64 {
        self.last_job += 1;
        self.last_job
    }

    /// Recomputes the visible rows after the rows, the sort or the filter changed,
    /// keeping the selected skill selected when it is still visible.
    pub fn refilter(&mut self) {
        let keep = self.selected_skill().map(|r| r.skill.name.clone());
        let needle = self.filter.to_lowercase();
        let mut visible: Vec<usize> = (0..self.rows.len())
            .filter(|i| needle.is_empty() || matches(&self.rows[*i], &needle))
            .collect();
        let rows = &self.rows;
        visible.sort_by(|a, b| {
            let (a, b) = (&rows[*a].skill, &rows[*b].skill);
            let by = match self.sort {
                SortColumn::Name => a.name.cmp(&b.name),
                SortColumn::Uses => a.stats.uses.cmp(&b.stats.uses),
                SortColumn::Ok => a.stats.successes.cmp(&b.stats.successes),
                SortColumn::Failed => a.stats.failures.cmp(&b.stats.failures),
                SortColumn::LastUsed => a.stats.last_used.cmp(&b.stats.last_used),
            };
            let by = if self.descending { by.reverse() } else { by };
            by.then(a.name.cmp(&b.name))
        });
        self.visible = visible;
        self.selected = keep
            .and_then(|name| {
                self.visible
                    .iter()
                    .position(|i| self.rows[*i].skill.name == name)
            })
            .unwrap_or(self.selected)
            .min(self.visible.len().saturating_sub(1));
    }
}

/// Whether a skill's name, description or code contains `needle` (lower case).
fn matches(row: &SkillShown, needle: &str) -> bool {
    row.skill.name.to_lowercase().contains(needle)
        || row.skill.description.to_lowercase().contains(needle)
        || row.code.to_lowercase().contains(needle)
}

/// Where the filter matched a row: the pane says so when it is only in the code.
pub fn matched_in_code_only(row: &SkillShown, filter: &str) -> bool {
    let needle = filter.to_lowercase();
    !needle.is_empty()
        && !row.skill.name.to_lowercase().contains(&needle)
        && !row.skill.description.to_lowercase().contains(&needle)
}
