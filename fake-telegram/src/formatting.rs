//! The `parse_mode` rules of the Bot API: markup in a bot's text is turned into plain text plus
//! entities, and malformed markup is refused, as Telegram does. A bot whose text survives this
//! parser is shown the same way by Telegram; one that does not would get the same
//! `can't parse entities` error in production. The rules and the error texts follow Telegram's
//! own parser for the three modes (`HTML`, `MarkdownV2` and the legacy `Markdown`).

use serde_json::{json, Value};

/// Text as Telegram stores it: markup removed, entities in UTF-16 code units.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Formatted {
    pub text: String,
    pub entities: Vec<Value>,
}

/// Why a text was refused, as the `description` of a 400 answer.
pub(crate) type Refusal = String;

/// Applies `parse_mode` (any case; `None` or empty for plain text), then trims surrounding
/// whitespace as Telegram does.
pub(crate) fn format(text: &str, parse_mode: Option<&str>) -> Result<Formatted, Refusal> {
    let parsed = match parse_mode.map(str::to_ascii_lowercase).as_deref() {
        None | Some("") => Ok(Formatted { text: text.to_owned(), entities: Vec::new() }),
        Some("html") => parse_html(text),
        Some("markdownv2") => parse_markdown_v2(text),
        Some("markdown") => parse_markdown(text),
        Some(_) => return Err("Bad Request: unsupported parse_mode".to_owned()),
    };
    parsed.map(trim).map_err(|reason| format!("Bad Request: can't parse entities: {reason}"))
}

/// Length of a text in UTF-16 code units, the unit of entity offsets.
pub(crate) fn utf16_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// Removes leading and trailing whitespace and moves the entities with the text.
fn trim(formatted: Formatted) -> Formatted {
    let leading = utf16_len(&formatted.text[..formatted.text.len() - formatted.text.trim_start().len()]);
    let text = formatted.text.trim().to_owned();
    let end = utf16_len(&text);
    let entities = formatted
        .entities
        .into_iter()
        .filter_map(|mut entity| {
            let offset = entity["offset"].as_u64()? as usize;
            let length = entity["length"].as_u64()? as usize;
            let start = offset.saturating_sub(leading).min(end);
            let stop = (offset + length).saturating_sub(leading).min(end);
            if stop <= start {
                return None;
            }
            entity["offset"] = json!(start);
            entity["length"] = json!(stop - start);
            Some(entity)
        })
        .collect();
    Formatted { text, entities }
}

/// The text being built and its length in UTF-16 code units.
#[derive(Default)]
struct Output {
    text: String,
    len16: usize,
    entities: Vec<Value>,
}

impl Output {
    fn push(&mut self, c: char) {
        self.text.push(c);
        self.len16 += c.len_utf16();
    }

    /// Adds an entity from `offset` to the current end, unless it would be empty.
    fn entity(&mut self, kind: &str, offset: usize, extra: Option<(&str, String)>) {
        if self.len16 <= offset {
            return;
        }
        let mut entity = json!({"type": kind, "offset": offset, "length": self.len16 - offset});
        if let Some((key, value)) = extra {
            entity[key] = json!(value);
        }
        self.entities.push(entity);
    }

    fn finish(mut self) -> Formatted {
        // Telegram lists entities by position, outer ones first.
        self.entities.sort_by_key(|e| (e["offset"].as_u64(), std::cmp::Reverse(e["length"].as_u64())));
        Formatted { text: self.text, entities: self.entities }
    }
}

/// The URL of a link as Telegram keeps it, or `None` when Telegram would drop the link (and keep
/// its text). Addresses without a scheme get `http://`, as Telegram adds it.
fn link_url(url: &str) -> Option<String> {
    let url = url.trim();
    if url.is_empty() || url.contains(char::is_whitespace) {
        return None;
    }
    let lower = url.to_ascii_lowercase();
    if ["http://", "https://", "tg://", "ton://", "mailto:"].iter().any(|scheme| lower.starts_with(scheme)) {
        return Some(url.to_owned());
    }
    if url.contains("://") || !url.contains('.') {
        return None;
    }
    Some(format!("http://{url}"))
}

fn char_at(text: &str, i: usize) -> Option<char> {
    text.get(i..).and_then(|rest| rest.chars().next())
}

// ---------------------------------------------------------------------------------------------
// HTML

const HTML_TAGS: &[&str] = &[
    "a",
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "tg-emoji",
    "code",
    "pre",
    "blockquote",
];

struct OpenTag {
    name: String,
    argument: String,
    expandable: bool,
    offset: usize,
}

/// Decodes the character reference at the start of `text` (which begins with `&`): the four
/// named ones Telegram knows and numeric ones. Anything else is a plain `&`.
fn html_character(text: &str) -> Option<(char, usize)> {
    let end = text.char_indices().take(12).find(|&(_, c)| c == ';').map(|(i, _)| i)?;
    let name = &text[1..end];
    let c = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        _ => {
            let code = if let Some(hex) = name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                u32::from_str_radix(hex, 16).ok()?
            } else {
                name.strip_prefix('#')?.parse().ok()?
            };
            char::from_u32(code).filter(|&c| c != '\0')?
        }
    };
    Some((c, end + 1))
}

fn decode_html(value: &str) -> String {
    let mut out = String::new();
    let mut i = 0;
    while let Some(c) = char_at(value, i) {
        if c == '&' {
            if let Some((decoded, length)) = html_character(&value[i..]) {
                out.push(decoded);
                i += length;
                continue;
            }
        }
        out.push(c);
        i += c.len_utf8();
    }
    out
}

fn is_html_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn parse_html(text: &str) -> Result<Formatted, Refusal> {
    let bytes = text.as_bytes();
    let mut out = Output::default();
    let mut open: Vec<OpenTag> = Vec::new();
    let mut i = 0;
    while let Some(c) = char_at(text, i) {
        if c == '&' {
            match html_character(&text[i..]) {
                Some((decoded, length)) => {
                    out.push(decoded);
                    i += length;
                }
                None => {
                    out.push('&');
                    i += 1;
                }
            }
            continue;
        }
        if c != '<' {
            out.push(c);
            i += c.len_utf8();
            continue;
        }
        let begin = i;
        i += 1;
        if bytes.get(i) != Some(&b'/') {
            let name_start = i;
            while i < bytes.len() && is_html_name_byte(bytes[i]) {
                i += 1;
            }
            let name = text[name_start..i].to_ascii_lowercase();
            if !HTML_TAGS.contains(&name.as_str()) {
                return Err(format!("Unsupported start tag \"{name}\" at byte offset {begin}"));
            }
            let mut argument = String::new();
            let mut expandable = false;
            loop {
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                match bytes.get(i) {
                    None => return Err(format!("Unclosed start tag at byte offset {begin}")),
                    Some(b'>') => {
                        i += 1;
                        break;
                    }
                    Some(_) => {}
                }
                let attribute_start = i;
                while i < bytes.len() && is_html_name_byte(bytes[i]) {
                    i += 1;
                }
                let attribute = text[attribute_start..i].to_ascii_lowercase();
                if attribute.is_empty() {
                    return Err(format!("Empty attribute name in the tag \"{name}\" at byte offset {begin}"));
                }
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                if bytes.get(i) != Some(&b'=') {
                    if name == "blockquote" && attribute == "expandable" {
                        expandable = true;
                        continue;
                    }
                    return Err(format!(
                        "Expected equal sign in declaration of an attribute of the tag \"{name}\" at byte offset {begin}"
                    ));
                }
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                let value = match bytes.get(i) {
                    None => return Err(format!("Unclosed start tag at byte offset {begin}")),
                    Some(&quote) if quote == b'"' || quote == b'\'' => {
                        let value_start = i + 1;
                        let Some(length) = text[value_start..].find(quote as char) else {
                            return Err(format!("Unclosed start tag at byte offset {begin}"));
                        };
                        i = value_start + length + 1;
                        decode_html(&text[value_start..value_start + length])
                    }
                    Some(_) => {
                        let value_start = i;
                        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                            i += 1;
                        }
                        decode_html(&text[value_start..i])
                    }
                };
                match (name.as_str(), attribute.as_str()) {
                    ("a", "href") | ("span", "class") | ("tg-emoji", "emoji-id") => argument = value,
                    ("code", "class") => {
                        if let Some(language) = value.strip_prefix("language-") {
                            argument = language.to_owned();
                        }
                    }
                    _ => {}
                }
            }
            if name == "span" && argument != "tg-spoiler" {
                return Err(format!("Tag \"span\" must have class \"tg-spoiler\" at byte offset {begin}"));
            }
            open.push(OpenTag { name, argument, expandable, offset: out.len16 });
        } else {
            i += 1;
            if open.is_empty() {
                return Err(format!("Unexpected end tag at byte offset {begin}"));
            }
            let name_start = i;
            while i < bytes.len() && is_html_name_byte(bytes[i]) {
                i += 1;
            }
            let name = text[name_start..i].to_ascii_lowercase();
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if bytes.get(i) != Some(&b'>') {
                return Err(format!("Unclosed end tag at byte offset {begin}"));
            }
            i += 1;
            let tag = open.pop().expect("checked above");
            if tag.name != name {
                return Err(format!(
                    "Unmatched end tag at byte offset {begin}, expected \"</{}>\", found \"</{name}>\"",
                    tag.name
                ));
            }
            match tag.name.as_str() {
                "b" | "strong" => out.entity("bold", tag.offset, None),
                "i" | "em" => out.entity("italic", tag.offset, None),
                "u" | "ins" => out.entity("underline", tag.offset, None),
                "s" | "strike" | "del" => out.entity("strikethrough", tag.offset, None),
                "span" | "tg-spoiler" => out.entity("spoiler", tag.offset, None),
                "a" => {
                    if let Some(url) = link_url(&tag.argument) {
                        out.entity("text_link", tag.offset, Some(("url", url)));
                    }
                }
                "tg-emoji" => out.entity("custom_emoji", tag.offset, Some(("custom_emoji_id", tag.argument))),
                "code" => match open.last_mut() {
                    // `<pre><code class="language-x">` is one block with a language.
                    Some(pre) if pre.name == "pre" && pre.offset == tag.offset => {
                        if !tag.argument.is_empty() {
                            pre.argument = tag.argument;
                        }
                    }
                    _ => out.entity("code", tag.offset, None),
                },
                "pre" => {
                    let language = (!tag.argument.is_empty()).then_some(("language", tag.argument));
                    out.entity("pre", tag.offset, language);
                }
                "blockquote" => {
                    let kind = if tag.expandable { "expandable_blockquote" } else { "blockquote" };
                    out.entity(kind, tag.offset, None);
                }
                _ => {}
            }
        }
    }
    if let Some(tag) = open.last() {
        return Err(format!("Can't find end tag corresponding to start tag \"{}\"", tag.name));
    }
    Ok(out.finish())
}

// ---------------------------------------------------------------------------------------------
// MarkdownV2

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mark {
    Bold,
    Italic,
    Underline,
    Strikethrough,
    Spoiler,
    Code,
    Pre,
    TextUrl,
    CustomEmoji,
}

impl Mark {
    /// The name Telegram's errors use.
    fn name(self) -> &'static str {
        match self {
            Mark::Bold => "Bold",
            Mark::Italic => "Italic",
            Mark::Underline => "Underline",
            Mark::Strikethrough => "Strikethrough",
            Mark::Spoiler => "Spoiler",
            Mark::Code => "Code",
            Mark::Pre => "Pre",
            Mark::TextUrl => "TextUrl",
            Mark::CustomEmoji => "CustomEmoji",
        }
    }
}

struct OpenMark {
    mark: Mark,
    language: String,
    offset: usize,
    begin: usize,
    /// Where the entity's text starts in the output, for links that are their own URL.
    text_start: usize,
}

/// After an opening ```` ``` ````: the language (up to whitespace) when a line break follows it,
/// and one line break skipped. Returns the language and the index of the block's first character.
fn pre_start(text: &str, mut i: usize) -> (String, usize) {
    let bytes = text.as_bytes();
    let mut language = String::new();
    let mut end = i;
    while end < bytes.len() && !bytes[end].is_ascii_whitespace() && bytes[end] != b'`' {
        end += 1;
    }
    if end != i && end < bytes.len() && bytes[end] != b'`' {
        language = text[i..end].to_owned();
        i = end;
    }
    if matches!(bytes.get(i), Some(b'\n' | b'\r')) {
        if matches!(bytes.get(i + 1), Some(b'\n' | b'\r')) && bytes[i] != bytes[i + 1] {
            i += 2;
        } else {
            i += 1;
        }
    }
    (language, i)
}

fn parse_markdown_v2(text: &str) -> Result<Formatted, Refusal> {
    const RESERVED: &str = "_*[]()~`>#+-=|{}.!";
    let bytes = text.as_bytes();
    let mut out = Output::default();
    let mut open: Vec<OpenMark> = Vec::new();
    // A quote runs over consecutive lines that start with `>`.
    let mut quote: Option<usize> = None;
    let mut i = 0;
    while let Some(c) = char_at(text, i) {
        let in_code = matches!(open.last(), Some(m) if matches!(m.mark, Mark::Code | Mark::Pre));
        let line_start = i == 0 || bytes[i - 1] == b'\n';
        if line_start && !in_code {
            if c == '>' {
                quote.get_or_insert(out.len16);
                i += 1;
                continue;
            }
            if let Some(start) = quote.take() {
                close_quote(&mut out, start);
            }
        }
        if c == '\\' {
            if let Some(next) = char_at(text, i + 1).filter(|n| (1..=126).contains(&(*n as u32))) {
                out.push(next);
                i += 1 + next.len_utf8();
                continue;
            }
        }
        let reserved = if in_code { c == '`' } else { RESERVED.contains(c) };
        if !reserved {
            out.push(c);
            i += c.len_utf8();
            continue;
        }
        let next = bytes.get(i + 1).copied();
        let closes = open.last().is_some_and(|m| match m.mark {
            Mark::Bold => c == '*',
            Mark::Italic => c == '_' && next != Some(b'_'),
            Mark::Underline => c == '_' && next == Some(b'_'),
            Mark::Strikethrough => c == '~',
            Mark::Spoiler => c == '|' && next == Some(b'|'),
            Mark::Code => c == '`',
            Mark::Pre => text[i..].starts_with("```"),
            Mark::TextUrl | Mark::CustomEmoji => c == ']',
        });
        if !closes {
            let begin = i;
            let mut language = String::new();
            let mark = match c {
                '_' if next == Some(b'_') => {
                    i += 2;
                    Mark::Underline
                }
                '_' => {
                    i += 1;
                    Mark::Italic
                }
                '*' => {
                    i += 1;
                    Mark::Bold
                }
                '~' => {
                    i += 1;
                    Mark::Strikethrough
                }
                '|' if next == Some(b'|') => {
                    i += 2;
                    Mark::Spoiler
                }
                '[' => {
                    i += 1;
                    Mark::TextUrl
                }
                '`' if text[i..].starts_with("```") => {
                    let (lang, start) = pre_start(text, i + 3);
                    language = lang;
                    i = start;
                    Mark::Pre
                }
                '`' => {
                    i += 1;
                    Mark::Code
                }
                '!' if next == Some(b'[') => {
                    i += 2;
                    Mark::CustomEmoji
                }
                _ => return Err(format!("Character '{c}' is reserved and must be escaped with the preceding '\\'")),
            };
            open.push(OpenMark { mark, language, offset: out.len16, begin, text_start: out.text.len() });
            continue;
        }
        let entity = open.pop().expect("an entity to close");
        match entity.mark {
            Mark::Bold | Mark::Italic | Mark::Strikethrough | Mark::Code => i += 1,
            Mark::Underline | Mark::Spoiler => i += 2,
            Mark::Pre => i += 3,
            Mark::TextUrl | Mark::CustomEmoji => {
                i += 1;
                let url = if bytes.get(i) == Some(&b'(') {
                    i += 1;
                    let url_begin = i;
                    let mut url = String::new();
                    loop {
                        match char_at(text, i) {
                            None => return Err(format!("Can't find end of a URL at byte offset {url_begin}")),
                            Some(')') => {
                                i += 1;
                                break;
                            }
                            Some('\\') if char_at(text, i + 1).is_some_and(|n| (1..=126).contains(&(n as u32))) => {
                                let n = char_at(text, i + 1).expect("checked");
                                url.push(n);
                                i += 2;
                            }
                            Some(u) => {
                                url.push(u);
                                i += u.len_utf8();
                            }
                        }
                    }
                    url
                } else if entity.mark == Mark::CustomEmoji {
                    return Err("Custom emoji entity must contain a tg://emoji URL".to_owned());
                } else {
                    out.text[entity.text_start..].to_owned()
                };
                if entity.mark == Mark::CustomEmoji {
                    let Some(id) = url.strip_prefix("tg://emoji?id=") else {
                        return Err(format!("Custom emoji URL must have scheme tg: {url}"));
                    };
                    out.entity("custom_emoji", entity.offset, Some(("custom_emoji_id", id.to_owned())));
                } else if let Some(url) = link_url(&url) {
                    out.entity("text_link", entity.offset, Some(("url", url)));
                }
                continue;
            }
        }
        let (kind, extra) = match entity.mark {
            Mark::Bold => ("bold", None),
            Mark::Italic => ("italic", None),
            Mark::Underline => ("underline", None),
            Mark::Strikethrough => ("strikethrough", None),
            Mark::Spoiler => ("spoiler", None),
            Mark::Code => ("code", None),
            _ => ("pre", (!entity.language.is_empty()).then_some(("language", entity.language))),
        };
        out.entity(kind, entity.offset, extra);
    }
    if let Some(entity) = open.last() {
        return Err(format!("Can't find end of {} entity at byte offset {}", entity.mark.name(), entity.begin));
    }
    if let Some(start) = quote {
        close_quote(&mut out, start);
    }
    Ok(out.finish())
}

/// Ends a quote before the line break that closed it.
fn close_quote(out: &mut Output, start: usize) {
    let end = out.len16 - usize::from(out.text.ends_with('\n'));
    if end > start {
        out.entities.push(json!({"type": "blockquote", "offset": start, "length": end - start}));
    }
}

// ---------------------------------------------------------------------------------------------
// Legacy Markdown

fn parse_markdown(text: &str) -> Result<Formatted, Refusal> {
    let bytes = text.as_bytes();
    let mut out = Output::default();
    let mut i = 0;
    while let Some(c) = char_at(text, i) {
        if c == '\\' && matches!(bytes.get(i + 1), Some(b'_' | b'*' | b'`' | b'[')) {
            out.push(bytes[i + 1] as char);
            i += 2;
            continue;
        }
        if !matches!(c, '_' | '*' | '`' | '[') {
            out.push(c);
            i += c.len_utf8();
            continue;
        }
        let begin = i;
        let end_char = if c == '[' { ']' } else { c };
        i += 1;
        let mut language = String::new();
        let is_pre = c == '`' && text[begin..].starts_with("```");
        if is_pre {
            let (lang, start) = pre_start(text, begin + 3);
            language = lang;
            i = start;
        }
        let offset = out.len16;
        let text_start = i;
        loop {
            match char_at(text, i) {
                None => return Err(format!("Can't find end of the entity starting at byte offset {begin}")),
                Some(ch) if ch == end_char && (!is_pre || text[i..].starts_with("```")) => break,
                Some(ch) => {
                    out.push(ch);
                    i += ch.len_utf8();
                }
            }
        }
        let inner_end = i;
        match c {
            '_' => out.entity("italic", offset, None),
            '*' => out.entity("bold", offset, None),
            '`' if is_pre => out.entity("pre", offset, (!language.is_empty()).then_some(("language", language))),
            '`' => out.entity("code", offset, None),
            _ => {
                let url = if bytes.get(i + 1) == Some(&b'(') {
                    let url_start = i + 2;
                    let url_end = text[url_start..].find(')').map_or(text.len(), |n| url_start + n);
                    i = url_end;
                    &text[url_start..url_end]
                } else {
                    &text[text_start..inner_end]
                };
                if let Some(url) = link_url(url) {
                    out.entity("text_link", offset, Some(("url", url)));
                }
            }
        }
        i += if is_pre { 3 } else { 1 };
    }
    Ok(out.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(text: &str, mode: &str) -> String {
        format(text, Some(mode)).unwrap().text
    }

    #[test]
    fn html_tags_become_entities_and_characters_are_decoded() {
        let f = format("<b>Hi</b> &lt;there&gt; &amp; <a href=\"https://example.com\">link</a>", Some("HTML")).unwrap();
        assert_eq!(f.text, "Hi <there> & link");
        assert_eq!(
            f.entities,
            vec![
                json!({"type": "bold", "offset": 0, "length": 2}),
                json!({"type": "text_link", "offset": 13, "length": 4, "url": "https://example.com"}),
            ]
        );
    }

    #[test]
    fn html_pre_with_code_language_is_one_entity() {
        let f = format("<pre><code class=\"language-rust\">fn main() {}</code></pre>", Some("html")).unwrap();
        assert_eq!(f.text, "fn main() {}");
        assert_eq!(f.entities, vec![json!({"type": "pre", "offset": 0, "length": 12, "language": "rust"})]);
    }

    #[test]
    fn html_refuses_what_telegram_refuses() {
        let err = format("a<br>b", Some("HTML")).unwrap_err();
        assert_eq!(err, "Bad Request: can't parse entities: Unsupported start tag \"br\" at byte offset 1");
        let err = format("<b>bold", Some("HTML")).unwrap_err();
        assert!(err.contains("Can't find end tag corresponding to start tag \"b\""), "{err}");
        let err = format("<b><i>x</b></i>", Some("HTML")).unwrap_err();
        assert!(err.contains("Unmatched end tag at byte offset 7, expected \"</i>\", found \"</b>\""), "{err}");
        let err = format("1 < 2", Some("HTML")).unwrap_err();
        assert!(err.contains("Unsupported start tag \"\""), "{err}");
        // A bare `&` or `>` is kept as it is.
        assert_eq!(plain("a & b > c", "HTML"), "a & b > c");
    }

    #[test]
    fn entity_offsets_count_utf16_units() {
        let f = format("😀 <b>x</b>", Some("HTML")).unwrap();
        assert_eq!(f.entities, vec![json!({"type": "bold", "offset": 3, "length": 1})]);
    }

    #[test]
    fn markdown_v2_needs_escapes() {
        let f =
            format("*bold* _it_ __under__ ~s~ ||sp|| `c` \\. [t](https://example.com)", Some("MarkdownV2")).unwrap();
        assert_eq!(f.text, "bold it under s sp c . t");
        let kinds: Vec<&str> = f.entities.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["bold", "italic", "underline", "strikethrough", "spoiler", "code", "text_link"]);
        let err = format("Hello.", Some("MarkdownV2")).unwrap_err();
        assert_eq!(
            err,
            "Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the preceding '\\'"
        );
        let err = format("*open", Some("MarkdownV2")).unwrap_err();
        assert!(err.ends_with("Can't find end of Bold entity at byte offset 0"), "{err}");
    }

    #[test]
    fn markdown_v2_code_blocks_and_quotes() {
        let f = format("```python\nprint(1)\n```", Some("MarkdownV2")).unwrap();
        assert_eq!(f.text, "print(1)");
        assert_eq!(f.entities, vec![json!({"type": "pre", "offset": 0, "length": 8, "language": "python"})]);
        let f = format(">quoted\n>more\nafter", Some("MarkdownV2")).unwrap();
        assert_eq!(f.text, "quoted\nmore\nafter");
        assert_eq!(f.entities, vec![json!({"type": "blockquote", "offset": 0, "length": 11})]);
    }

    #[test]
    fn legacy_markdown() {
        let f = format("*b* _i_ `c` [t](https://example.com) 1.5!", Some("Markdown")).unwrap();
        assert_eq!(f.text, "b i c t 1.5!");
        assert_eq!(f.entities.len(), 4);
        let err = format("snake_case", Some("Markdown")).unwrap_err();
        assert!(err.ends_with("Can't find end of the entity starting at byte offset 5"), "{err}");
    }

    #[test]
    fn surrounding_whitespace_is_trimmed_with_entities() {
        let f = format("  <b> hi</b>\n", Some("HTML")).unwrap();
        assert_eq!(f.text, "hi");
        assert_eq!(f.entities, vec![json!({"type": "bold", "offset": 0, "length": 2})]);
        assert_eq!(format("  plain  ", None).unwrap().text, "plain");
    }

    #[test]
    fn unknown_parse_mode_is_refused() {
        assert_eq!(format("x", Some("markdown2")).unwrap_err(), "Bad Request: unsupported parse_mode");
    }
}
