//! Generates the `i18n` module from `locales/*.json` (leptos_i18n).
use leptos_i18n_build::{Config, ParseOptions, TranslationsInfos};
use std::error::Error;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=Cargo.toml");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap()).join("i18n");
    // interpolate_display: `t_string!` with values (error messages built outside views).
    let cfg = Config::new("en")?
        .add_locale("ko")?
        .parse_options(ParseOptions::default().interpolate_display(true));
    let infos = TranslationsInfos::parse(cfg)?;
    infos.emit_diagnostics();
    infos.rerun_if_locales_changed();
    infos.generate_i18n_module(out)?;
    Ok(())
}
