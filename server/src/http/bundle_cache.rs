//! How long browsers and caches keep the bundle's files. A release build names each file after
//! its content (`ais-chatrooms.<hash>.wasm`), so a name never changes meaning: those are kept for
//! a year without asking again, and a new release links new names. Anything else under `/pkg`
//! (a debug build's plain names) is revalidated on every use, so nobody runs an old bundle.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::{header, HeaderValue, StatusCode};

/// For files named after their content.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// For files whose content may change under the same name.
pub const REVALIDATE: &str = "public, no-cache";

/// Sets `Cache-Control` on what `/pkg` serves (successful or not-modified answers only).
pub async fn cache_policy(request: Request, next: Next) -> Response {
    let policy =
        request
            .uri()
            .path()
            .strip_prefix("/pkg/")
            .map(|name| if is_named_by_content(name) { IMMUTABLE } else { REVALIDATE });
    let mut response = next.run(request).await;
    let served = response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED;
    if let (Some(policy), true) = (policy, served) {
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    }
    response
}

/// `name.<hash>.ext`, the hash being an MD5 in unpadded base64url (22 characters), as the
/// release build writes it.
pub fn is_named_by_content(name: &str) -> bool {
    let mut parts = name.rsplit('.');
    let (Some(_extension), Some(hash), Some(stem)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !stem.is_empty()
        && !name.contains('/')
        && hash.len() == 22
        && hash.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::is_named_by_content;

    #[test]
    fn only_content_hashed_names_are_immutable() {
        assert!(is_named_by_content("ais-chatrooms.kV3_x-9QzP0aBcDeFgHiJw.wasm"));
        assert!(is_named_by_content("ais-chatrooms.kV3_x-9QzP0aBcDeFgHiJw.css"));
        assert!(!is_named_by_content("ais-chatrooms.wasm"), "a plain name");
        assert!(!is_named_by_content("ais-chatrooms_bg.wasm"));
        assert!(!is_named_by_content("ais-chatrooms.short.js"), "not a hash's length");
        assert!(!is_named_by_content("kV3_x-9QzP0aBcDeFgHiJw.js"), "no name before the hash");
        assert!(!is_named_by_content("snippets/x.kV3_x-9QzP0aBcDeFgHiJw.js"), "only the folder's own files");
        assert!(!is_named_by_content("ais-chatrooms.kV3_x-9QzP0aBcDeFg!iJw.js"));
    }
}
