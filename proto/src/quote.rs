//! How much of a peer's input an error may quote.
//!
//! Errors about received messages travel back in replies, and a reply over the peer's message
//! limit is refused whole: an error quoting a 1 MB line or a 100,000-dimension shape would
//! hide its own reason. Every quote of received text goes through [`quote`], which keeps the
//! start and says how much was left out.

/// Characters of received text an error quotes at most.
pub const MAX_QUOTE_CHARS: usize = 200;

/// `text` as an error may quote it: whole when short, else its first [`MAX_QUOTE_CHARS`]
/// characters and the length of the whole.
pub fn quote(text: &str) -> String {
    quote_within(text, MAX_QUOTE_CHARS)
}

/// `text` cut to its first `max_chars` characters, saying how many bytes it had in all.
pub fn quote_within(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}... ({} bytes in all)", &text[..end], text.len()),
    }
}

/// A multi-line message (a parser's error with the line it points at) with every line quoted
/// and at most [`MAX_QUOTE_LINES`] lines, the last ones kept: parsers put the reason last.
pub fn quote_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let skipped = lines.len().saturating_sub(MAX_QUOTE_LINES);
    let mut quoted: Vec<String> = lines[skipped..].iter().map(|l| quote(l)).collect();
    if skipped > 0 {
        quoted.insert(0, format!("({skipped} lines left out)"));
    }
    quoted.join("\n")
}

/// Lines of a multi-line message an error quotes at most.
pub const MAX_QUOTE_LINES: usize = 12;

/// Numbers (a shape, a list of indices) as an error may quote them: the first few and the
/// count of the rest.
pub fn quote_list<T: std::fmt::Debug>(values: &[T]) -> String {
    const SHOWN: usize = 16;
    if values.len() <= SHOWN {
        format!("{values:?}")
    } else {
        let head: Vec<String> = values[..SHOWN].iter().map(|v| format!("{v:?}")).collect();
        format!("[{}, ... ({} in all)]", head.join(", "), values.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_quoted_whole_and_long_text_is_cut_on_a_char_boundary() {
        assert_eq!(quote("param0"), "param0");
        let long = "é".repeat(1000);
        let quoted = quote(&long);
        assert!(quoted.starts_with(&"é".repeat(MAX_QUOTE_CHARS)), "{quoted}");
        assert!(quoted.ends_with("(2000 bytes in all)"), "{quoted}");
        assert!(quoted.len() < 2 * MAX_QUOTE_CHARS + 40);
        assert_eq!(quote_list(&[1u64, 2]), "[1, 2]");
        let parse_error = format!(
            "at line 1\n1 | x = \"{}\"\nunknown field",
            "a".repeat(1 << 20)
        );
        let quoted = quote_lines(&parse_error);
        assert!(
            quoted.len() < 400 && quoted.ends_with("unknown field"),
            "{quoted}"
        );
        let shape = vec![7u64; 100_000];
        let quoted = quote_list(&shape);
        assert!(
            quoted.len() < 100 && quoted.ends_with("(100000 in all)]"),
            "{quoted}"
        );
    }
}
