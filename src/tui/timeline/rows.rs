//! The timeline's rows: its nodes in depth-first order with rails drawn like
//! `git log --graph`, one lane per branch still open. Pure; computed once per timeline
//! (and when a running step comes or goes), never on the draw path.

use std::collections::HashMap;

use crate::engine::query::{NodeRef, Timeline};

/// Lanes drawn at most; branches beyond share the last one.
pub const MAX_LANES: usize = 8;

/// One row of the timeline pane.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Index into the timeline's nodes; None for the step running now (not recorded yet).
    pub node: Option<usize>,
    /// The rails left of the text, two columns a lane; the node's own lane holds `●`,
    /// which rendering replaces by the status glyph.
    pub rails: String,
    /// The branch's label, on the first row of a branch that differs from its parent's.
    pub branch: Option<String>,
}

/// The rows of `tree`; `pending` adds a running step after that node (its parent).
pub fn rows(tree: &Timeline, pending: Option<&NodeRef>) -> Vec<Row> {
    let n = tree.nodes.len();
    let index: HashMap<NodeRef, usize> = tree
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node)| (node.node_ref(), i))
        .collect();
    // Children in the order the list has them (depth-first: the same order).
    let mut children: Vec<Vec<Slot>> = vec![Vec::new(); n];
    for (i, node) in tree.nodes.iter().enumerate() {
        if let Some(&p) = node.parent.as_ref().and_then(|p| index.get(p))
            && p != i
        {
            children[p].push(Slot::Node(i));
        }
    }
    let pending_at = pending.and_then(|p| index.get(p).copied());
    if let Some(p) = pending_at {
        children[p].push(Slot::Pending);
    }
    // The running step is listed right after its parent's subtree ends.
    let mut order: Vec<Slot> = Vec::with_capacity(n + 1);
    let mut subtree_end: Vec<usize> = vec![0; n];
    for i in (0..n).rev() {
        subtree_end[i] = children[i]
            .iter()
            .filter_map(|c| match c {
                Slot::Node(c) => Some(subtree_end[*c].max(*c)),
                Slot::Pending => None,
            })
            .max()
            .unwrap_or(i);
    }
    let pending_after = pending_at.map(|p| subtree_end[p]);
    for i in 0..n {
        order.push(Slot::Node(i));
        if pending_after == Some(i) {
            order.push(Slot::Pending);
        }
    }
    if pending.is_some() && pending_at.is_none() {
        // A first step running: nothing before it.
        order.push(Slot::Pending);
    }

    let mut lanes: Vec<Option<Slot>> = Vec::new();
    let mut out = Vec::with_capacity(order.len());
    for slot in order {
        let lane = match lanes.iter().position(|l| *l == Some(slot)) {
            Some(l) => l,
            None => free_lane(&mut lanes),
        };
        let mut cells: Vec<char> = lanes
            .iter()
            .map(|l| if l.is_some() { '│' } else { ' ' })
            .collect();
        if cells.len() <= lane {
            cells.resize(lane + 1, ' ');
        }
        cells[lane] = '●';
        let kids: &[Slot] = match slot {
            Slot::Node(i) => &children[i],
            Slot::Pending => &[],
        };
        lanes[lane] = kids.first().copied();
        let mut joins = Vec::new();
        for kid in kids.iter().skip(1) {
            let l = free_lane(&mut lanes);
            lanes[l] = Some(*kid);
            joins.push(l);
        }
        let branch = match slot {
            Slot::Node(i) => {
                let node = &tree.nodes[i];
                let parent_branch = node
                    .parent
                    .as_ref()
                    .and_then(|p| index.get(p))
                    .map(|&p| tree.nodes[p].branch.as_str());
                parent_branch
                    .is_some_and(|b| b != node.branch)
                    .then(|| node.branch.clone())
            }
            Slot::Pending => None,
        };
        out.push(Row {
            node: match slot {
                Slot::Node(i) => Some(i),
                Slot::Pending => None,
            },
            rails: draw(&cells, lane, &joins),
            branch,
        });
        while lanes.last() == Some(&None) {
            lanes.pop();
        }
    }
    // One width for all, so that the step numbers line up.
    let width = out
        .iter()
        .map(|r| r.rails.chars().count())
        .max()
        .unwrap_or(0);
    for r in &mut out {
        let pad = width - r.rails.chars().count();
        r.rails.extend(std::iter::repeat_n(' ', pad));
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Node(usize),
    Pending,
}

fn free_lane(lanes: &mut Vec<Option<Slot>>) -> usize {
    match lanes.iter().position(Option::is_none) {
        Some(l) => l,
        None => {
            lanes.push(None);
            lanes.len() - 1
        }
    }
}

/// The rails of one row: a column per lane with the branches opened on it joined to the
/// node's lane (`●─╮`), clipped to [`MAX_LANES`].
fn draw(cells: &[char], lane: usize, joins: &[usize]) -> String {
    let width = cells
        .len()
        .max(joins.iter().map(|j| j + 1).max().unwrap_or(0));
    let mut cols: Vec<char> = vec![' '; width * 2];
    for (i, c) in cells.iter().enumerate() {
        cols[i * 2] = *c;
    }
    for &j in joins {
        let (from, to) = if j > lane { (lane, j) } else { (j, lane) };
        for c in cols.iter_mut().take(to * 2).skip(from * 2 + 1) {
            *c = match *c {
                '│' => '┼',
                ' ' => '─',
                other => other,
            };
        }
        cols[j * 2] = if j > lane { '╮' } else { '╭' };
    }
    let shown = (MAX_LANES * 2).min(cols.len());
    let mut s: String = cols[..shown].iter().collect();
    if cols.len() > shown {
        s.pop();
        s.push('…');
    }
    s.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::query::{StepStatus, TimelineNode};
    use crate::record::log::StepKind;

    pub fn node(
        session: &str,
        step: u64,
        parent: Option<(&str, u64)>,
        branch: &str,
    ) -> TimelineNode {
        TimelineNode {
            session: session.into(),
            step,
            parent: parent.map(|(s, p)| NodeRef {
                session: s.into(),
                step: p,
            }),
            branch: branch.into(),
            kind: StepKind::Cell,
            title: format!("step {step}"),
            status: StepStatus::Ok,
            started: String::new(),
            duration_ms: 1.0,
            llm_calls: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            skills_used: vec![],
            skills_created: vec![],
            inexact: None,
            replay_differed: vec![],
            on_head_path: false,
            head: false,
            inherited: false,
        }
    }

    fn tree(nodes: Vec<TimelineNode>) -> Timeline {
        Timeline {
            session: "s".into(),
            head: None,
            sessions: vec![],
            nodes,
            warnings: vec![],
        }
    }

    fn rails(rows: &[Row]) -> Vec<&str> {
        rows.iter().map(|r| r.rails.trim_end()).collect()
    }

    #[test]
    fn a_line_of_steps_is_one_lane() {
        let t = tree(vec![
            node("s", 1, None, "s"),
            node("s", 2, Some(("s", 1)), "s"),
        ]);
        assert_eq!(rails(&rows(&t, None)), vec!["●", "●"]);
    }

    #[test]
    fn a_rewind_opens_a_lane_until_its_branch_begins() {
        // 1 → 2 → 3, and 4 continuing from 1 (a rewind to 1), and a fork off 2.
        let t = tree(vec![
            node("s", 1, None, "s"),
            node("s", 2, Some(("s", 1)), "s~3"),
            node("s", 3, Some(("s", 2)), "s~3"),
            node("f", 3, Some(("s", 2)), "f"),
            node("s", 4, Some(("s", 1)), "s"),
        ]);
        let r = rows(&t, None);
        assert_eq!(rails(&r), vec!["●─╮", "●─┼─╮", "● │ │", "  │ ●", "  ●"]);
        assert_eq!(r[1].branch.as_deref(), Some("s~3"));
        assert_eq!(r[3].branch.as_deref(), Some("f"));
        assert_eq!(
            r[4].branch, None,
            "the line to the head has the session's name"
        );
    }

    #[test]
    fn the_running_step_follows_its_parent() {
        let t = tree(vec![
            node("s", 1, None, "s"),
            node("s", 2, Some(("s", 1)), "s"),
        ]);
        let head = NodeRef {
            session: "s".into(),
            step: 1,
        };
        let r = rows(&t, Some(&head));
        assert_eq!(r.len(), 3);
        assert_eq!(r[2].node, None);
        assert_eq!(rails(&r), vec!["●─╮", "● │", "  ●"]);
        let empty = tree(vec![]);
        assert_eq!(rows(&empty, None).len(), 0);
        assert_eq!(rows(&empty, Some(&head))[0].node, None);
    }
}
