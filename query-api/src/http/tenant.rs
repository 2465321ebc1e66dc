//! Which tenant a request reads. Invariant: every index read names exactly one tenant, and that
//! tenant is the one the caller's API key is bound to; nothing in the request can change it.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::auth::Principal;
use crate::ApiError;

/// The tenant a request is confined to.
pub struct Tenant(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<Principal>() {
            Some(p) => Ok(Tenant(p.tenant.to_string())),
            // Only reachable if a route escaped the gate: fail closed, loudly.
            None => Err(ApiError::Internal(
                "tenant requested on a route without authentication".into(),
            )),
        }
    }
}
