//! Any query string for the user listing, any refresh token: parsed or
//! refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use user_management::auth::tokens::parse_refresh_token;
use user_management::users::admin::listing::{ListQuery, Listing};

fuzz_target!(|data: &[u8]| {
    if let Ok(query) = serde_urlencoded::from_bytes::<ListQuery>(data)
        && let Ok(listing) = Listing::parse(query)
    {
        let _ = listing.links("http://fuzz", 12_345);
        let _ = listing.page();
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_refresh_token(text);
    }
});
