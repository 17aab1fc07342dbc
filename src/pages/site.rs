//! What the pages need beyond the API: the templates, the theme, the key
//! that signs form tokens, and the cookie and redirect rules. Built once at
//! start from the configuration.

use aws_lc_rs::hmac;
use axum::http::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::templates::{PageTemplateError, PageTemplates};
use crate::config::Config;

/// The logo, as served at `/assets/logo`.
#[derive(Debug)]
pub struct Logo {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// Its media type, from its extension.
    pub content_type: &'static str,
}

/// Why the pages could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// A template could not be loaded.
    #[error(transparent)]
    Templates(#[from] PageTemplateError),
    /// The logo could not be read or has an unknown type.
    #[error("LOGO_FILE: {0}")]
    Logo(String),
}

/// The pages' shared setup.
#[derive(Debug)]
pub struct Site {
    /// The templates and stylesheet.
    pub templates: PageTemplates,
    /// `:root { --accent: … }` from `ACCENT_COLOR`.
    pub theme_css: String,
    /// The logo, if one is configured.
    pub logo: Option<Logo>,
    /// Shown in every title and header.
    pub product_name: String,
    /// Cookies get `Secure` (the service is reached over https).
    pub secure: bool,
    /// The `Content-Security-Policy` of every page.
    pub csp: HeaderValue,
    /// Origins a `return_to` may lead to, besides this service.
    return_to_origins: Vec<url::Origin>,
    /// This service's own origin.
    own_origin: url::Origin,
    form_key: hmac::Key,
}

impl Site {
    /// The pages' setup from `config`; `secret` is the service's signing
    /// secret, from which the form-token key is derived.
    pub fn new(config: &Config, secret: &SecretString) -> Result<Self, SiteError> {
        let templates = PageTemplates::load(config.page_templates_dir.as_deref())?;
        let logo = config.logo_file.as_deref().map(read_logo).transpose()?;
        let return_to_origins: Vec<url::Origin> = config
            .return_to_origins
            .iter()
            .filter_map(|o| url::Url::parse(o.trim()).ok())
            .map(|u| u.origin())
            .collect();
        let own_origin = url::Url::parse(config.base_url())
            .map(|u| u.origin())
            .unwrap_or_else(|_| url::Origin::new_opaque());
        let form_action: Vec<String> = return_to_origins
            .iter()
            .map(url::Origin::ascii_serialization)
            .collect();
        let csp = format!(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'{}{}; \
             frame-ancestors 'none'; base-uri 'none'",
            if form_action.is_empty() { "" } else { " " },
            form_action.join(" ")
        );
        let mut key = Sha256::new();
        key.update(b"user-management page forms\0");
        key.update(secret.expose_secret().as_bytes());
        Ok(Self {
            templates,
            theme_css: format!(":root {{ --accent: {}; }}\n", config.accent_color),
            logo,
            product_name: config.product_name.clone(),
            secure: config.base_url().starts_with("https://"),
            csp: HeaderValue::from_str(&csp)
                .unwrap_or(HeaderValue::from_static("default-src 'none'")),
            return_to_origins,
            own_origin,
            form_key: hmac::Key::new(hmac::HMAC_SHA256, &key.finalize()),
        })
    }

    /// The form token that goes with the browser's form cookie `cookie`:
    /// an HMAC, so a cookie planted by someone else yields no usable token.
    pub fn form_token(&self, cookie: &str) -> String {
        hex::encode(hmac::sign(&self.form_key, cookie.as_bytes()))
    }

    /// Whether `token` is the form token of `cookie` (constant time).
    pub fn form_token_matches(&self, cookie: &str, token: &str) -> bool {
        hex::decode(token)
            .is_ok_and(|tag| hmac::verify(&self.form_key, cookie.as_bytes(), &tag).is_ok())
    }

    /// Where to go after signing in: `return_to` if it is a path on this
    /// service or on an allowed origin, else the account page. Anything
    /// else (other hosts, `//host`, `javascript:`) is ignored.
    pub fn return_to(&self, return_to: Option<&str>) -> String {
        const HOME: &str = "/account";
        let Some(target) = return_to.map(str::trim).filter(|t| !t.is_empty()) else {
            return HOME.to_owned();
        };
        if target.starts_with('/')
            && !target.starts_with("//")
            && !target.contains('\\')
            && !target.chars().any(char::is_control)
        {
            return target.to_owned();
        }
        match url::Url::parse(target) {
            Ok(url)
                if matches!(url.scheme(), "http" | "https")
                    && (url.origin() == self.own_origin
                        || self.return_to_origins.contains(&url.origin())) =>
            {
                url.to_string()
            }
            _ => HOME.to_owned(),
        }
    }
}

fn read_logo(path: &std::path::Path) -> Result<Logo, SiteError> {
    let content_type = match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        Some("webp") => "image/webp",
        Some("jpg" | "jpeg") => "image/jpeg",
        _ => {
            return Err(SiteError::Logo(
                "must be a .png, .svg, .webp or .jpg file".into(),
            ));
        }
    };
    let bytes = std::fs::read(path)
        .map_err(|e| SiteError::Logo(format!("cannot read {}: {e}", path.display())))?;
    Ok(Logo {
        bytes,
        content_type,
    })
}
