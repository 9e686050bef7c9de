//! The deterministic normalizer (no model, no guessing: the same input always gives the same
//! task): a versioned rules file, embedded in the binary and
//! validated at start-up, turns raw input into an intent, operations and a risk.
//!
//! Only inputs of at most [`MAX_RULE_INPUT_BYTES`] bytes made of ASCII letters, digits, spaces,
//! `_`, `.` and `-` are compared with the rules at all. Anything else — shell metacharacters,
//! command chaining, control characters, newlines, non-ASCII look-alikes — falls through to the
//! fallback, whose risk is always high.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::LazyLock;

use domain::control_plane::{Operation, Risk, StructuredOverride, UNKNOWN_INTENT};
use regex::Regex;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::GatewayStartupError;

/// The rules file in force, `gateway/rules/v1.yaml`.
pub const RULES_V1: &str = include_str!("../rules/v1.yaml");
/// Longer inputs are never matched against a rule.
pub const MAX_RULE_INPUT_BYTES: usize = 256;
/// The `rule_id` of an input no rule recognised.
pub const FALLBACK_RULE_ID: &str = "fallback";
/// The most operations a structured override may hold.
pub const MAX_OVERRIDE_OPERATIONS: usize = 8;
/// The most arguments one operation may hold.
pub const MAX_OPERATION_ARGS: usize = 16;

/// Characters a shell gives meaning to; named in the risk reason when an input holds one.
const SHELL_METACHARACTERS: &str = ";&|$`<>()\\'\"*?![]{}~#";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    version: u32,
    param_pattern: String,
    rules: Vec<RuleSpec>,
    fallback: FallbackSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    id: String,
    pattern: String,
    intent: String,
    tool: String,
    risk: Risk,
    risk_reason: String,
    #[serde(default)]
    args: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FallbackSpec {
    intent: String,
    tool: String,
    risk: Risk,
    requires_structured_override: bool,
    risk_reason: String,
}

#[derive(Debug, Clone)]
enum ArgTemplate {
    Literal(String),
    /// The word matched by the n-th `(a|b)` group, counted from 1.
    Alternative(usize),
    Param(String),
}

#[derive(Debug)]
struct Rule {
    id: String,
    intent: String,
    tool: String,
    risk: Risk,
    risk_reason: String,
    regex: Regex,
    params: Vec<String>,
    args: Vec<(String, ArgTemplate)>,
}

/// What an input was normalized into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    pub intent: String,
    pub operations: Vec<Operation>,
    pub risk: Risk,
    pub rule_id: String,
    pub risk_reason: String,
    pub requires_structured_override: bool,
}

/// The compiled, validated rules.
#[derive(Debug)]
pub struct RuleSet {
    version: String,
    digest: String,
    param_pattern: Regex,
    rules: Vec<Rule>,
    fallback: FallbackSpec,
    tools_by_intent: HashMap<String, BTreeSet<String>>,
}

/// Rule ids, intents, tools, parameter and argument names.
static IDENTIFIER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^[a-z][a-z0-9_]{0,63}$").unwrap_or_else(|_| unreachable!("a constant pattern")));
/// A literal word of a rule's pattern, or one of its alternatives.
static WORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^[a-z0-9_.-]+$").unwrap_or_else(|_| unreachable!("a constant pattern")));

impl RuleSet {
    /// The rules file shipped with the gateway.
    pub fn builtin() -> Result<Self, GatewayStartupError> {
        Self::parse(RULES_V1)
    }

    /// Parses and validates a rules file; any problem is an error naming the rule.
    pub fn parse(text: &str) -> Result<Self, GatewayStartupError> {
        let invalid = GatewayStartupError::InvalidRules;
        let file: RulesFile = serde_yaml_ng::from_str(text).map_err(|e| invalid(e.to_string()))?;

        if file.version == 0 {
            return Err(invalid("version must be 1 or more".to_owned()));
        }
        if !(file.param_pattern.starts_with('^') && file.param_pattern.ends_with('$')) {
            return Err(invalid("param_pattern must be anchored with ^ and $".to_owned()));
        }
        let param_pattern =
            Regex::new(&file.param_pattern).map_err(|e| invalid(format!("param_pattern does not compile: {e}")))?;
        if file.rules.is_empty() {
            return Err(invalid("there must be at least one rule".to_owned()));
        }

        let fallback = file.fallback;
        if fallback.intent != UNKNOWN_INTENT || fallback.tool.is_empty() {
            return Err(invalid(format!("the fallback's intent must be {UNKNOWN_INTENT:?} with a tool")));
        }
        if fallback.risk != Risk::High || !fallback.requires_structured_override {
            return Err(invalid("the fallback must be high risk and require a structured override".to_owned()));
        }
        if fallback.risk_reason.trim().is_empty() {
            return Err(invalid("the fallback needs a risk_reason".to_owned()));
        }

        let mut ids = BTreeSet::new();
        let mut rules = Vec::with_capacity(file.rules.len());
        let mut tools_by_intent: HashMap<String, BTreeSet<String>> = HashMap::new();
        for spec in file.rules {
            let rule = compile_rule(spec, &param_pattern)?;
            if rule.intent == UNKNOWN_INTENT {
                return Err(invalid(format!("rule {}: the intent {UNKNOWN_INTENT:?} is the fallback's", rule.id)));
            }
            if !ids.insert(rule.id.clone()) || rule.id == FALLBACK_RULE_ID {
                return Err(invalid(format!("rule id {} is used twice", rule.id)));
            }
            tools_by_intent.entry(rule.intent.clone()).or_default().insert(rule.tool.clone());
            rules.push(rule);
        }

        let digest = hex::encode(Sha256::digest(text.as_bytes()));
        Ok(RuleSet { version: format!("v{}", file.version), digest, param_pattern, rules, fallback, tools_by_intent })
    }

    /// The rules file's version, e.g. `v1`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The SHA-256 of the rules file's text, so a preview is bound to the exact rules that made it.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The intents a structured override may name.
    pub fn known_intents(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|rule| rule.intent.as_str())
    }

    /// Turns raw input into a task. Deterministic: the same input always gives the same result.
    pub fn normalize(&self, raw_input: &str) -> Normalized {
        let normalized = match screen(raw_input) {
            Ok(normalized) => normalized,
            Err(reason) => return self.fallback(Some(reason)),
        };
        for rule in &self.rules {
            let Some(captures) = rule.regex.captures(&normalized) else {
                continue;
            };
            for param in &rule.params {
                let value = captures.name(&param_group(param)).map_or("", |m| m.as_str());
                if !self.param_pattern.is_match(value) {
                    return self.fallback(Some(format!(
                        "the value {value:?} of {{{param}}} in rule {} is not allowed",
                        rule.id
                    )));
                }
            }
            let args = rule
                .args
                .iter()
                .map(|(name, template)| {
                    let value = match template {
                        ArgTemplate::Literal(text) => text.clone(),
                        ArgTemplate::Alternative(n) => {
                            captures.name(&alternative_group(*n)).map_or("", |m| m.as_str()).to_owned()
                        }
                        ArgTemplate::Param(param) => {
                            captures.name(&param_group(param)).map_or("", |m| m.as_str()).to_owned()
                        }
                    };
                    (name.clone(), value)
                })
                .collect();
            return Normalized {
                intent: rule.intent.clone(),
                operations: vec![Operation { tool: rule.tool.clone(), args }],
                risk: rule.risk,
                rule_id: rule.id.clone(),
                risk_reason: rule.risk_reason.clone(),
                requires_structured_override: false,
            };
        }
        self.fallback(None)
    }

    fn fallback(&self, screening_problem: Option<String>) -> Normalized {
        let risk_reason = match screening_problem {
            Some(problem) => format!("{}: {problem}", self.fallback.risk_reason),
            None => self.fallback.risk_reason.clone(),
        };
        Normalized {
            intent: self.fallback.intent.clone(),
            operations: vec![Operation { tool: self.fallback.tool.clone(), args: BTreeMap::new() }],
            risk: self.fallback.risk,
            rule_id: FALLBACK_RULE_ID.to_owned(),
            risk_reason,
            requires_structured_override: self.fallback.requires_structured_override,
        }
    }

    /// Checks a task against the task schema before it is written: a known intent (never
    /// `unknown`), one to eight operations, each with a tool of that intent and arguments whose
    /// names are identifiers and whose values match the parameter allowlist.
    pub fn validate_task(&self, intent: &str, operations: &[Operation]) -> Result<(), String> {
        if intent == UNKNOWN_INTENT {
            return Err(
                "the input was not recognised; confirm it with a structured_override naming a known intent".to_owned()
            );
        }
        let Some(tools) = self.tools_by_intent.get(intent) else {
            let known: BTreeSet<&str> = self.known_intents().collect();
            return Err(format!("intent {intent:?} is not one of {known:?}"));
        };
        if operations.is_empty() || operations.len() > MAX_OVERRIDE_OPERATIONS {
            return Err(format!("a task needs 1 to {MAX_OVERRIDE_OPERATIONS} operations (got {})", operations.len()));
        }
        for (index, operation) in operations.iter().enumerate() {
            if !tools.contains(&operation.tool) {
                return Err(format!(
                    "operations[{index}].tool {:?} is not a tool of intent {intent:?} (expected one of {tools:?})",
                    operation.tool
                ));
            }
            if operation.args.len() > MAX_OPERATION_ARGS {
                return Err(format!("operations[{index}] has more than {MAX_OPERATION_ARGS} args"));
            }
            for (name, value) in &operation.args {
                if !IDENTIFIER.is_match(name) {
                    return Err(format!("operations[{index}].args: {name:?} is not a valid argument name"));
                }
                if !self.param_pattern.is_match(value) {
                    return Err(format!(
                        "operations[{index}].args.{name}: {value:?} does not match {}",
                        self.param_pattern.as_str()
                    ));
                }
            }
        }
        Ok(())
    }

    /// Checks a structured override against the task schema.
    pub fn validate_override(&self, structured_override: &StructuredOverride) -> Result<(), String> {
        self.validate_task(&structured_override.intent, &structured_override.operations)
    }
}

/// Returns the input lower-cased with runs of spaces collapsed, or why no rule may match it.
fn screen(raw_input: &str) -> Result<String, String> {
    if raw_input.len() > MAX_RULE_INPUT_BYTES {
        return Err(format!("the input is longer than {MAX_RULE_INPUT_BYTES} bytes"));
    }
    for c in raw_input.chars() {
        if !c.is_ascii() {
            return Err(format!("the input contains the non-ASCII character U+{:04X}", u32::from(c)));
        }
        if c.is_ascii_control() {
            return Err(format!("the input contains the control character U+{:04X}", u32::from(c)));
        }
        if SHELL_METACHARACTERS.contains(c) {
            return Err(format!("the input contains the shell metacharacter {c:?}"));
        }
        if !(c.is_ascii_alphanumeric() || matches!(c, ' ' | '_' | '.' | '-')) {
            return Err(format!("the input contains {c:?}, which no rule accepts"));
        }
    }
    Ok(raw_input.split(' ').filter(|word| !word.is_empty()).collect::<Vec<_>>().join(" ").to_ascii_lowercase())
}

fn param_group(name: &str) -> String {
    format!("p_{name}")
}

fn alternative_group(n: usize) -> String {
    format!("a{n}")
}

fn compile_rule(spec: RuleSpec, param_pattern: &Regex) -> Result<Rule, GatewayStartupError> {
    let id = spec.id.clone();
    let invalid = |problem: String| GatewayStartupError::InvalidRules(format!("rule {id}: {problem}"));

    if !IDENTIFIER.is_match(&spec.id) {
        return Err(invalid("the id must be a lower-case identifier".to_owned()));
    }
    for (field, value) in [("intent", &spec.intent), ("tool", &spec.tool)] {
        if !IDENTIFIER.is_match(value) {
            return Err(invalid(format!("{field} {value:?} must be a lower-case identifier")));
        }
    }
    if spec.risk_reason.trim().is_empty() {
        return Err(invalid("risk_reason must not be empty".to_owned()));
    }

    let mut regex = String::from("^");
    let mut params = Vec::new();
    let mut alternatives = 0usize;
    for (index, token) in spec.pattern.split(' ').enumerate() {
        if index > 0 {
            regex.push(' ');
        }
        if let Some(inner) = token.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
            let options: Vec<&str> = inner.split('|').collect();
            if options.iter().any(|option| !WORD.is_match(option)) {
                return Err(invalid(format!("alternative {token:?} must list lower-case words")));
            }
            alternatives += 1;
            let escaped: Vec<String> = options.iter().map(|option| regex::escape(option)).collect();
            regex.push_str(&format!("(?P<{}>{})", alternative_group(alternatives), escaped.join("|")));
        } else if let Some(name) = token.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            if !IDENTIFIER.is_match(name) || params.iter().any(|p| p == name) {
                return Err(invalid(format!("parameter {token:?} must be a unique lower-case identifier")));
            }
            params.push(name.to_owned());
            regex.push_str(&format!("(?P<{}>[a-z0-9_.-]+)", param_group(name)));
        } else if WORD.is_match(token) {
            regex.push_str(&regex::escape(token));
        } else {
            return Err(invalid(format!(
                "pattern {:?}: {token:?} is not a lower-case word, (a|b) or {{name}}",
                spec.pattern
            )));
        }
    }
    regex.push('$');
    let regex = Regex::new(&regex).map_err(|e| invalid(format!("pattern does not compile: {e}")))?;

    let mut args = Vec::with_capacity(spec.args.len());
    if spec.args.len() > MAX_OPERATION_ARGS {
        return Err(invalid(format!("at most {MAX_OPERATION_ARGS} args")));
    }
    for (name, value) in spec.args {
        if !IDENTIFIER.is_match(&name) {
            return Err(invalid(format!("arg name {name:?} must be a lower-case identifier")));
        }
        let template = match value.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            Some(reference) => match reference.parse::<usize>() {
                Ok(n) if (1..=alternatives).contains(&n) => ArgTemplate::Alternative(n),
                Ok(_) => return Err(invalid(format!("arg {name}: {value:?} names no alternative"))),
                Err(_) if params.iter().any(|p| p == reference) => ArgTemplate::Param(reference.to_owned()),
                Err(_) => return Err(invalid(format!("arg {name}: {value:?} names no parameter"))),
            },
            None if param_pattern.is_match(&value) => ArgTemplate::Literal(value),
            None => return Err(invalid(format!("arg {name}: {value:?} does not match param_pattern"))),
        };
        args.push((name, template));
    }

    Ok(Rule {
        id: spec.id,
        intent: spec.intent,
        tool: spec.tool,
        risk: spec.risk,
        risk_reason: spec.risk_reason,
        regex,
        params,
        args,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> RuleSet {
        RuleSet::builtin().expect("the shipped rules are valid")
    }

    fn args(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_four_spec_patterns_match() {
        let rules = rules();
        let status = rules.normalize("liam check status");
        assert_eq!(
            (status.intent.as_str(), status.risk, status.rule_id.as_str()),
            ("status_check", Risk::Low, "liam_status")
        );
        assert_eq!(
            status.operations,
            vec![Operation { tool: "status_reader".into(), args: args(&[("agent", "liam")]) }]
        );
        assert_eq!(rules.normalize("liam show status").intent, "status_check");

        let session = rules.normalize("liam session begin");
        assert_eq!((session.intent.as_str(), session.risk), ("session_start", Risk::Low));
        assert_eq!(session.operations[0].tool, "session_manager");

        let run = rules.normalize("lisa execute backup_db");
        assert_eq!((run.intent.as_str(), run.risk), ("task_execution", Risk::High));
        assert_eq!(
            run.operations[0],
            Operation { tool: "task_runner".into(), args: args(&[("agent", "lisa"), ("task", "backup_db")]) }
        );

        let list = rules.normalize("show pending");
        assert_eq!((list.intent.as_str(), list.risk), ("task_list", Risk::Low));
        assert_eq!(list.operations[0].args, args(&[("view", "pending")]));
        assert!(!list.requires_structured_override);
        assert!(!list.risk_reason.is_empty());
    }

    #[test]
    fn matching_is_case_insensitive_and_whitespace_normalized_but_anchored() {
        let rules = rules();
        assert_eq!(rules.normalize("  LIAM   Check  STATUS ").rule_id, "liam_status");
        assert_eq!(rules.normalize("Lisa Run Backup_DB").operations[0].args["task"], "backup_db");
        for partial in
            ["liam check status now", "please liam check status", "liam check", "show tasks tasks", "lisa run"]
        {
            assert_eq!(rules.normalize(partial).rule_id, FALLBACK_RULE_ID, "{partial}");
        }
    }

    #[test]
    fn the_fallback_is_unknown_high_risk_and_needs_an_override() {
        let fallback = rules().normalize("make me a sandwich");
        assert_eq!(fallback.intent, "unknown");
        assert_eq!(fallback.operations, vec![Operation { tool: "unknown".into(), args: BTreeMap::new() }]);
        assert_eq!(fallback.risk, Risk::High);
        assert!(fallback.requires_structured_override);
        assert_eq!(fallback.rule_id, "fallback");
    }

    #[test]
    fn parameters_outside_the_allowlist_fall_back() {
        let rules = rules();
        for bad in ["lisa run -rf", "lisa run .hidden", "lisa run ../etc", &format!("lisa run {}", "a".repeat(65))] {
            let normalized = rules.normalize(bad);
            assert_eq!(normalized.rule_id, FALLBACK_RULE_ID, "{bad}");
            assert_eq!(normalized.risk, Risk::High);
        }
        assert_eq!(rules.normalize(&format!("lisa run {}", "a".repeat(64))).rule_id, "lisa_run");
    }

    #[test]
    fn unsafe_input_names_its_problem() {
        let rules = rules();
        assert!(rules.normalize("liam check status; rm -rf /").risk_reason.contains("';'"));
        assert!(rules.normalize("liam check status\n").risk_reason.contains("U+000A"));
        assert!(rules.normalize("liam check stаtus").risk_reason.contains("U+0430"));
    }

    #[test]
    fn task_schema_rejects_unknown_intents_tools_and_bad_args() {
        let rules = rules();
        let op = |tool: &str, pairs: &[(&str, &str)]| Operation { tool: tool.into(), args: args(pairs) };
        assert!(rules.validate_task("status_check", &[op("status_reader", &[("agent", "liam")])]).is_ok());
        assert!(rules.validate_task("unknown", &[op("unknown", &[])]).is_err());
        assert!(rules.validate_task("format_disk", &[op("status_reader", &[])]).is_err());
        assert!(rules.validate_task("status_check", &[]).is_err());
        assert!(rules.validate_task("status_check", &[op("task_runner", &[])]).is_err());
        assert!(rules.validate_task("task_execution", &[op("task_runner", &[("task", "x; rm")])]).is_err());
        assert!(rules.validate_task("task_execution", &[op("task_runner", &[("Bad Name", "x")])]).is_err());
        let many = vec![op("inbox_reader", &[]); MAX_OVERRIDE_OPERATIONS + 1];
        assert!(rules.validate_task("task_list", &many).is_err());
    }

    #[test]
    fn invalid_rules_files_are_refused() {
        let good = RULES_V1;
        let cases = [
            ("not yaml", "rules: [".to_owned()),
            ("unknown field", good.replace("version: 1", "version: 1\nextra: true")),
            ("unanchored", good.replace("'^[a-z0-9_][a-z0-9_.-]{0,63}$'", "'[a-z]+'")),
            ("bad regex", good.replace("'^[a-z0-9_][a-z0-9_.-]{0,63}$'", "'^[a-z$'")),
            ("duplicate id", good.replace("id: liam_session", "id: liam_status")),
            ("metacharacter in pattern", good.replace("liam (check|show) status", "liam (check|show) status;")),
            ("unknown reference", good.replace("task: \"{task}\"", "task: \"{job}\"")),
            ("missing alternative", good.replace("view: \"{1}\"", "view: \"{2}\"")),
            (
                "low fallback",
                good.replace(
                    "  risk: high\n  requires_structured_override",
                    "  risk: low\n  requires_structured_override",
                ),
            ),
            ("bad risk", good.replace("risk: low", "risk: medium")),
            ("unknown intent rule", good.replace("intent: task_list", "intent: unknown")),
        ];
        for (name, text) in cases {
            assert_ne!(text, good, "{name}: the case must change the file");
            assert!(matches!(RuleSet::parse(&text), Err(GatewayStartupError::InvalidRules(_))), "{name}");
        }
        let rules = rules();
        assert_eq!(rules.version(), "v1");
        assert_eq!(rules.digest().len(), 64);
    }
}
