//! A voucher's QR code: SVG made on the server from the code (what the shop's scanner
//! reads is the code itself, the same text the owner would type).

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// The QR code of `code` as a standalone SVG document; `None` only if the text does not
/// fit a QR code (a voucher code always does).
pub fn svg(code: &str) -> Option<String> {
    let qr = QrCode::with_error_correction_level(code.as_bytes(), EcLevel::M).ok()?;
    Some(
        qr.render::<svg::Color>()
            .min_dimensions(240, 240)
            .quiet_zone(true)
            .dark_color(svg::Color("#000000"))
            .light_color(svg::Color("#ffffff"))
            .build(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_code_makes_an_svg() {
        let svg = super::svg("ABCD-EFGH-2345-JKLM").unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains("<svg") && svg.ends_with("</svg>"));
    }
}
