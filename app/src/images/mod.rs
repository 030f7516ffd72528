//! Coupon pictures (issue 13): owners upload up to five per coupon, the first is the
//! cover; the catalogue shows the cover's thumbnail, the coupon page all of them.
//!
//! - `process`: decoding with bounds, re-encoding (no metadata survives), thumbnails.
//! - `store`: the files (a directory or S3, through `object_store`).
//! - `repo` / `service`: the `coupon_images` rows and the use cases (add, delete, cover).
//! - `api`: `POST/DELETE /api/v1/coupons/{id}/images...`, the no-JavaScript forms of the
//!   edit page, and `GET /images/{key}` serving the files.
//! - `pages`: the components (card thumbnail, gallery, the owner's picture manager).

pub mod pages;

#[cfg(feature = "ssr")]
pub mod api;
#[cfg(feature = "ssr")]
pub mod drawing;
#[cfg(feature = "ssr")]
pub mod process;
#[cfg(feature = "ssr")]
pub mod repo;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;

/// Where the files are served (`api::serve`).
pub const URL_PREFIX: &str = "/images/";

/// The URL of a stored file.
pub fn url_of(key: &str) -> String {
    format!("{URL_PREFIX}{key}")
}

/// Whether `key` is one that `new_keys` makes: 32 hex digits, optionally `-thumb`, then
/// `.jpg` or `.png`. Anything else in a URL names nothing (and never a path elsewhere).
pub fn is_key(key: &str) -> bool {
    let Some((stem, ext)) = key.rsplit_once('.') else {
        return false;
    };
    let stem = stem.strip_suffix("-thumb").unwrap_or(stem);
    matches!(ext, "jpg" | "png")
        && stem.len() == 32
        && stem
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Fresh keys for one upload (full size, thumbnail): random, so a URL always shows the
/// same bytes and can be cached for good.
#[cfg(feature = "ssr")]
pub fn new_keys(format: process::Format) -> (String, String) {
    let stem = uuid::Uuid::new_v4().simple().to_string();
    let ext = format.extension();
    (format!("{stem}.{ext}"), format!("{stem}-thumb.{ext}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_strict() {
        assert!(is_key("0123456789abcdef0123456789abcdef.jpg"));
        assert!(is_key("0123456789abcdef0123456789abcdef-thumb.png"));
        for bad in [
            "",
            ".jpg",
            "0123456789abcdef0123456789abcdef.gif",
            "0123456789ABCDEF0123456789abcdef.jpg",
            "0123456789abcdef0123456789abcde.jpg",
            "../0123456789abcdef0123456789abcdef.jpg",
            "0123456789abcdef0123456789abcdef-thumb-thumb.jpg",
            "x/0123456789abcdef0123456789abcdef.jpg",
        ] {
            assert!(!is_key(bad), "{bad}");
        }
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn new_keys_pass_the_check_and_differ() {
        let (full, thumb) = new_keys(process::Format::Jpeg);
        assert!(is_key(&full) && is_key(&thumb));
        assert!(thumb.ends_with("-thumb.jpg"));
        assert_ne!(new_keys(process::Format::Png).0, full);
        assert_eq!(url_of(&full), format!("/images/{full}"));
    }
}
