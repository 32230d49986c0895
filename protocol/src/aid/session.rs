//! Sessions: the unit of aid. A session is a calendar date and a part of that day
//! ("AM", "PM", or hours such as "09:00-13:00"). Two sessions are the same session iff
//! their date and part are byte-for-byte equal; they are ordered by (date, part), bytewise.

use super::AidError;
use mutual_proto::v1 as pb;
use std::fmt;

/// One session of cover, validated.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Session {
    /// Calendar date, "YYYY-MM-DD".
    pub date: String,
    /// "AM", "PM", or hours "HH:MM-HH:MM" (start before end, same day).
    pub part: String,
}

impl Session {
    /// Checks a wire session: a real calendar date and a valid part of a day.
    pub fn parse(s: &pb::Session) -> Result<Self, AidError> {
        if !valid_date(&s.date) {
            return Err(AidError::Invalid(format!(
                "session date {:?} is not a calendar date written YYYY-MM-DD",
                s.date
            )));
        }
        if !valid_part(&s.part) {
            return Err(AidError::Invalid(format!(
                "session part {:?} is not AM, PM or hours HH:MM-HH:MM",
                s.part
            )));
        }
        Ok(Session {
            date: s.date.clone(),
            part: s.part.clone(),
        })
    }

    /// The wire form.
    pub fn to_pb(&self) -> pb::Session {
        pb::Session {
            date: self.date.clone(),
            part: self.part.clone(),
        }
    }
}

impl fmt::Display for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.date, self.part)
    }
}

/// Parses a list of wire sessions: at least one, at most `max`, each valid, none twice.
/// Returns them sorted by (date, part).
pub(crate) fn parse_list(
    list: &[pb::Session],
    what: &'static str,
    max: usize,
) -> Result<Vec<Session>, AidError> {
    if list.is_empty() {
        return Err(AidError::Invalid(format!("{what} names no sessions")));
    }
    if list.len() > max {
        return Err(AidError::TooMany {
            what: "sessions in one request, offer or acceptance",
            limit: max,
        });
    }
    let mut out = list
        .iter()
        .map(Session::parse)
        .collect::<Result<Vec<_>, _>>()?;
    out.sort();
    if let Some(w) = out.windows(2).find(|w| w[0] == w[1]) {
        return Err(AidError::Invalid(format!(
            "{what} lists session {} twice",
            w[0]
        )));
    }
    Ok(out)
}

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
}

fn valid_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Some(y), Some(m), Some(d)) = (digits(&b[0..4]), digits(&b[5..7]), digits(&b[8..10]))
    else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// Minutes since midnight of "HH:MM", if valid.
fn clock(b: &[u8]) -> Option<u32> {
    if b.len() != 5 || b[2] != b':' {
        return None;
    }
    let (h, m) = (digits(&b[0..2])?, digits(&b[3..5])?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

fn valid_part(s: &str) -> bool {
    if s == "AM" || s == "PM" {
        return true;
    }
    let b = s.as_bytes();
    if b.len() != 11 || b[5] != b'-' {
        return false;
    }
    matches!((clock(&b[0..5]), clock(&b[6..11])), (Some(a), Some(z)) if a < z)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert!(valid_date("2026-01-31"));
        assert!(valid_date("2024-02-29"));
        assert!(!valid_date("2026-02-29"));
        assert!(!valid_date("2026-13-01"));
        assert!(!valid_date("2026-1-01"));
        assert!(!valid_date("2026-01-00"));
        assert!(!valid_date("２０２６-01-01"));
    }

    #[test]
    fn parts() {
        assert!(valid_part("AM"));
        assert!(valid_part("PM"));
        assert!(valid_part("09:00-13:00"));
        assert!(!valid_part("13:00-09:00"));
        assert!(!valid_part("09:00-09:00"));
        assert!(!valid_part("24:00-25:00"));
        assert!(!valid_part("am"));
        assert!(!valid_part(""));
    }
}
