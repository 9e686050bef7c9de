//! The gateway's audit (the gateway never executes anything): the real gateway passes every
//! layer, and every kind of planted violation is caught by the layer meant to catch it. The
//! line-by-line layer is scripts/audit-gateway.sh; the compiled layers (clippy, the dependency
//! graph, the linked binary's imports) are scripts/audit-gateway-build.sh.
//!
//! This test lives outside `gateway/` because running the audit scripts needs process
//! execution, which the audit forbids inside the gateway.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

fn audit(folder: &Path) -> (i32, String) {
    let output = Command::new("bash").arg(repository().join("scripts/audit-gateway.sh")).arg(folder).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), text)
}

fn planted(source: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src/nested")).unwrap();
    std::fs::write(dir.path().join("src/lib.rs"), "//! A clean file.\npub fn clean() {}\n").unwrap();
    std::fs::write(dir.path().join("src/nested/planted.rs"), source).unwrap();
    dir
}

#[test]
fn the_gateway_passes_the_audit() {
    let (code, output) = audit(&repository().join("gateway"));
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("src/service.rs") && output.contains("src/http.rs"), "it lists what it scanned: {output}");
    assert!(output.contains("PASS"), "{output}");
}

#[test]
fn a_clean_folder_passes() {
    let dir = planted("pub fn add(a: u32, b: u32) -> u32 { a + b }\n// The operating system (kernel) flushes pages.\n");
    let (code, output) = audit(dir.path());
    assert_eq!(code, 0, "{output}");
}

#[test]
fn every_kind_of_violation_is_caught() {
    let violations = [
        "use std::process::Command;",
        "fn f() { let _ = std::process::Command::new(\"sh\"); }",
        "use std::{fs, process};",
        "fn f() { process::Command::new(\"ls\"); }",
        "fn f() { Command::new(\"ls\"); }",
        "use tokio::process::Command as Cmd;",
        "use std::os::unix::process::CommandExt;",
        "unsafe fn f() { libc::execvp(p, a); }",
        "unsafe fn f() { libc::system(c); }",
        "unsafe fn f() { libc::fork(); }",
        "unsafe fn f() { libc::posix_spawn(a, b, c, d, e, g); }",
        "fn f() { nix::unistd::execv(p, a); }",
        "fn f() { nix::unistd::fork(); }",
        "use nix::unistd::{fork, ForkResult};",
        "unsafe fn f() { execve(p, a, e); }",
        "unsafe fn f() { fork(); }",
        "unsafe fn f() { system(cmd); }",
        "use libloading::Library;",
        "unsafe fn f() { libc::dlopen(p, 0); }",
        "extern \"C\" { fn dlopen(p: *const u8, f: i32) -> *mut u8; }",
    ];
    for violation in violations {
        let dir = planted(&format!("// planted\n{violation}\n"));
        let (code, output) = audit(dir.path());
        assert_eq!(code, 1, "not caught: {violation}\n{output}");
        assert!(output.contains("VIOLATION src/nested/planted.rs:2"), "the file and line are named: {output}");
        assert!(output.contains("FAIL"), "{output}");
    }
}

#[test]
fn a_forbidden_dependency_is_caught() {
    let dir = planted("pub fn clean() {}\n");
    std::fs::write(dir.path().join("Cargo.toml"), "[package]\nname = \"x\"\n\n[dependencies]\nlibloading = \"0.8\"\n")
        .unwrap();
    let (code, output) = audit(dir.path());
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("Cargo.toml:5"), "{output}");
}

#[test]
fn a_missing_folder_cannot_be_audited() {
    let (code, output) = audit(Path::new("/nonexistent/gateway"));
    assert_eq!(code, 2, "{output}");
}

// The compiled layers (scripts/audit-gateway-build.sh) run over a copy of the gateway in a small
// workspace under CARGO_TARGET_TMPDIR, next to copies of the workspace crates it depends on and a
// `toolbox` crate that plays another workspace crate. The copy keeps one path and one target
// folder from run to run, so each planted variant costs an incremental rebuild of the gateway
// only. Variants take turns on that copy: every test that plants one holds `PLANTED`.

static PLANTED: Mutex<()> = Mutex::new(());

/// The line after which a planted variant makes `Gateway::new` call `crate::planted::run()`, so
/// that what it plants is reachable from the gateway's public API and kept by the linker.
const REACHED_FROM_GATEWAY_NEW: &str = "    pub fn new(config: GatewayConfig) -> Result<Self, GatewayStartupError> {\n";

struct Planted {
    root: PathBuf,
    _turn: MutexGuard<'static, ()>,
}

impl Planted {
    /// The gateway's copy, reset to the real gateway with nothing planted.
    fn workspace() -> Self {
        let turn = PLANTED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gateway-audit");
        let root = base.join("workspace");
        let real = repository();
        for crate_name in ["domain", "settings", "error-response", "gateway"] {
            sync(&real.join(crate_name), &root.join(crate_name));
        }
        let manifest = std::fs::read_to_string(real.join("Cargo.toml")).unwrap();
        let manifest: String = manifest
            .lines()
            .filter(|line| !line.starts_with("default-members"))
            .map(|line| {
                if line.starts_with("members") {
                    r#"members = ["domain", "settings", "error-response", "gateway", "toolbox"]"#.to_owned() + "\n"
                } else {
                    line.to_owned() + "\n"
                }
            })
            .collect();
        write_if_changed(&root.join("Cargo.toml"), &manifest);
        write_if_changed(&root.join("Cargo.lock"), &std::fs::read_to_string(real.join("Cargo.lock")).unwrap());
        write_if_changed(
            &root.join("toolbox/Cargo.toml"),
            "[package]\nname = \"toolbox\"\nversion.workspace = true\nedition.workspace = true\n",
        );
        write_if_changed(
            &root.join("toolbox/src/lib.rs"),
            "//! Another workspace crate, that hands out process execution under other names.\n\
             pub use std::process::Command as Tool;\n\
             pub fn run(program: &str) {\n    let _ = std::process::Command::new(program).status();\n}\n",
        );
        write_if_changed(
            &base.join("elsewhere/outside.rs"),
            "pub fn run() {\n    let _ = std::process::Command::new(\"true\");\n}\n",
        );
        Planted { root, _turn: turn }
    }

    fn gateway(&self, relative: &str) -> PathBuf {
        self.root.join("gateway").join(relative)
    }

    /// Adds a module to the gateway's lib.rs, as written (`mod x;` or with attributes).
    fn module(&self, declaration: &str) -> &Self {
        let lib = self.gateway("src/lib.rs");
        let text = std::fs::read_to_string(&lib).unwrap() + declaration + "\n";
        std::fs::write(lib, text).unwrap();
        self
    }

    fn file(&self, relative: &str, text: &str) -> &Self {
        std::fs::write(self.gateway(relative), text).unwrap();
        self
    }

    /// Edits the gateway's Cargo.toml: `old` must be there.
    fn manifest(&self, old: &str, new: &str) -> &Self {
        let path = self.gateway("Cargo.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(old), "the gateway's Cargo.toml no longer has {old:?}");
        std::fs::write(path, text.replacen(old, new, 1)).unwrap();
        self
    }

    /// Plants `src/planted.rs` with a `pub fn run()` that `Gateway::new` calls.
    fn reached(&self, planted: &str) -> &Self {
        self.module("mod planted;").file("src/planted.rs", planted);
        let service = self.gateway("src/service.rs");
        let text = std::fs::read_to_string(&service).unwrap();
        assert!(text.contains(REACHED_FROM_GATEWAY_NEW), "Gateway::new has changed; update REACHED_FROM_GATEWAY_NEW");
        let text = text.replacen(
            REACHED_FROM_GATEWAY_NEW,
            &format!("{REACHED_FROM_GATEWAY_NEW}        crate::planted::run();\n"),
            1,
        );
        std::fs::write(service, text).unwrap();
        self
    }

    /// Runs the given layers of scripts/audit-gateway-build.sh over this workspace.
    fn audit(&self, layers: &[&str]) -> (i32, String) {
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gateway-audit/target");
        let output = Command::new("bash")
            .arg(repository().join("scripts/audit-gateway-build.sh"))
            .arg("--workspace")
            .arg(&self.root)
            .args(layers)
            .env("CARGO_TARGET_DIR", target)
            // The copy's lock file gains the planted dependencies; they come from the local cache.
            .env("AUDIT_CARGO_FLAGS", "--offline")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        (output.status.code().unwrap_or(-1), text)
    }
}

/// Makes `to` hold exactly what `from` holds, rewriting only the files whose content differs, so
/// that cargo sees unchanged crates as unchanged.
fn sync(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    let mut wanted = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" {
            continue;
        }
        wanted.insert(name.clone());
        if entry.file_type().unwrap().is_dir() {
            if to.join(&name).symlink_metadata().is_ok_and(|meta| !meta.is_dir()) {
                std::fs::remove_file(to.join(&name)).unwrap();
            }
            sync(&entry.path(), &to.join(&name));
        } else {
            if to.join(&name).symlink_metadata().is_ok_and(|meta| meta.file_type().is_symlink()) {
                std::fs::remove_file(to.join(&name)).unwrap();
            }
            write_if_changed(&to.join(&name), &std::fs::read_to_string(entry.path()).unwrap());
        }
    }
    for entry in std::fs::read_dir(to).unwrap() {
        let entry = entry.unwrap();
        if !wanted.contains(&entry.file_name()) {
            if entry.file_type().unwrap().is_dir() {
                std::fs::remove_dir_all(entry.path()).unwrap();
            } else {
                std::fs::remove_file(entry.path()).unwrap();
            }
        }
    }
}

fn write_if_changed(path: &Path, text: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// The script's findings that name `file`.
fn finding<'a>(output: &'a str, file: &str) -> Vec<&'a str> {
    output.lines().filter(|line| line.starts_with("VIOLATION") && line.contains(file)).collect()
}

#[test]
fn the_real_gateway_passes_every_compiled_layer() {
    let planted = Planted::workspace();
    let (code, output) = planted.audit(&["all"]);
    assert_eq!(code, 0, "{output}");
    for layer in ["clippy", "deps", "link"] {
        assert!(output.contains(&format!("audit-gateway [{layer}]: PASS")), "{layer} passes: {output}");
    }
    assert!(output.contains("over: gateway domain error-response settings"), "the linted crates are named: {output}");
}

#[test]
fn clippy_sees_through_spellings_the_grep_cannot_read() {
    let planted = Planted::workspace();
    planted
        .module("mod multi_line_use;")
        .file(
            "src/multi_line_use.rs",
            "use std::{\n    process as p\n};\npub fn run() {\n    let _ = <p::Command>::new(\"true\");\n}\n",
        )
        .module("mod spaced_path;")
        .file("src/spaced_path.rs", "pub fn run() {\n    let _ = std :: process :: Command :: new(\"true\");\n}\n")
        .module("#[path = \"path_attribute.inc\"]\nmod path_attribute;")
        .file("src/path_attribute.inc", "pub fn run() {\n    let _ = std::process::Command::new(\"true\");\n}\n")
        .module("mod included;")
        .file("src/included.rs", "pub fn run() {\n    let _ = include!(\"included.inc\");\n}\n")
        .file("src/included.inc", "std::process::Command::new(\"true\")\n")
        .module("mod symlinked;")
        .module("mod reexported;")
        .file("src/reexported.rs", "pub fn run() {\n    let _ = toolbox::Tool::new(\"true\").status();\n}\n")
        .manifest("[dependencies]\n", "[dependencies]\ntoolbox = { path = \"../toolbox\" }\n")
        .module("mod foreign;")
        .file(
            "src/foreign.rs",
            "extern \"C\" {\n    #[link_name = \"execve\"]\n    fn harmless(path: *const u8, argv: *const *const u8, envp: *const *const u8) -> i32;\n}\n\
             pub fn run() -> i32 {\n    unsafe { harmless(std::ptr::null(), std::ptr::null(), std::ptr::null()) }\n}\n",
        );
    std::os::unix::fs::symlink(planted.root.join("../elsewhere/outside.rs"), planted.gateway("src/symlinked.rs"))
        .unwrap();

    let (code, output) = planted.audit(&["clippy"]);
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("audit-gateway [clippy]: FAIL"), "{output}");
    // Each disguise is named at its own file: one finding cannot stand in for another.
    for (file, what) in [
        ("gateway/src/multi_line_use.rs:5", "disallowed method `std::process::Command::new`"),
        ("gateway/src/spaced_path.rs:2", "disallowed method `std::process::Command::new`"),
        ("gateway/src/path_attribute.inc:2", "disallowed method `std::process::Command::new`"),
        ("gateway/src/included.inc:1", "disallowed method `std::process::Command::new`"),
        ("gateway/src/symlinked.rs:2", "disallowed method `std::process::Command::new`"),
        ("gateway/src/reexported.rs:2", "disallowed method `std::process::Command::new`"),
        ("gateway/src/reexported.rs:2", "disallowed method `std::process::Command::status`"),
        ("toolbox/src/lib.rs:2", "disallowed type `std::process::Command`"),
        ("gateway/src/foreign.rs:6", "usage of an `unsafe` block"),
    ] {
        assert!(finding(&output, file).iter().any(|line| line.contains(what)), "{file}: {what} not caught\n{output}");
    }
}

#[test]
fn the_gateway_alone_cannot_name_tokio_process() {
    let planted = Planted::workspace();
    planted.module("mod tokio_process;").file(
        "src/tokio_process.rs",
        "use tokio::{process as p};\npub fn run() {\n    let _ = p::Command::new(\"true\");\n}\n",
    );
    let (code, output) = planted.audit(&["clippy", "deps"]);
    assert_eq!(code, 1, "{output}");
    assert!(
        finding(&output, "gateway/src/tokio_process.rs:1").iter().any(|line| line.contains("unresolved import")),
        "tokio is built without process, so the import does not resolve: {output}"
    );
    assert!(output.contains("audit-gateway [deps]: PASS"), "the graph itself is clean: {output}");
}

#[test]
fn tokio_process_asked_for_is_caught_in_the_graph_and_by_clippy() {
    let planted = Planted::workspace();
    planted
        .manifest(
            "tokio = { workspace = true, features = [\"rt\", \"sync\"] }",
            "tokio = { workspace = true, features = [\"rt\", \"sync\", \"process\"] }",
        )
        .module("mod tokio_process;")
        .file(
            "src/tokio_process.rs",
            "use tokio::{process as p};\npub fn run() {\n    let _ = p::Command::new(\"true\");\n}\n",
        );
    let (code, output) = planted.audit(&["deps", "clippy"]);
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("VIOLATION tokio is built with its \"process\" feature"), "{output}");
    assert!(
        finding(&output, "gateway/src/tokio_process.rs:3")
            .iter()
            .any(|line| line.contains("disallowed method `tokio::process::Command::new`")),
        "{output}"
    );
}

#[test]
fn a_process_crate_is_caught_however_the_dependency_is_written() {
    let planted = Planted::workspace();
    planted.manifest("[[bench]]", "[dependencies.nix]\nversion = \"0.31\"\nfeatures = [\"process\"]\n\n[[bench]]");
    let (code, output) = planted.audit(&["deps"]);
    assert_eq!(code, 1, "table form: {output}");
    assert!(output.contains("VIOLATION the gateway depends on nix"), "table form: {output}");
    drop(planted);

    let planted = Planted::workspace();
    planted
        .manifest(
            "[dependencies]\n",
            "[dependencies]\ntools = { package = \"nix\", version = \"0.31\", features = [\"process\"] }\n",
        )
        .module("mod renamed;")
        .file("src/renamed.rs", "pub fn run() {\n    let _ = tools::unistd::execv(c\"/bin/true\", &[c\"true\"]);\n}\n");
    let (code, output) = planted.audit(&["deps", "clippy"]);
    assert_eq!(code, 1, "renamed: {output}");
    assert!(output.contains("VIOLATION the gateway depends on nix"), "renamed: {output}");
    assert!(
        finding(&output, "gateway/src/renamed.rs:2")
            .iter()
            .any(|line| line.contains("disallowed method `nix::unistd::execv`")),
        "clippy resolves the renamed crate: {output}"
    );
}

#[test]
fn the_link_check_catches_execution_that_reaches_the_binary() {
    let imports = |planted: &Planted| {
        let (code, output) = planted.audit(&["link"]);
        assert_eq!(code, 1, "{output}");
        let line = output.lines().find(|line| line.starts_with("VIOLATION the gateway's binary imports:"));
        line.unwrap_or_else(|| panic!("no imports named: {output}")).to_owned()
    };

    let planted = Planted::workspace();
    planted.reached("pub fn run() {\n    let _ = std::process::Command::new(\"true\").status();\n}\n");
    let line = imports(&planted);
    assert!(line.contains("posix_spawnp") && line.contains("execvp"), "std::process::Command: {line}");
    drop(planted);

    let planted = Planted::workspace();
    planted.reached(
        "extern \"C\" {\n    #[link_name = \"execve\"]\n    fn harmless(path: *const u8, argv: *const *const u8, envp: *const *const u8) -> i32;\n}\n\
         pub fn run() {\n    unsafe { harmless(std::ptr::null(), std::ptr::null(), std::ptr::null()) };\n}\n",
    );
    let line = imports(&planted);
    assert!(line.ends_with("imports: execve"), "an extern block renamed with link_name: {line}");
    drop(planted);

    // A safe wrapper in another workspace crate names nothing forbidden in the gateway's source.
    let planted = Planted::workspace();
    planted
        .manifest("[dependencies]\n", "[dependencies]\ntoolbox = { path = \"../toolbox\" }\n")
        .reached("pub fn run() {\n    toolbox::run(\"true\");\n}\n");
    let line = imports(&planted);
    assert!(line.contains("posix_spawnp"), "a wrapper in another crate: {line}");
}
