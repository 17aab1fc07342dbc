//! The upload pipeline, pure and blocking (run it off the async workers):
//! sniff the format from the bytes, read the header and plan what decoding
//! will hold in memory (refusing huge images before anything is decoded),
//! decode at 8 bits per channel, centre-crop to a square, resize to
//! 512×512, turn upright (EXIF orientation) and re-encode. Re-encoding from
//! pixels drops every piece of metadata (EXIF, GPS, comments).

use std::io::Cursor;

use image::imageops::{self, FilterType};
use image::metadata::Orientation;
use image::{
    ColorType, DynamicImage, GenericImageView, ImageBuffer, ImageDecoder, ImageFormat, ImageReader,
    Limits,
};
use sha2::{Digest, Sha256};

/// Side of every stored picture, in pixels.
pub const SIZE: u32 = 512;
/// Largest accepted image, in pixels (width × height), checked before decoding.
pub const MAX_PIXELS: u64 = 40_000_000;
/// What the pipeline holds besides the decoded image and the decoder's own
/// buffers: the cropped copy and floating-point rows of a small image's
/// resize (under 1024 px a side), the 512×512 result and its encoding.
const WORKING_BYTES: u64 = 24 << 20;

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

    /// Bytes per pixel the decoder holds besides its output: zune-jpeg keeps
    /// a progressive image's coefficients (two bytes a sample), image-webp
    /// its YUV planes or ARGB words, the GIF decoder a frame buffer. PNG
    /// and sequential JPEG decode row by row straight into the output.
    fn decoder_bytes_per_pixel(self, input: &[u8], channels: u64) -> u64 {
        match self {
            Format::Png => 0,
            Format::Jpeg if is_sequential_jpeg(input) => 0,
            Format::Jpeg => 2 * channels,
            Format::WebP | Format::Gif => 4,
        }
    }
}

/// Whether a JPEG's frame header, the first SOF segment, says sequential
/// (baseline or extended Huffman). Anything else, or a header not found,
/// counts as progressive: the costlier guess.
fn is_sequential_jpeg(input: &[u8]) -> bool {
    let mut at = 2;
    while let Some(&[0xFF, marker]) = input.get(at..at + 2) {
        match marker {
            0xFF => at += 1,
            0xC0 | 0xC1 => return true,
            0xC2..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => return false,
            0xD0..=0xD9 | 0x01 => at += 2,
            0xDA => return false,
            _ => {
                let Some(&[high, low]) = input.get(at + 2..at + 4) else {
                    return false;
                };
                at += 2 + usize::from(u16::from_be_bytes([high, low]));
            }
        }
    }
    false
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

/// What decoding an upload takes, read from its header alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// The format.
    pub format: Format,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The decoded pixels' colour type, always 8 bits per channel (16-bit
    /// PNGs are decoded at 8).
    pub color: ColorType,
    /// The most memory the pipeline holds at once for this upload, in
    /// bytes: the upload, the decoded image, the decoder's own buffers, the
    /// 8-bit RGB(A) copy a grey image is converted to, and the working set.
    pub memory: u64,
}

/// Plans the decoding of `input` from its header: refuses what is not an
/// image, what is over `MAX_PIXELS`, and what would not decode at 8 bits
/// per channel. Allocates nothing in proportion to the image.
pub fn plan(input: &[u8]) -> Result<Plan, PipelineError> {
    let format = sniff(input).ok_or(PipelineError::Unsupported)?;
    // The decoders' own limits would refuse a huge header as "unsupported"
    // before we could say why: read the dimensions without them first.
    let mut probe = ImageReader::with_format(Cursor::new(input), format.image_format());
    probe.no_limits();
    let (width, height) = probe
        .into_dimensions()
        .map_err(|_| PipelineError::Unsupported)?;
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_PIXELS {
        return Err(PipelineError::TooLarge { width, height });
    }
    if pixels == 0 {
        return Err(PipelineError::Unsupported);
    }
    let color = match format {
        Format::Png => png_color(&png_reader(input)?)?,
        _ => decoder(input, format)?.color_type(),
    };
    if color.bytes_per_pixel() != color.channel_count() {
        return Err(PipelineError::Unsupported);
    }
    let channels = u64::from(color.channel_count());
    let converted = match color {
        ColorType::Rgb8 | ColorType::Rgba8 => 0,
        _ if color.has_alpha() => 4,
        _ => 3,
    };
    let per_pixel = channels + converted + format.decoder_bytes_per_pixel(input, channels);
    let memory = 2 * input.len() as u64 + pixels * per_pixel + WORKING_BYTES;
    Ok(Plan {
        format,
        width,
        height,
        color,
        memory,
    })
}

/// Runs the whole pipeline on an upload.
pub fn process(input: &[u8]) -> Result<Processed, PipelineError> {
    let plan = plan(input)?;
    process_planned(input, &plan)
}

/// Runs the pipeline on an upload already planned by [`plan`].
pub fn process_planned(input: &[u8], plan: &Plan) -> Result<Processed, PipelineError> {
    let (image, orientation) = match plan.format {
        Format::Png => decode_png(input)?,
        _ => decode_other(input, plan)?,
    };
    // Cropping the centre and resizing commute with the eight EXIF
    // orientations: turning the 512×512 result costs nothing, turning the
    // decoded image would copy it.
    let mut square = centre_square(image);
    if let Some(orientation) = orientation {
        square.apply_orientation(orientation);
    }
    encode(&square)
}

/// A PNG reader whose output is 8 bits per channel: palettes and low bit
/// depths expanded, 16-bit samples reduced to their high byte.
fn png_reader(input: &[u8]) -> Result<png::Reader<Cursor<&[u8]>>, PipelineError> {
    let mut decoder = png::Decoder::new(Cursor::new(input));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    decoder.read_info().map_err(|_| PipelineError::Unsupported)
}

fn png_color(reader: &png::Reader<Cursor<&[u8]>>) -> Result<ColorType, PipelineError> {
    match reader.output_color_type() {
        (png::ColorType::Grayscale, png::BitDepth::Eight) => Ok(ColorType::L8),
        (png::ColorType::GrayscaleAlpha, png::BitDepth::Eight) => Ok(ColorType::La8),
        (png::ColorType::Rgb, png::BitDepth::Eight) => Ok(ColorType::Rgb8),
        (png::ColorType::Rgba, png::BitDepth::Eight) => Ok(ColorType::Rgba8),
        _ => Err(PipelineError::Unsupported),
    }
}

/// Decodes a PNG at 8 bits per channel (the `image` crate keeps 16).
fn decode_png(input: &[u8]) -> Result<(DynamicImage, Option<Orientation>), PipelineError> {
    let mut reader = png_reader(input)?;
    let color = png_color(&reader)?;
    let size = reader
        .output_buffer_size()
        .ok_or(PipelineError::Unsupported)?;
    let mut pixels = vec![0; size];
    reader
        .next_frame(&mut pixels)
        .map_err(|_| PipelineError::Unsupported)?;
    let info = reader.info();
    let orientation = info
        .exif_metadata
        .as_deref()
        .and_then(Orientation::from_exif_chunk);
    let (width, height) = info.size();
    let image = match color {
        ColorType::L8 => ImageBuffer::from_raw(width, height, pixels).map(DynamicImage::ImageLuma8),
        ColorType::La8 => {
            ImageBuffer::from_raw(width, height, pixels).map(DynamicImage::ImageLumaA8)
        }
        ColorType::Rgb8 => {
            ImageBuffer::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8)
        }
        _ => ImageBuffer::from_raw(width, height, pixels).map(DynamicImage::ImageRgba8),
    };
    Ok((image.ok_or(PipelineError::Unsupported)?, orientation))
}

fn decoder(input: &[u8], format: Format) -> Result<impl ImageDecoder + '_, PipelineError> {
    ImageReader::with_format(Cursor::new(input), format.image_format())
        .into_decoder()
        .map_err(|_| PipelineError::Unsupported)
}

/// Decodes a JPEG, WebP or GIF (8 bits per channel), held to the plan.
fn decode_other(
    input: &[u8],
    plan: &Plan,
) -> Result<(DynamicImage, Option<Orientation>), PipelineError> {
    let mut decoder = decoder(input, plan.format)?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(plan.width);
    limits.max_image_height = Some(plan.height);
    limits.max_alloc = Some(plan.memory);
    decoder
        .set_limits(limits)
        .map_err(|_| PipelineError::Unsupported)?;
    if decoder.color_type() != plan.color {
        return Err(PipelineError::Unsupported);
    }
    let orientation = decoder.orientation().ok();
    let image = DynamicImage::from_decoder(decoder).map_err(|_| PipelineError::Unsupported)?;
    Ok((image, orientation))
}

/// Encodes the square: PNG when it has real transparency, JPEG otherwise.
fn encode(square: &DynamicImage) -> Result<Processed, PipelineError> {
    let mut bytes = Vec::new();
    // GIF and WebP decode to RGBA even when opaque: keep PNG only for real transparency.
    let transparent = square.color().has_alpha() && square.to_rgba8().pixels().any(|p| p[3] < 255);
    let extension = if transparent {
        DynamicImage::ImageRgba8(square.to_rgba8())
            .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
            .map_err(|_| PipelineError::Unsupported)?;
        "png"
    } else {
        let rgb = square.to_rgb8();
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

    /// A PNG declaring `width × height` of `color_type` at `depth` bits,
    /// with a token IDAT chunk.
    fn png_header(width: u32, height: u32, depth: u8, color_type: u8) -> Vec<u8> {
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&width.to_be_bytes());
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[depth, color_type, 0, 0, 0]);
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(chunk(b"IHDR", &ihdr));
        png.extend(chunk(
            b"IDAT",
            &[0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
        ));
        png.extend(chunk(b"IEND", &[]));
        png
    }

    #[test]
    fn a_16_bit_png_is_planned_at_8_bits() {
        // 6000×4000 RGBA at 16 bits is 192 MB decoded as `image` does it;
        // at 8 bits, 96 MB.
        let input = png_header(6000, 4000, 16, 6);
        let plan = plan(&input).expect("planned");
        assert_eq!(plan.color, ColorType::Rgba8);
        let pixels = 6000 * 4000;
        let expected = 2 * input.len() as u64 + pixels * 4 + WORKING_BYTES;
        assert_eq!(plan.memory, expected);
        let grey = plan_of(&png_header(1000, 1000, 16, 0));
        assert_eq!(grey.color, ColorType::L8);
        assert!(
            grey.memory >= 1_000_000 * (1 + 3),
            "a grey image is converted to RGB: {}",
            grey.memory
        );
    }

    fn plan_of(input: &[u8]) -> Plan {
        plan(input).expect("planned")
    }

    #[test]
    fn a_16_bit_png_decodes_to_the_same_picture() {
        let halves = DynamicImage::ImageRgba16(ImageBuffer::from_fn(1200, 800, |x, _| {
            if x < 600 {
                image::Rgba([65535, 0, 0, 65535])
            } else {
                image::Rgba([0, 0, 65535, 65535])
            }
        }));
        let input = encode(halves, ImageFormat::Png);
        assert_eq!(plan_of(&input).color, ColorType::Rgba8);
        let out = process(&input).expect("processed");
        assert_eq!(out.extension, "jpg", "opaque");
        let square = image::load_from_memory(&out.bytes)
            .expect("decode")
            .to_rgb8();
        let (left, right) = (square.get_pixel(20, 256), square.get_pixel(SIZE - 20, 256));
        assert!(left[0] > 200 && left[2] < 60, "{left:?}");
        assert!(right[2] > 200 && right[0] < 60, "{right:?}");
    }

    /// `jpeg` with its baseline frame header (SOF0) marked progressive (SOF2).
    fn as_progressive(jpeg: &[u8]) -> Vec<u8> {
        let mut out = jpeg.to_vec();
        let sof = out
            .windows(2)
            .position(|w| w == [0xFF, 0xC0])
            .expect("a baseline JPEG");
        out[sof + 1] = 0xC2;
        out
    }

    #[test]
    fn the_plan_counts_the_decoder_and_the_conversion() {
        let jpeg = encode(photo(100, 100), ImageFormat::Jpeg);
        assert!(is_sequential_jpeg(&jpeg));
        let plan = plan_of(&jpeg);
        assert_eq!(plan.color, ColorType::Rgb8);
        let expected = 2 * jpeg.len() as u64 + 10_000 * 3 + WORKING_BYTES;
        assert_eq!(plan.memory, expected, "sequential: the pixels alone");
        let progressive = as_progressive(&jpeg);
        assert!(!is_sequential_jpeg(&progressive));
        let expected = 2 * jpeg.len() as u64 + 10_000 * (3 + 6) + WORKING_BYTES;
        assert_eq!(
            plan_of(&progressive).memory,
            expected,
            "progressive: and its coefficients"
        );
        let with_exif = with_orientation(&jpeg, 6);
        assert!(
            is_sequential_jpeg(&with_exif),
            "segments before SOF are skipped"
        );
        assert!(!is_sequential_jpeg(b"\xFF\xD8\xFF\xE0\x00"), "cut short");
        let grey = DynamicImage::ImageLuma8(ImageBuffer::from_pixel(100, 100, image::Luma([7])));
        let png = encode(grey, ImageFormat::Png);
        let expected = 2 * png.len() as u64 + 10_000 * (1 + 3) + WORKING_BYTES;
        assert_eq!(plan_of(&png).memory, expected, "grey, then RGB");
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
