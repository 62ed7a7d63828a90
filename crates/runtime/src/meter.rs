//! Pay-per-use metering for local models: compute units from a request's tokens and the model's
//! rates (in the spirit of Workers AI's neurons), and their USD equivalent.

/// A model's rates: units per 1,000 input and output tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub units_per_1k_input: f64,
    pub units_per_1k_output: f64,
}

impl Rate {
    /// Units charged for `input` and `output` tokens.
    pub fn units(&self, input: u64, output: u64) -> f64 {
        (input as f64 * self.units_per_1k_input + output as f64 * self.units_per_1k_output) / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_scale_with_tokens() {
        let r = Rate {
            units_per_1k_input: 10.0,
            units_per_1k_output: 50.0,
        };
        assert!((r.units(1000, 200) - 20.0).abs() < 1e-9);
        assert_eq!(r.units(0, 0), 0.0);
    }
}
