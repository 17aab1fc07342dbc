//! The generated default picture: the user's initials on a colour derived
//! from their id, as a small SVG.

use sha2::{Digest, Sha256};

/// Up to two initials from the names, else from the nickname.
pub fn initials(first: Option<&str>, last: Option<&str>, nickname: &str) -> String {
    let first_letter = |s: &str| s.chars().find(|c| c.is_alphanumeric());
    let from_names: String = [first, last]
        .into_iter()
        .flatten()
        .filter_map(first_letter)
        .collect();
    let chosen = if from_names.is_empty() {
        nickname
            .split(['_', '-'])
            .filter_map(first_letter)
            .take(2)
            .collect()
    } else {
        from_names
    };
    chosen
        .chars()
        .flat_map(char::to_uppercase)
        .take(2)
        .collect()
}

/// The SVG for `initials`, coloured by `seed`. Text is XML-escaped.
pub fn svg(initials: &str, seed: &[u8]) -> String {
    let hue = u32::from(Sha256::digest(seed)[0]) * 360 / 256;
    let text: String = initials
        .chars()
        .map(|c| match c {
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&apos;".to_owned(),
            c => c.to_string(),
        })
        .collect();
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="512" height="512" viewBox="0 0 512 512"><rect width="512" height="512" fill="hsl({hue},45%,45%)"/><text x="50%" y="50%" dy=".35em" text-anchor="middle" font-family="sans-serif" font-size="200" fill="#fff">{text}</text></svg>"##
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initials_prefer_names() {
        assert_eq!(initials(Some("ada"), Some("Lovelace"), "x"), "AL");
        assert_eq!(initials(None, None, "brave_otter_7"), "BO");
        assert_eq!(initials(Some("émile"), None, "x"), "É");
        assert_eq!(initials(Some("  "), None, "n"), "N");
    }

    #[test]
    fn every_seed_gives_a_hue() {
        for i in 0u32..2000 {
            let svg = svg("A", &i.to_be_bytes());
            assert!(svg.contains("hsl("), "{svg}");
        }
    }

    #[test]
    fn svg_escapes_and_is_stable() {
        let a = svg("<&", b"id");
        assert!(a.contains("&lt;&amp;"));
        assert!(!a.contains("<&"));
        assert_eq!(a, svg("<&", b"id"));
    }
}
