//! Turning an uploaded file into the two pictures Coupan stores (pure, blocking CPU work:
//! callers run it through `service::process`, which bounds how many run at once).
//!
//! Policy:
//! - Only JPEG, PNG and WebP, recognised by their content (never by a name or a
//!   Content-Type); anything else, or a file that does not decode, is `Unsupported`.
//! - The size is read from the header first and checked against `MAX_SIDE`, `MAX_PIXELS`
//!   and `MAX_DECODED_BYTES` before a single pixel is decoded, and the decoder gets the
//!   same `image::Limits`: a small file that claims 20,000 x 20,000 pixels (a decompression
//!   bomb) is refused without the gigabytes its pixels would take.
//! - Everything is re-encoded from pixels, so nothing of the upload's metadata (EXIF with
//!   the GPS position, comments, colour profiles) reaches the stored files. The EXIF
//!   orientation is applied first, so phone photos stand the right way up.
//! - Full size: longest side at most `FULL_MAX_SIDE` (never enlarged); thumbnail: the
//!   centred square, `THUMB_SIDE` a side. JPEG, or PNG when the picture has transparency.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use crate::error::ImageRefusal;

/// Largest upload accepted (the contract's 5 MiB).
pub const MAX_UPLOAD_BYTES: usize = 5 * 1024 * 1024;
/// Longest side decoded.
pub const MAX_SIDE: u32 = 10_000;
/// Most pixels decoded (a 24-megapixel camera picture fits).
pub const MAX_PIXELS: u64 = 25_000_000;
/// Most bytes the decoded pixels may take (25 MP x 4 bytes fits; 16-bit colour of that
/// many pixels does not). With one decode at a time (`service::JOBS`) this bounds what an
/// upload costs in memory: the Kubernetes pods have 256 MiB in all.
pub const MAX_DECODED_BYTES: u64 = 100 * 1024 * 1024;
/// Longest side of the stored full-size picture.
pub const FULL_MAX_SIDE: u32 = 1600;
/// Side of the square thumbnail.
pub const THUMB_SIDE: u32 = 400;
const JPEG_QUALITY: u8 = 85;

/// A stored picture's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Png => "png",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
        }
    }

    pub fn from_extension(ext: &str) -> Option<Format> {
        match ext {
            "jpg" => Some(Format::Jpeg),
            "png" => Some(Format::Png),
            _ => None,
        }
    }
}

/// One encoded picture.
#[derive(Clone)]
pub struct Encoded {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

impl std::fmt::Debug for Encoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} x {} px, {} bytes",
            self.width,
            self.height,
            self.bytes.len()
        )
    }
}

/// What an upload becomes: the full size and the thumbnail, both in `format`.
#[derive(Clone, Debug)]
pub struct Processed {
    pub format: Format,
    pub full: Encoded,
    pub thumb: Encoded,
}

fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    limits
}

fn refusal(e: image::ImageError) -> ImageRefusal {
    match e {
        image::ImageError::Limits(_) => ImageRefusal::TooManyPixels,
        _ => ImageRefusal::Unsupported,
    }
}

/// Whether a picture of this size is decoded at all.
pub fn size_allowed(width: u32, height: u32, decoded_bytes: u64) -> bool {
    width > 0
        && height > 0
        && width <= MAX_SIDE
        && height <= MAX_SIDE
        && u64::from(width) * u64::from(height) <= MAX_PIXELS
        && decoded_bytes <= MAX_DECODED_BYTES
}

/// Decodes `bytes` (refusing what the policy above refuses) into upright pixels.
pub fn decode(bytes: &[u8]) -> Result<DynamicImage, ImageRefusal> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| ImageRefusal::Unsupported)?;
    if !matches!(
        reader.format(),
        Some(ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP)
    ) {
        return Err(ImageRefusal::Unsupported);
    }
    reader.limits(limits());
    // Reads the header only: the dimensions and the colour type.
    let mut decoder = reader.into_decoder().map_err(refusal)?;
    let (width, height) = decoder.dimensions();
    if !size_allowed(width, height, decoder.total_bytes()) {
        return Err(ImageRefusal::TooManyPixels);
    }
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(refusal)?;
    // Shrink first: rotating the small picture is cheaper and the bound is square anyway.
    if image.width() > FULL_MAX_SIDE || image.height() > FULL_MAX_SIDE {
        image = image.thumbnail(FULL_MAX_SIDE, FULL_MAX_SIDE);
    }
    image.apply_orientation(orientation);
    Ok(image)
}

/// Whether any pixel is not fully opaque.
fn has_transparency(image: &DynamicImage) -> bool {
    image.color().has_alpha() && image.to_rgba8().pixels().any(|p| p.0[3] < u8::MAX)
}

fn encode(image: &DynamicImage, format: Format) -> Result<Encoded, ImageRefusal> {
    let mut bytes = Vec::new();
    let written = match format {
        Format::Jpeg => DynamicImage::ImageRgb8(image.to_rgb8()).write_with_encoder(
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY),
        ),
        Format::Png => DynamicImage::ImageRgba8(image.to_rgba8()).write_with_encoder(
            image::codecs::png::PngEncoder::new_with_quality(
                &mut bytes,
                image::codecs::png::CompressionType::Default,
                image::codecs::png::FilterType::Adaptive,
            ),
        ),
    };
    // Encoding pixels we decoded ourselves cannot meet bad input; a failure here is ours.
    written.map_err(|_| ImageRefusal::Unsupported)?;
    Ok(Encoded {
        bytes,
        width: image.width(),
        height: image.height(),
    })
}

/// The centred square of `image`, at most `THUMB_SIDE` a side.
fn square_thumbnail(image: &DynamicImage) -> DynamicImage {
    let side = image.width().min(image.height());
    let square = image.crop_imm(
        (image.width() - side) / 2,
        (image.height() - side) / 2,
        side,
        side,
    );
    if side > THUMB_SIDE {
        square.thumbnail_exact(THUMB_SIDE, THUMB_SIDE)
    } else {
        square
    }
}

/// The whole job: decode, bound, re-encode the full size and the thumbnail.
pub fn process(bytes: &[u8]) -> Result<Processed, ImageRefusal> {
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(ImageRefusal::FileTooLarge);
    }
    let image = decode(bytes)?;
    let format = if has_transparency(&image) {
        Format::Png
    } else {
        Format::Jpeg
    };
    let thumb = encode(&square_thumbnail(&image), format)?;
    let full = encode(&image, format)?;
    Ok(Processed {
        format,
        full,
        thumb,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use image::{ImageBuffer, Rgb, Rgba};

    /// A JPEG of `w` x `h` pixels (a gradient, so it is not trivially compressible).
    pub fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = ImageBuffer::from_fn(w, h, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
        let mut out = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
                &mut out, 90,
            ))
            .unwrap();
        out
    }

    /// A minimal PNG that claims `w` x `h` pixels: signature and IHDR (CRC included), then
    /// one tiny IDAT and IEND. Its pixels were never there: only the header counts.
    pub fn png_header_only(w: u32, h: u32) -> Vec<u8> {
        fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            let start = out.len();
            out.extend_from_slice(kind);
            out.extend_from_slice(data);
            let crc = crc32(&out[start..]);
            out.extend_from_slice(&crc.to_be_bytes());
        }
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&w.to_be_bytes());
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[8, 6, 0, 0, 0]); // 8-bit RGBA, deflate, no interlace
        chunk(&mut out, b"IHDR", &ihdr);
        chunk(
            &mut out,
            b"IDAT",
            &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
        );
        chunk(&mut out, b"IEND", &[]);
        out
    }

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

    fn decoded(bytes: &[u8]) -> DynamicImage {
        image::load_from_memory(bytes).unwrap()
    }

    #[test]
    fn a_large_photo_becomes_a_bounded_jpeg_and_a_square_thumbnail() {
        let p = process(&jpeg(2400, 1200)).unwrap();
        assert_eq!(p.format, Format::Jpeg);
        assert_eq!((p.full.width, p.full.height), (1600, 800));
        assert_eq!((p.thumb.width, p.thumb.height), (400, 400));
        let full = decoded(&p.full.bytes);
        assert_eq!((full.width(), full.height()), (1600, 800));
        assert_eq!(
            image::guess_format(&p.thumb.bytes).unwrap(),
            ImageFormat::Jpeg
        );
    }

    #[test]
    fn small_pictures_are_not_enlarged() {
        let p = process(&jpeg(300, 200)).unwrap();
        assert_eq!((p.full.width, p.full.height), (300, 200));
        assert_eq!((p.thumb.width, p.thumb.height), (200, 200));
    }

    #[test]
    fn transparency_is_kept_as_png_and_opaque_png_becomes_jpeg() {
        let see_through = ImageBuffer::from_fn(50, 50, |x, _| Rgba([255, 0, 0, (x * 5) as u8]));
        let mut png = Vec::new();
        DynamicImage::ImageRgba8(see_through)
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        let p = process(&png).unwrap();
        assert_eq!(p.format, Format::Png);
        assert!(decoded(&p.full.bytes).color().has_alpha());

        let opaque = ImageBuffer::from_fn(50, 50, |_, _| Rgba([0, 0, 255, 255]));
        let mut png = Vec::new();
        DynamicImage::ImageRgba8(opaque)
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        assert_eq!(process(&png).unwrap().format, Format::Jpeg);
    }

    #[test]
    fn webp_is_accepted() {
        let img = ImageBuffer::from_fn(64, 32, |x, _| Rgb([x as u8 * 4, 10, 10]));
        let mut webp = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut webp), ImageFormat::WebP)
            .unwrap();
        let p = process(&webp).unwrap();
        assert_eq!((p.full.width, p.full.height), (64, 32));
    }

    #[test]
    fn anything_else_is_unsupported() {
        assert_eq!(
            process(b"just some text, named photo.jpg").unwrap_err(),
            ImageRefusal::Unsupported
        );
        // A GIF is a picture, but not one of the three formats.
        assert_eq!(
            process(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;").unwrap_err(),
            ImageRefusal::Unsupported
        );
        // The start of a JPEG, without its frame. (A JPEG cut later decodes, its missing
        // part grey, as browsers show it.)
        let whole = jpeg(200, 200);
        assert_eq!(
            process(&whole[..40]).unwrap_err(),
            ImageRefusal::Unsupported
        );
        assert_eq!(process(&[]).unwrap_err(), ImageRefusal::Unsupported);
    }

    #[test]
    fn the_size_rule() {
        assert!(size_allowed(6000, 4000, 6000 * 4000 * 4));
        assert!(!size_allowed(10_001, 10, 1));
        assert!(!size_allowed(10, 10_001, 1));
        assert!(!size_allowed(10_000, 10_000, 1), "100 megapixels");
        assert!(!size_allowed(5000, 5000, 5000 * 5000 * 8), "16-bit RGBA");
        assert!(!size_allowed(0, 10, 0));
    }

    #[test]
    fn files_over_5_mib_are_refused_before_decoding() {
        let big = vec![0u8; MAX_UPLOAD_BYTES + 1];
        assert_eq!(process(&big).unwrap_err(), ImageRefusal::FileTooLarge);
    }

    #[test]
    fn huge_dimensions_are_refused_from_the_header() {
        assert_eq!(
            process(&png_header_only(20_000, 20_000)).unwrap_err(),
            ImageRefusal::TooManyPixels
        );
        // Within the side limit but too many pixels in all.
        assert_eq!(
            process(&png_header_only(9_000, 9_000)).unwrap_err(),
            ImageRefusal::TooManyPixels
        );
        // The same header with a size we accept gets past the check and fails on the
        // missing pixels instead: it is the size that was refused above.
        assert_eq!(
            process(&png_header_only(100, 100)).unwrap_err(),
            ImageRefusal::Unsupported
        );
    }

    /// Bytes allocated by the current thread, counted by the test allocator (`lib.rs`).
    #[test]
    fn a_decompression_bomb_is_refused_without_allocating_its_pixels() {
        let bomb = png_header_only(20_000, 20_000);
        let before = crate::test_alloc::allocated_on_this_thread();
        let refused = process(&bomb);
        let used = crate::test_alloc::allocated_on_this_thread() - before;
        assert_eq!(refused.unwrap_err(), ImageRefusal::TooManyPixels);
        // 20,000 x 20,000 RGBA would be 1.6 GB; reading the header takes a few KiB.
        assert!(used < 1024 * 1024, "{used} bytes allocated");

        // The counter does see a real decode (the check above can fail).
        let before = crate::test_alloc::allocated_on_this_thread();
        process(&jpeg(1000, 1000)).unwrap();
        let used = crate::test_alloc::allocated_on_this_thread() - before;
        assert!(used > 3_000_000, "{used} bytes allocated for 1 MP");
    }
}
