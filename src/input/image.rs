//! Images: which files are images, their natural order, and their MIME type, which is
//! sniffed from the bytes (scrapers name WebP files `.jpg` all the time).
//!
//! Sniffing knows more formats than every provider reads (BMP, TIFF, HEIC/HEIF, AVIF):
//! what a provider cannot read is converted before sending, or reported as a failed image
//! (see `provider::prepare`), never sent to be refused.

use std::cmp::Ordering;
use std::path::Path;

pub const EXTENSIONS: [&str; 12] =
    ["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff", "heic", "heif", "avif", "jfif"];

pub fn is_image_name(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The MIME type of an image from its magic bytes, or `None` when it is no image we know.
pub fn sniff_mime(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\xFF\xD8\xFF") {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 14 && bytes.starts_with(b"BM") && bmp_header_ok(bytes) {
        Some("image/bmp")
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        Some("image/tiff")
    } else {
        sniff_isobmff(bytes)
    }
}

/// `BM` alone is too weak a signature for a text file that happens to start with it: the
/// header's file-size field must not be smaller than the header, and its reserved bytes are 0.
fn bmp_header_ok(bytes: &[u8]) -> bool {
    let size = u32::from_le_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]);
    size >= 26 && bytes[6..10] == [0, 0, 0, 0]
}

/// HEIC, HEIF and AVIF are ISO media files: a `ftyp` box first, whose major brand (or,
/// for the generic `mif1`, a compatible brand) says which.
fn sniff_isobmff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.len() < 16 || &bytes[4..8] != b"ftyp" {
        return None;
    }
    let box_len = (u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize).clamp(16, bytes.len());
    let major = &bytes[8..12];
    // Compatible brands follow the major brand and its 4-byte minor version.
    let mut brands = std::iter::once(major).chain(bytes[16..box_len].chunks_exact(4));
    let kind = |b: &[u8]| match b {
        b"avif" | b"avis" => Some("image/avif"),
        b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" => Some("image/heic"),
        b"mif1" | b"msf1" | b"heif" => Some("image/heif"),
        _ => None,
    };
    match kind(major)? {
        "image/heif" => Some(brands.find_map(|b| kind(b).filter(|k| *k != "image/heif")).unwrap_or("image/heif")),
        k => Some(k),
    }
}

/// The usual file extension of a MIME type [`sniff_mime`] returns.
pub fn extension(mime: &str) -> Option<&'static str> {
    Some(match mime {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "image/gif" => "gif",
        "image/bmp" => "bmp",
        "image/tiff" => "tiff",
        "image/heic" => "heic",
        "image/heif" => "heif",
        "image/avif" => "avif",
        _ => return None,
    })
}

/// Natural order: `image_2` before `image_10`, digits compared as numbers.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    // Case and leading zeros only break ties, so the order is total and stable.
    natural_fold(a, b).then_with(|| a.cmp(b))
}

fn natural_fold(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let na = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let nb = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (da, db) = (&a[..na], &b[..nb]);
                let ta = trim_zeros(da);
                let tb = trim_zeros(db);
                let ord = ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb));
                if ord != Ordering::Equal {
                    return ord;
                }
                a = &a[na..];
                b = &b[nb..];
            }
            (Some(x), Some(y)) => {
                let ord = x.to_ascii_lowercase().cmp(&y.to_ascii_lowercase());
                if ord != Ordering::Equal {
                    return ord;
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let n = d.iter().take_while(|&&c| c == b'0').count();
    &d[n.min(d.len().saturating_sub(1))..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut v = vec!["image_10.jpg", "image_2.jpg", "image_1.jpg", "Image_3.png"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["image_1.jpg", "image_2.jpg", "Image_3.png", "image_10.jpg"]);
    }

    #[test]
    fn sniffing() {
        assert_eq!(sniff_mime(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff_mime(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff_mime(b"<html>"), None);
        assert_eq!(sniff_mime(b"GIF89a\x01\0"), Some("image/gif"));
        assert_eq!(sniff_mime(b"II*\0\x08\0\0\0"), Some("image/tiff"));
        assert_eq!(sniff_mime(b"MM\0*\0\0\0\x08"), Some("image/tiff"));
    }

    #[test]
    fn bmp_needs_a_plausible_header() {
        let mut bmp = b"BM".to_vec();
        bmp.extend(70u32.to_le_bytes());
        bmp.extend([0, 0, 0, 0, 54, 0, 0, 0]);
        assert_eq!(sniff_mime(&bmp), Some("image/bmp"));
        // A text file that starts with "BM" is no image.
        assert_eq!(sniff_mime(b"BMW interview notes"), None);
    }

    fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let len = 16 + 4 * compatible.len();
        let mut v = (len as u32).to_be_bytes().to_vec();
        v.extend(b"ftyp");
        v.extend(major);
        v.extend([0, 0, 0, 0]);
        for c in compatible {
            v.extend(*c);
        }
        v.extend(b"\0\0\0\x08meta");
        v
    }

    #[test]
    fn iso_media_brands() {
        assert_eq!(sniff_mime(&ftyp(b"heic", &[b"mif1", b"heic"])), Some("image/heic"));
        assert_eq!(sniff_mime(&ftyp(b"avif", &[b"mif1", b"avif"])), Some("image/avif"));
        // The generic brand: the compatible brands decide.
        assert_eq!(sniff_mime(&ftyp(b"mif1", &[b"mif1", b"avif"])), Some("image/avif"));
        assert_eq!(sniff_mime(&ftyp(b"mif1", &[b"mif1", b"heic"])), Some("image/heic"));
        assert_eq!(sniff_mime(&ftyp(b"mif1", &[b"mif1"])), Some("image/heif"));
        // An MP4 video is an ISO media file too, but no image.
        assert_eq!(sniff_mime(&ftyp(b"isom", &[b"isom", b"mp41"])), None);
    }

    #[test]
    fn every_sniffed_type_has_an_extension() {
        for mime in [
            "image/jpeg",
            "image/png",
            "image/webp",
            "image/gif",
            "image/bmp",
            "image/tiff",
            "image/heic",
            "image/heif",
            "image/avif",
        ] {
            let ext = extension(mime).unwrap();
            assert!(is_image_name(Path::new(&format!("a.{ext}"))), "{ext}");
        }
    }
}
