//! Rebuilds the server when a migration changes: `sqlx::migrate!` (db.rs) embeds
//! `migrations/` at compile time, and on stable Rust cargo does not know it read them.
fn main() {
    println!("cargo::rerun-if-changed=../migrations");
}
