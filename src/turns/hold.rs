//! What the caller hears while the reply is not ready: a short holding
//! phrase that fits what the turn is doing, varied so it does not sound
//! canned.

/// While a calendar tool runs (free times, a booking, a change).
const CALENDAR: &[&str] = &[
    "Let me check the calendar.",
    "Let me look at the calendar.",
    "One moment, I'm checking the calendar.",
];

/// Otherwise.
const OTHER: &[&str] = &["One moment.", "Just a moment.", "One moment, please."];

/// The `n`th holding phrase for a turn with (or without) a calendar tool
/// running; consecutive `n` give different phrases. Short: the caller hears
/// all of it before the reply.
pub fn phrase(calendar: bool, n: usize) -> &'static str {
    let list = if calendar { CALENDAR } else { OTHER };
    list[n % list.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phrase_fits_the_work_and_varies() {
        assert!(phrase(true, 0).contains("calendar"));
        assert!(!phrase(false, 0).contains("calendar"));
        assert_ne!(phrase(false, 0), phrase(false, 1));
        assert_ne!(phrase(true, 4), phrase(true, 5));
        assert!(
            OTHER
                .iter()
                .chain(CALENDAR)
                .all(|p| p.split(' ').count() <= 6)
        );
    }
}
