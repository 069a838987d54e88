//! The HTTP client side: the shared context ([`HttpContext`]: client, gates,
//! breakers, tokens), one request's shape and send ([`endpoint`],
//! [`request`]), authentication ([`auth`]; shared tokens in [`oauth2`],
//! obtained by a [`grant`] configured in [`oauth2_config`] or
//! [`token_request_config`], expiring per [`token_expiry`]), per-status and
//! per-body rules ([`status_rules`], applied by [`answer_rules`]),
//! `Retry-After`, the budget servers announce in rate-limit headers
//! ([`rate_limit`]), GraphQL errors, child URL templates, and the redaction of
//! credentials in anything shown or stored.

pub(crate) mod answer_rules;
pub(crate) mod auth;
pub(crate) mod conditional;
mod context;
pub(crate) mod cursor_secrets;
pub(crate) mod endpoint;
pub(crate) mod form_body;
pub(crate) mod grant;
pub(crate) mod graphql;
pub(crate) mod oauth2;
pub(crate) mod oauth2_config;
mod parent_values;
pub(crate) mod rate_limit;
pub mod redact;
mod redact_json;
pub(crate) mod request;
pub(crate) mod retry_after;
pub(crate) mod status_rules;
pub(crate) mod token_expiry;
pub(crate) mod token_request_config;
pub(crate) mod url_template;
pub(crate) mod user_agent;
mod webhook;

pub use self::context::HttpContext;
pub(crate) use self::context::{Fetched, check_scheme, host_key, parse_http_url};
pub use self::webhook::WebhookSender;
