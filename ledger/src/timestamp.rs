//! Entry timestamps: UTC microseconds since the Unix epoch, shown as RFC 3339. Ledger times lie
//! between 1970-01-01 and 9999-12-31 ([`Timestamp::MIN`]..=[`Timestamp::MAX`]); a time outside
//! is refused wherever one comes in, and is shown as the date it is, never as another.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

#[derive(Debug, thiserror::Error)]
#[error(
    "invalid timestamp {text:?}: expected RFC 3339 between 1970-01-01 and 9999-12-31, e.g. 2026-11-22T10:15:00Z"
)]
pub struct InvalidTimestamp {
    pub text: String,
}

/// A time outside what a ledger records, or no time left after a parent's.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimeError {
    #[error("time {} is outside 1970-01-01T00:00:00Z..9999-12-31T23:59:59.999999Z", .0.to_rfc3339())]
    OutOfRange(Timestamp),
    #[error("no time is left after {} for an entry that follows one recorded then", .0.to_rfc3339())]
    NoLaterTime(Timestamp),
}

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

impl Timestamp {
    /// 1970-01-01T00:00:00Z, the earliest time a ledger records.
    pub const MIN: Timestamp = Timestamp(0);
    /// 9999-12-31T23:59:59.999999Z, the latest time a ledger records.
    pub const MAX: Timestamp = Timestamp(253_402_300_799_999_999);

    pub fn now() -> Timestamp {
        Timestamp::from_datetime(OffsetDateTime::now_utc())
    }

    pub fn from_unix_seconds(seconds: i64) -> Timestamp {
        Timestamp(seconds.saturating_mul(MICROS_PER_SECOND))
    }

    /// Whole seconds since the Unix epoch.
    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(MICROS_PER_SECOND)
    }

    /// Parses RFC 3339; a time outside [`Timestamp::MIN`]..=[`Timestamp::MAX`] is refused.
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, InvalidTimestamp> {
        OffsetDateTime::parse(text, &Rfc3339)
            .ok()
            .map(Timestamp::from_datetime)
            .filter(|at| at.check_range().is_ok())
            .ok_or_else(|| InvalidTimestamp { text: text.to_string() })
    }

    fn from_datetime(at: OffsetDateTime) -> Timestamp {
        // Within the `time` crate's years (±9999) this fits an i64 many times over.
        Timestamp((at.unix_timestamp_nanos() / 1_000) as i64)
    }

    /// This time, if a ledger may record it.
    pub fn check_range(self) -> Result<Timestamp, TimeError> {
        if (Timestamp::MIN..=Timestamp::MAX).contains(&self) {
            Ok(self)
        } else {
            Err(TimeError::OutOfRange(self))
        }
    }

    /// The earliest time an entry following one recorded at this time may have: one
    /// microsecond later, when that is still a time a ledger records.
    pub fn next_after(self) -> Result<Timestamp, TimeError> {
        self.0
            .checked_add(1)
            .map(Timestamp)
            .filter(|next| *next <= Timestamp::MAX)
            .ok_or(TimeError::NoLaterTime(self))
    }

    /// RFC 3339 in UTC with microseconds, e.g. `2026-11-22T10:15:00.123456Z`. A time outside
    /// the ledger's range (which only damaged data holds) shows its real year, e.g. `+10000`.
    pub fn to_rfc3339(self) -> String {
        let at = Civil::of(self);
        format!(
            "{}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            at.year_text(),
            at.month,
            at.day,
            at.hour,
            at.minute,
            at.second,
            at.micros
        )
    }

    /// `2026-11-22 10:15 UTC`, for tables.
    pub fn to_human(self) -> String {
        let at = Civil::of(self);
        format!("{}-{:02}-{:02} {:02}:{:02} UTC", at.year_text(), at.month, at.day, at.hour, at.minute)
    }

    pub fn plus_seconds(self, seconds: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(seconds.saturating_mul(MICROS_PER_SECOND)))
    }
}

/// A time as a proleptic Gregorian UTC date and time, for every i64 of microseconds.
struct Civil {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    micros: i64,
}

impl Civil {
    fn of(at: Timestamp) -> Civil {
        let (days, micros_of_day) = (at.0.div_euclid(MICROS_PER_DAY), at.0.rem_euclid(MICROS_PER_DAY));
        let seconds_of_day = micros_of_day / MICROS_PER_SECOND;
        // Days since 1970-01-01 to a date (Howard Hinnant's `civil_from_days`); |days| < 2^27,
        // so nothing here overflows.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z.rem_euclid(146_097);
        let year_of_era =
            (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let shifted_month = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
        let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        Civil {
            year,
            month,
            day,
            hour: seconds_of_day / 3_600,
            minute: seconds_of_day / 60 % 60,
            second: seconds_of_day % 60,
            micros: micros_of_day % MICROS_PER_SECOND,
        }
    }

    /// Four digits for years 0 to 9999; others with their sign, as ISO 8601 expands them.
    fn year_text(&self) -> String {
        if (0..=9999).contains(&self.year) {
            format!("{:04}", self.year)
        } else {
            format!("{:+05}", self.year)
        }
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

    #[test]
    fn the_range_ends_are_the_first_and_last_microsecond_of_1970_to_9999() {
        assert_eq!(Timestamp::MIN.to_rfc3339(), "1970-01-01T00:00:00.000000Z");
        assert_eq!(Timestamp::MAX.to_rfc3339(), "9999-12-31T23:59:59.999999Z");
        assert_eq!(Timestamp::parse_rfc3339("9999-12-31T23:59:59.999999Z").unwrap(), Timestamp::MAX);
        assert_eq!(Timestamp::parse_rfc3339("1970-01-01T00:00:00Z").unwrap(), Timestamp::MIN);
    }

    #[test]
    fn times_outside_1970_to_9999_are_refused_on_input() {
        for outside in ["1969-12-31T23:59:59Z", "1970-01-01T00:30:00+01:00", "+10000-01-01T00:00:00Z"] {
            assert!(Timestamp::parse_rfc3339(outside).is_err(), "{outside}");
        }
        assert!(Timestamp(-1).check_range().is_err());
        assert!(Timestamp(Timestamp::MAX.0 + 1).check_range().is_err());
        assert!(Timestamp(i64::MAX).check_range().is_err());
        assert_eq!(Timestamp::MAX.check_range(), Ok(Timestamp::MAX));
    }

    #[test]
    fn times_past_9999_show_their_own_year_never_1970() {
        let year_10000 = Timestamp(Timestamp::MAX.0 + 1);
        assert_eq!(year_10000.to_rfc3339(), "+10000-01-01T00:00:00.000000Z");
        assert_eq!(year_10000.to_human(), "+10000-01-01 00:00 UTC");
        assert_eq!(Timestamp(i64::MAX).to_rfc3339(), "+294247-01-10T04:00:54.775807Z");
        assert_eq!(Timestamp(-1).to_rfc3339(), "1969-12-31T23:59:59.999999Z");
        assert_eq!(Timestamp(i64::MIN).to_rfc3339(), "-290308-12-21T19:59:05.224192Z");
    }

    #[test]
    fn dates_agree_with_the_time_crate_across_the_range() {
        let step = Timestamp::MAX.0 / 997;
        for at in (0..=997).map(|n| Timestamp(n * step - n * 3_601_000_017 % MICROS_PER_DAY)) {
            let shown = at.to_rfc3339();
            assert_eq!(Timestamp::parse_rfc3339(&shown).ok(), Some(at), "{shown}");
        }
    }

    #[test]
    fn a_child_time_after_the_last_one_is_an_error_not_a_wrap() {
        assert_eq!(Timestamp(5).next_after(), Ok(Timestamp(6)));
        assert_eq!(Timestamp::MAX.next_after(), Err(TimeError::NoLaterTime(Timestamp::MAX)));
        assert_eq!(Timestamp(i64::MAX).next_after(), Err(TimeError::NoLaterTime(Timestamp(i64::MAX))));
    }
}
