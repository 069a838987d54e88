//! Dates and times in requests: formats ([`DateFormat`]), times relative to
//! a run ([`TimeValue`], `{now-30d}` placeholders) and date-window slicing
//! ([`DateWindows`]).
//!
//! Built on `jiff` (RFC 3339, strftime, exact arithmetic on timestamps);
//! durations use humantime's syntax (`"1d"`, `"90m"`), as `every` does.

mod format;
mod incremental;
mod now_placeholders;
mod step;
mod time_value;
pub(crate) mod windows;

pub use self::format::{DateError, DateFormat};
pub use self::incremental::Incremental;
pub use self::now_placeholders::render_now;
pub(crate) use self::now_placeholders::{config_at, is_now_placeholder};
pub use self::step::Step;
pub use self::time_value::{TimeValue, parse_duration};
pub use self::windows::DateWindows;
pub use jiff::{SignedDuration, Timestamp};
