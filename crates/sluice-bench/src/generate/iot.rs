//! Trucks for the `iot` data set: `readings` and `diagnostics` per truck per step, with
//! fields that go missing and lines that arrive several steps late, as TSBS's IoT use case
//! simulates flaky devices.

use super::lp::LineBuf;
use super::{FieldSpec, Format, MeasurementSim, Simulation};
use crate::rng::Rng;

const FLEETS: &[&str] = &["East", "West", "North", "South"];
const DRIVERS: &[&str] = &["Derek", "Rodney", "Albert", "Andy", "Seth", "Trish"];
const DEVICE_VERSIONS: &[&str] = &["v1.0", "v1.5", "v2.0", "v2.3"];
/// (model, load capacity, fuel capacity, nominal fuel consumption)
const MODELS: &[(&str, u32, u32, u32)] = &[
    ("F-150", 2000, 200, 15),
    ("G-2000", 5000, 300, 19),
    ("H-2", 1500, 150, 12),
];

const READINGS_FIELDS: &[FieldSpec] = &[
    FieldSpec::clamped("latitude", 0.01, -90.0, 90.0, Format::Float(5)),
    FieldSpec::clamped("longitude", 0.01, -180.0, 180.0, Format::Float(5)),
    FieldSpec::clamped("elevation", 5.0, 0.0, 5000.0, Format::Float(1)),
    FieldSpec::clamped("velocity", 2.0, 0.0, 100.0, Format::Float(1)),
    FieldSpec::clamped("heading", 5.0, 0.0, 360.0, Format::Float(1)),
    FieldSpec::clamped("grade", 1.0, 0.0, 100.0, Format::Float(1)),
    FieldSpec::clamped("fuel_consumption", 1.0, 0.0, 50.0, Format::Float(2)),
];

const DIAGNOSTICS_FIELDS: &[FieldSpec] = &[
    FieldSpec::clamped("fuel_state", 0.01, 0.0, 1.0, Format::Float(3)),
    FieldSpec::clamped("current_load", 50.0, 0.0, 5000.0, Format::Float(1)),
    FieldSpec::clamped("status", 0.5, 0.0, 5.0, Format::Int),
];

/// Chance that a field is missing from a line.
const MISSING_FIELD_CHANCE: f64 = 0.02;
/// Chance that a line is held back and sent late.
const LATE_LINE_CHANCE: f64 = 0.05;
/// A late line arrives after 1 to this many further steps.
const MAX_LATE_STEPS: u64 = 6;

/// Every truck's two measurements and the lines held back to be sent late.
#[derive(Debug)]
pub(crate) struct Trucks {
    measurements: Vec<MeasurementSim>,
    step: u64,
    /// (step after which to send, the rendered line)
    late: Vec<(u64, Vec<u8>)>,
    late_values: Vec<u64>,
    scratch: LineBuf,
    keep: Vec<bool>,
}

impl Trucks {
    pub(crate) fn new(count: u64, rng: &mut Rng) -> Self {
        let mut measurements = Vec::new();
        for id in 0..count {
            let fleet = *rng.choose(FLEETS);
            let driver = *rng.choose(DRIVERS);
            let (model, load, fuel, consumption) = *rng.choose(MODELS);
            let version = *rng.choose(DEVICE_VERSIONS);
            let tags = format!(
                "name=truck_{id},fleet={fleet},driver={driver},model={model},\
                 device_version={version},load_capacity={load},fuel_capacity={fuel},\
                 nominal_fuel_consumption={consumption}"
            );
            measurements.push(MeasurementSim::new(
                format!("readings,{tags}"),
                READINGS_FIELDS,
                rng,
            ));
            measurements.push(MeasurementSim::new(
                format!("diagnostics,{tags}"),
                DIAGNOSTICS_FIELDS,
                rng,
            ));
        }
        Self {
            measurements,
            step: 0,
            late: Vec::new(),
            late_values: Vec::new(),
            scratch: LineBuf::default(),
            keep: Vec::new(),
        }
    }
}

impl Simulation for Trucks {
    fn step(&mut self, timestamp_ns: i64, rng: &mut Rng, out: &mut LineBuf) -> (u64, u64) {
        let (mut lines, mut values) = (0, 0);
        for m in &mut self.measurements {
            self.keep.clear();
            self.keep
                .extend((0..m.field_count()).map(|_| !rng.chance(MISSING_FIELD_CHANCE)));
            if !self.keep.iter().any(|k| *k) {
                // A line needs a field: the device sent at least its first one.
                self.keep[0] = true;
            }
            if rng.chance(LATE_LINE_CHANCE) {
                self.scratch.clear();
                let n = m.write_some(timestamp_ns, &self.keep, &mut self.scratch);
                let due = self.step + 1 + rng.below(MAX_LATE_STEPS);
                self.late.push((due, self.scratch.as_bytes().to_vec()));
                self.late_values.push(n);
            } else {
                values += m.write_some(timestamp_ns, &self.keep, out);
                lines += 1;
            }
            m.tick(rng);
        }
        // Late lines due now go out after this step's lines, so they arrive out of order.
        let mut i = 0;
        while i < self.late.len() {
            if self.late[i].0 <= self.step {
                let (_, line) = self.late.swap_remove(i);
                values += self.late_values.swap_remove(i);
                out.raw(&line);
                lines += 1;
            } else {
                i += 1;
            }
        }
        self.step += 1;
        (lines, values)
    }

    fn finish(&mut self, out: &mut LineBuf) -> (u64, u64) {
        let lines = self.late.len() as u64;
        let values = self.late_values.drain(..).sum();
        for (_, line) in self.late.drain(..) {
            out.raw(&line);
        }
        (lines, values)
    }
}
