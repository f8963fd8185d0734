//! The benchmark's picture, as hand-written SVG: for each N, the share of Extensions ready over
//! the time since the controller started against the floor's share of objects written (the
//! floor's end marked), and the steady-state request rate to the seed and the garden over the
//! measured window.

use std::fmt::Write;

use crate::run::Row;

const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 400.0;
const PANEL_WIDTH: f64 = 380.0;
const PANEL_HEIGHT: f64 = 260.0;
const TOP: f64 = 50.0;
const LEFT: [f64; 2] = [70.0, 560.0];
/// Points per curve at most (a curve of 3000 Extensions would only add bytes).
const MAX_POINTS: usize = 200;
const COLORS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
];

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A tick label: at most three decimals, without trailing zeros.
fn number(v: f64) -> String {
    let text = format!("{v:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.to_string()
    }
}

/// A round upper bound for an axis (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten)
/// at or above `max`.
fn nice_max(max: f64) -> f64 {
    if !max.is_finite() || max <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(max.log10().floor());
    [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .into_iter()
        .map(|f| f * power)
        .find(|v| *v >= max)
        .unwrap_or(10.0 * power)
}

/// The share (0..1) of `times` (ascending) done over time, as a step curve from (0, 0).
fn share_curve(times: &[f64]) -> Vec<(f64, f64)> {
    let n = times.len();
    if n == 0 {
        return Vec::new();
    }
    let step = n.div_ceil(MAX_POINTS).max(1);
    let mut points = vec![(0.0, 0.0)];
    let mut i = step - 1;
    loop {
        let i_clamped = i.min(n - 1);
        let previous = points.last().map(|p| p.1).unwrap_or(0.0);
        points.push((times[i_clamped], previous));
        points.push((times[i_clamped], (i_clamped + 1) as f64 / n as f64));
        if i_clamped == n - 1 {
            break;
        }
        i += step;
    }
    points
}

/// Maps data to pixels within one panel.
struct Panel {
    left: f64,
    x_max: f64,
    y_max: f64,
}

impl Panel {
    fn x(&self, v: f64) -> f64 {
        self.left + v.min(self.x_max) / self.x_max * PANEL_WIDTH
    }
    fn y(&self, v: f64) -> f64 {
        TOP + PANEL_HEIGHT - v / self.y_max * PANEL_HEIGHT
    }

    fn polyline(&self, points: &[(f64, f64)]) -> String {
        points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", self.x(*x), self.y(*y)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Frame, ticks and axis titles.
    fn axes(&self, out: &mut String, title: &str, x_title: &str, y_title: &str, y_percent: bool) {
        let bottom = TOP + PANEL_HEIGHT;
        let _ = writeln!(
            out,
            r#"<g class="axes"><text x="{:.1}" y="{:.1}" text-anchor="middle" font-weight="bold">{}</text>"#,
            self.left + PANEL_WIDTH / 2.0,
            TOP - 20.0,
            escape(title)
        );
        let _ = writeln!(
            out,
            r##"<rect x="{:.1}" y="{TOP:.1}" width="{PANEL_WIDTH:.1}" height="{PANEL_HEIGHT:.1}" fill="none" stroke="#444"/>"##,
            self.left
        );
        for i in 0..=5 {
            let fraction = f64::from(i) / 5.0;
            let (xv, yv) = (self.x_max * fraction, self.y_max * fraction);
            let (x, y) = (self.x(xv), self.y(yv));
            let y_label = if y_percent {
                format!("{:.0} %", yv * 100.0)
            } else {
                number(yv)
            };
            let _ = writeln!(
                out,
                r##"<line x1="{x:.1}" y1="{bottom:.1}" x2="{x:.1}" y2="{:.1}" stroke="#444"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                bottom + 5.0,
                bottom + 20.0,
                number(xv)
            );
            let _ = writeln!(
                out,
                r##"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                self.left,
                self.left + PANEL_WIDTH,
                self.left - 8.0,
                y + 4.0,
                escape(&y_label)
            );
        }
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            self.left + PANEL_WIDTH / 2.0,
            bottom + 40.0,
            escape(x_title)
        );
        let _ = writeln!(
            out,
            r#"<text transform="translate({:.1},{:.1}) rotate(-90)" text-anchor="middle">{}</text></g>"#,
            self.left - 50.0,
            TOP + PANEL_HEIGHT / 2.0,
            escape(y_title)
        );
    }
}

/// The picture of `rows` (one series per N in each panel).
pub fn render(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);

    let ready_max = rows
        .iter()
        .flat_map(|r| r.ready_times.last().into_iter().chain([&r.floor_s]))
        .copied()
        .fold(0.0, f64::max);
    let ready = Panel {
        left: LEFT[0],
        x_max: nice_max(ready_max),
        y_max: 1.0,
    };
    ready.axes(
        &mut out,
        "Extensions ready (solid) vs. the floor's writes (dashed)",
        "seconds since start",
        "share done",
        true,
    );
    for (i, row) in rows.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let n = row.shoots;
        let _ = writeln!(
            out,
            r#"<polyline class="ready" data-n="{n}" fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            ready.polyline(&share_curve(&row.ready_times))
        );
        let _ = writeln!(
            out,
            r#"<polyline class="floor" data-n="{n}" fill="none" stroke="{color}" stroke-width="1.5" stroke-dasharray="5,4" points="{}"/>"#,
            ready.polyline(&share_curve(&row.floor_times))
        );
        // The floor's time (its best concurrency), the bound the controller is measured against.
        let x = ready.x(row.floor_s);
        let _ = writeln!(
            out,
            r#"<line class="floor-end" data-n="{n}" x1="{x:.1}" y1="{TOP:.1}" x2="{x:.1}" y2="{:.1}" stroke="{color}" stroke-dasharray="1,3"/>"#,
            TOP + PANEL_HEIGHT
        );
    }

    let steady: Vec<(usize, &Row)> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.steady.as_ref().is_some_and(|s| !s.rates.is_empty()))
        .collect();
    let rate_max = steady
        .iter()
        .filter_map(|(_, r)| r.steady.as_ref())
        .flat_map(|s| {
            s.rates
                .iter()
                .flat_map(|(_, seed, garden)| [*seed, *garden])
        })
        .fold(0.0, f64::max);
    let window_max = steady
        .iter()
        .filter_map(|(_, r)| r.steady.as_ref())
        .map(|s| s.seconds)
        .fold(0.0, f64::max);
    let rates = Panel {
        left: LEFT[1],
        // The window runs a fraction of a second longer than asked: the axis ends at the
        // window asked for (the last step is clipped to it).
        x_max: nice_max(window_max.floor()),
        y_max: nice_max(rate_max),
    };
    rates.axes(
        &mut out,
        "Steady state: requests/s, seed (solid) and garden (dashed)",
        "seconds into the measured window",
        "requests per second",
        false,
    );
    if steady.is_empty() {
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">not measured</text>"#,
            rates.left + PANEL_WIDTH / 2.0,
            TOP + PANEL_HEIGHT / 2.0
        );
    }
    for (i, row) in &steady {
        let Some(s) = &row.steady else { continue };
        let color = COLORS[i % COLORS.len()];
        let n = row.shoots;
        // Each sample is the rate over the interval that ends at its time: drawn as steps.
        let mut seed = Vec::new();
        let mut garden = Vec::new();
        let mut from = 0.0;
        for &(t, seed_rps, garden_rps) in &s.rates {
            seed.extend([(from, seed_rps), (t, seed_rps)]);
            garden.extend([(from, garden_rps), (t, garden_rps)]);
            from = t;
        }
        let _ = writeln!(
            out,
            r#"<polyline class="steady-seed" data-n="{n}" fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            rates.polyline(&seed)
        );
        let _ = writeln!(
            out,
            r#"<polyline class="steady-garden" data-n="{n}" fill="none" stroke="{color}" stroke-width="1.5" stroke-dasharray="5,4" points="{}"/>"#,
            rates.polyline(&garden)
        );
    }

    // The legend: one colour per N.
    let legend_y = HEIGHT - 25.0;
    for (i, row) in rows.iter().enumerate() {
        let x = LEFT[0] + 130.0 * i as f64;
        let color = COLORS[i % COLORS.len()];
        let _ = writeln!(
            out,
            r#"<g class="legend"><line x1="{x:.1}" y1="{legend_y:.1}" x2="{:.1}" y2="{legend_y:.1}" stroke="{color}" stroke-width="3"/><text x="{:.1}" y="{:.1}">N = {}</text></g>"#,
            x + 25.0,
            x + 32.0,
            legend_y + 4.0,
            row.shoots
        );
    }
    let _ = writeln!(
        out,
        r##"<text x="{:.1}" y="{:.1}" fill="#444">dotted: the floor's time</text>"##,
        LEFT[1],
        legend_y + 4.0
    );
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::Steady;

    /// The element names in document order, checking that every tag closes in order.
    fn balanced(svg: &str) -> Result<Vec<String>, String> {
        let mut stack: Vec<String> = Vec::new();
        let mut names = Vec::new();
        let mut rest = svg;
        while let Some(start) = rest.find('<') {
            let end = rest[start..].find('>').ok_or("an unclosed tag")? + start;
            let tag = &rest[start + 1..end];
            if let Some(name) = tag.strip_prefix('/') {
                let open = stack.pop().ok_or(format!("</{name}> without its start"))?;
                if open != name {
                    return Err(format!("<{open}> closed by </{name}>"));
                }
            } else {
                let name: String = tag
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != '/')
                    .collect();
                if !tag.matches('"').count().is_multiple_of(2) {
                    return Err(format!("unbalanced quotes in <{tag}>"));
                }
                names.push(name.clone());
                if !tag.ends_with('/') {
                    stack.push(name);
                }
            }
            rest = &rest[end + 1..];
        }
        if stack.is_empty() {
            Ok(names)
        } else {
            Err(format!("unclosed: {stack:?}"))
        }
    }

    fn row(n: usize, steady: bool) -> Row {
        Row {
            shoots: n,
            convergence_s: n as f64 / 10.0,
            floor_s: n as f64 / 20.0,
            ready_times: (1..=n).map(|i| i as f64 / 10.0).collect(),
            floor_times: (1..=n * 7).map(|i| i as f64 / 140.0).collect(),
            steady: steady.then(|| Steady {
                seconds: 60.0,
                seed_rps: 0.5,
                rates: vec![(5.0, 0.4, 0.0), (10.0, 0.6, 0.1)],
                ..Steady::default()
            }),
            ..Row::default()
        }
    }

    #[test]
    fn the_picture_has_one_series_per_n_in_well_formed_svg() {
        let svg = render(&[row(20, true), row(1000, true), row(3000, false)]);
        let names = balanced(&svg).unwrap();
        assert_eq!(names.first().map(String::as_str), Some("svg"));
        assert!(svg.ends_with("</svg>\n"));
        for class in ["ready", "floor", "floor-end"] {
            assert_eq!(
                svg.matches(&format!("class=\"{class}\"")).count(),
                3,
                "{class}"
            );
        }
        // The steady state of the N that measured it.
        for class in ["steady-seed", "steady-garden"] {
            assert_eq!(
                svg.matches(&format!("class=\"{class}\"")).count(),
                2,
                "{class}"
            );
        }
        for n in [20, 1000, 3000] {
            assert!(svg.contains(&format!("data-n=\"{n}\"")));
            assert!(svg.contains(&format!(">N = {n}</text>")));
        }
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        // Curves are bounded in points whatever N is.
        let longest = svg
            .lines()
            .filter(|l| l.contains("class=\"floor\""))
            .filter_map(|l| l.split("points=\"").nth(1))
            .map(|points| points.split_whitespace().count())
            .max()
            .unwrap();
        assert!(longest <= 2 * MAX_POINTS + 1, "{longest}");
    }

    #[test]
    fn the_ready_curve_reaches_everyone_at_the_last_time() {
        let curve = share_curve(&[1.0, 2.0, 4.0]);
        assert_eq!(curve.first(), Some(&(0.0, 0.0)));
        assert_eq!(curve.last(), Some(&(4.0, 1.0)));
        assert!(
            curve
                .windows(2)
                .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1)
        );
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(37.0), 40.0);
        assert_eq!(nice_max(60.0), 60.0);
        assert!((nice_max(0.55) - 0.6).abs() < 1e-9);
        assert_eq!(number(0.6000000000000001 * 0.2), "0.12");
        assert_eq!(number(24.0), "24");
        assert_eq!(nice_max(130.0), 150.0);
    }

    #[test]
    fn an_empty_benchmark_still_draws_well_formed_axes() {
        let svg = render(&[]);
        balanced(&svg).unwrap();
        assert!(svg.contains("not measured"));
    }
}
