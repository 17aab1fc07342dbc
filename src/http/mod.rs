//! The web edge: the router and its layers, errors as problem+json, request
//! extractors, the client address, rate limits, paging, the OpenAPI
//! document, the operations routes and the connection loop. Features use these; nothing here
//! uses a feature's handlers except the router, which mounts them.

pub mod client;
pub mod cookies;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod ops;
pub mod paging;
pub mod ratelimit;
pub mod router;
pub mod serve;
