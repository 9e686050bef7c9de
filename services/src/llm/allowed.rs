//! `LLM_ALLOWED_MODELS`: the models agents may use, as names with `*` wildcards.

use std::fmt;

/// A list of model-name patterns. `*` stands for any run of characters (none included); every
/// other character stands for itself, case included, since providers tell `GPT-4o` from `gpt-4o`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedModels {
    patterns: Vec<String>,
}

/// OpenAI's models allowed when an OpenAI key is configured and no list is given: the usual
/// ones, not every model the key could reach.
pub const OPENAI_USUAL_MODELS: [&str; 4] = ["gpt-4o-mini", "gpt-4o", "gpt-4.1*", "o4-mini"];

/// Which providers are configured, for the default list.
#[derive(Debug, Clone, Copy, Default)]
pub struct Providers {
    /// An OpenAI-compatible endpoint is configured (`OPENAI_BASE_URL` or `OPENAI_API_KEY`).
    pub openai: bool,
    /// It has a key: someone is billed for it.
    pub openai_key: bool,
    pub azure: bool,
    pub dashscope: bool,
}

impl AllowedModels {
    /// Reads a comma-separated list; blank entries are skipped, but the list may not be empty.
    pub fn parse(list: &str) -> Result<Self, String> {
        let patterns: Vec<String> =
            list.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect();
        if patterns.is_empty() {
            return Err("expected a comma-separated list of model names, `*` as a wildcard".to_owned());
        }
        if let Some(bad) = patterns.iter().find(|p| p.chars().any(char::is_whitespace)) {
            return Err(format!("a model name has no spaces: {bad:?}"));
        }
        Ok(Self { patterns })
    }

    /// The list when none is configured: the demo model, plus what each configured provider is
    /// usually used for. An OpenAI-compatible server without a key (Ollama, llama.cpp, vLLM)
    /// costs nothing per token, so any name may go there; with a key only OpenAI's usual models
    /// do. Azure deployments and Qwen models are allowed by their prefix: Azure deployments are
    /// made one by one by the operator, and Qwen needs its own key.
    pub fn defaults(providers: Providers) -> Self {
        let mut patterns = vec!["demo".to_owned()];
        if providers.openai {
            if providers.openai_key {
                patterns.extend(OPENAI_USUAL_MODELS.iter().map(|m| (*m).to_owned()));
            } else {
                patterns.push("*".to_owned());
            }
        }
        if providers.azure {
            patterns.push("azure:*".to_owned());
        }
        if providers.dashscope {
            patterns.push("qwen:*".to_owned());
        }
        Self { patterns }
    }

    /// Whether `model` (as resolved: `demo`, a bare name, `azure:<deployment>`, `qwen:<model>`)
    /// matches a pattern.
    pub fn allows(&self, model: &str) -> bool {
        self.patterns.iter().any(|pattern| wildcard_match(pattern, model))
    }
}

impl fmt::Display for AllowedModels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.patterns.join(","))
    }
}

/// Matches `text` against `pattern`, whose `*` stands for any run of characters. Greedy with
/// backtracking to the last star, so it runs in time proportional to the lengths' product at worst.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (pattern, text): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut p, mut t) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == '*' {
            last_star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((star, matched)) = last_star {
            // Let the last star take one more character and try again after it.
            p = star + 1;
            t = matched + 1;
            last_star = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_any_run_of_characters() {
        let list = AllowedModels::parse(" demo, gpt-4o-mini ,azure:*,qwen:qwen-*,gpt-4.1*,*-instruct ").unwrap();
        for allowed in
            ["demo", "gpt-4o-mini", "azure:", "azure:my-gpt", "qwen:qwen-plus", "gpt-4.1", "gpt-4.1-nano", "x-instruct"]
        {
            assert!(list.allows(allowed), "{allowed}");
        }
        for refused in ["gpt-4o", "GPT-4o-mini", "qwen:qwq", "demo2", "my-azure:x", "gpt-4o-mini "] {
            assert!(!list.allows(refused), "{refused}");
        }
        assert!(AllowedModels::parse("*").unwrap().allows("anything:at all"));
        assert!(wildcard_match("a*b*c", "aXbYbZc") && !wildcard_match("a*b*c", "aXbYbZ"));
        assert_eq!(list.to_string(), "demo,gpt-4o-mini,azure:*,qwen:qwen-*,gpt-4.1*,*-instruct");
    }

    #[test]
    fn empty_or_spaced_lists_are_refused() {
        assert!(AllowedModels::parse(" , ").is_err());
        assert!(AllowedModels::parse("gpt 4o").is_err());
    }

    #[test]
    fn defaults_follow_the_configured_providers() {
        let list = |providers| AllowedModels::defaults(providers).to_string();
        assert_eq!(list(Providers::default()), "demo");
        assert_eq!(
            list(Providers { openai: true, openai_key: true, ..Providers::default() }),
            "demo,gpt-4o-mini,gpt-4o,gpt-4.1*,o4-mini"
        );
        assert_eq!(list(Providers { openai: true, ..Providers::default() }), "demo,*");
        assert_eq!(list(Providers { azure: true, dashscope: true, ..Providers::default() }), "demo,azure:*,qwen:*");
    }
}
