//! The document around every page, as the browser bundle needs it: the kind of views the
//! server rendered (the wasm hydrates only a page of its own kind) and the link guard that
//! leaves clicks and form posts to the browser until the page has hydrated.

use sqlx::PgPool;

use crate::helpers::TestApp;

#[sqlx::test(migrations = "../migrations")]
async fn every_page_names_its_views_and_guards_links_before_the_wasm_loads(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    for path in ["/", "/login", "/signup", "/mypage", "/no-such-page"] {
        let html = app.get(path, None).await.text().await.unwrap();
        // .cargo/config.toml erases views in every build, this test's server included.
        assert!(
            html.contains(r#"<meta name="coupan-views" content="erased">"#),
            "{path}: {html}"
        );
        assert_eq!(app::VIEW_BUILD, "erased");
        // The guard is a plain (not module) script before the hydration module, so it
        // is listening before the wasm (and the router's click handler) can run.
        let guard = html
            .find("addEventListener('click'")
            .unwrap_or_else(|| panic!("{path}: no link guard in {html}"));
        let hydration = html
            .find("<script type=\"module\"")
            .unwrap_or_else(|| panic!("{path}: no hydration script"));
        assert!(
            guard < hydration,
            "{path}: the guard comes after the hydration script"
        );
        assert!(html.contains("hasAttribute('data-hydrated')"), "{path}");
        assert!(html.contains("stopImmediatePropagation()"), "{path}");
        assert!(html.contains("addEventListener('submit',g,true)"), "{path}");
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
