//! Where to go after signing in: back to the page that asked for it, and never to another site.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Where people land after signing in when they came from nowhere in particular.
pub const AFTER_SIGN_IN: &str = "/rooms";

/// Everything but letters, digits, `/` and `-._~` is encoded, so a path survives as one query value.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// `next` when it is a page of this site: a path starting with one `/`. Anything that a browser
/// could read as another host (`//host`, `/\host`, a scheme), control characters and the API
/// are refused.
pub fn local_path(next: &str) -> Option<&str> {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/api/")
        && next.len() <= 2048
        && !next.chars().any(|c| c == '\\' || c.is_control() || c.is_whitespace());
    local.then_some(next)
}

/// Where to go after signing in: `next` when it is local, otherwise [`AFTER_SIGN_IN`].
pub fn after_sign_in(next: Option<&str>) -> &str {
    next.and_then(local_path).filter(|path| !is_account_page(path)).unwrap_or(AFTER_SIGN_IN)
}

/// The sign-in page, coming back to `next` afterwards.
pub fn sign_in_url(next: &str) -> String {
    with_next("/signin", next)
}

/// The sign-up page, going on to `next` afterwards.
pub fn sign_up_url(next: &str) -> String {
    with_next("/signup", next)
}

/// `page?next=…`, or just `page` when there is nowhere particular to go back to.
fn with_next(page: &str, next: &str) -> String {
    match local_path(next).filter(|path| *path != "/" && !is_account_page(path)) {
        Some(next) => format!("{page}?next={}", utf8_percent_encode(next, QUERY_VALUE)),
        None => page.to_owned(),
    }
}

/// The pages that sign people in or up: never a place to come back to.
fn is_account_page(path: &str) -> bool {
    let page = path.split(['?', '#']).next().unwrap_or(path);
    matches!(page, "/signin" | "/signup")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_of_this_site_are_followed() {
        assert_eq!(local_path("/rooms/123?x=1"), Some("/rooms/123?x=1"));
        for foreign in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "javascript:alert(1)",
            "rooms",
            "",
            "/rooms\n/x",
            "/ evil",
            "/api/fn/auth/sign-out",
        ] {
            assert_eq!(local_path(foreign), None, "{foreign:?}");
        }
    }

    #[test]
    fn after_sign_in_falls_back_to_the_rooms() {
        assert_eq!(after_sign_in(Some("/tokens")), "/tokens");
        assert_eq!(after_sign_in(Some("https://evil.example")), AFTER_SIGN_IN);
        assert_eq!(after_sign_in(Some("/signin?next=/tokens")), AFTER_SIGN_IN);
        assert_eq!(after_sign_in(None), AFTER_SIGN_IN);
    }

    #[test]
    fn sign_in_links_carry_the_way_back() {
        assert_eq!(sign_in_url("/rooms/1?a=b&c"), "/signin?next=/rooms/1%3Fa%3Db%26c");
        assert_eq!(sign_in_url("/"), "/signin");
        assert_eq!(sign_in_url("//evil.example"), "/signin");
        assert_eq!(sign_up_url("/signin"), "/signup");
    }
}
