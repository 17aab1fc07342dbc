//! The upload pipeline, pure and blocking (run it off the async workers):
//! sniff the format from the bytes, refuse huge images from their header
//! before decoding, decode, turn upright (EXIF orientation), centre-crop to
//! a square, resize to 512×512 and re-encode. Re-encoding from pixels drops
//! every piece of metadata (EXIF, GPS, comments).

use std::io::Cursor;

use image::imageops::{self, FilterType};
use image::{DynamicImage, GenericImageView, ImageDecoder, ImageFormat, ImageReader, Limits};
use sha2::{Digest, Sha256};

/// Side of every stored picture, in pixels.
pub const SIZE: u32 = 512;
/// Largest accepted image, in pixels (width × height), checked before decoding.
pub const MAX_PIXELS: u64 = 40_000_000;

/// Accepted input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
    /// WebP.
    WebP,
    /// GIF (the first frame is kept).
    Gif,
}

impl Format {
    fn image_format(self) -> ImageFormat {
        match self {
            Format::Png => ImageFormat::Png,
            Format::Jpeg => ImageFormat::Jpeg,
            Format::WebP => ImageFormat::WebP,
            Format::Gif => ImageFormat::Gif,
        }
    }
}

/// The format the bytes are in, judged only by their signature.
pub fn sniff(bytes: &[u8]) -> Option<Format> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(Format::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(Format::Jpeg)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some(Format::Gif)
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some(Format::WebP)
    } else {
        None
    }
}

/// Why an upload was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PipelineError {
    /// Not PNG, JPEG, WebP or GIF, or does not decode as one (415).
    #[error("the file is not a PNG, JPEG, WebP or GIF image")]
    Unsupported,
    /// Over `MAX_PIXELS` (422).
    #[error("the image is {width}×{height} pixels; at most 40 megapixels are accepted")]
    TooLarge {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
    },
}

/// A processed picture, ready to store.
#[derive(Debug, Clone)]
pub struct Processed {
    /// The encoded image.
    pub bytes: Vec<u8>,
    /// `jpg` or `png`.
    pub extension: &'static str,
    /// First 16 hex digits of the SHA-256 of `bytes`: part of the key and the ETag.
    pub digest: String,
}

/// The content type of a stored extension.
pub fn content_type(extension: &str) -> Option<&'static str> {
    match extension {
        "jpg" => Some("image/jpeg"),
        "png" => Some("image/png"),
        _ => None,
    }
}

/// Runs the whole pipeline on an upload.
pub fn process(input: &[u8]) -> Result<Processed, PipelineError> {
    let format = sniff(input).ok_or(PipelineError::Unsupported)?;
    let reader = || ImageReader::with_format(Cursor::new(input), format.image_format());
    // Reading the header allocates nothing; the decoders' own limits would
    // refuse a huge header as "unsupported" before we could say why.
    let mut probe = reader();
    probe.no_limits();
    let (width, height) = probe
        .into_dimensions()
        .map_err(|_| PipelineError::Unsupported)?;
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(PipelineError::TooLarge { width, height });
    }
    if width == 0 || height == 0 {
        return Err(PipelineError::Unsupported);
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    limits.max_alloc = Some(MAX_PIXELS * 8 + (64 << 20));
    let mut decoder = reader()
        .into_decoder()
        .map_err(|_| PipelineError::Unsupported)?;
    decoder
        .set_limits(limits)
        .map_err(|_| PipelineError::Unsupported)?;
    let orientation = decoder.orientation().ok();
    let mut image = DynamicImage::from_decoder(decoder).map_err(|_| PipelineError::Unsupported)?;
    if let Some(orientation) = orientation {
        image.apply_orientation(orientation);
    }
    let resized = centre_square(image);
    let mut bytes = Vec::new();
    // GIF and WebP decode to RGBA even when opaque: keep PNG only for real transparency.
    let transparent =
        resized.color().has_alpha() && resized.to_rgba8().pixels().any(|p| p[3] < 255);
    let extension = if transparent {
        DynamicImage::ImageRgba8(resized.to_rgba8())
            .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
            .map_err(|_| PipelineError::Unsupported)?;
        "png"
    } else {
        let rgb = resized.to_rgb8();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85)
            .encode_image(&rgb)
            .map_err(|_| PipelineError::Unsupported)?;
        "jpg"
    };
    let digest = hex::encode(Sha256::digest(&bytes))[..16].to_owned();
    Ok(Processed {
        bytes,
        extension,
        digest,
    })
}

/// The centred square of `image`, resized to `SIZE`×`SIZE`.
///
/// A photo several times larger than the result is reduced by area
/// averaging, read straight from the decoded pixels (no cropped copy, no
/// floating-point intermediate): each upload then needs little more memory
/// than its decoded pixels. Smaller images, where that would alias, go
/// through a Catmull-Rom filter.
fn centre_square(image: DynamicImage) -> DynamicImage {
    let (width, height) = (image.width(), image.height());
    let side = width.min(height);
    let (x, y) = ((width - side) / 2, (height - side) / 2);
    if side < 2 * SIZE {
        return image
            .crop_imm(x, y, side, side)
            .resize_exact(SIZE, SIZE, FilterType::CatmullRom);
    }
    if image.color().has_alpha() {
        let pixels = image.into_rgba8();
        let square = pixels.view(x, y, side, side);
        DynamicImage::ImageRgba8(imageops::thumbnail(&*square, SIZE, SIZE))
    } else {
        let pixels = image.into_rgb8();
        let square = pixels.view(x, y, side, side);
        DynamicImage::ImageRgb8(imageops::thumbnail(&*square, SIZE, SIZE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Rgb, Rgba};

    fn encode(image: DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut out), format)
            .expect("encode");
        out
    }

    fn photo(width: u32, height: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(ImageBuffer::from_fn(width, height, |x, y| {
            Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        }))
    }

    #[test]
    fn every_format_becomes_a_512_square() {
        for format in [
            ImageFormat::Png,
            ImageFormat::Jpeg,
            ImageFormat::Gif,
            ImageFormat::WebP,
        ] {
            let input = encode(photo(300, 200), format);
            let out = process(&input).unwrap_or_else(|e| panic!("{format:?}: {e}"));
            let decoded = image::load_from_memory(&out.bytes).expect("output decodes");
            assert_eq!(
                (decoded.width(), decoded.height()),
                (SIZE, SIZE),
                "{format:?}"
            );
            assert_eq!(out.digest.len(), 16);
        }
    }

    #[test]
    fn transparency_is_kept_as_png_and_photos_become_jpeg() {
        let rgba = DynamicImage::ImageRgba8(ImageBuffer::from_pixel(10, 10, Rgba([0, 0, 0, 0])));
        assert_eq!(
            process(&encode(rgba, ImageFormat::Png))
                .expect("png")
                .extension,
            "png"
        );
        assert_eq!(
            process(&encode(photo(10, 10), ImageFormat::Png))
                .expect("jpg")
                .extension,
            "jpg"
        );
    }

    /// A wide image: red left third, green centre, blue right third.
    fn thirds(width: u32, height: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(ImageBuffer::from_fn(width, height, |x, _| {
            match x * 3 / width {
                0 => Rgb([255, 0, 0]),
                1 => Rgb([0, 255, 0]),
                _ => Rgb([0, 0, 255]),
            }
        }))
    }

    #[test]
    fn the_centre_is_kept() {
        let out = process(&encode(thirds(300, 100), ImageFormat::Png)).expect("ok");
        let pixel = image::load_from_memory(&out.bytes)
            .expect("decode")
            .to_rgb8();
        let centre = pixel.get_pixel(256, 256);
        assert!(
            centre[1] > 200 && centre[0] < 60 && centre[2] < 60,
            "{centre:?}"
        );
    }

    #[test]
    fn a_large_photo_is_reduced_from_its_centre_square() {
        // 2400×1200: thirds of 800 px. The centre square (600..1800) is
        // red for its first sixth, green in the middle, blue for its last sixth.
        let out = process(&encode(thirds(2400, 1200), ImageFormat::Png)).expect("ok");
        assert_eq!(out.extension, "jpg");
        let square = image::load_from_memory(&out.bytes)
            .expect("decode")
            .to_rgb8();
        assert_eq!(square.dimensions(), (SIZE, SIZE));
        let (left, centre, right) = (
            square.get_pixel(20, 256),
            square.get_pixel(256, 256),
            square.get_pixel(SIZE - 20, 256),
        );
        assert!(left[0] > 200 && left[1] < 60, "left edge {left:?}");
        assert!(centre[1] > 200 && centre[0] < 60, "centre {centre:?}");
        assert!(right[2] > 200 && right[1] < 60, "right edge {right:?}");
        // Transparency survives the same path.
        let clear =
            DynamicImage::ImageRgba8(ImageBuffer::from_pixel(1500, 1100, Rgba([9, 9, 9, 0])));
        let out = process(&encode(clear, ImageFormat::Png)).expect("ok");
        assert_eq!(out.extension, "png");
        let decoded = image::load_from_memory(&out.bytes).expect("decode");
        assert_eq!((decoded.width(), decoded.height()), (SIZE, SIZE));
        assert_eq!(decoded.to_rgba8().get_pixel(256, 256)[3], 0);
    }

    fn jpeg(image: &DynamicImage, quality: u8) -> Vec<u8> {
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
            .encode_image(image)
            .expect("encode");
        out
    }

    /// `jpeg` with an EXIF segment giving `orientation` (1–8).
    fn with_orientation(jpeg: &[u8], orientation: u8) -> Vec<u8> {
        let mut exif = b"Exif\0\0MM\0\x2a\0\0\0\x08".to_vec();
        exif.extend_from_slice(&[0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, orientation, 0, 0]);
        exif.extend_from_slice(&[0, 0, 0, 0]);
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&u16::try_from(exif.len() + 2).expect("small").to_be_bytes());
        out.extend_from_slice(&exif);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    #[test]
    fn exif_orientation_turns_the_picture_upright() {
        // Left half red, right half blue; orientation 6 = turn 90° clockwise,
        // which brings the left edge to the top. Both resize paths: the
        // area-averaged large photo and the filtered small one.
        let halves = |width: u32, height: u32| {
            DynamicImage::ImageRgb8(ImageBuffer::from_fn(width, height, |x, _| {
                if x < width / 2 {
                    Rgb([255, 0, 0])
                } else {
                    Rgb([0, 0, 255])
                }
            }))
        };
        for (width, height) in [(2000, 1200), (400, 240)] {
            let plain = jpeg(&halves(width, height), 90);
            let turned = process(&with_orientation(&plain, 6)).expect("processed");
            let square = image::load_from_memory(&turned.bytes)
                .expect("decode")
                .to_rgb8();
            let (top, bottom) = (square.get_pixel(256, 20), square.get_pixel(256, SIZE - 20));
            assert!(top[0] > 200 && top[2] < 60, "{width}×{height}: top {top:?}");
            assert!(
                bottom[2] > 200 && bottom[0] < 60,
                "{width}×{height}: bottom {bottom:?}"
            );
            // Without the tag the halves stay side by side.
            let as_is = process(&plain).expect("processed");
            let square = image::load_from_memory(&as_is.bytes)
                .expect("decode")
                .to_rgb8();
            let (left, right) = (square.get_pixel(20, 256), square.get_pixel(SIZE - 20, 256));
            assert!(
                left[0] > 200 && right[2] > 200,
                "{width}×{height}: {left:?} {right:?}"
            );
        }
    }

    #[test]
    fn text_is_refused_whatever_its_name() {
        assert_eq!(
            process(b"hello, I am a png").err(),
            Some(PipelineError::Unsupported)
        );
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n"), Some(Format::Png));
        let truncated = &encode(photo(50, 50), ImageFormat::Png)[..40];
        assert_eq!(process(truncated).err(), Some(PipelineError::Unsupported));
    }

    #[test]
    fn a_decompression_bomb_is_refused_from_its_header() {
        // A PNG declaring 100 000 × 100 000 pixels, with a token IDAT chunk.
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(chunk(b"IHDR", &ihdr));
        png.extend(chunk(
            b"IDAT",
            &[0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
        ));
        png.extend(chunk(b"IEND", &[]));
        assert_eq!(
            process(&png).err(),
            Some(PipelineError::TooLarge {
                width: 100_000,
                height: 100_000
            })
        );
    }

    fn chunk(kind: &[u8], data: &[u8]) -> Vec<u8> {
        let mut out = u32::try_from(data.len())
            .expect("small")
            .to_be_bytes()
            .to_vec();
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
        out
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for byte in data {
            crc ^= u32::from(*byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
}
