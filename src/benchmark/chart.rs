//! SVG charts of the results, drawn with plotters' SVG backend (no C libraries, no
//! fonts read: text is left to the viewer): solved rate, tokens and wall time per
//! category, one bar per arm.

use plotters::prelude::*;

use super::arms::Arm;
use super::harness::Outcome;
use super::task::Category;

const COLOURS: [RGBColor; 3] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x7f, 0x7f, 0x7f),
];

/// (file name, SVG text) of each chart.
pub fn all(results: &[Outcome]) -> Vec<(String, String)> {
    let solved = |runs: &[&Outcome]| {
        100.0 * runs.iter().filter(|r| r.solved).count() as f64 / runs.len().max(1) as f64
    };
    let tokens = |runs: &[&Outcome]| {
        runs.iter()
            .map(|r| (r.prompt_tokens + r.completion_tokens) as f64)
            .sum::<f64>()
            / runs.len().max(1) as f64
    };
    let seconds = |runs: &[&Outcome]| {
        runs.iter().map(|r| r.wall_ms / 1000.0).sum::<f64>() / runs.len().max(1) as f64
    };
    vec![
        (
            "solved.svg".into(),
            bars(
                results,
                "Solved (%) per category",
                "solved %",
                &solved,
                true,
            ),
        ),
        (
            "tokens.svg".into(),
            bars(
                results,
                "Tokens per run (mean) per category",
                "tokens",
                &tokens,
                false,
            ),
        ),
        (
            "time.svg".into(),
            bars(
                results,
                "Wall time per run (s, mean) per category",
                "seconds",
                &seconds,
                true,
            ),
        ),
    ]
}

/// Grouped bars: categories on x, one bar per arm.
fn bars(
    results: &[Outcome],
    title: &str,
    y_label: &str,
    measure: &dyn Fn(&[&Outcome]) -> f64,
    with_reference: bool,
) -> String {
    let mut arms: Vec<Arm> = results.iter().map(|r| r.arm).collect();
    arms.sort();
    arms.dedup();
    arms.retain(|a| with_reference || a.needs_model());
    let cats: Vec<Category> = Category::ALL
        .into_iter()
        .filter(|c| results.iter().any(|r| r.category == *c))
        .collect();
    let mut values = Vec::new();
    for (ci, cat) in cats.iter().enumerate() {
        for (ai, arm) in arms.iter().enumerate() {
            let runs: Vec<&Outcome> = results
                .iter()
                .filter(|r| r.arm == *arm && r.category == *cat)
                .collect();
            if !runs.is_empty() {
                values.push((ci, ai, measure(&runs)));
            }
        }
    }
    let top = values.iter().map(|v| v.2).fold(0.0_f64, f64::max).max(1.0) * 1.1;
    let mut svg = String::new();
    // Drawing into a String cannot fail for lack of a device; an error leaves the chart
    // as far as it got, which the report does not depend on.
    let _ = draw(&mut svg, title, y_label, &cats, &arms, &values, top);
    svg
}

fn draw<'a>(
    svg: &'a mut String,
    title: &str,
    y_label: &str,
    cats: &[Category],
    arms: &[Arm],
    values: &[(usize, usize, f64)],
    top: f64,
) -> Result<(), Box<dyn std::error::Error + 'a>> {
    let root = SVGBackend::with_string(svg, (760, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let groups = cats.len().max(1) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..groups, 0.0..top)?;
    let names: Vec<&str> = cats.iter().map(|c| c.name()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(cats.len().max(1) * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - i as f64 - 0.5).abs() < 0.01 {
                names.get(i).map(|n| n.to_string()).unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc(y_label)
        .draw()?;
    let width = 0.8 / arms.len().max(1) as f64;
    for (ai, arm) in arms.iter().enumerate() {
        let colour = COLOURS[ai % COLOURS.len()];
        chart
            .draw_series(values.iter().filter(|v| v.1 == ai).map(|(ci, _, v)| {
                let x0 = *ci as f64 + 0.1 + ai as f64 * width;
                Rectangle::new([(x0, 0.0), (x0 + width * 0.9, *v)], colour.filled())
            }))?
            .label(arm.name())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
