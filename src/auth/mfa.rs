//! The second factor as feature functions: enrolling an authenticator app
//! (TOTP) and the recovery codes handed out when it is confirmed.
//!
//! - Starting enrolment needs the password; it draws a new secret, seals it
//!   under `DATA_ENCRYPTION_KEY` (context `totp:{user_id}`) and answers the
//!   secret, its `otpauth://` URI and a QR code of it. Starting again
//!   replaces a pending enrolment; a confirmed factor is a conflict.
//! - A valid code confirms it; the code's step is kept so it is good once.
//!   Confirming hands out [`RECOVERY_CODES`] recovery codes, shown this once
//!   and stored only as keyed digests.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use super::{lockout, totp};
use crate::db::{
    self,
    entities::{recovery_codes, totp_factors, users},
};
use crate::error::{AppError, Result};
use crate::state::AppState;

/// Recovery codes in a set.
pub const RECOVERY_CODES: usize = 10;
/// Characters of a recovery code (shown as two groups of five).
const RECOVERY_CODE_CHARS: usize = 10;

/// A started enrolment: what the authenticator app needs.
pub struct Enrolment {
    /// The secret in base32, to type in.
    pub secret: String,
    /// The `otpauth://` URI.
    pub otpauth_uri: String,
    /// The URI as a QR code, an SVG element of squares and nothing else.
    pub qr_svg: String,
}

fn sealing_context(user_id: Uuid) -> Vec<u8> {
    format!("totp:{user_id}").into_bytes()
}

/// Whether `user_id` has a confirmed authenticator.
pub async fn is_enabled(conn: &impl ConnectionTrait, user_id: Uuid) -> Result<bool> {
    let factor = totp_factors::Entity::find_by_id(user_id).one(conn).await?;
    Ok(factor.is_some_and(|f| f.confirmed_at.is_some()))
}

/// Starts (or restarts) enrolment for `user` once `password` is theirs.
/// A wrong password counts as a failed login.
pub async fn start_enrolment(
    state: &AppState,
    user: &users::Model,
    password: &str,
) -> Result<Enrolment> {
    let verdict = state
        .hashing
        .verify(
            SecretString::from(password.to_owned()),
            user.password_hash.clone(),
        )
        .await?;
    if !verdict.is_match() {
        lockout::record_failure(state, user).await?;
        return Err(AppError::field("password", "the password is incorrect"));
    }
    let secret = totp::new_secret();
    let row = totp_factors::ActiveModel {
        user_id: Set(user.id),
        secret_sealed: Set(state
            .data_keys
            .seal(&sealing_context(user.id), secret.expose_secret())),
        confirmed_at: Set(None),
        last_used_step: Set(None),
        created_at: Set(crate::time::now()),
    };
    let tx = db::begin(&state.db).await?;
    if is_enabled(&tx, user.id).await? {
        db::rollback(tx).await?;
        return Err(AppError::Conflict(
            "two-factor sign-in is already on".into(),
        ));
    }
    totp_factors::Entity::insert(row)
        .on_conflict(
            OnConflict::column(totp_factors::Column::UserId)
                .update_columns([
                    totp_factors::Column::SecretSealed,
                    totp_factors::Column::ConfirmedAt,
                    totp_factors::Column::LastUsedStep,
                    totp_factors::Column::CreatedAt,
                ])
                .to_owned(),
        )
        .exec(&tx)
        .await?;
    db::commit(tx).await?;
    let otpauth_uri = totp::otpauth_uri(
        &state.config.product_name,
        &user.email,
        secret.expose_secret(),
    );
    Ok(Enrolment {
        secret: totp::base32(secret.expose_secret()),
        qr_svg: qr_svg(&otpauth_uri)?,
        otpauth_uri,
    })
}

/// Confirms `user`'s pending enrolment with a valid `code`: two-factor
/// sign-in is on from now, and the new recovery codes are answered (the
/// only time they are shown).
pub async fn confirm_enrolment(
    state: &AppState,
    user: &users::Model,
    code: &str,
) -> Result<Vec<String>> {
    let tx = db::begin(&state.db).await?;
    let pending = totp_factors::Entity::find_by_id(user.id)
        .filter(totp_factors::Column::ConfirmedAt.is_null())
        .one(&tx)
        .await?;
    let Some(pending) = pending else {
        db::rollback(tx).await?;
        return Err(AppError::Conflict(
            "no enrolment is pending: start one first".into(),
        ));
    };
    let secret = state
        .data_keys
        .open(&sealing_context(user.id), &pending.secret_sealed)
        .map_err(|e| anyhow::anyhow!("the TOTP secret of a user does not open: {e}"))?;
    let now = crate::time::now();
    let Some(step) = totp::verify(&secret, code, now, pending.last_used_step) else {
        db::rollback(tx).await?;
        return Err(AppError::field("code", "the code is not valid"));
    };
    let confirmed = totp_factors::Entity::update_many()
        .col_expr(totp_factors::Column::ConfirmedAt, now.into())
        .col_expr(totp_factors::Column::LastUsedStep, step.into())
        .filter(totp_factors::Column::UserId.eq(user.id))
        .filter(totp_factors::Column::ConfirmedAt.is_null())
        .filter(totp_factors::Column::SecretSealed.eq(pending.secret_sealed.clone()))
        .exec(&tx)
        .await?;
    if confirmed.rows_affected != 1 {
        db::rollback(tx).await?;
        return Err(AppError::Conflict(
            "the enrolment changed meanwhile: start again".into(),
        ));
    }
    let codes = replace_recovery_codes(state, &tx, user.id).await?;
    db::commit(tx).await?;
    Ok(codes)
}

/// A new set of recovery codes for `user_id`; the old set is void.
async fn replace_recovery_codes(
    state: &AppState,
    conn: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<Vec<String>> {
    recovery_codes::Entity::delete_many()
        .filter(recovery_codes::Column::UserId.eq(user_id))
        .exec(conn)
        .await?;
    let now = crate::time::now();
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
    let rows = codes.iter().map(|code| recovery_codes::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        code_digest: Set(state
            .data_keys
            .digest(&recovery_digest_input(user_id, code))),
        used_at: Set(None),
        created_at: Set(now),
    });
    recovery_codes::Entity::insert_many(rows).exec(conn).await?;
    Ok(codes)
}

/// What a recovery code's digest is taken of: purpose, user and the code
/// in its normal form (capitals, no separators).
fn recovery_digest_input(user_id: Uuid, code: &str) -> Vec<u8> {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    [
        b"recovery-code\0".as_slice(),
        user_id.as_bytes(),
        normal.as_bytes(),
    ]
    .concat()
}

/// A random recovery code, `XXXXX-XXXXX` from the alphabet of the mail
/// codes (no characters to misread): about 49 bits.
fn new_recovery_code() -> String {
    let alphabet = crate::users::codes::ALPHABET;
    let mut bytes = [0u8; RECOVERY_CODE_CHARS];
    let mut code = String::with_capacity(RECOVERY_CODE_CHARS + 1);
    for (i, slot) in bytes.iter_mut().enumerate() {
        // Rejection sampling keeps every character equally likely.
        loop {
            rand::fill(std::slice::from_mut(slot));
            let limit = u8::try_from(256 - 256 % alphabet.len()).unwrap_or(u8::MAX);
            if *slot < limit {
                break;
            }
        }
        if i == RECOVERY_CODE_CHARS / 2 {
            code.push('-');
        }
        code.push(char::from(alphabet[usize::from(*slot) % alphabet.len()]));
    }
    code
}

/// `uri` as an SVG QR code without the XML declaration, so it can be placed
/// inline in a page: only rectangles and a path, in fixed colours.
fn qr_svg(uri: &str) -> Result<String> {
    let code = qrcode::QrCode::new(uri.as_bytes())
        .map_err(|e| anyhow::anyhow!("the otpauth URI does not fit a QR code: {e}"))?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build();
    Ok(svg
        .find("<svg")
        .map_or(svg.clone(), |start| svg[start..].to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_two_groups_of_five_from_the_alphabet() {
        let codes: Vec<String> = (0..200).map(|_| new_recovery_code()).collect();
        for code in &codes {
            assert_eq!(code.len(), 11, "{code}");
            assert_eq!(&code[5..6], "-", "{code}");
            assert!(
                code.bytes()
                    .filter(|b| *b != b'-')
                    .all(|b| crate::users::codes::ALPHABET.contains(&b)),
                "{code}"
            );
        }
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), codes.len());
    }

    #[test]
    fn a_recovery_code_is_digested_in_its_normal_form_and_per_user() {
        let user = Uuid::now_v7();
        let typed = recovery_digest_input(user, "abcde fghjk");
        assert_eq!(typed, recovery_digest_input(user, "ABCDE-FGHJK"));
        assert_ne!(typed, recovery_digest_input(Uuid::now_v7(), "ABCDE-FGHJK"));
    }

    #[test]
    fn the_qr_code_is_a_bare_svg_of_shapes() {
        let svg = qr_svg("otpauth://totp/Acme:ann%40example.com?secret=ABC&issuer=Acme")
            .expect("renders");
        assert!(svg.starts_with("<svg "), "{}", &svg[..40]);
        assert!(svg.trim_end().ends_with("</svg>"));
        for unsafe_part in ["<script", "<?xml", "href", "<foreignObject", " on", "<text"] {
            assert!(!svg.contains(unsafe_part), "{unsafe_part}");
        }
    }
}
