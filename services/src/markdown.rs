//! Markdown for messages, made safe: raw HTML is shown as text, and links or images whose
//! address is not http(s), mailto or relative (e.g. `javascript:`) are rendered as plain text.
//! Images are never loaded from other hosts (a tracking pixel would tell them who reads the
//! room): an http(s) image becomes a link to it, reading "image: " and its alt text.
//!
//! Made bounded too. A table's rows are padded with empty cells up to its header's width, so a
//! short message of wide tables with many short rows would render to megabytes: tables wider than
//! [`MAX_TABLE_COLUMNS`] or larger than [`MAX_TABLE_CELLS`] in all are rendered as text, and HTML
//! past [`MAX_RENDERED_BYTES`] is replaced by the escaped text. A message is rendered once, when
//! its text is final, and the HTML is stored with it.

use domain::rooms::{Message, MessageStatus};
use pulldown_cmark::{html, Event, Options, Parser, Tag, TagEnd};

/// The widest table rendered as a table.
pub const MAX_TABLE_COLUMNS: usize = 64;
/// The most table cells, padding included, rendered as tables in one message.
pub const MAX_TABLE_CELLS: usize = 10_000;
/// The most HTML one message renders to; past it the message is shown as escaped text.
pub const MAX_RENDERED_BYTES: usize = 256 * 1024;

/// The message as clients receive it: with its rendered HTML once its text is final. Messages
/// store their HTML when they become final; older rows, and messages a restart marked
/// `interrupted`, are rendered here.
pub fn with_html(mut message: Message) -> Message {
    if message.status != MessageStatus::Streaming && message.content_html.is_none() {
        message.content_html = Some(render_markdown(&message.content));
    }
    message
}

/// Renders message text to HTML that is safe to insert into the page, within the bounds above.
/// Rendering happens on the server only, so the browser bundle carries no Markdown parser.
pub fn render_markdown(text: &str) -> String {
    render_within(text, MAX_RENDERED_BYTES)
}

fn render_within(text: &str, max_bytes: usize) -> String {
    let html = render_unbounded(text, tables_are_bounded(text));
    if html.len() > max_bytes {
        return escaped_text(text);
    }
    html
}

/// The text as it was typed, escaped, for a message whose HTML would be too large.
fn escaped_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    out.push_str("<div class=\"markdown-fallback\">");
    pulldown_cmark_escape::escape_html(&mut out, text).expect("writing to a String cannot fail");
    out.push_str("</div>");
    out
}

/// Whether the text's tables (found by their delimiter rows, `|---|:-:|`) stay within
/// [`MAX_TABLE_COLUMNS`] and, padded to their width until the next blank line, [`MAX_TABLE_CELLS`].
/// It errs towards "no": a false alarm only renders a table as text. Lines end at `\n`, `\r\n`
/// or a bare `\r`, as Markdown's do, and a table inside a block quote or a list item is found
/// with its container's markers (`>`, `-`, `1.`) taken off.
fn tables_are_bounded(text: &str) -> bool {
    let normalized = text.replace("\r\n", "\n");
    let lines: Vec<&str> = normalized.split(['\n', '\r']).map(without_container_markers).collect();
    let mut cells = 0usize;
    for (index, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        let is_delimiter = trimmed.contains('-')
            && trimmed.contains(['|', ':'])
            && trimmed.chars().all(|c| matches!(c, '|' | '-' | ':' | ' ' | '\t'));
        if !is_delimiter || index == 0 {
            continue;
        }
        let columns = trimmed.trim_matches('|').split('|').count();
        if columns > MAX_TABLE_COLUMNS {
            return false;
        }
        let rows = 1 + lines[index + 1..].iter().take_while(|row| !row.trim().is_empty()).count();
        cells = cells.saturating_add(rows.saturating_mul(columns));
        if cells > MAX_TABLE_CELLS {
            return false;
        }
    }
    true
}

/// The line without the markers of the block quotes and list items it sits in.
fn without_container_markers(line: &str) -> &str {
    let mut rest = line;
    loop {
        let trimmed = rest.trim_start_matches([' ', '\t', '>']);
        let unlisted =
            trimmed.strip_prefix(['-', '*', '+']).filter(|after| after.starts_with([' ', '\t'])).or_else(|| {
                let digits = trimmed.len() - trimmed.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                let after = trimmed[digits..].strip_prefix(['.', ')'])?;
                (digits > 0 && after.starts_with([' ', '\t'])).then_some(after)
            });
        match unlisted {
            Some(after) => rest = after,
            None => return trimmed,
        }
    }
}

fn render_unbounded(text: &str, tables: bool) -> String {
    let mut options = Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    if tables {
        options |= Options::ENABLE_TABLES;
    }
    let mut dropping_link = false;
    let mut dropping_image = false;
    // Each event becomes at most two: an image turned link is followed by its "image: " label.
    let events = Parser::new_ext(text, options).flat_map(|event| {
        let (event, label) = match event {
            // Raw HTML becomes visible text, escaped by the HTML writer.
            Event::Html(raw) | Event::InlineHtml(raw) => (Some(Event::Text(raw)), None),
            Event::Start(Tag::Link { ref dest_url, .. }) if !is_safe_url(dest_url) => {
                dropping_link = true;
                (None, None)
            }
            Event::End(TagEnd::Link) if dropping_link => {
                dropping_link = false;
                (None, None)
            }
            Event::Start(Tag::Image { ref dest_url, .. }) if !is_safe_image(dest_url) => {
                dropping_image = true;
                (None, None)
            }
            Event::End(TagEnd::Image) if dropping_image => {
                dropping_image = false;
                (None, None)
            }
            Event::Start(Tag::Image { link_type, dest_url, title, id }) => {
                (Some(Event::Start(Tag::Link { link_type, dest_url, title, id })), Some(Event::Text("image: ".into())))
            }
            Event::End(TagEnd::Image) => (Some(Event::End(TagEnd::Link)), None),
            // Each code block gets a head with its language and a Copy button. This HTML is the
            // renderer's own: the message's raw HTML became text above.
            Event::Start(Tag::CodeBlock(kind)) => {
                let head = Event::Html(code_block_head(&kind).into());
                (Some(head), Some(Event::Start(Tag::CodeBlock(kind))))
            }
            Event::End(TagEnd::CodeBlock) => (Some(Event::End(TagEnd::CodeBlock)), Some(Event::Html("</div>".into()))),
            other => (Some(other), None),
        };
        event.into_iter().chain(label)
    });
    let mut out = String::with_capacity(text.len() * 3 / 2);
    html::push_html(&mut out, events);
    without_inline_styles(out)
}

/// Opens a code block's frame: its language, if the block names one, and a Copy button the
/// room page's script wires up.
fn code_block_head(kind: &pulldown_cmark::CodeBlockKind) -> String {
    let language: String = match kind {
        pulldown_cmark::CodeBlockKind::Fenced(info) => info
            .split_whitespace()
            .next()
            .unwrap_or("")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '#' | '.' | '_' | '-'))
            .take(32)
            .collect(),
        pulldown_cmark::CodeBlockKind::Indented => String::new(),
    };
    let label = if language.is_empty() { "code".to_owned() } else { language };
    format!(
        "<div class=\"code-block\"><div class=\"code-head\"><span class=\"code-lang\">{label}</span>\
         <button type=\"button\" class=\"copy-code\" aria-label=\"Copy the {label} code\">Copy</button></div>"
    )
}

/// Table cell alignment as classes instead of `style` attributes, which the pages'
/// Content-Security-Policy does not allow. Every `>` of the message's own text is escaped by
/// then, so these exact strings, which end in `>`, can only be the writer's.
fn without_inline_styles(html: String) -> String {
    if !html.contains(" style=\"text-align: ") {
        return html;
    }
    ["left", "center", "right"].iter().fold(html, |html, side| {
        html.replace(&format!(" style=\"text-align: {side}\">"), &format!(" class=\"align-{side}\">"))
    })
}

/// Links may use http, https or mailto, or be relative.
fn is_safe_url(url: &str) -> bool {
    // Browsers ignore whitespace and control characters inside a scheme ("java\tscript:").
    let cleaned: String = url.chars().filter(|c| !c.is_whitespace() && !c.is_control()).collect();
    let lower = cleaned.to_ascii_lowercase();
    match lower.find(':') {
        None => true,
        Some(colon) => {
            let before = &lower[..colon];
            // A colon after a path, query or fragment start is not a scheme.
            if before.contains(['/', '?', '#']) {
                return true;
            }
            matches!(before, "http" | "https" | "mailto")
        }
    }
}

/// Images may only come from http(s) addresses.
fn is_safe_image(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_and_code_blocks_render() {
        let html = render_markdown("**bold** and `code`\n\n```rust\nfn main() {}\n```");
        assert!(html.contains("<strong>bold</strong>"));
        assert!(html.contains("<code>code</code>"));
        assert!(html.contains(r#"<pre><code class="language-rust">fn main() {}"#));
        assert!(html.contains(r#"<span class="code-lang">rust</span>"#), "{html}");
        assert!(html.contains(r#"class="copy-code" aria-label="Copy the rust code">Copy</button>"#), "{html}");
        assert!(
            html.trim_end().ends_with("</code></pre>\n</div>") || html.trim_end().ends_with("</code></pre></div>"),
            "{html}"
        );
    }

    #[test]
    fn a_code_block_language_cannot_inject_markup() {
        let html = render_markdown("```\"><script>alert(1)</script>\nx\n```\n\n    indented\n");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains(r#"<span class="code-lang">scriptalert1script</span>"#), "{html}");
        assert!(html.contains(r#"<span class="code-lang">code</span>"#), "an indented block is just code: {html}");
    }

    #[test]
    fn table_alignment_uses_classes_not_inline_styles() {
        let html = render_markdown("| a | b | c |\n|:--|:-:|--:|\n| 1 | 2 | 3 |\n\n`style=\"text-align: left\">`");
        assert!(html.contains(r#"<th class="align-left">a</th>"#), "{html}");
        assert!(html.contains(r#"<td class="align-center">2</td>"#), "{html}");
        assert!(html.contains(r#"<td class="align-right">3</td>"#), "{html}");
        assert!(!html.contains(" style="), "{html}");
        // The same words in the message's own text stay text: its `>` is escaped.
        assert!(html.contains(r#"<code>style="text-align: left"&gt;</code>"#), "{html}");
    }

    #[test]
    fn raw_html_is_shown_as_text() {
        let html = render_markdown("<script>alert(1)</script> <img src=x onerror=alert(2)>");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        let block = render_markdown("<div onclick=\"x()\">hi</div>\n");
        assert!(!block.contains("<div"), "{block}");
    }

    #[test]
    fn script_links_are_never_rendered() {
        for link in [
            "[click](javascript:alert(1))",
            "[click](JavaScript:alert(1))",
            "[click](java\tscript:alert(1))",
            "[click](data:text/html;base64,PHNjcmlwdD4=)",
            "[click](vbscript:msgbox)",
            "<javascript:alert(1)>",
        ] {
            let html = render_markdown(link);
            assert!(!html.contains("<a "), "{link} → {html}");
            assert!(!html.to_lowercase().contains("href=\"javascript"), "{link} → {html}");
        }
        let html = render_markdown("![x](javascript:alert(1))");
        assert!(!html.contains("<img"), "{html}");
    }

    /// Eight tables of 512 columns, each with 500 one-cell rows: 28 KB that would pad to two
    /// million cells.
    fn table_bomb() -> String {
        let table = format!("{}|\n{}|\n{}\n", "|a".repeat(512), "|-".repeat(512), "|x\n".repeat(500));
        table.repeat(8)
    }

    #[test]
    fn a_table_bomb_is_seen_before_it_is_parsed_wherever_it_hides() {
        let bomb = table_bomb();
        assert!(!tables_are_bounded(&bomb));
        let quoted: String = bomb.lines().map(|line| format!("> {line}\n")).collect();
        let listed: String = bomb.lines().map(|line| format!("1. {line}\n")).collect();
        let carriage_returns = bomb.replace('\n', "\r");
        let windows = bomb.replace('\n', "\r\n");
        for (hiding, text) in [("quoted", quoted), ("listed", listed), ("CR", carriage_returns), ("CRLF", windows)] {
            assert!(!tables_are_bounded(&text), "a bomb {hiding} is still found");
        }
        assert!(
            tables_are_bounded("> | a | b |\r\n> |---|---|\r\n> | 1 | 2 |\r\n"),
            "an ordinary quoted table is fine"
        );
        assert!(render_markdown("> | a | b |\r\n> |---|---|\r\n> | 1 | 2 |\r\n").contains("<table>"));
    }

    #[test]
    fn a_table_bomb_renders_small() {
        let bomb = table_bomb();
        assert!(bomb.len() < 32_000, "{}", bomb.len());
        let unbounded = render_unbounded(&bomb, true);
        assert!(unbounded.len() > 10_000_000, "the bomb is real: {} bytes", unbounded.len());
        let html = render_markdown(&bomb);
        assert!(html.len() < 4 * bomb.len(), "{} bytes", html.len());
        assert!(!html.contains("<table"), "too wide to be a table");
    }

    #[test]
    fn tables_within_bounds_stay_tables_and_large_ones_become_text() {
        let small = "| a | b |\n|---|---|\n| 1 | 2 |\n";
        assert!(render_markdown(small).contains("<table>"));
        let wide = format!("{}|\n{}|\n", "| c ".repeat(65), "|---".repeat(65));
        assert!(!render_markdown(&wide).contains("<table>"), "65 columns");
        let just_wide_enough = format!("{}|\n{}|\n", "| c ".repeat(64), "|---".repeat(64));
        assert!(render_markdown(&just_wide_enough).contains("<table>"), "64 columns");
        // 40 columns × 300 rows is past 10,000 cells.
        let long = format!("{}|\n{}|\n{}", "| c ".repeat(40), "|---".repeat(40), "| x |\n".repeat(300));
        assert!(!render_markdown(&long).contains("<table>"));
    }

    #[test]
    fn html_past_the_limit_becomes_escaped_text() {
        let text = "**bold** <b>and</b>\n\n- item\n".repeat(50);
        let html = render_within(&text, 500);
        assert!(html.starts_with("<div class=\"markdown-fallback\">"), "{html}");
        assert!(html.contains("**bold** &lt;b&gt;and&lt;/b&gt;"), "{html}");
        assert!(!html.contains("<strong>") && !html.contains("<b>"), "{html}");
        assert!(render_within(&text, MAX_RENDERED_BYTES).contains("<strong>bold</strong>"));
    }

    #[test]
    fn ordinary_links_survive() {
        assert!(render_markdown("[docs](https://leptos.dev)").contains(r#"<a href="https://leptos.dev">docs</a>"#));
        assert!(render_markdown("[room](/rooms/1)").contains(r#"href="/rooms/1""#));
        assert!(render_markdown("[a](mailto:a@b.c)").contains("mailto:a@b.c"));
        assert!(render_markdown("[q](/search?q=a:b)").contains("<a "));
        let image = render_markdown("![a cat](https://example.com/cat.png) and [a dog](https://example.com/dog)");
        assert!(!image.contains("<img"), "no image is loaded from another host: {image}");
        assert!(image.contains(r#"<a href="https://example.com/cat.png">image: a cat</a>"#), "{image}");
        assert!(image.contains(r#"<a href="https://example.com/dog">a dog</a>"#), "{image}");
    }
}
