//! The document around every page, as the browser bundle needs it: the kind of views the
//! server rendered (the wasm hydrates only a page of its own kind) and the island script
//! (pages are plain HTML; only their islands are hydrated, so links and forms never wait
//! for the wasm).

use sqlx::PgPool;

use crate::helpers::TestApp;

#[sqlx::test(migrations = "../migrations")]
async fn every_page_names_its_views_and_hydrates_islands_only(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    for path in ["/", "/login", "/signup", "/mypage", "/no-such-page"] {
        let html = app.get(path, None).await.text().await.unwrap();
        // .cargo/config.toml erases views in every build, this test's server included.
        assert!(
            html.contains(r#"<meta name="coupan-views" content="erased">"#),
            "{path}: {html}"
        );
        assert_eq!(app::VIEW_BUILD, "erased");
        // leptos's island script (it hydrates `<leptos-island>`s), not the one that
        // hydrates the whole body.
        let script = html
            .find("<script type=\"module\"")
            .map(|at| &html[at..])
            .unwrap_or_else(|| panic!("{path}: no hydration script"));
        assert!(script.contains("hydrateIslands"), "{path}: {script}");
    }
}

/// The image builds with the flags of `.cargo/config.toml`: the build context keeps the
/// file, and the flag is set for every target (a table for the wasm target only is how the
/// release build once erased views in the browser bundle but not in the server).
#[test]
fn every_build_reads_the_one_compiler_flag_setting() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let config = std::fs::read_to_string(root.join(".cargo/config.toml")).unwrap();
    let active: Vec<&str> = config
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(
        active,
        ["[build]", r#"rustflags = ["--cfg", "erase_components"]"#],
        "{config}"
    );
    let ignore = std::fs::read_to_string(root.join(".dockerignore")).unwrap();
    assert!(
        !ignore
            .lines()
            .any(|l| l.trim().trim_matches('/').starts_with(".cargo")),
        ".dockerignore leaves out .cargo: {ignore}"
    );
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("\ndisable-erase-components = true\n"));
}
