#![allow(missing_docs)]
//! Scenario registry and the one-line report format.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// What a scenario returns: its report lines, or why it could not run.
pub type Outcome = Result<Vec<Measured>, String>;

/// A named scenario.
pub struct Scenario {
    /// Name, e.g. `ingest_memory` or `route_scaling` (a scenario may report
    /// several lines, e.g. `route_scaling/first_come`).
    pub name: &'static str,
    /// Runs it.
    pub run: fn() -> Pin<Box<dyn Future<Output = Outcome>>>,
}

/// One measured line: ours and the baseline, in the same unit.
pub struct Measured {
    /// Scenario line name.
    pub name: String,
    /// Our figure.
    pub ours: f64,
    /// The baseline figure.
    pub baseline: f64,
    /// Unit, e.g. `msg/s` or `us`.
    pub unit: &'static str,
    /// How the ratio is formed: for throughputs ours/baseline; for
    /// scaling figures the scenario sets it directly.
    pub ratio: f64,
}

impl Measured {
    /// A throughput line: ratio = ours / baseline (higher is better).
    pub fn throughput(
        name: impl Into<String>,
        ours: f64,
        baseline: f64,
        unit: &'static str,
    ) -> Self {
        let ratio = if baseline > 0.0 { ours / baseline } else { 0.0 };
        Self {
            name: name.into(),
            ours,
            baseline,
            unit,
            ratio,
        }
    }

    /// A scaling line: ratio = ours / baseline where both are costs (lower
    /// is better), e.g. time at 10,000 operators / time at 10.
    pub fn scaling(name: impl Into<String>, ours: f64, baseline: f64, unit: &'static str) -> Self {
        let ratio = if baseline > 0.0 { ours / baseline } else { 0.0 };
        Self {
            name: name.into(),
            ours,
            baseline,
            unit,
            ratio,
        }
    }
}

impl Measured {
    /// A count whose goal is zero (e.g. messages stuck): the baseline is
    /// that goal and the ratio is the count itself (0 is on target).
    pub fn count(name: impl Into<String>, ours: f64, unit: &'static str) -> Self {
        Self {
            name: name.into(),
            ours,
            baseline: 0.0,
            unit,
            ratio: ours,
        }
    }
}

impl fmt::Display for Measured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ours={:.1} {} baseline={:.1} {} ratio={:.3}",
            self.name, self.ours, self.unit, self.baseline, self.unit, self.ratio
        )
    }
}

/// The middle of `values` (the upper middle of an even count); `NaN` for
/// none.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}
