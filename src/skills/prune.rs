//! Pruning policies: which skills to remove, and why. Removal itself moves files to
//! `.trash/` (see [`super::SkillLibrary::remove`]), so every prune can be undone.

use std::collections::BTreeMap;

use super::{Listing, Skill, stats};

#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Skills not used for this many days (never-used ones counted from creation).
    pub unused_days: Option<f64>,
    /// Skills whose failures per use exceed this (0..=1); skills never used are kept.
    pub max_failure_rate: Option<f64>,
    /// Skills with the same normalised code as a better one.
    pub duplicates: bool,
}

impl Policy {
    pub fn is_empty(&self) -> bool {
        self.unused_days.is_none() && self.max_failure_rate.is_none() && !self.duplicates
    }
}

/// A skill to remove and every reason that applies.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Removal {
    pub name: String,
    pub reasons: Vec<String>,
}

/// What `policy` removes from `listing`, in name order.
pub fn plan(listing: &Listing, policy: &Policy, now: jiff::Timestamp) -> Vec<Removal> {
    let mut reasons: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut add = |name: &str, why: String| reasons.entry(name.to_string()).or_default().push(why);
    for skill in &listing.skills {
        if let Some(limit) = policy.unused_days
            && let Some(why) = unused(skill, limit, now)
        {
            add(&skill.name, why);
        }
        if let Some(max) = policy.max_failure_rate
            && let Some(rate) = skill.stats.failure_rate()
            && rate > max
        {
            add(
                &skill.name,
                format!(
                    "failed {} of {} uses (failure rate {rate:.2} > {max})",
                    skill.stats.failures, skill.stats.uses
                ),
            );
        }
    }
    if policy.duplicates {
        let mut groups: BTreeMap<&str, Vec<&Skill>> = BTreeMap::new();
        for skill in &listing.skills {
            groups.entry(skill.hash.as_str()).or_default().push(skill);
        }
        for group in groups.values().filter(|g| g.len() > 1) {
            let Some(keep) = best_of(group) else { continue };
            for skill in group.iter().filter(|s| s.name != keep.name) {
                add(
                    &skill.name,
                    format!("duplicate of {} (same code apart from defaults)", keep.name),
                );
            }
        }
    }
    reasons
        .into_iter()
        .map(|(name, reasons)| Removal { name, reasons })
        .collect()
}

fn unused(skill: &Skill, limit: f64, now: jiff::Timestamp) -> Option<String> {
    if let Some(last) = &skill.stats.last_used {
        let days = stats::days_since(last, now)?;
        return (days > limit).then(|| format!("unused for {days:.0} days (last used {last})"));
    }
    let created = skill
        .stats
        .created
        .as_deref()
        .or(Some(skill.header.created.as_str()).filter(|c| !c.is_empty()));
    let days = match created {
        Some(c) => stats::days_since(c, now)?,
        // A hand-written file without provenance: its modification time.
        None => {
            let modified = std::fs::metadata(&skill.path).ok()?.modified().ok()?;
            let ts = jiff::Timestamp::try_from(modified).ok()?;
            now.duration_since(ts).as_secs_f64() / 86_400.0
        }
    };
    (days > limit).then(|| format!("never used in the {days:.0} days since it was created"))
}

/// The one of a group of duplicates to keep: most successes, then most uses, then the
/// oldest, then the first name.
fn best_of<'a>(group: &[&'a Skill]) -> Option<&'a Skill> {
    let mut sorted = group.to_vec();
    sorted.sort_by(|a, b| {
        b.stats
            .successes
            .cmp(&a.stats.successes)
            .then(b.stats.uses.cmp(&a.stats.uses))
            .then(created(a).cmp(created(b)))
            .then(a.name.cmp(&b.name))
    });
    sorted.first().copied()
}

fn created(skill: &Skill) -> &str {
    skill
        .stats
        .created
        .as_deref()
        .unwrap_or(skill.header.created.as_str())
}
