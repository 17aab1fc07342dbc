//! Any bytes as each JSON request body, then through the field rules: a
//! parse error or a checked value, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use user_management::domain::{Email, Nickname, Password, ProfileUrl, UrlKind};
use user_management::extract::parse_json;
use user_management::users::views::{
    CreateUserRequest, RegisterRequest, StaffUpdateRequest, UpdateProfileRequest,
};
use user_management::users::profile_fields::{Errors, RawProfile};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = parse_json::<RegisterRequest>(data) {
        let mut errors = Errors::default();
        let _ = request.raw_profile().parse(&mut errors);
        let _ = Email::parse(&request.email);
        let _ = Password::parse(
            &request.password,
            Some(&request.email),
            request.nickname.as_deref(),
        );
        let _ = errors.finish();
    }
    if let Ok(request) = parse_json::<UpdateProfileRequest>(data) {
        let mut errors = Errors::default();
        let _ = RawProfile::from(request).parse(&mut errors);
    }
    if let Ok(request) = parse_json::<StaffUpdateRequest>(data) {
        let (email, profile) = request.split();
        let mut errors = Errors::default();
        let _ = profile.parse(&mut errors);
        if let Some(email) = email {
            let _ = Email::parse(&email);
        }
    }
    let _ = parse_json::<CreateUserRequest>(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Nickname::parse(text);
        for kind in [UrlKind::Any, UrlKind::GitHub, UrlKind::LinkedIn] {
            let _ = ProfileUrl::parse(text, kind);
        }
    }
});
