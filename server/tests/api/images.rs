//! Coupon pictures (issue 13 section 1): the upload contract, bad files, limits,
//! ownership, storage, serving, the no-JavaScript forms of the edit page, demo pictures.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use image::{DynamicImage, ImageBuffer, ImageDecoder, Rgb, Rgba};
use reqwest::multipart::{Form, Part};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{NewCoupon, TestApp, expect_error, test_config};

// --- test pictures ----------------------------------------------------------------------

fn encode(img: DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// A JPEG of `w` x `h` pixels.
fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = ImageBuffer::from_fn(w, h, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 120]));
    encode(DynamicImage::ImageRgb8(img), image::ImageFormat::Jpeg)
}

/// A JPEG of noise: it barely compresses, so a few megapixels make megabytes.
fn noisy_jpeg(w: u32, h: u32) -> Vec<u8> {
    let mut seed = 1u32;
    let img = ImageBuffer::from_fn(w, h, |_, _| {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let b = seed.to_be_bytes();
        Rgb([b[0], b[1], b[2]])
    });
    let mut out = Vec::new();
    DynamicImage::ImageRgb8(img)
        .write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
            &mut out, 100,
        ))
        .unwrap();
    out
}

fn png_with_transparency(w: u32, h: u32) -> Vec<u8> {
    let img = ImageBuffer::from_fn(w, h, |x, _| Rgba([0, 90, 200, (x % 256) as u8]));
    encode(DynamicImage::ImageRgba8(img), image::ImageFormat::Png)
}

/// A PNG that claims `w` x `h` pixels: the signature and a real IHDR chunk, then an empty
/// IDAT and IEND. A few dozen bytes; decoded, 20,000 x 20,000 RGBA would be 1.6 GB.
fn png_bomb(w: u32, h: u32) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

/// Text that reaches the stored files only if metadata survives.
const SECRET_PLACE: &[u8] = b"COUPAN-SECRET-PLACE-37.5665N-126.9780E";

/// A 40 x 20 JPEG with an EXIF block: orientation 6 (shown turned 90 degrees clockwise,
/// as phones save portrait photos) and a GPS block with a latitude and `SECRET_PLACE`.
fn jpeg_with_exif_gps() -> Vec<u8> {
    let le16 = |v: u16| v.to_le_bytes().to_vec();
    let le32 = |v: u32| v.to_le_bytes().to_vec();
    let entry = |tag: u16, kind: u16, count: u32, value: Vec<u8>| {
        let mut e = le16(tag);
        e.extend(le16(kind));
        e.extend(le32(count));
        let mut v = value;
        v.resize(4, 0);
        e.extend(v);
        e
    };
    // TIFF header, IFD0 at 8 (2 entries: 30 bytes), the GPS IFD at 38 (3 entries: 42
    // bytes), the latitude's three rationals at 80, the processing-method text at 104.
    let mut tiff = b"II".to_vec();
    tiff.extend(le16(42));
    tiff.extend(le32(8));
    tiff.extend(le16(2));
    tiff.extend(entry(0x0112, 3, 1, le16(6)));
    tiff.extend(entry(0x8825, 4, 1, le32(38)));
    tiff.extend(le32(0));
    let mut method = b"ASCII\0\0\0".to_vec();
    method.extend_from_slice(SECRET_PLACE);
    tiff.extend(le16(3));
    tiff.extend(entry(0x0001, 2, 2, b"N\0".to_vec()));
    tiff.extend(entry(0x0002, 5, 3, le32(80)));
    tiff.extend(entry(0x001B, 7, method.len() as u32, le32(104)));
    tiff.extend(le32(0));
    assert_eq!(tiff.len(), 80);
    for (num, den) in [(37u32, 1u32), (33, 1), (5940, 100)] {
        tiff.extend(le32(num));
        tiff.extend(le32(den));
    }
    tiff.extend(method);
    let mut app1 = vec![0xFF, 0xE1];
    app1.extend_from_slice(&((2 + 6 + tiff.len()) as u16).to_be_bytes());
    app1.extend_from_slice(b"Exif\0\0");
    app1.extend(tiff);
    let plain = jpeg(40, 20);
    let mut out = plain[..2].to_vec(); // SOI
    out.extend(app1);
    out.extend_from_slice(&plain[2..]);
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// --- helpers ----------------------------------------------------------------------------

/// The app with its pictures in a directory of this test, and that directory.
async fn app_with_store(pool: PgPool) -> (TestApp, PathBuf) {
    let dir = std::env::temp_dir().join(format!("coupan-images-{}", uuid::Uuid::new_v4()));
    let mut config = test_config();
    config.images = app::images::store::ImageStore::directory(&dir).unwrap();
    (TestApp::spawn_with(pool, config).await, dir)
}

fn file_form(bytes: Vec<u8>, file_name: &str) -> Form {
    Form::new().part("file", Part::bytes(bytes).file_name(file_name.to_string()))
}

async fn upload(app: &TestApp, token: Option<&str>, coupon: &str, bytes: Vec<u8>) -> Response {
    let mut req = app
        .client
        .post(app.url(&format!("/api/v1/coupons/{coupon}/images")))
        .multipart(file_form(bytes, "photo.jpg"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

async fn upload_ok(app: &TestApp, token: &str, coupon: &str, bytes: Vec<u8>) -> Value {
    let res = upload(app, Some(token), coupon, bytes).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json().await.unwrap()
}

async fn coupon_json(app: &TestApp, coupon: &str) -> Value {
    app.get(&format!("/api/v1/coupons/{coupon}"), None)
        .await
        .json()
        .await
        .unwrap()
}

fn image_ids(coupon: &Value) -> Vec<String> {
    coupon["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

/// Every file in the store's directory (none before the first upload).
fn stored_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

fn file_of(dir: &Path, url: &Value) -> PathBuf {
    dir.join(url.as_str().unwrap().strip_prefix("/images/").unwrap())
}

async fn picture_rows(pool: &PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from coupon_images")
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn owner_and_coupon(app: &TestApp, email: &str) -> (String, String) {
    let c = NewCoupon::named("Latte")
        .create_in_shop(app, email, "Morning Coffee")
        .await;
    (c.owner, c.id)
}

// --- the API ----------------------------------------------------------------------------

#[sqlx::test(migrations = "../migrations")]
async fn an_upload_is_stored_served_and_listed_in_every_coupon_answer(pool: PgPool) {
    let (app, dir) = app_with_store(pool).await;
    let owner = app.owner("o@example.com", "Morning Coffee").await;
    let created = NewCoupon::named("Latte").create(&app, &owner).await;
    assert_eq!(created["images"], json!([]), "a new coupon has no pictures");
    let id = created["id"].as_str().unwrap();

    let image = upload_ok(&app, &owner, id, jpeg(2400, 1200)).await;
    for f in ["id", "url", "thumb_url", "width", "height"] {
        assert!(image.get(f).is_some(), "{f} missing in {image}");
    }
    assert_eq!(
        (image["width"].clone(), image["height"].clone()),
        (json!(1600), json!(800))
    );
    let url = image["url"].as_str().unwrap();
    let thumb_url = image["thumb_url"].as_str().unwrap();
    assert!(
        url.starts_with("/images/") && url.ends_with(".jpg"),
        "{url}"
    );
    assert_ne!(url, thumb_url);

    // Served by the app with its type and a year-long immutable cache.
    for (u, size) in [(url, (1600, 800)), (thumb_url, (400, 400))] {
        let res = app.get(u, None).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], "image/jpeg");
        assert_eq!(
            res.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        let bytes = res.bytes().await.unwrap();
        let img = image::load_from_memory(&bytes).unwrap();
        assert_eq!((img.width(), img.height()), size, "{u}");
        assert_eq!(std::fs::read(file_of(&dir, &json!(u))).unwrap(), bytes);
    }

    // A transparent PNG stays a PNG and comes second.
    let second = upload_ok(&app, &owner, id, png_with_transparency(300, 200)).await;
    assert!(second["url"].as_str().unwrap().ends_with(".png"));
    let res = app.get(second["url"].as_str().unwrap(), None).await;
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(stored_files(&dir).len(), 4);

    // Every answer with a coupon lists them, the cover first.
    let expected = json!([
        {"id": image["id"], "url": image["url"], "thumb_url": image["thumb_url"], "width": 1600, "height": 800},
        {"id": second["id"], "url": second["url"], "thumb_url": second["thumb_url"], "width": 300, "height": 200},
    ]);
    assert_eq!(coupon_json(&app, id).await["images"], expected);
    let list: Value = app.get("/api/v1/coupons", None).await.json().await.unwrap();
    assert_eq!(list["items"][0]["images"], expected);
    let patched: Value = app
        .patch(
            &format!("/api/v1/coupons/{id}"),
            json!({"price": 5000}),
            Some(&owner),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(patched["images"], expected);

    // Unknown and malformed keys are 404, never a path elsewhere.
    for u in [
        "/images/0123456789abcdef0123456789abcdef.jpg",
        "/images/..%2F..%2Fetc%2Fpasswd",
        "/images/x.jpg",
    ] {
        assert_eq!(
            app.get(u, None).await.status(),
            StatusCode::NOT_FOUND,
            "{u}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_files_are_refused_with_clear_codes_and_leave_nothing(pool: PgPool) {
    let (app, dir) = app_with_store(pool.clone()).await;
    let (owner, id) = owner_and_coupon(&app, "o@example.com").await;

    // A text file named .jpg.
    let body = expect_error(
        upload(
            &app,
            Some(&owner),
            &id,
            b"just some notes, saved as photo.jpg".to_vec(),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unsupported_image",
    )
    .await;
    assert!(body["error"]["message"].as_str().unwrap().contains("JPEG"));
    // A picture, but not JPEG, PNG or WebP; the start of a JPEG; an empty file.
    let whole = jpeg(300, 300);
    for bad in [
        b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec(),
        whole[..40].to_vec(),
        Vec::new(),
    ] {
        expect_error(
            upload(&app, Some(&owner), &id, bad).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_image",
        )
        .await;
    }

    // 20,000 x 20,000 pixels in a few dozen bytes: refused from the header, at once.
    let started = Instant::now();
    expect_error(
        upload(&app, Some(&owner), &id, png_bomb(20_000, 20_000)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "image_too_large",
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // Over 5 MiB: the file itself, and a body far over the route's limit.
    expect_error(
        upload(&app, Some(&owner), &id, vec![0xFF; 5 * 1024 * 1024 + 1]).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "file_too_large",
    )
    .await;
    expect_error(
        upload(&app, Some(&owner), &id, vec![0xFF; 8 * 1024 * 1024]).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "file_too_large",
    )
    .await;

    // No file field, or not multipart at all.
    let res = app
        .client
        .post(app.url(&format!("/api/v1/coupons/{id}/images")))
        .bearer_auth(&owner)
        .multipart(Form::new().text("picture", "no file here"))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    expect_error(
        app.post(
            &format!("/api/v1/coupons/{id}/images"),
            json!({"file": "x"}),
            Some(&owner),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;

    assert_eq!(picture_rows(&pool).await, 0);
    assert!(stored_files(&dir).is_empty());
    assert_eq!(coupon_json(&app, &id).await["images"], json!([]));
}

#[sqlx::test(migrations = "../migrations")]
async fn uploads_over_the_global_1_mib_body_limit_are_fine_up_to_5_mib(pool: PgPool) {
    let (app, dir) = app_with_store(pool).await;
    let (owner, id) = owner_and_coupon(&app, "o@example.com").await;
    let big = noisy_jpeg(900, 900);
    assert!(
        (2 * 1024 * 1024..5 * 1024 * 1024).contains(&big.len()),
        "{} bytes",
        big.len()
    );
    let image = upload_ok(&app, &owner, &id, big).await;
    assert_eq!(
        (image["width"].clone(), image["height"].clone()),
        (json!(900), json!(900))
    );
    // The rest of the app keeps its 1 MiB limit.
    let res = app
        .client
        .post(app.url("/api/v1/coupons"))
        .bearer_auth(&owner)
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let _ = std::fs::remove_dir_all(dir);
}

#[sqlx::test(migrations = "../migrations")]
async fn metadata_is_stripped_and_the_orientation_applied(pool: PgPool) {
    let (app, dir) = app_with_store(pool).await;
    let (owner, id) = owner_and_coupon(&app, "o@example.com").await;
    let upload_bytes = jpeg_with_exif_gps();
    // The upload does carry the EXIF block: orientation and GPS.
    {
        let mut decoder = image::ImageReader::new(std::io::Cursor::new(&upload_bytes))
            .with_guessed_format()
            .unwrap()
            .into_decoder()
            .unwrap();
        assert!(decoder.exif_metadata().unwrap().is_some());
        assert_eq!(
            decoder.orientation().unwrap(),
            image::metadata::Orientation::Rotate90
        );
    }
    assert!(contains(&upload_bytes, SECRET_PLACE));

    let image = upload_ok(&app, &owner, &id, upload_bytes).await;
    // Stored upright: the 40 x 20 pixels turned a quarter.
    assert_eq!(
        (image["width"].clone(), image["height"].clone()),
        (json!(20), json!(40))
    );
    for url in [&image["url"], &image["thumb_url"]] {
        let stored = std::fs::read(file_of(&dir, url)).unwrap();
        assert!(!contains(&stored, b"Exif"), "{url}: EXIF block kept");
        assert!(!contains(&stored, SECRET_PLACE), "{url}: GPS data kept");
        let mut decoder = image::ImageReader::new(std::io::Cursor::new(&stored))
            .with_guessed_format()
            .unwrap()
            .into_decoder()
            .unwrap();
        assert_eq!(decoder.exif_metadata().unwrap(), None, "{url}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_sixth_picture_is_refused(pool: PgPool) {
    let (app, dir) = app_with_store(pool.clone()).await;
    let (owner, id) = owner_and_coupon(&app, "o@example.com").await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(upload_ok(&app, &owner, &id, jpeg(64, 48)).await["id"].clone());
    }
    expect_error(
        upload(&app, Some(&owner), &id, jpeg(64, 48)).await,
        StatusCode::CONFLICT,
        "too_many_images",
    )
    .await;
    assert_eq!(picture_rows(&pool).await, 5);
    assert_eq!(
        stored_files(&dir).len(),
        10,
        "the refused upload left no files"
    );
    // With one deleted there is room again.
    let res = app
        .client
        .delete(app.url(&format!(
            "/api/v1/coupons/{id}/images/{}",
            ids[2].as_str().unwrap()
        )))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    upload_ok(&app, &owner, &id, jpeg(64, 48)).await;
    assert_eq!(image_ids(&coupon_json(&app, &id).await).len(), 5);
    let _ = std::fs::remove_dir_all(dir);
}

#[sqlx::test(migrations = "../migrations")]
async fn concurrent_uploads_never_make_more_than_five(pool: PgPool) {
    let (app, dir) = app_with_store(pool.clone()).await;
    let (owner, id) = owner_and_coupon(&app, "o@example.com").await;
    for _ in 0..3 {
        upload_ok(&app, &owner, &id, jpeg(64, 48)).await;
    }
    let results =
        futures::future::join_all((0..6).map(|_| upload(&app, Some(&owner), &id, jpeg(64, 48))))
            .await;
    let statuses: Vec<StatusCode> = results.iter().map(|r| r.status()).collect();
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        2,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT)
    );
    assert_eq!(picture_rows(&pool).await, 5);
    assert_eq!(
        stored_files(&dir).len(),
        10,
        "refused uploads left no files"
    );
    let positions: Vec<i16> =
        sqlx::query_scalar("select position from coupon_images order by position")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(positions, vec![0, 1, 2, 3, 4]);
    let _ = std::fs::remove_dir_all(dir);
}

#[sqlx::test(migrations = "../migrations")]
async fn only_the_owning_owner_changes_pictures(pool: PgPool) {
    let (app, dir) = app_with_store(pool.clone()).await;
    let (owner, id) = owner_and_coupon(&app, "o@example.com").await;
    let image = upload_ok(&app, &owner, &id, jpeg(64, 48)).await;
    let image_id = image["id"].as_str().unwrap();
    let other = app.owner("other@example.com", "Other Shop").await;
    let customer = app.customer("c@example.com").await;

    let delete = |token: Option<String>, path: String| {
        let mut req = app.client.delete(app.url(&path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let one = format!("/api/v1/coupons/{id}/images/{image_id}");
    let cover = format!("{one}/cover");
    for (token, status, code) in [
        (Some(other.clone()), StatusCode::NOT_FOUND, "not_found"),
        (Some(customer.clone()), StatusCode::FORBIDDEN, "forbidden"),
        (None, StatusCode::UNAUTHORIZED, "unauthorized"),
    ] {
        expect_error(
            upload(&app, token.as_deref(), &id, jpeg(64, 48)).await,
            status,
            code,
        )
        .await;
        expect_error(
            delete(token.clone(), one.clone()).await.unwrap(),
            status,
            code,
        )
        .await;
        expect_error(
            app.post(&cover, json!({}), token.as_deref()).await,
            status,
            code,
        )
        .await;
    }
    // Ids that name nothing.
    let nobody = uuid::Uuid::new_v4();
    expect_error(
        upload(&app, Some(&owner), &nobody.to_string(), jpeg(64, 48)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        upload(&app, Some(&owner), "not-a-uuid", jpeg(8, 8)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    for path in [
        format!("/api/v1/coupons/{id}/images/{nobody}"),
        format!("/api/v1/coupons/{id}/images/not-a-uuid"),
    ] {
        expect_error(
            delete(Some(owner.clone()), path).await.unwrap(),
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    // Another owner's picture id under one's own coupon is not found either.
    let (other_owner, other_coupon) = owner_and_coupon(&app, "third@example.com").await;
    let theirs = upload_ok(&app, &other_owner, &other_coupon, jpeg(64, 48)).await;
    expect_error(
        delete(
            Some(owner.clone()),
            format!(
                "/api/v1/coupons/{id}/images/{}",
                theirs["id"].as_str().unwrap()
            ),
        )
        .await
        .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    assert_eq!(picture_rows(&pool).await, 2);
    assert_eq!(
        image_ids(&coupon_json(&app, &id).await),
        vec![image_id.to_string()]
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[sqlx::test(migrations = "../migrations")]
async fn deleting_removes_the_files_and_the_next_picture_becomes_the_cover(pool: PgPool) {
    let (app, dir) = app_with_store(pool).await;
    let (owner, id) = owner_and_coupon(&app, "o@example.com").await;
    let a = upload_ok(&app, &owner, &id, jpeg(64, 48)).await;
    let b = upload_ok(&app, &owner, &id, jpeg(48, 64)).await;
    let c = upload_ok(&app, &owner, &id, jpeg(50, 50)).await;
    assert_eq!(stored_files(&dir).len(), 6);

    let res = app
        .client
        .delete(app.url(&format!(
            "/api/v1/coupons/{id}/images/{}",
            a["id"].as_str().unwrap()
        )))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(!file_of(&dir, &a["url"]).exists());
    assert!(!file_of(&dir, &a["thumb_url"]).exists());
    assert_eq!(stored_files(&dir).len(), 4);
    assert_eq!(
        app.get(a["url"].as_str().unwrap(), None).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        image_ids(&coupon_json(&app, &id).await),
        vec![b["id"].as_str().unwrap(), c["id"].as_str().unwrap()]
    );
    // Deleting it again: it is gone.
    let res = app
        .client
        .delete(app.url(&format!(
            "/api/v1/coupons/{id}/images/{}",
            a["id"].as_str().unwrap()
        )))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let _ = std::fs::remove_dir_all(dir);
}

#[sqlx::test(migrations = "../migrations")]
async fn any_picture_can_be_made_the_cover(pool: PgPool) {
    let (app, dir) = app_with_store(pool).await;
    let (owner, id) = owner_and_coupon(&app, "o@example.com").await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(
            upload_ok(&app, &owner, &id, jpeg(64, 48)).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let res = app
        .post(
            &format!("/api/v1/coupons/{id}/images/{}/cover", ids[2]),
            json!({}),
            Some(&owner),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let coupon: Value = res.json().await.unwrap();
    let expected = vec![
        ids[2].clone(),
        ids[0].clone(),
        ids[1].clone(),
        ids[3].clone(),
    ];
    assert_eq!(image_ids(&coupon), expected);
    assert_eq!(image_ids(&coupon_json(&app, &id).await), expected);
    // The cover again: nothing moves.
    app.post(
        &format!("/api/v1/coupons/{id}/images/{}/cover", ids[2]),
        json!({}),
        Some(&owner),
    )
    .await;
    assert_eq!(image_ids(&coupon_json(&app, &id).await), expected);
    let _ = std::fs::remove_dir_all(dir);
}

// --- the pages and their forms (no JavaScript) -----------------------------------------------

async fn signed_in_browser(app: &TestApp, email: &str) -> reqwest::Client {
    let browser = app.browser();
    let res = app.log_in(&browser, email).send().await;
    assert!(res.status().is_redirection() || res.status().is_success());
    browser
}

async fn page(browser: &reqwest::Client, url: String) -> String {
    browser
        .get(url)
        .header("accept-language", "en-US")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn location(res: &Response) -> String {
    res.headers()["location"].to_str().unwrap().to_string()
}

#[sqlx::test(migrations = "../migrations")]
async fn the_edit_page_manages_pictures_with_plain_forms(pool: PgPool) {
    let (app, dir) = app_with_store(pool.clone()).await;
    let (_, id) = owner_and_coupon(&app, "o@example.com").await;
    let browser = signed_in_browser(&app, "o@example.com").await;
    let edit = format!("/owner/coupons/{id}/edit");
    assert!(
        page(&browser, app.url(&edit))
            .await
            .contains("No pictures yet.")
    );

    // Upload through the form: back to the edit page, which shows it.
    let res = browser
        .post(app.url(&format!("/owner/coupons/{id}/images")))
        .multipart(file_form(jpeg(800, 600), "cafe.jpg"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), format!("{edit}?pictures=added"));
    let coupon = coupon_json(&app, &id).await;
    let first = &coupon["images"][0];
    let html = page(&browser, app.url(&format!("{edit}?pictures=added"))).await;
    assert!(html.contains("Picture added."), "{html}");
    assert!(html.contains(first["thumb_url"].as_str().unwrap()));
    assert!(html.contains("alt=\"Latte, picture 1\""), "{html}");
    assert!(html.contains("data-testid=\"picture-cover\""));

    // A bad file comes back with its message; nothing is added.
    let res = browser
        .post(app.url(&format!("/owner/coupons/{id}/images")))
        .multipart(file_form(b"not a picture".to_vec(), "notes.jpg"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        location(&res),
        format!("{edit}?picture_error=unsupported_image")
    );
    let html = page(&browser, app.url(&location(&res))).await;
    assert!(
        html.contains("This file is not a JPEG, PNG or WebP picture."),
        "{html}"
    );

    // A second one, made the cover, then the first deleted.
    browser
        .post(app.url(&format!("/owner/coupons/{id}/images")))
        .multipart(file_form(jpeg(600, 800), "cake.jpg"))
        .send()
        .await
        .unwrap();
    let ids = image_ids(&coupon_json(&app, &id).await);
    assert_eq!(ids.len(), 2);
    let res = browser
        .post(app.url(&format!("/owner/coupons/{id}/images/{}/cover", ids[1])))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), format!("{edit}?pictures=cover"));
    assert_eq!(
        image_ids(&coupon_json(&app, &id).await),
        vec![ids[1].clone(), ids[0].clone()]
    );
    let res = browser
        .post(app.url(&format!("/owner/coupons/{id}/images/{}/delete", ids[0])))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), format!("{edit}?pictures=deleted"));
    assert_eq!(
        image_ids(&coupon_json(&app, &id).await),
        vec![ids[1].clone()]
    );
    assert_eq!(stored_files(&dir).len(), 2);

    // The catalogue card shows the cover's thumbnail, the coupon page every picture.
    let cover = coupon_json(&app, &id).await["images"][0].clone();
    let html = page(&app.client, app.url("/")).await;
    assert!(
        html.contains(&format!("src=\"{}\"", cover["thumb_url"].as_str().unwrap())),
        "{html}"
    );
    assert!(html.contains("data-testid=\"coupon-thumb\""));
    assert!(html.contains("alt=\"Latte, picture 1\""));
    let html = page(&app.client, app.url(&format!("/coupons/{id}"))).await;
    assert!(
        html.contains(&format!("src=\"{}\"", cover["url"].as_str().unwrap())),
        "{html}"
    );
    assert!(html.contains("data-testid=\"coupon-gallery\""));
    let _ = std::fs::remove_dir_all(dir);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_picture_forms_check_the_session_and_the_owner(pool: PgPool) {
    let (app, dir) = app_with_store(pool.clone()).await;
    let (owner, id) = owner_and_coupon(&app, "o@example.com").await;
    let image = upload_ok(&app, &owner, &id, jpeg(64, 48)).await;
    let image_id = image["id"].as_str().unwrap();
    let edit = format!("/owner/coupons/{id}/edit");
    let routes = [
        format!("/owner/coupons/{id}/images/{image_id}/delete"),
        format!("/owner/coupons/{id}/images/{image_id}/cover"),
    ];

    // Nobody signed in: to the login page, and back here afterwards.
    let anonymous = app.browser();
    let res = anonymous
        .post(app.url(&format!("/owner/coupons/{id}/images")))
        .multipart(file_form(jpeg(64, 48), "x.jpg"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), format!("/login?next={edit}"));
    for route in &routes {
        let res = anonymous.post(app.url(route)).send().await.unwrap();
        assert_eq!(location(&res), format!("/login?next={edit}"));
    }

    // Another owner and a customer change nothing.
    app.owner("other@example.com", "Other Shop").await;
    app.customer("c@example.com").await;
    for (email, code) in [
        ("other@example.com", "not_found"),
        ("c@example.com", "forbidden"),
    ] {
        let browser = signed_in_browser(&app, email).await;
        let res = browser
            .post(app.url(&format!("/owner/coupons/{id}/images")))
            .multipart(file_form(jpeg(64, 48), "x.jpg"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            location(&res),
            format!("{edit}?picture_error={code}"),
            "{email}"
        );
        for route in &routes {
            let res = browser.post(app.url(route)).send().await.unwrap();
            assert_eq!(
                location(&res),
                format!("{edit}?picture_error={code}"),
                "{email}"
            );
        }
    }
    assert_eq!(picture_rows(&pool).await, 1);
    assert_eq!(stored_files(&dir).len(), 2);
    assert_eq!(
        image_ids(&coupon_json(&app, &id).await),
        vec![image_id.to_string()]
    );
    let _ = std::fs::remove_dir_all(dir);
}

// --- demo data --------------------------------------------------------------------------

#[sqlx::test(migrations = "../migrations")]
async fn the_demo_coupons_have_pictures_made_by_the_project(pool: PgPool) {
    let dir = std::env::temp_dir().join(format!("coupan-demo-{}", uuid::Uuid::new_v4()));
    let store = app::images::store::ImageStore::directory(&dir).unwrap();
    assert!(app::demo::seed_if_empty(&pool, &store).await.unwrap());
    let mut config = test_config();
    config.images = store;
    let app = TestApp::spawn_with(pool, config).await;
    let list: Value = app
        .get("/api/v1/coupons?per_page=100", None)
        .await
        .json()
        .await
        .unwrap();
    let items = list["items"].as_array().unwrap();
    assert!(items.len() >= 4, "{list}");
    for c in items {
        let images = c["images"].as_array().unwrap();
        assert!(!images.is_empty(), "{} has no picture", c["name"]);
        let res = app
            .get(images[0]["thumb_url"].as_str().unwrap(), None)
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let thumb = image::load_from_memory(&res.bytes().await.unwrap()).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (400, 400));
    }
    let _ = std::fs::remove_dir_all(dir);
}
