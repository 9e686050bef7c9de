//! The addresses of the browser bundle's files. A release build names them after their content,
//! so a name never changes meaning and may be cached for good, and lists the hashes in a file
//! beside the server binary: `js: …`, `wasm: …`, `css: …`. Leptos reads that file for the
//! scripts; the stylesheet's address is read here from the same file.

use leptos::config::LeptosOptions;

/// `/pkg/ais-chatrooms.<hash>.css`, or `/pkg/ais-chatrooms.css` without hashed names.
pub fn stylesheet_href(options: &LeptosOptions) -> String {
    let hash = if options.hash_files { content_hash(&options.hash_file, "css") } else { None };
    let pkg = &options.site_pkg_dir;
    let name = &options.output_name;
    match hash {
        Some(hash) => format!("/{pkg}/{name}.{hash}.css"),
        None => format!("/{pkg}/{name}.css"),
    }
}

/// The hash the hash file gives for one kind of file. Read on every page, as Leptos does for the
/// scripts: it is a few bytes, and a new build replaces it without a restart of the reader.
#[cfg(feature = "ssr")]
fn content_hash(hash_file: &str, kind: &str) -> Option<String> {
    let folder = std::env::current_exe().ok()?.parent()?.to_owned();
    // An absolute path replaces the folder, as it does for Leptos.
    let listing = std::fs::read_to_string(folder.join(hash_file)).ok()?;
    hash_for(&listing, kind)
}

#[cfg(not(feature = "ssr"))]
fn content_hash(_hash_file: &str, _kind: &str) -> Option<String> {
    None
}

/// Picks `kind`'s hash from the hash file's lines (`css: 3aF_…`).
pub fn hash_for(listing: &str, kind: &str) -> Option<String> {
    listing.lines().find_map(|line| {
        let (file, hash) = line.split_once(':')?;
        let hash = hash.trim();
        let safe = !hash.is_empty() && hash.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        (file.trim() == kind && safe).then(|| hash.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::hash_for;

    #[test]
    fn each_kind_has_its_own_hash() {
        let listing = "js: Ab12_-\nwasm: Zz9\ncss: 7Qx\n";
        assert_eq!(hash_for(listing, "css").as_deref(), Some("7Qx"));
        assert_eq!(hash_for(listing, "js").as_deref(), Some("Ab12_-"));
        assert_eq!(hash_for(listing, "manifest"), None);
        assert_eq!(hash_for("css: ../evil\n", "css"), None, "only a hash's characters make a file name");
        assert_eq!(hash_for("css:\n", "css"), None);
    }
}
