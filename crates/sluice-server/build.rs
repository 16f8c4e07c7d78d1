//! Builds the web console (`console/`, TypeScript) into `OUT_DIR` and writes the Rust table
//! that embeds it (`console_assets.rs`, included by `src/console.rs`).
//!
//! ```text
//! console/{package.json,package-lock.json,tsconfig.json,build.mjs,index.html,src/}
//!    │ copied to OUT_DIR/console (the source tree stays clean)
//!    ▼
//! npm ci (only when the lock file changed) → tsc --noEmit → node build.mjs (esbuild)
//!    ▼
//! OUT_DIR/console/dist/{index.html, main-HASH.js, main-HASH.css} + .gz of each
//! ```
//!
//! Needs Node.js (18 or newer) and npm; the packages come from the npm registry, pinned by
//! `console/package-lock.json`, into `OUT_DIR` (never into the repository).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The console's inputs, relative to `console/`.
const INPUTS: &[&str] = &[
    "package.json",
    "package-lock.json",
    "tsconfig.json",
    "build.mjs",
    "index.html",
    "src",
];

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let source = manifest.join("../../console");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    for input in INPUTS {
        println!("cargo:rerun-if-changed={}", source.join(input).display());
    }
    println!("cargo:rerun-if-env-changed=SLUICE_NPM");

    let work = out.join("console");
    let dist = work.join("dist");
    std::fs::create_dir_all(&work).expect("create OUT_DIR/console");
    let _ = std::fs::remove_dir_all(work.join("src"));
    let _ = std::fs::remove_dir_all(&dist);
    for input in INPUTS {
        copy(&source.join(input), &work.join(input));
    }

    check_tools();
    npm_ci(&work);
    run(
        Command::new("node")
            .arg("node_modules/typescript/bin/tsc")
            .args(["--noEmit", "-p", "tsconfig.json"])
            .current_dir(&work),
        "type-checking the console (tsc)",
    );
    run(
        Command::new("node").arg("build.mjs").current_dir(&work),
        "bundling the console (esbuild)",
    );
    write_table(&dist, &out.join("console_assets.rs"));
}

/// Fails the build with what to install when node or npm is missing.
fn check_tools() {
    for tool in ["node", npm().as_str()] {
        let found = Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            panic!(
                "\n\nsluice-server's build needs Node.js (18 or newer) and npm to build the web \
                 console in console/, and `{tool}` was not found.\nInstall them (Debian/Ubuntu: \
                 `apt-get install nodejs npm`) and build again.\n\n"
            );
        }
    }
}

fn npm() -> String {
    std::env::var("SLUICE_NPM").unwrap_or_else(|_| "npm".into())
}

/// `npm ci` when the lock file differs from the one last installed here.
fn npm_ci(work: &Path) {
    let lock = std::fs::read(work.join("package-lock.json")).expect("read package-lock.json");
    let stamp = work.join("node_modules/.sluice-lock");
    if std::fs::read(&stamp).is_ok_and(|s| s == lock) {
        return;
    }
    run(
        Command::new(npm())
            .args([
                "ci",
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
            ])
            .current_dir(work),
        "installing the console's npm packages (npm ci; needs the npm registry once)",
    );
    std::fs::write(&stamp, &lock).expect("write the npm stamp");
}

fn run(command: &mut Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("{what}: cannot start {command:?}: {err}"));
    if !output.status.success() {
        panic!(
            "\n\n{what} failed ({}):\n{}\n{}\n",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

fn copy(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).expect("create directory");
        for entry in std::fs::read_dir(from).expect("read console directory") {
            let entry = entry.expect("read console directory");
            copy(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::copy(from, to)
            .unwrap_or_else(|err| panic!("copy {} into OUT_DIR: {err}", from.display()));
    }
}

/// Gzips every file of `dist` and writes `(name, content type, bytes, gzipped bytes)` rows.
fn write_table(dist: &Path, table: &Path) {
    let mut names: Vec<String> = std::fs::read_dir(dist)
        .expect("read dist")
        .map(|e| {
            e.expect("read dist")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| !n.ends_with(".gz"))
        .collect();
    names.sort();
    let mut rust = String::from("&[\n");
    for name in &names {
        let path = dist.join(name);
        let bytes = std::fs::read(&path).expect("read asset");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&bytes).expect("gzip");
        let gz_path = dist.join(format!("{name}.gz"));
        std::fs::write(&gz_path, gz.finish().expect("gzip")).expect("write gzip");
        let content_type = match Path::new(name).extension().and_then(|e| e.to_str()) {
            Some("html") => "text/html; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("svg") => "image/svg+xml",
            _ => "application/octet-stream",
        };
        let _ = writeln!(
            rust,
            "    ({name:?}, {content_type:?}, include_bytes!({:?}), include_bytes!({:?})),",
            path.display().to_string(),
            gz_path.display().to_string()
        );
    }
    rust.push_str("]\n");
    std::fs::write(table, rust).expect("write console_assets.rs");
}
