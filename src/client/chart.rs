//! `client --html FILE`: one self-contained page (inline SVG and CSS, no
//! script, nothing fetched) with every run's latency by percentile on a
//! logarithmic percentile axis, as HdrHistogram's plots draw it, its
//! requests per second over time, and a table of the figures.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

use super::{Report, TICK};

const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
];
const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 340.0;
const LEFT: f64 = 64.0;
const BOTTOM: f64 = 40.0;
const TOP: f64 = 16.0;
const RIGHT: f64 = 32.0;
/// The percentile axis runs to 99.999%: log10(1 / (1 - q)) = 5.
const NINES: f64 = 5.0;

/// The page for `runs`, each a name and its report, loaded at `target`.
pub fn page(target: &str, runs: &[(String, &Report)]) -> String {
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>twinserve client: {t}</title>\n<style>\
body{{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:820px;color:#222}}\
h1{{font-size:1.3em}}h2{{font-size:1.1em;margin-top:1.6em}}\
table{{border-collapse:collapse}}td,th{{padding:.2em .7em;text-align:right;border-bottom:1px solid #ddd}}\
th:first-child,td:first-child{{text-align:left}}svg{{background:#fafafa;border:1px solid #ddd}}\
.axis{{stroke:#888}}.grid{{stroke:#e4e4e4}}text{{font-size:12px;fill:#444}}\
.key span{{display:inline-block;width:1.6em;height:.3em;vertical-align:middle;margin:0 .4em 0 1em}}\
</style></head><body>\n<h1>Load on {t}</h1>\n",
        t = escape(target)
    );
    html.push_str(&figures(runs));
    html.push_str("<h2>Latency by percentile</h2>\n");
    html.push_str(&key(runs));
    html.push_str(&percentile_chart(runs));
    html.push_str(
        "<p>Each step right is ten times rarer: 90%, 99%, 99.9%… Where a run had a schedule \
(<code>--rate</code>), the solid line is latency from each request's due time (corrected \
for coordinated omission) and the dashed one from when it was sent.</p>\n",
    );
    html.push_str("<h2>Requests per second</h2>\n");
    html.push_str(&timeline_chart(runs));
    html.push_str("</body></html>\n");
    html
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn figures(runs: &[(String, &Report)]) -> String {
    let mut out = String::from(
        "<table><tr><th>run</th><th>req/s</th><th>MB/s</th><th>errors</th>\
<th>p50 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th></tr>\n",
    );
    for (name, report) in runs {
        let secs = report.elapsed.as_secs_f64().max(1e-9);
        let h = report.corrected.as_ref().unwrap_or(&report.latency);
        let ms = |us: u64| us as f64 / 1000.0;
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{:.0}</td><td>{:.2}</td><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td></tr>",
            escape(name),
            report.responses as f64 / secs,
            report.bytes_read as f64 / secs / 1e6,
            report.failures.values().sum::<u64>(),
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.99)),
            ms(h.value_at_quantile(0.999)),
            ms(h.max()),
        );
    }
    out.push_str("</table>\n");
    out
}

fn key(runs: &[(String, &Report)]) -> String {
    let mut out = String::from("<p class=\"key\">");
    for (i, (name, _)) in runs.iter().enumerate() {
        let _ = write!(
            out,
            "<span style=\"background:{}\"></span>{}",
            COLOURS[i % COLOURS.len()],
            escape(name)
        );
    }
    out.push_str("</p>\n");
    out
}

/// (x, y) points in the data's own units.
type Curve = Vec<(f64, f64)>;

/// The curve of one histogram: (nines, milliseconds) points.
fn curve(h: &Histogram<u64>) -> Curve {
    let mut points = Vec::new();
    for v in h.iter_quantiles(8) {
        let q = v.quantile_iterated_to();
        let nines = if q >= 1.0 {
            NINES
        } else {
            (1.0 / (1.0 - q)).log10().min(NINES)
        };
        points.push((nines, v.value_iterated_to() as f64 / 1000.0));
        if nines >= NINES {
            break;
        }
    }
    points
}

fn percentile_chart(runs: &[(String, &Report)]) -> String {
    // (run, dashed, points): a scheduled run's send-time curve is dashed.
    let curves: Vec<(usize, bool, Curve)> = runs
        .iter()
        .enumerate()
        .filter(|(_, (_, r))| r.responses > 0)
        .flat_map(|(i, (_, r))| {
            let mut lines = vec![(i, r.corrected.is_some(), curve(&r.latency))];
            if let Some(c) = &r.corrected {
                lines.push((i, false, curve(c)));
            }
            lines
        })
        .collect();
    let top = nice_ceiling(
        curves
            .iter()
            .flat_map(|(_, _, c)| c.iter().map(|p| p.1))
            .fold(0.0, f64::max),
    );
    let ticks: Vec<(f64, String)> = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
        .iter()
        .enumerate()
        .map(|(i, label)| (i as f64, label.to_string()))
        .collect();
    let mut svg = frame(&ticks, NINES, top, "latency (ms)");
    for (i, dashed, points) in curves {
        svg.push_str(&polyline(
            &points,
            NINES,
            top,
            COLOURS[i % COLOURS.len()],
            dashed,
        ));
    }
    svg.push_str("</svg>\n");
    svg
}

/// Requests per second over each run, as steps: a bucket's responses over the
/// bucket's width, tenths of a second for runs under ten seconds and whole
/// seconds past that; the last bucket is as wide as the run's time left in it.
fn timeline_chart(runs: &[(String, &Report)]) -> String {
    let span = runs
        .iter()
        .map(|(_, r)| r.elapsed.as_secs_f64())
        .fold(TICK.as_secs_f64(), f64::max);
    let per_bucket = if span < 10.0 {
        1
    } else {
        (1.0 / TICK.as_secs_f64()).round() as usize
    };
    let steps: Vec<Vec<(f64, f64)>> = runs.iter().map(|(_, r)| steps(r, per_bucket)).collect();
    let top = nice_ceiling(steps.iter().flatten().map(|&(_, y)| y).fold(0.0, f64::max));
    let step = nice_ceiling(span / 8.0);
    let ticks: Vec<(f64, String)> = (0..)
        .map(|k| k as f64 * step)
        .take_while(|&x| x <= span + 1e-9)
        .map(|x| (x, format!("{} s", trim(x))))
        .collect();
    let mut svg = frame(&ticks, span, top, "requests/s");
    for (i, points) in steps.iter().enumerate() {
        svg.push_str(&polyline(
            points,
            span,
            top,
            COLOURS[i % COLOURS.len()],
            false,
        ));
    }
    svg.push_str("</svg>\n");
    svg
}

/// One run's rate as a step line: both ends of each bucket of `per_bucket`
/// ticks, at its responses over its width in seconds. A last bucket under
/// half a width joins the one before: a run bounded by `-n` ends on its last
/// response, and that response alone over a sliver of time is no rate.
fn steps(report: &Report, per_bucket: usize) -> Vec<(f64, f64)> {
    let width = TICK.as_secs_f64() * per_bucket as f64;
    let end = report.elapsed.as_secs_f64();
    let mut buckets: Vec<(f64, f64, u64)> = Vec::new();
    for (i, ticks) in report.ticks.chunks(per_bucket).enumerate() {
        let from = i as f64 * width;
        // Responses are counted before `elapsed` is read, so `to > from`;
        // the floor only keeps a clock's oddity from dividing by zero.
        let to = (from + width).min(end).max(from + width / 100.0);
        buckets.push((from, to, ticks.iter().sum()));
    }
    if let [.., before, last] = &mut buckets[..]
        && last.1 - last.0 < width / 2.0
    {
        before.1 = last.1;
        before.2 += last.2;
        buckets.pop();
    }
    buckets
        .iter()
        .flat_map(|&(from, to, n)| {
            let rate = n as f64 / (to - from);
            [(from, rate), (to, rate)]
        })
        .collect()
}

/// 1, 2 or 5 times a power of ten, at or above `x`.
fn nice_ceiling(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(x.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|&v| v >= x)
        .unwrap_or(10.0 * power)
}

fn to_svg(x: f64, y: f64, x_max: f64, y_max: f64) -> (f64, f64) {
    let w = WIDTH - LEFT - RIGHT;
    let h = HEIGHT - TOP - BOTTOM;
    (LEFT + w * x / x_max, TOP + h * (1.0 - (y / y_max).min(1.0)))
}

/// The svg element with its axes, x ticks as given, five y ticks up to `y_max`.
fn frame(x_ticks: &[(f64, String)], x_max: f64, y_max: f64, y_label: &str) -> String {
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\">\n"
    );
    for k in 0..=5 {
        let y = y_max * k as f64 / 5.0;
        let (x0, sy) = to_svg(0.0, y, x_max, y_max);
        let (x1, _) = to_svg(x_max, y, x_max, y_max);
        let _ = writeln!(
            svg,
            "<line class=\"grid\" x1=\"{x0:.1}\" y1=\"{sy:.1}\" x2=\"{x1:.1}\" y2=\"{sy:.1}\"/>\
<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            x0 - 6.0,
            sy + 4.0,
            trim(y)
        );
    }
    for (x, label) in x_ticks {
        let (sx, y0) = to_svg(*x, 0.0, x_max, y_max);
        let _ = writeln!(
            svg,
            "<line class=\"grid\" x1=\"{sx:.1}\" y1=\"{TOP}\" x2=\"{sx:.1}\" y2=\"{y0:.1}\"/>\
<text x=\"{sx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>",
            y0 + 18.0
        );
    }
    let (x0, y0) = to_svg(0.0, 0.0, x_max, y_max);
    let (x1, _) = to_svg(x_max, 0.0, x_max, y_max);
    let _ = writeln!(
        svg,
        "<line class=\"axis\" x1=\"{x0:.1}\" y1=\"{y0:.1}\" x2=\"{x1:.1}\" y2=\"{y0:.1}\"/>\
<line class=\"axis\" x1=\"{x0:.1}\" y1=\"{TOP}\" x2=\"{x0:.1}\" y2=\"{y0:.1}\"/>\
<text x=\"14\" y=\"{:.1}\" transform=\"rotate(-90 14 {:.1})\" text-anchor=\"middle\">{y_label}</text>",
        TOP + (y0 - TOP) / 2.0,
        TOP + (y0 - TOP) / 2.0,
    );
    svg
}

fn polyline(points: &[(f64, f64)], x_max: f64, y_max: f64, colour: &str, dashed: bool) -> String {
    let mut coords = String::new();
    for &(x, y) in points {
        let (sx, sy) = to_svg(x, y, x_max, y_max);
        let _ = write!(coords, "{sx:.1},{sy:.1} ");
    }
    format!(
        "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"{} points=\"{}\"/>\n",
        if dashed {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        },
        coords.trim_end()
    )
}

fn trim(x: f64) -> String {
    let text = format!("{x:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_holds_a_curve_per_run_and_nothing_from_outside() {
        let mut a = Report::empty();
        let mut b = Report::empty();
        for us in 1..=1000 {
            a.latency.record(us * 10).unwrap();
            b.latency.record(us * 20).unwrap();
        }
        a.responses = 1000;
        b.responses = 1000;
        b.corrected = Some(b.latency.clone());
        a.ticks = vec![50; 20];
        a.elapsed = std::time::Duration::from_secs(2);
        b.ticks = vec![100, 200, 100];
        b.elapsed = std::time::Duration::from_millis(250);
        let html = page(
            "http://127.0.0.1:1/<x>",
            &[("raw".into(), &a), ("hyper".into(), &b)],
        );
        assert!(html.contains("&lt;x&gt;"));
        // raw: one curve; hyper: corrected and sent; and one timeline each.
        assert_eq!(html.matches("<polyline").count(), 3 + 2);
        assert_eq!(html.matches("stroke-dasharray").count(), 1);
        assert!(!html.contains("src=") && !html.contains("href=") && !html.contains("<script"));
        // A quarter-second run still draws a line; its last tick, only 50 ms
        // wide, joins the one before: 300 responses in 150 ms.
        let rounded: Vec<(f64, f64)> = steps(&b, 1)
            .into_iter()
            .map(|(x, y)| ((x * 1000.0).round(), y.round()))
            .collect();
        assert_eq!(
            rounded,
            [
                (0.0, 1000.0),
                (100.0, 1000.0),
                (100.0, 2000.0),
                (250.0, 2000.0)
            ]
        );
        assert_eq!(steps(&a, 10).len(), 4);
        assert_eq!(steps(&a, 10)[0].1, 500.0);
        assert_eq!(nice_ceiling(13.0), 20.0);
        assert_eq!(nice_ceiling(0.3), 0.5);
    }
}

/// A count-bounded run (`-n`) ends with its last response, and
/// `elapsed` is read just after it, so the last tick is usually only a sliver
/// wide and holds that response: its "rate" is then 1 / sliver, a spike that
/// sets the chart's top and flattens the real curve.
#[cfg(test)]
mod last_bucket {
    use super::*;

    #[test]
    fn the_last_response_of_a_run_does_not_spike_the_rate() {
        let mut report = Report::empty();
        // 50 requests/s for two seconds, and the last response 0.3 ms into
        // the 21st tick, as `load::run` measures `elapsed` after the threads end.
        report.ticks = vec![5; 20];
        report.ticks.push(1);
        report.responses = 101;
        report.elapsed = std::time::Duration::from_micros(2_000_300);
        let peak = steps(&report, 1)
            .iter()
            .map(|&(_, rate)| rate)
            .fold(0.0, f64::max);
        assert!(
            peak <= 2.0 * 50.0,
            "a steady 50 requests/s run drawn peaking at {peak} requests/s"
        );
    }
}
