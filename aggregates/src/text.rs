//! Small helpers for validating and quoting free text, shared by both aggregates.

/// Trims `value` and returns the trimmed text when its length, counted in characters (not
/// bytes, so accented names are not penalised), lies within `min..=max` and it holds no
/// control character other than line breaks and tabs. (A NUL, in particular, is valid JSON
/// but no database or terminal downstream can store or show it.)
///
/// Counting stops after `max + 1` characters, so oversized input costs no more than a valid one.
pub(crate) fn trimmed_within(value: &str, min: usize, max: usize) -> Option<&str> {
    let trimmed = value.trim();
    let length = trimmed.chars().take(max.saturating_add(1)).count();
    let clean = || {
        !trimmed
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    };
    ((min..=max).contains(&length) && clean()).then_some(trimmed)
}

/// Longest piece of user input quoted back in an error message.
const EXCERPT_CHARS: usize = 40;

/// Returns `value` shortened for quoting in an error message, so that a megabyte of rubbish in a
/// request does not come back as a megabyte of error detail.
pub(crate) fn excerpt(value: &str) -> String {
    let mut chars = value.chars();
    let head: String = chars.by_ref().take(EXCERPT_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimmed_within_counts_characters_after_trimming() {
        assert_eq!(trimmed_within("  Zoë  ", 1, 3), Some("Zoë"));
        assert_eq!(trimmed_within("   ", 1, 3), None);
        assert_eq!(trimmed_within("abcd", 1, 3), None);
        assert_eq!(trimmed_within("", 0, 3), Some(""));
    }

    #[test]
    fn trimmed_within_refuses_control_characters_but_line_breaks_and_tabs() {
        assert_eq!(trimmed_within("Eve\u{0}Null", 1, 20), None);
        assert_eq!(trimmed_within("bell\u{7}", 1, 20), None);
        assert_eq!(
            trimmed_within("two\nlines\tand a tab", 1, 30),
            Some("two\nlines\tand a tab")
        );
    }

    #[test]
    fn excerpt_shortens_long_input_only() {
        assert_eq!(excerpt("short"), "short");
        let long = "x".repeat(100);
        assert_eq!(excerpt(&long), format!("{}…", "x".repeat(40)));
    }
}
