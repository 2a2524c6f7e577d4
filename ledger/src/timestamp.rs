//! Entry timestamps: UTC microseconds since the Unix epoch, shown as RFC 3339.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

#[derive(Debug, thiserror::Error)]
#[error("invalid timestamp {text:?}: expected RFC 3339, e.g. 2026-11-22T10:15:00Z")]
pub struct InvalidTimestamp {
    pub text: String,
}

impl Timestamp {
    pub fn now() -> Timestamp {
        Timestamp::from_datetime(OffsetDateTime::now_utc())
    }

    pub fn from_unix_seconds(seconds: i64) -> Timestamp {
        Timestamp(seconds.saturating_mul(1_000_000))
    }

    /// Whole seconds since the Unix epoch.
    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, InvalidTimestamp> {
        OffsetDateTime::parse(text, &Rfc3339)
            .map(Timestamp::from_datetime)
            .map_err(|_| InvalidTimestamp { text: text.to_string() })
    }

    fn from_datetime(at: OffsetDateTime) -> Timestamp {
        Timestamp((at.unix_timestamp_nanos() / 1_000) as i64)
    }

    fn to_datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// RFC 3339 in UTC with microseconds, e.g. `2026-11-22T10:15:00.123456Z`.
    pub fn to_rfc3339(self) -> String {
        let at = self.to_datetime();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second(),
            at.microsecond()
        )
    }

    /// `2026-11-22 10:15 UTC`, for tables.
    pub fn to_human(self) -> String {
        let at = self.to_datetime();
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute()
        )
    }

    pub fn plus_seconds(self, seconds: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(seconds.saturating_mul(1_000_000)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip() {
        let at = Timestamp::parse_rfc3339("2026-11-22T10:15:00.123456Z").unwrap();
        assert_eq!(at.to_rfc3339(), "2026-11-22T10:15:00.123456Z");
        assert_eq!(at.to_human(), "2026-11-22 10:15 UTC");
        let offset = Timestamp::parse_rfc3339("2026-11-22T12:15:00+02:00").unwrap();
        assert_eq!(offset.to_rfc3339(), "2026-11-22T10:15:00.000000Z");
        assert!(Timestamp::parse_rfc3339("yesterday").is_err());
    }
}
