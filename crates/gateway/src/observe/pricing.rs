//! The price table: rows shipped in `data/pricing.toml` (each dated, with its source), overridden
//! or extended by `[[pricing]]` in the config. A model without a row has no cost — never a guess.

use std::collections::HashMap;

use serde::Deserialize;
use switchyard_config::PriceRow;

use crate::answer::TokenUsage;

const SHIPPED: &str = include_str!("../../data/pricing.toml");

#[derive(Deserialize)]
struct Shipped {
    price: Vec<PriceRow>,
}

pub struct PriceTable {
    /// Config rows first (they win), then the shipped ones.
    rows: Vec<PriceRow>,
    /// The rows of each provider name or kind, in table order (every logged request is
    /// priced: looking at a few rows, not all of them).
    by_provider: HashMap<String, Vec<usize>, foldhash::fast::RandomState>,
}

impl PriceTable {
    pub fn new(overrides: &[PriceRow]) -> Self {
        let shipped = toml::from_str::<Shipped>(SHIPPED).map_or_else(
            |e| {
                tracing::error!("the shipped price table does not parse: {e}");
                Vec::new()
            },
            |s| s.price,
        );
        let mut rows = overrides.to_vec();
        rows.extend(shipped);
        let mut by_provider: HashMap<String, Vec<usize>, foldhash::fast::RandomState> =
            HashMap::default();
        for (i, row) in rows.iter().enumerate() {
            by_provider.entry(row.provider.clone()).or_default().push(i);
        }
        PriceTable { rows, by_provider }
    }

    /// The row for a model served by `provider` (its configured name) of `kind`: an exact model
    /// before a prefix, the longest prefix first, the provider's name before its kind.
    pub fn find(&self, provider: &str, kind: &str, model: &str) -> Option<&PriceRow> {
        // (strength, row index): the strongest match, the earliest row on a tie
        let mut best: Option<(usize, usize)> = None;
        for (name, by_provider) in [(provider, 2), (kind, 1)] {
            if by_provider == 1 && kind == provider {
                continue;
            }
            let Some(indices) = self.by_provider.get(name) else {
                continue;
            };
            for &i in indices {
                let row = &self.rows[i];
                let strength = match row.model.strip_suffix('*') {
                    None if row.model == model => 10_000,
                    Some(prefix) if model.starts_with(prefix) => prefix.len() * 4,
                    _ => continue,
                } + by_provider;
                if best.is_none_or(|(s, j)| strength > s || (strength == s && i < j)) {
                    best = Some((strength, i));
                }
            }
        }
        best.map(|(_, i)| &self.rows[i])
    }

    /// USD for `usage`, or `None` when the model has no price.
    pub fn cost(&self, provider: &str, kind: &str, model: &str, usage: &TokenUsage) -> Option<f64> {
        let row = self.find(provider, kind, model)?;
        let cached = usage.cached_input.min(usage.input);
        let fresh = usage.input - cached;
        let cached_price = row.cached_input.unwrap_or(row.input);
        // reasoning tokens are part of the output; some models price them apart
        let reasoning = usage.reasoning.min(usage.output);
        let reasoning_price = row.reasoning.unwrap_or(row.output);
        let usd = (fresh as f64 * row.input
            + cached as f64 * cached_price
            + (usage.output - reasoning) as f64 * row.output
            + reasoning as f64 * reasoning_price)
            / 1_000_000.0;
        Some(usd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(input: u64, output: u64, cached: u64) -> TokenUsage {
        TokenUsage {
            input,
            output,
            cached_input: cached,
            reasoning: 0,
        }
    }

    #[test]
    fn the_shipped_table_parses_and_every_row_is_sourced() {
        let t = PriceTable::new(&[]);
        assert!(t.rows.len() >= 15);
        assert!(t
            .rows
            .iter()
            .all(|r| r.source.starts_with("https://") && !r.date.is_empty()));
    }

    #[test]
    fn costs_follow_the_most_specific_row() {
        let t = PriceTable::new(&[]);
        // gpt-4o-mini, not gpt-4o, for a dated mini snapshot
        let c = t.cost(
            "openai",
            "openai",
            "gpt-4o-mini-2024-07-18",
            &usage(1_000_000, 1_000_000, 0),
        );
        assert!((c.unwrap() - 0.75).abs() < 1e-9, "{c:?}");
        // cached input at its own price
        let c = t.cost(
            "my-openai",
            "openai",
            "gpt-4o",
            &usage(1_000_000, 0, 500_000),
        );
        assert!((c.unwrap() - (1.25 + 0.625)).abs() < 1e-9, "{c:?}");
        assert_eq!(
            t.cost("openai", "openai", "mystery-model", &usage(1, 1, 0)),
            None
        );
    }

    #[test]
    fn config_rows_override_by_provider_name() {
        let row = PriceRow {
            provider: "mock-openai".into(),
            model: "gpt-4o-mini".into(),
            input: 1.0,
            output: 2.0,
            cached_input: None,
            reasoning: None,
            per_image: None,
            per_audio_minute: None,
            date: String::new(),
            source: String::new(),
        };
        let t = PriceTable::new(&[row]);
        let c = t.cost(
            "mock-openai",
            "openai",
            "gpt-4o-mini",
            &usage(1_000_000, 1_000_000, 0),
        );
        assert_eq!(c, Some(3.0));
        let other = t.cost(
            "openai",
            "openai",
            "gpt-4o-mini",
            &usage(1_000_000, 1_000_000, 0),
        );
        assert!((other.unwrap() - 0.75).abs() < 1e-9);
    }
}
