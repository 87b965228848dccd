//! EPCIS 2.0 sensor data (`sensorElementList`), so IoT readings can arrive
//! as standard events, and their translation into cold-chain readings.

use serde_json::Number;

use crate::time::Timestamp;

use super::event::Extra;

/// One `sensorElementList` entry: who measured, when, and the reports.
#[derive(Clone, Debug, PartialEq)]
pub struct SensorElement {
    pub metadata: Option<SensorMetadata>,
    pub reports: Vec<SensorReport>,
    pub extra: Extra,
}

/// `sensorMetadata`: the device and the time of the measurements.
#[derive(Clone, Debug, PartialEq)]
pub struct SensorMetadata {
    pub time: Option<Timestamp>,
    pub device_id: Option<String>,
    pub extra: Extra,
}

/// One `sensorReport`: a measurement type (`gs1:Temperature`,
/// `Temperature`, `gs1:RelativeHumidity`, …), value and UN/CEFACT unit.
#[derive(Clone, Debug, PartialEq)]
pub struct SensorReport {
    pub kind: Option<String>,
    pub value: Option<Number>,
    pub uom: Option<String>,
    pub time: Option<Timestamp>,
    pub device_id: Option<String>,
    pub extra: Extra,
}

/// What a report measures, as far as storage conditions are concerned.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Measurement {
    Celsius(f64),
    HumidityPct(f64),
}

impl SensorReport {
    /// The report as a temperature in °C or a relative humidity in %, if it
    /// is one. Other measurement types (speed, illuminance, absolute
    /// humidity in g/m³ = `A93`, …) are not storage conditions: `Ok(None)`.
    /// A temperature or relative humidity in a unit that cannot be
    /// converted is an error, because silently ignoring it could hide an
    /// excursion.
    pub fn measurement(&self) -> Result<Option<Measurement>, String> {
        let Some(kind) = self.kind.as_deref() else {
            return Ok(None);
        };
        let name = ["gs1:", "https://gs1.org/voc/", "https://ref.gs1.org/voc/"]
            .iter()
            .find_map(|p| kind.strip_prefix(p))
            .unwrap_or(kind);
        let value = || {
            self.value
                .as_ref()
                .and_then(Number::as_f64)
                .ok_or_else(|| format!("a {name} report needs a numeric value"))
        };
        match name {
            "Temperature" => {
                let v = value()?;
                let celsius = match self.uom.as_deref() {
                    Some("CEL") | None => v,
                    Some("FAH") => (v - 32.0) * 5.0 / 9.0,
                    Some("KEL") => v - 273.15,
                    Some(other) => {
                        return Err(format!("temperature unit {other:?} is not CEL, FAH or KEL"))
                    }
                };
                Ok(Some(Measurement::Celsius(celsius)))
            }
            "RelativeHumidity" => match self.uom.as_deref() {
                Some("P1") | None => Ok(Some(Measurement::HumidityPct(value()?))),
                Some(other) => Err(format!(
                    "relative humidity unit {other:?} is not P1 (percent)"
                )),
            },
            _ => Ok(None),
        }
    }
}
