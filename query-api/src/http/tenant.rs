//! Which tenant a request reads. Invariant: every index read names exactly one tenant.
//!
//! Until API keys exist (keys bind a tenant), the tenant comes from the `X-Hoptrail-Tenant`
//! header and defaults to `default`; the listener binds to loopback by default for that reason.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use hoptrail_core::event::DEFAULT_TENANT;

use crate::ApiError;

/// Header naming the tenant.
pub const TENANT_HEADER: &str = "x-hoptrail-tenant";

/// The tenant a request is confined to.
pub struct Tenant(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.headers.get(TENANT_HEADER) {
            None => Ok(Tenant(DEFAULT_TENANT.to_owned())),
            Some(v) => {
                let t = v
                    .to_str()
                    .ok()
                    .filter(|t| {
                        !t.is_empty()
                            && t.len() <= 64
                            && t.bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                    })
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!("{TENANT_HEADER}: not a tenant name"))
                    })?;
                Ok(Tenant(t.to_owned()))
            }
        }
    }
}
