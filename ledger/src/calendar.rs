//! Freeze windows: recurring (weekly, daily) or one-off spans of local time in an IANA time
//! zone, written in a small syntax modelled on systemd calendar events, and the question
//! "does this instant lie in the window, and until when?".
//!
//! ```text
//! <start>..<end> [<time zone>]
//!
//! Sat *-*-* 00:00..Mon *-*-* 06:00 Europe/London   weekly: from Saturday 00:00 to Monday 06:00
//! Fri *-*-* 16:00..Fri *-*-* 18:00                 weekly, in UTC (the default zone)
//! *-*-* 18:00..*-*-* 08:00 America/New_York        daily: every evening to the next morning
//! 2026-12-24 00:00..2027-01-02 00:00 Europe/Paris  once: a holiday freeze
//! ```
//!
//! Both ends have the same form: `<weekday> *-*-* HH:MM` (weekday `Mon`..`Sun`, or the full
//! English name, any case), `*-*-* HH:MM`, or `YYYY-MM-DD HH:MM`. A window covers its start and
//! stops just before its end; an end at or before its start in the week (or the day) wraps into
//! the next one, so `Sat..Mon` spans the weekend. Times are wall-clock times in the zone, so a
//! window keeps its local hours across daylight-saving changes; a local time that a change skips
//! is moved forward by the length of the change (in London, 01:30 on the night the clocks go
//! forward is 02:30 BST), and one that a change repeats is read as its first occurrence.

use std::fmt;

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;

use crate::Timestamp;

/// A parsed freeze window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FreezeWindow {
    recurrence: Recurrence,
    zone: TimeZone,
    /// The zone's IANA name, e.g. `Europe/London`, or `UTC`.
    zone_name: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Recurrence {
    Weekly { start: (Weekday, Time), end: (Weekday, Time) },
    Daily { start: Time, end: Time },
    Once { start: DateTime, end: DateTime },
}

/// Why a freeze window was refused; the text says what to write instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WindowError(String);

const SYNTAX: &str =
    "write <start>..<end> [<time zone>], each end `Sat *-*-* 00:00`, `*-*-* 18:00` or `2026-12-24 00:00`";

impl FreezeWindow {
    /// Parses `<start>..<end> [<IANA time zone>]`; see the module documentation.
    pub fn parse(text: &str) -> Result<FreezeWindow, WindowError> {
        let refuse = |why: String| WindowError(format!("freeze window {text:?}: {why}"));
        let (start, rest) = text
            .split_once("..")
            .ok_or_else(|| refuse(format!("no `..` between start and end; {SYNTAX}")))?;
        let start_words: Vec<&str> = start.split_whitespace().collect();
        let rest_words: Vec<&str> = rest.split_whitespace().collect();
        let end_len =
            if rest_words.first().is_some_and(|word| parse_weekday(word).is_some()) { 3 } else { 2 };
        let (end_words, zone_words) = rest_words.split_at(end_len.min(rest_words.len()));
        let start = parse_end(&start_words).map_err(|why| refuse(format!("start: {why}")))?;
        let end = parse_end(end_words).map_err(|why| refuse(format!("end: {why}")))?;
        let (zone, zone_name) = match zone_words {
            [] => (TimeZone::UTC, "UTC".to_string()),
            [name] => {
                let zone = TimeZone::get(name).map_err(|_| {
                    refuse(format!(
                        "unknown time zone {name:?}; use an IANA name such as Europe/London or UTC"
                    ))
                })?;
                let canonical = zone.iana_name().unwrap_or(name).to_string();
                (zone, canonical)
            }
            _ => return Err(refuse(format!("one time zone at most after the end; {SYNTAX}"))),
        };
        let recurrence = match (start, end) {
            (End::Weekly(start_day, start), End::Weekly(end_day, end)) => {
                if (start_day, start) == (end_day, end) {
                    return Err(refuse("the window is empty: its end is its start".into()));
                }
                Recurrence::Weekly { start: (start_day, start), end: (end_day, end) }
            }
            (End::Daily(start), End::Daily(end)) => {
                if start == end {
                    return Err(refuse("the window is empty: its end is its start".into()));
                }
                Recurrence::Daily { start, end }
            }
            (End::Once(start), End::Once(end)) => {
                if end <= start {
                    return Err(refuse("the window is empty: its end is not after its start".into()));
                }
                Recurrence::Once { start, end }
            }
            _ => {
                return Err(refuse(
                    "both ends take the same form: both with a weekday, both `*-*-*`, or both dates".into(),
                ));
            }
        };
        Ok(FreezeWindow { recurrence, zone, zone_name })
    }

    /// The window without its zone, as written canonically: `Sat *-*-* 00:00..Mon *-*-* 06:00`.
    pub fn range(&self) -> String {
        let time = |time: Time| format!("{:02}:{:02}", time.hour(), time.minute());
        let weekly = |(day, at): (Weekday, Time)| format!("{} *-*-* {}", weekday_name(day), time(at));
        let once = |at: DateTime| format!("{} {}", at.date(), time(at.time()));
        match self.recurrence {
            Recurrence::Weekly { start, end } => format!("{}..{}", weekly(start), weekly(end)),
            Recurrence::Daily { start, end } => format!("*-*-* {}..*-*-* {}", time(start), time(end)),
            Recurrence::Once { start, end } => format!("{}..{}", once(start), once(end)),
        }
    }

    /// The IANA name of the window's time zone, e.g. `Europe/London`; `UTC` by default.
    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }

    /// If `at` lies in the window, the instant the window ends (the first instant after it).
    pub fn end_if_within(&self, at: Timestamp) -> Option<Timestamp> {
        let instant = jiff::Timestamp::from_microsecond(at.0).ok()?;
        let local = self.zone.to_datetime(instant);
        let occurrences: Vec<(DateTime, DateTime)> = match self.recurrence {
            Recurrence::Once { start, end } => vec![(start, end)],
            Recurrence::Weekly { start, end } => {
                // The latest local start at or before `local`, and its neighbours: around a
                // daylight-saving change the local order and the order of instants can differ.
                let back =
                    (local.weekday().to_monday_zero_offset() - start.0.to_monday_zero_offset()).rem_euclid(7);
                let length = (end.0.to_monday_zero_offset() - start.0.to_monday_zero_offset()).rem_euclid(7);
                let length = if length == 0 && end.1 <= start.1 { 7 } else { length };
                let day = local.date().checked_sub(jiff::Span::new().days(back)).ok()?;
                [-7, 0, 7]
                    .into_iter()
                    .filter_map(|shift| {
                        let start_day = day.checked_add(jiff::Span::new().days(shift)).ok()?;
                        let end_day = start_day.checked_add(jiff::Span::new().days(length)).ok()?;
                        Some((start_day.to_datetime(start.1), end_day.to_datetime(end.1)))
                    })
                    .collect()
            }
            Recurrence::Daily { start, end } => {
                let length = if end <= start { 1 } else { 0 };
                [-1, 0, 1]
                    .into_iter()
                    .filter_map(|shift| {
                        let start_day = local.date().checked_add(jiff::Span::new().days(shift)).ok()?;
                        let end_day = start_day.checked_add(jiff::Span::new().days(length)).ok()?;
                        Some((start_day.to_datetime(start), end_day.to_datetime(end)))
                    })
                    .collect()
            }
        };
        occurrences
            .into_iter()
            .filter_map(|(start, end)| {
                let start = self.zone.to_timestamp(start).ok()?;
                let end = self.zone.to_timestamp(end).ok()?;
                (start <= instant && instant < end).then_some(end)
            })
            .max()
            .map(|end| Timestamp(end.as_microsecond()))
    }

    /// `at` as this window's kind of time shows it, in its zone: `Mon 06:00 Europe/London` for
    /// a recurring window, `2027-01-02 00:00 Europe/Paris` for a one-off one.
    pub fn show(&self, at: Timestamp) -> String {
        let Ok(instant) = jiff::Timestamp::from_microsecond(at.0) else {
            return at.to_rfc3339();
        };
        let local = self.zone.to_datetime(instant);
        let time = format!("{:02}:{:02}", local.hour(), local.minute());
        match self.recurrence {
            Recurrence::Weekly { .. } | Recurrence::Daily { .. } => {
                format!("{} {time} {}", weekday_name(local.weekday()), self.zone_name)
            }
            Recurrence::Once { .. } => format!("{} {time} {}", local.date(), self.zone_name),
        }
    }
}

/// The canonical text, zone included: `Sat *-*-* 00:00..Mon *-*-* 06:00 Europe/London`.
impl fmt::Display for FreezeWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.range(), self.zone_name)
    }
}

enum End {
    Weekly(Weekday, Time),
    Daily(Time),
    Once(DateTime),
}

fn parse_end(words: &[&str]) -> Result<End, String> {
    match words {
        [day, "*-*-*", time] => {
            let day = parse_weekday(day)
                .ok_or_else(|| format!("{day:?} is not a weekday (Mon, Tue, Wed, Thu, Fri, Sat, Sun)"))?;
            Ok(End::Weekly(day, parse_time(time)?))
        }
        ["*-*-*", time] => Ok(End::Daily(parse_time(time)?)),
        [date, time] => Ok(End::Once(parse_date(date)?.to_datetime(parse_time(time)?))),
        _ => Err(format!("{:?} is not a window end; {SYNTAX}", words.join(" "))),
    }
}

fn parse_weekday(word: &str) -> Option<Weekday> {
    const DAYS: [(&str, Weekday); 7] = [
        ("mon", Weekday::Monday),
        ("tue", Weekday::Tuesday),
        ("wed", Weekday::Wednesday),
        ("thu", Weekday::Thursday),
        ("fri", Weekday::Friday),
        ("sat", Weekday::Saturday),
        ("sun", Weekday::Sunday),
    ];
    let word = word.to_ascii_lowercase();
    DAYS.iter()
        .find(|(short, day)| word == *short || word == weekday_full_name(*day).to_ascii_lowercase())
        .map(|(_, day)| *day)
}

fn weekday_full_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Monday => "Monday",
        Weekday::Tuesday => "Tuesday",
        Weekday::Wednesday => "Wednesday",
        Weekday::Thursday => "Thursday",
        Weekday::Friday => "Friday",
        Weekday::Saturday => "Saturday",
        Weekday::Sunday => "Sunday",
    }
}

fn weekday_name(day: Weekday) -> &'static str {
    &weekday_full_name(day)[..3]
}

/// `HH:MM`, 00:00 to 23:59.
fn parse_time(text: &str) -> Result<Time, String> {
    let invalid = || format!("{text:?} is not a time of day HH:MM between 00:00 and 23:59");
    let (hour, minute) = text.split_once(':').ok_or_else(invalid)?;
    let number = |part: &str| {
        (part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse::<i8>().ok())
            .flatten()
    };
    let (hour, minute) = (number(hour).ok_or_else(invalid)?, number(minute).ok_or_else(invalid)?);
    Time::new(hour, minute, 0, 0).map_err(|_| invalid())
}

/// `YYYY-MM-DD`, a real date.
fn parse_date(text: &str) -> Result<Date, String> {
    let invalid = || format!("{text:?} is not a date YYYY-MM-DD (or `*-*-*` for every day)");
    let parts: Vec<&str> = text.split('-').collect();
    let [year, month, day] = parts.as_slice() else { return Err(invalid()) };
    let digits = |part: &str, len: usize| part.len() == len && part.bytes().all(|b| b.is_ascii_digit());
    if !(digits(year, 4) && digits(month, 2) && digits(day, 2)) {
        return Err(invalid());
    }
    let (year, month, day) = (
        year.parse::<i16>().map_err(|_| invalid())?,
        month.parse::<i8>().map_err(|_| invalid())?,
        day.parse::<i8>().map_err(|_| invalid())?,
    );
    Date::new(year, month, day).map_err(|_| format!("{text:?} is not a date in the calendar"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    fn end(window: &FreezeWindow, text: &str) -> Option<String> {
        window.end_if_within(at(text)).map(Timestamp::to_rfc3339)
    }

    #[test]
    fn a_weekend_window_in_london_holds_from_saturday_to_monday_morning() {
        let window = FreezeWindow::parse("Sat *-*-* 00:00..Mon *-*-* 06:00 Europe/London").unwrap();
        assert_eq!(window.range(), "Sat *-*-* 00:00..Mon *-*-* 06:00");
        assert_eq!(window.to_string(), "Sat *-*-* 00:00..Mon *-*-* 06:00 Europe/London");
        // Summer (BST, UTC+1): Saturday 2026-07-04 00:00 local is Friday 23:00 UTC.
        assert_eq!(end(&window, "2026-07-03T22:59:59Z"), None, "Friday 23:59:59 local");
        let monday = Some("2026-07-06T05:00:00.000000Z".to_string());
        assert_eq!(end(&window, "2026-07-03T23:00:00Z"), monday, "Saturday 00:00 local");
        assert_eq!(end(&window, "2026-07-05T12:00:00Z"), monday, "Sunday");
        assert_eq!(end(&window, "2026-07-06T04:59:59Z"), monday, "Monday 05:59:59 local");
        assert_eq!(end(&window, "2026-07-06T05:00:00Z"), None, "Monday 06:00 local");
        assert_eq!(end(&window, "2026-07-08T12:00:00Z"), None, "Wednesday");
        assert_eq!(window.show(at("2026-07-06T05:00:00Z")), "Mon 06:00 Europe/London");
        // Winter (GMT, UTC+0).
        assert_eq!(end(&window, "2026-12-05T00:30:00Z"), Some("2026-12-07T06:00:00.000000Z".into()));
        assert_eq!(end(&window, "2026-12-04T23:30:00Z"), None);
    }

    #[test]
    fn a_weekend_window_across_the_clock_change_keeps_its_local_hours() {
        let window = FreezeWindow::parse("Sat *-*-* 00:00..Mon *-*-* 06:00 Europe/London").unwrap();
        // Clocks go back on Sunday 2026-10-25 at 02:00 BST: Saturday starts at 23:00 UTC
        // (BST), Monday 06:00 is 06:00 UTC (GMT).
        let monday = Some("2026-10-26T06:00:00.000000Z".to_string());
        assert_eq!(end(&window, "2026-10-23T22:59:00Z"), None);
        assert_eq!(end(&window, "2026-10-23T23:00:00Z"), monday);
        assert_eq!(end(&window, "2026-10-25T01:30:00Z"), monday, "in the repeated hour");
        assert_eq!(end(&window, "2026-10-26T05:59:00Z"), monday);
        assert_eq!(end(&window, "2026-10-26T06:00:00Z"), None);
        // Clocks go forward on Sunday 2026-03-29 at 01:00 GMT: Monday 06:00 is 05:00 UTC.
        assert_eq!(end(&window, "2026-03-28T00:00:00Z"), Some("2026-03-30T05:00:00.000000Z".into()));
        assert_eq!(end(&window, "2026-03-30T05:00:00Z"), None);
    }

    #[test]
    fn local_times_that_a_clock_change_skips_or_repeats() {
        let window = FreezeWindow::parse("*-*-* 01:30..*-*-* 03:00 Europe/London").unwrap();
        // 2026-03-29: 01:00 GMT becomes 02:00 BST; 01:30 does not exist and is read as 02:30 BST.
        assert_eq!(end(&window, "2026-03-29T01:15:00Z"), None, "02:15 BST");
        assert_eq!(end(&window, "2026-03-29T01:30:00Z"), Some("2026-03-29T02:00:00.000000Z".into()));
        // 2026-10-25: 02:00 BST becomes 01:00 GMT; 01:30 happens twice, the window starts at the first.
        assert_eq!(end(&window, "2026-10-25T00:29:00Z"), None, "01:29 BST");
        assert_eq!(end(&window, "2026-10-25T00:30:00Z"), Some("2026-10-25T03:00:00.000000Z".into()));
        assert_eq!(end(&window, "2026-10-25T02:59:00Z"), Some("2026-10-25T03:00:00.000000Z".into()));
    }

    #[test]
    fn a_daily_window_wraps_midnight() {
        let window = FreezeWindow::parse("*-*-* 18:00..*-*-* 08:00 America/New_York").unwrap();
        // EST is UTC-5 in January.
        assert_eq!(end(&window, "2027-01-12T22:59:00Z"), None, "17:59 local");
        assert_eq!(end(&window, "2027-01-12T23:00:00Z"), Some("2027-01-13T13:00:00.000000Z".into()));
        assert_eq!(end(&window, "2027-01-13T12:59:00Z"), Some("2027-01-13T13:00:00.000000Z".into()));
        assert_eq!(end(&window, "2027-01-13T13:00:00Z"), None, "08:00 local");
        assert_eq!(window.show(at("2027-01-13T13:00:00Z")), "Wed 08:00 America/New_York");
        let lunch = FreezeWindow::parse("*-*-* 12:00..*-*-* 13:00").unwrap();
        assert_eq!(lunch.zone_name(), "UTC");
        assert_eq!(lunch.range(), "*-*-* 12:00..*-*-* 13:00");
        assert!(lunch.end_if_within(at("2027-01-13T12:30:00Z")).is_some());
        assert!(lunch.end_if_within(at("2027-01-13T13:30:00Z")).is_none());
    }

    #[test]
    fn a_one_off_window_holds_once() {
        let window = FreezeWindow::parse("2026-12-24 00:00..2027-01-02 00:00 Europe/Paris").unwrap();
        let until = Some("2027-01-01T23:00:00.000000Z".to_string());
        assert_eq!(end(&window, "2026-12-23T22:59:59Z"), None);
        assert_eq!(end(&window, "2026-12-23T23:00:00Z"), until);
        assert_eq!(end(&window, "2026-12-31T12:00:00Z"), until);
        assert_eq!(end(&window, "2027-01-01T23:00:00Z"), None);
        assert_eq!(end(&window, "2027-12-25T12:00:00Z"), None, "not the next year");
        assert_eq!(window.show(at("2027-01-01T23:00:00Z")), "2027-01-02 00:00 Europe/Paris");
    }

    #[test]
    fn a_window_within_one_day_of_the_week_and_one_wrapping_the_whole_week() {
        let friday = FreezeWindow::parse("friday *-*-* 16:00..FRI *-*-* 18:00").unwrap();
        assert_eq!(friday.range(), "Fri *-*-* 16:00..Fri *-*-* 18:00");
        assert!(friday.end_if_within(at("2026-12-04T17:00:00Z")).is_some());
        assert!(friday.end_if_within(at("2026-12-05T17:00:00Z")).is_none());
        let all_but_two_hours = FreezeWindow::parse("Fri *-*-* 18:00..Fri *-*-* 16:00").unwrap();
        assert!(all_but_two_hours.end_if_within(at("2026-12-04T17:00:00Z")).is_none());
        assert_eq!(
            end(&all_but_two_hours, "2026-12-04T19:00:00Z"),
            Some("2026-12-11T16:00:00.000000Z".into())
        );
        assert_eq!(
            end(&all_but_two_hours, "2026-12-04T15:00:00Z"),
            Some("2026-12-04T16:00:00.000000Z".into())
        );
    }

    #[test]
    fn impossible_windows_are_refused_with_the_reason() {
        for (bad, says) in [
            ("Sat *-*-* 00:00..Mon *-*-* 06:00 Europe/Londres", "unknown time zone \"Europe/Londres\""),
            ("Sat *-*-* 00:00..Mon *-*-* 25:00", "\"25:00\" is not a time of day"),
            ("Sat *-*-* 00:00..Mon *-*-* 06:60", "\"06:60\" is not a time of day"),
            ("Sat *-*-* 0:00..Mon *-*-* 06:00", "\"0:00\" is not a time of day"),
            ("Sab *-*-* 00:00..Mon *-*-* 06:00", "\"Sab\" is not a weekday"),
            ("Sat *-*-* 00:00..Sat *-*-* 00:00", "empty"),
            ("*-*-* 09:00..*-*-* 09:00", "empty"),
            ("2026-12-24 00:00..2026-12-24 00:00", "empty"),
            ("2026-12-24 00:00..2026-12-23 00:00", "empty"),
            ("2026-02-30 00:00..2026-03-02 00:00", "not a date in the calendar"),
            ("Sat *-*-* 00:00..*-*-* 06:00", "same form"),
            ("Sat *-*-* 00:00 Mon *-*-* 06:00", "no `..`"),
            ("Sat *-*-* 00:00..Mon *-*-* 06:00 Europe/London UTC", "one time zone at most"),
            ("..", "start"),
            ("", "no `..`"),
        ] {
            let error = FreezeWindow::parse(bad).unwrap_err().to_string();
            assert!(error.contains(says), "{bad:?}: {error}");
        }
    }
}
