//! QR codes of links: SVG for pages, PNG for download and printing.
use crate::error::AppError;
use actix_web::HttpResponse;
use actix_web::http::header;
use qrcode::render::svg;
use qrcode::{Color, EcLevel, QrCode};

fn code(url: &str) -> Result<QrCode, AppError> {
    QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M)
        .map_err(|e| AppError::Internal(format!("QR code: {e}")))
}

/// An SVG QR code, `size` pixels wide at least.
pub fn svg(url: &str, size: u32) -> Result<String, AppError> {
    Ok(code(url)?
        .render::<svg::Color<'_>>()
        .min_dimensions(size, size)
        .quiet_zone(true)
        .build())
}

/// A PNG QR code: `scale` pixels per module, with the standard 4-module quiet zone.
pub fn png(url: &str, scale: u32) -> Result<Vec<u8>, AppError> {
    let code = code(url)?;
    let modules = code.width() as u32;
    let colors = code.to_colors();
    let quiet = 4;
    let side = (modules + 2 * quiet) * scale;
    let mut pixels = vec![255u8; (side * side) as usize];
    for (i, c) in colors.iter().enumerate() {
        if *c == Color::Dark {
            let (mx, my) = (i as u32 % modules + quiet, i as u32 / modules + quiet);
            for y in my * scale..(my + 1) * scale {
                let row = (y * side) as usize;
                pixels[row + (mx * scale) as usize..row + ((mx + 1) * scale) as usize].fill(0);
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, side, side);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder
            .write_header()
            .map_err(|e| AppError::Internal(format!("PNG: {e}")))?;
        writer
            .write_image_data(&pixels)
            .map_err(|e| AppError::Internal(format!("PNG: {e}")))?;
    }
    Ok(out)
}

/// A QR code as one SVG path of unit squares (quiet zone included): its side in modules and
/// the path's `d`, for drawing inside a larger picture (a poster).
pub fn path(url: &str) -> Result<(u32, String), AppError> {
    let code = code(url)?;
    let modules = code.width();
    let quiet = 4;
    let mut d = String::new();
    for (i, c) in code.to_colors().iter().enumerate() {
        if *c == Color::Dark {
            let (x, y) = (i % modules + quiet, i / modules + quiet);
            d.push_str(&format!("M{x} {y}h1v1h-1z"));
        }
    }
    Ok((modules as u32 + 2 * quiet as u32, d))
}

pub fn svg_response(url: &str) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((header::CACHE_CONTROL, "private, max-age=3600"))
        .body(svg(url, 240)?))
}

pub fn png_response(url: &str, filename: &str) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok()
        .content_type("image/png")
        .insert_header((header::CACHE_CONTROL, "private, max-age=3600"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .body(png(url, 8)?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn qr_codes_render_as_svg_and_png() {
        let svg = super::svg("https://renke.example/s/1.abcdefghijklmnop", 200).unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"));
        let png = super::png("https://renke.example/s/1.abcdefghijklmnop", 4).unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }
}
