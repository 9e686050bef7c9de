//! What generations cost: US dollars per million input and output tokens, by model.

use std::collections::HashMap;

/// Prices of well-known models; `LLM_PRICES` adds to or overrides them.
const BUILT_IN: &[(&str, f64, f64)] = &[
    ("demo", 0.0, 0.0),
    ("gpt-4o", 2.50, 10.00),
    ("gpt-4o-mini", 0.15, 0.60),
    ("gpt-4.1", 2.00, 8.00),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1-nano", 0.10, 0.40),
    ("o4-mini", 1.10, 4.40),
    ("qwen-max", 1.60, 6.40),
    ("qwen-plus", 0.40, 1.20),
    ("qwen-turbo", 0.05, 0.20),
];

#[derive(Debug, Clone)]
pub struct PriceTable {
    per_million: HashMap<String, (f64, f64)>,
}

impl PriceTable {
    /// The built-in table plus overrides written `model=input/output;model=input/output`.
    pub fn with_overrides(overrides: &str) -> Result<Self, String> {
        let mut per_million: HashMap<String, (f64, f64)> =
            BUILT_IN.iter().map(|(model, input, output)| ((*model).to_owned(), (*input, *output))).collect();
        for entry in overrides.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let parsed = entry.split_once('=').and_then(|(model, prices)| {
                let (input, output) = prices.split_once('/')?;
                let input: f64 = input.trim().parse().ok()?;
                let output: f64 = output.trim().parse().ok()?;
                (input >= 0.0 && output >= 0.0 && !model.trim().is_empty())
                    .then(|| (model.trim().to_owned(), (input, output)))
            });
            let Some((model, prices)) = parsed else {
                return Err(format!(
                    "cannot read {entry:?}; expected model=input/output in dollars per million tokens"
                ));
            };
            per_million.insert(model, prices);
        }
        Ok(Self { per_million })
    }

    /// The cost of a generation; the agent's full model string (`azure:gpt-4o`) is looked up
    /// first, then the bare model name. Unknown models cost nothing and return `None`.
    pub fn cost(&self, agent_model: &str, provider_model: &str, input_tokens: i64, output_tokens: i64) -> Option<f64> {
        let (input, output) = self.per_million.get(agent_model).or_else(|| self.per_million.get(provider_model))?;
        Some((input * input_tokens as f64 + output * output_tokens as f64) / 1_000_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_prices_and_overrides() {
        let table = PriceTable::with_overrides("azure:prod-4o=5/15; my-local=0/0").unwrap();
        let cost = table.cost("gpt-4o-mini", "gpt-4o-mini", 1_000_000, 1_000_000).unwrap();
        assert!((cost - 0.75).abs() < 1e-9);
        assert!((table.cost("azure:prod-4o", "prod-4o", 1000, 1000).unwrap() - 0.02).abs() < 1e-9);
        assert_eq!(table.cost("my-local", "my-local", 10, 10), Some(0.0));
        assert_eq!(table.cost("mystery", "mystery", 10, 10), None);
    }

    #[test]
    fn bad_overrides_are_refused() {
        assert!(PriceTable::with_overrides("gpt=1").is_err());
        assert!(PriceTable::with_overrides("gpt=a/b").is_err());
        assert!(PriceTable::with_overrides("gpt=-1/2").is_err());
        assert!(PriceTable::with_overrides(" ; ").is_ok());
    }
}
