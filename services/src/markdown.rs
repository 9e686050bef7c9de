//! Markdown for messages, made safe: raw HTML is shown as text, and links or images whose
//! address is not http(s), mailto or relative (e.g. `javascript:`) are rendered as plain text.

use domain::rooms::{Message, MessageStatus};
use pulldown_cmark::{html, Event, Options, Parser, Tag, TagEnd};

/// The message as clients receive it: with its rendered HTML once its text is final.
pub fn with_html(mut message: Message) -> Message {
    if message.status != MessageStatus::Streaming {
        message.content_html = Some(render_markdown(&message.content));
    }
    message
}

/// Renders message text to HTML that is safe to insert into the page. Rendering happens on the
/// server only, so the browser bundle carries no Markdown parser.
pub fn render_markdown(text: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut dropping_link = false;
    let mut dropping_image = false;
    let events = Parser::new_ext(text, options).filter_map(|event| match event {
        // Raw HTML becomes visible text, escaped by the HTML writer.
        Event::Html(raw) | Event::InlineHtml(raw) => Some(Event::Text(raw)),
        Event::Start(Tag::Link { ref dest_url, .. }) if !is_safe_url(dest_url) => {
            dropping_link = true;
            None
        }
        Event::End(TagEnd::Link) if dropping_link => {
            dropping_link = false;
            None
        }
        Event::Start(Tag::Image { ref dest_url, .. }) if !is_safe_image(dest_url) => {
            dropping_image = true;
            None
        }
        Event::End(TagEnd::Image) if dropping_image => {
            dropping_image = false;
            None
        }
        other => Some(other),
    });
    let mut out = String::with_capacity(text.len() * 3 / 2);
    html::push_html(&mut out, events);
    without_inline_styles(out)
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

    #[test]
    fn ordinary_links_survive() {
        assert!(render_markdown("[docs](https://leptos.dev)").contains(r#"<a href="https://leptos.dev">docs</a>"#));
        assert!(render_markdown("[room](/rooms/1)").contains(r#"href="/rooms/1""#));
        assert!(render_markdown("[a](mailto:a@b.c)").contains("mailto:a@b.c"));
        assert!(render_markdown("[q](/search?q=a:b)").contains("<a "));
        assert!(render_markdown("![cat](https://example.com/cat.png)").contains("<img"));
    }
}
