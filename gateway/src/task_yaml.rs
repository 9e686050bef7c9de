//! Task files as YAML that every reader takes the same way. Execution planes often read YAML 1.1
//! (PyYAML), where a bare `on`, `no`, `yes`, `1_000`, `null` or `2026-01-01` is not a string, so
//! every string here is written double-quoted, with JSON's escapes, which both YAML 1.1 and 1.2
//! read as the same text. Only booleans and numbers stay bare.

use serde::Serialize;
use serde_json::Value;

/// The YAML document for `value`, a mapping at the top.
pub fn to_yaml<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    let value = serde_json::to_value(value)?;
    let mut out = String::new();
    match &value {
        Value::Object(map) if !map.is_empty() => write_mapping(&mut out, map, 0),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    Ok(out)
}

fn scalar(value: &Value) -> String {
    match value {
        // A JSON string literal is a valid YAML double-quoted scalar with the same content.
        Value::String(text) => Value::String(text.clone()).to_string(),
        Value::Null => "null".to_owned(),
        Value::Bool(_) | Value::Number(_) => value.to_string(),
        Value::Array(items) if items.is_empty() => "[]".to_owned(),
        Value::Object(map) if map.is_empty() => "{}".to_owned(),
        // Collections are written as blocks by the callers.
        Value::Array(_) | Value::Object(_) => unreachable!("collections are written as blocks"),
    }
}

fn is_block(value: &Value) -> bool {
    matches!(value, Value::Array(items) if !items.is_empty()) || matches!(value, Value::Object(map) if !map.is_empty())
}

fn write_mapping(out: &mut String, map: &serde_json::Map<String, Value>, indent: usize) {
    for (key, value) in map {
        out.push_str(&" ".repeat(indent));
        out.push_str(&Value::String(key.clone()).to_string());
        out.push(':');
        write_value(out, value, indent);
    }
}

fn write_value(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            write_mapping(out, map, indent + 2);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            for item in items {
                out.push_str(&" ".repeat(indent + 2));
                out.push('-');
                match item {
                    Value::Object(map) if !map.is_empty() => {
                        // The first key sits after the dash; the rest line up under it.
                        let mut first = true;
                        for (key, inner) in map {
                            if first {
                                out.push(' ');
                                first = false;
                            } else {
                                out.push_str(&" ".repeat(indent + 4));
                            }
                            out.push_str(&Value::String(key.clone()).to_string());
                            out.push(':');
                            write_value(out, inner, indent + 4);
                        }
                    }
                    nested if is_block(nested) => write_value(out, nested, indent + 2),
                    other => {
                        out.push(' ');
                        out.push_str(&scalar(other));
                        out.push('\n');
                    }
                }
            }
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_string_is_quoted_and_reads_back_the_same() {
        let value = json!({
            "task_id": "task_1",
            "words": ["on", "no", "yes", "1_000", "null", "~", "2026-01-01", "- x", "a: b", "# c", "'q'", "\"dq\"", "é\u{202e}\u{200b}"],
            "operations": [{"tool": "task_runner", "args": {"task": "on", "n": "1_000"}}, {"tool": "t2", "args": {}}],
            "empty": [],
            "flag": false,
            "count": 3,
            "nested": {"inner": {"deep": "true"}},
        });
        let yaml = to_yaml(&value).unwrap();
        assert!(yaml.contains("\"on\""), "{yaml}");
        assert!(!yaml.lines().any(|line| line.trim_end().ends_with(": on") || line.trim() == "- on"), "{yaml}");
        let read: Value = serde_yaml_ng::from_str(&yaml).unwrap();
        assert_eq!(read, value, "{yaml}");
    }
}
