//! Who may call the API, and what they may see.

pub mod api_key;
pub(crate) mod guard;
pub mod key_store;
pub mod rate_limiter;
pub mod role;

pub use guard::{Auth, ResultCount, MAX_QUERY_STRING_BYTES};
pub use key_store::{KeyFile, KeyRecord, KeyStore, KeyStoreError, Principal};
pub use rate_limiter::{RateLimit, RateLimiter};
pub use role::{Access, Role};
