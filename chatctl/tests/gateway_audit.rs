//! The gateway's static audit (the gateway never executes anything): the real gateway
//! passes, and every kind of planted violation is caught.
//!
//! This test lives outside `gateway/` because running the audit script needs process
//! execution, which the audit forbids inside the gateway.

use std::path::{Path, PathBuf};
use std::process::Command;

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
