//! Phone numbers, and who is on the line.
//!
//! [`PhoneNumber`] is an E.164 number checked once at the edge.
//! [`CallerIdentity`] is the one place that decides whether the other party
//! of a call has a number the business may use to find their appointments:
//! only a real E.164 number does. A withheld caller (Twilio sends `From` as
//! `Anonymous`, `Restricted`, `Unavailable`, or the keypad spellings of those
//! words such as `+266696687`), a `client:` identity, a SIP address or an
//! empty `From` is [`CallerIdentity::Withheld`]: such a caller can book and
//! leave a message, but has no existing appointments.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A phone number in E.164 form: `+`, country code, number; 8 to 15 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Validates an E.164 number. Spaces are not accepted, so what Twilio
    /// receives is exactly what was checked.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let digits = raw.strip_prefix('+').ok_or_else(|| {
            format!("{raw:?} is not in E.164 form: it must start with + and the country code, like +14155551234")
        })?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "{raw:?} is not in E.164 form: after the + only digits are allowed (no spaces, dashes or brackets), like +14155551234"
            ));
        }
        if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
            return Err(format!(
                "{raw:?} is not in E.164 form: it needs a country code that does not start with 0 and 8 to 15 digits in all, like +14155551234"
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The number as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The numbers Twilio puts in `From` when the caller's number is withheld:
/// the keypad spellings of ANONYMOUS, RESTRICTED, UNAVAILABLE and UNKNOWN.
const WITHHELD_NUMBERS: [&str; 4] = ["+266696687", "+7378742833", "+86282452253", "+8656696"];

/// Who is on the line, as far as their appointments are concerned.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum CallerIdentity {
    /// The caller's real phone number.
    Number(PhoneNumber),
    /// No usable number: withheld, a `client:` or SIP identity, or none.
    #[default]
    Withheld,
}

impl CallerIdentity {
    /// The identity behind the other party's `From` (or `To`) as Twilio
    /// sent it. Anything but a real E.164 number is withheld.
    pub fn parse(raw: Option<&str>) -> Self {
        let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
            return Self::Withheld;
        };
        if WITHHELD_NUMBERS.contains(&raw) {
            return Self::Withheld;
        }
        PhoneNumber::parse(raw).map_or(Self::Withheld, Self::Number)
    }

    /// The caller's number, when they have one.
    pub fn number(&self) -> Option<&PhoneNumber> {
        match self {
            Self::Number(n) => Some(n),
            Self::Withheld => None,
        }
    }

    /// The caller's number as text, when they have one.
    pub fn phone(&self) -> Option<&str> {
        self.number().map(PhoneNumber::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_real_e164_number_identifies_a_caller() {
        assert_eq!(
            CallerIdentity::parse(Some(" +14155550100 ")).phone(),
            Some("+14155550100")
        );
        for withheld in [
            None,
            Some(""),
            Some("   "),
            Some("Anonymous"),
            Some("anonymous"),
            Some("Restricted"),
            Some("Unavailable"),
            Some("+266696687"),
            Some("+7378742833"),
            Some("+86282452253"),
            Some("+8656696"),
            Some("client:alice"),
            Some("sip:alice@example.com"),
            Some("4155550100"),
            Some("+1 415 555 0100"),
            Some("+0123456789"),
        ] {
            assert_eq!(
                CallerIdentity::parse(withheld),
                CallerIdentity::Withheld,
                "{withheld:?}"
            );
        }
    }

    #[test]
    fn e164_numbers_are_checked_with_a_reason() {
        assert!(PhoneNumber::parse("+14155551234").is_ok());
        assert!(PhoneNumber::parse(" +447911123456 ").is_ok());
        for bad in [
            "4155551234",
            "+1 415 555 1234",
            "+1-415-555-1234",
            "+0123456789",
            "+1234",
            "+1234567890123456",
            "",
            "+",
        ] {
            let err = PhoneNumber::parse(bad).unwrap_err();
            assert!(err.contains("E.164"), "{bad}: {err}");
        }
    }
}
