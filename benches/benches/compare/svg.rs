//! The chart: one group of horizontal bars per workload, MB/s of record values, each group
//! on its own scale (durable appends are orders of magnitude below the rest), written by
//! hand as SVG.

use std::fmt::Write as _;

use crate::report::{format_count, format_mb, format_ratio, Kind, Line, Report, WorkloadResult};

/// Width of a character of the 12 px sans-serif text, a little over the average, to size
/// the column of system names.
const CHAR_WIDTH: f64 = 6.8;
/// The longest bar of a group.
const BAR_MAX: f64 = 380.0;
/// Room after the longest bar for its label.
const LABEL_ROOM: f64 = 260.0;
const BAR_HEIGHT: f64 = 16.0;
const ROW_STEP: f64 = 22.0;
const GROUP_TITLE: f64 = 30.0;
const GROUP_GAP: f64 = 14.0;
const TOP: f64 = 70.0;

fn colour(kind: Kind) -> &'static str {
    match kind {
        Kind::Silt => "#2b6cb0",
        Kind::Peer => "#dd6b20",
        Kind::Raw => "#718096",
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A bar's name: the system, the gist of its caveat, and whether it is the best peer or
/// the raw limit.
fn bar_name(result: &WorkloadResult, line: &Line) -> String {
    let mut name = line.row.system.to_string();
    if let Some(caveat) = line.row.caveat {
        // The caveat's gist, before its explanation (`not durable: …`).
        let gist = caveat.split(':').next().unwrap_or(caveat);
        name.push_str(&format!(" ({gist})"));
    }
    name.push_str(result.role(line));
    name
}

/// The whole chart as an SVG document.
pub fn chart(report: &Report) -> String {
    let rows: usize = report.results.iter().map(|r| r.lines.len()).sum();
    let longest_name = report
        .results
        .iter()
        .flat_map(|r| r.lines.iter().map(|l| bar_name(r, l).chars().count()))
        .max()
        .unwrap_or(0);
    let names_right = 20.0 + longest_name as f64 * CHAR_WIDTH;
    let bar_left = names_right + 10.0;
    let width = (bar_left + BAR_MAX + LABEL_ROOM).max(900.0);
    let height = TOP
        + report.results.len() as f64 * (GROUP_TITLE + GROUP_GAP)
        + rows as f64 * ROW_STEP
        + 56.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height}" viewBox="0 0 {width:.0} {height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="20" y="28" font-size="18" font-weight="bold">silt beside commitlog, fjall and the raw limits{}</text>
<text x="20" y="48" fill="#4a5568">MB/s of record values (10^6 bytes), median of the repetitions; each workload on its own scale; label: MB/s · records/s · × best peer</text>
"##,
        if report.quick { " (quick run)" } else { "" }
    );
    legend(&mut svg, width - 230.0);
    let mut y = TOP;
    for result in &report.results {
        y += GROUP_TITLE;
        let _ = writeln!(
            svg,
            r##"<text x="20" y="{}" font-size="14" font-weight="bold">{}</text>"##,
            y - 10.0,
            escape(&result.workload.name())
        );
        // Scaled to the rows that do the whole job: a longer one (a caveat's) is cut at the
        // longest bar, its label giving the figure.
        let max = result
            .lines
            .iter()
            .filter(|l| l.row.caveat.is_none())
            .map(|l| l.mb_per_s)
            .fold(0.0, f64::max);
        for line in &result.lines {
            let bar = if max > 0.0 {
                ((line.mb_per_s / max).min(1.0) * BAR_MAX).max(1.0)
            } else {
                1.0
            };
            let opacity = if line.row.caveat.is_some() { 0.45 } else { 1.0 };
            let name = bar_name(result, line);
            let label = format!(
                "{} MB/s · {} rec/s · {}",
                format_mb(line.mb_per_s),
                format_count(line.records_per_s),
                format_ratio(line.vs_best_peer)
            );
            let text_y = y + BAR_HEIGHT - 4.0;
            let _ = writeln!(
                svg,
                r##"<text x="{names_right:.0}" y="{text_y}" text-anchor="end">{}</text>
<rect x="{bar_left:.0}" y="{y}" width="{bar:.1}" height="{BAR_HEIGHT}" fill="{}" fill-opacity="{opacity}"/>
<text x="{:.1}" y="{text_y}" fill="#2d3748">{}</text>"##,
                escape(&name),
                colour(line.row.kind),
                bar_left + bar + 6.0,
                escape(&label),
            );
            y += ROW_STEP;
        }
        y += GROUP_GAP;
    }
    let _ = writeln!(
        svg,
        r##"<text x="20" y="{}" fill="#4a5568" font-size="11">{}</text>
<text x="20" y="{}" fill="#4a5568" font-size="11">{}</text>
</svg>"##,
        y + 10.0,
        escape(&report.machine.summary()),
        y + 26.0,
        escape(&format!("load average {}", report.machine.load())),
    );
    svg
}

fn legend(svg: &mut String, mut x: f64) {
    for (kind, name) in [
        (Kind::Silt, "silt"),
        (Kind::Peer, "peers"),
        (Kind::Raw, "raw"),
    ] {
        let _ = writeln!(
            svg,
            r##"<rect x="{x}" y="16" width="12" height="12" fill="{}"/><text x="{}" y="26">{name}</text>"##,
            colour(kind),
            x + 16.0
        );
        x += 70.0;
    }
}
