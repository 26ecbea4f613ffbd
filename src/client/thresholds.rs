//! `--fail-if` conditions such as `p99>20ms` or `errors>0`: parsed once,
//! checked against a finished run's report so a CI job can fail on them.

use std::fmt;

use super::Report;

/// One condition that, when it holds, fails the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// As the user wrote it.
    pub text: String,
    metric: Metric,
    op: Op,
    limit: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Metric {
    /// A latency quantile (0..=1), in milliseconds.
    Quantile(f64),
    MaxMs,
    MeanMs,
    /// Failed requests, a count.
    Errors,
    /// Failed requests as a percentage of all attempts.
    ErrorRate,
    Rps,
    /// Requests still in flight when the time was up, a count.
    Unfinished,
    /// Open loop: requests due but never sent, a count.
    Backlog,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Gt,
    Ge,
    Lt,
    Le,
}

/// What a threshold found in a report.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub threshold: Threshold,
    /// The report's figure, in the threshold's unit (ms, count, %, req/s).
    pub value: f64,
    pub crossed: bool,
}

impl Threshold {
    /// `METRIC OP VALUE`: METRIC one of p50, p90, p99, p99.9, p99.99, pNN,
    /// max, mean (latency; VALUE with us, ms or s, ms when bare), errors,
    /// error_rate (VALUE in %), rps, unfinished, backlog; OP one of `>`,
    /// `>=`, `<`, `<=`.
    pub fn parse(text: &str) -> Result<Threshold, String> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let at = compact.find(['>', '<']).ok_or_else(|| {
            format!("{text:?}: expected METRIC>VALUE or METRIC<VALUE, e.g. p99>20ms")
        })?;
        let (name, rest) = compact.split_at(at);
        let (op, value) = match rest.as_bytes() {
            [b'>', b'=', ..] => (Op::Ge, &rest[2..]),
            [b'<', b'=', ..] => (Op::Le, &rest[2..]),
            [b'>', ..] => (Op::Gt, &rest[1..]),
            _ => (Op::Lt, &rest[1..]),
        };
        let metric = match name.to_ascii_lowercase().as_str() {
            "max" => Metric::MaxMs,
            "mean" => Metric::MeanMs,
            "errors" => Metric::Errors,
            "error_rate" => Metric::ErrorRate,
            "rps" => Metric::Rps,
            "unfinished" => Metric::Unfinished,
            "backlog" => Metric::Backlog,
            p if p.starts_with('p') => {
                let q: f64 = p[1..].parse().map_err(|_| {
                    format!("{text:?}: {name:?} is not a percentile like p99 or p99.9")
                })?;
                if !(q > 0.0 && q <= 100.0) {
                    return Err(format!("{text:?}: a percentile lies between 0 and 100"));
                }
                Metric::Quantile(q / 100.0)
            }
            _ => {
                return Err(format!(
                    "{text:?}: unknown metric {name:?}; use p50, p99, p99.9, max, mean, errors, error_rate, rps, unfinished or backlog"
                ));
            }
        };
        let limit = match metric {
            Metric::Quantile(_) | Metric::MaxMs | Metric::MeanMs => milliseconds(value),
            Metric::ErrorRate => number(value.strip_suffix('%').unwrap_or(value)),
            Metric::Errors | Metric::Rps | Metric::Unfinished | Metric::Backlog => number(value),
        }
        .map_err(|e| format!("{text:?}: {e}"))?;
        Ok(Threshold {
            text: text.to_string(),
            metric,
            op,
            limit,
        })
    }

    /// The report's figure for this threshold, and whether it crossed it.
    /// Latency is the corrected latency when the run had a schedule.
    pub fn check(&self, report: &Report) -> Checked {
        let latency = report.corrected.as_ref().unwrap_or(&report.latency);
        let ms = |us: f64| us / 1000.0;
        let answered = !latency.is_empty();
        let value = match self.metric {
            Metric::Quantile(q) if answered => ms(latency.value_at_quantile(q) as f64),
            Metric::MaxMs if answered => ms(latency.max() as f64),
            Metric::MeanMs if answered => ms(latency.mean()),
            // No answers: no latency, which crosses any upper bound.
            Metric::Quantile(_) | Metric::MaxMs | Metric::MeanMs => f64::INFINITY,
            Metric::Errors => report.failures.values().sum::<u64>() as f64,
            Metric::ErrorRate => {
                let failed = report.failures.values().sum::<u64>() as f64;
                100.0 * failed / (report.attempts.max(1) as f64)
            }
            Metric::Rps => report.responses as f64 / report.elapsed.as_secs_f64().max(1e-9),
            Metric::Unfinished => report.unfinished as f64,
            Metric::Backlog => report.backlog() as f64,
        };
        let crossed = match self.op {
            Op::Gt => value > self.limit,
            Op::Ge => value >= self.limit,
            Op::Lt => value < self.limit,
            Op::Le => value <= self.limit,
        };
        Checked {
            threshold: self.clone(),
            value,
            crossed,
        }
    }
}

impl fmt::Display for Checked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.threshold.metric {
            Metric::Quantile(_) | Metric::MaxMs | Metric::MeanMs => " ms",
            Metric::ErrorRate => " %",
            Metric::Rps => " req/s",
            Metric::Errors | Metric::Unfinished | Metric::Backlog => "",
        };
        write!(
            f,
            "--fail-if {}: {}{unit}{}",
            self.threshold.text,
            (self.value * 1000.0).round() / 1000.0,
            if self.crossed { ", crossed" } else { ", held" }
        )
    }
}

fn number(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| format!("{text:?} is not a number"))
}

/// A number, as [`number`] reads it (`1e3` too), then a unit of us, ms or
/// s; ms when bare.
fn milliseconds(text: &str) -> Result<f64, String> {
    let units = [("us", 0.001), ("µs", 0.001), ("ms", 1.0), ("s", 1000.0)];
    let (n, scale) = units
        .iter()
        .find_map(|&(unit, scale)| text.strip_suffix(unit).map(|n| (n, scale)))
        .unwrap_or((text, 1.0));
    match number(n) {
        Ok(n) => Ok(n * scale),
        Err(_) if n.ends_with(|c: char| c.is_ascii_alphabetic()) => {
            let split = n.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(0);
            Err(format!(
                "unknown unit {:?}; use us, ms or s",
                &text[split..]
            ))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::FailureKind;
    use std::time::Duration;

    fn report() -> Report {
        let mut r = Report::empty();
        for us in [1_000, 2_000, 30_000] {
            r.latency.record(us).unwrap();
        }
        r.attempts = 4;
        r.responses = 3;
        r.failures.insert(FailureKind::Reset, 1);
        r.elapsed = Duration::from_secs(1);
        r
    }

    #[test]
    fn parses_and_checks() {
        let r = report();
        let crossed = |t: &str| Threshold::parse(t).unwrap().check(&r).crossed;
        assert!(crossed("p99>20ms"));
        assert!(!crossed("p50 > 20ms"));
        assert!(crossed("p99.9>0.02s"));
        assert!(crossed("max>=30ms"));
        assert!(crossed("errors>0"));
        assert!(!crossed("errors>1"));
        assert!(crossed("error_rate>20%"));
        assert!(crossed("rps<10"));
        assert!(!crossed("p50>2500us"));
        assert!(!crossed("unfinished>0") && !crossed("backlog>0"));
        // An exponent reads the same for latency as for a count.
        assert!(crossed("p99>1e1") && !crossed("p99>4e1ms"));
        assert!(crossed("rps<1e1"));
        let mut late = report();
        late.unfinished = 2;
        late.schedule = Some(crate::client::Schedule {
            backlog_at_end: 5,
            ..Default::default()
        });
        let crossed = |t: &str| Threshold::parse(t).unwrap().check(&late).crossed;
        assert!(crossed("unfinished>0") && crossed("backlog>=5") && !crossed("backlog>5"));
        for bad in [
            "p99",
            "p99>",
            "p99>20m",
            "x>1",
            "p0>1ms",
            "p101>1ms",
            "errors>-1",
        ] {
            assert!(Threshold::parse(bad).is_err(), "{bad}");
        }
        let shown = Threshold::parse("p99>20ms").unwrap().check(&r).to_string();
        assert!(shown.starts_with("--fail-if p99>20ms: 30"), "{shown}");
        assert!(shown.ends_with("ms, crossed"), "{shown}");
    }
}
