//! Word-level text helpers for routing: tokens and OCR-tolerant comparison.

/// Splits text into lower-case tokens: at white space and slashes, with punctuation at
/// the ends of each token removed ("Persönlich/Vertraulich:" -> "persönlich",
/// "vertraulich").
pub fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == '/')
        .map(|t| {
            t.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .filter(|t| !t.is_empty())
        .collect()
}

/// How many edits an OCR-tolerant match allows for a word of this length.
pub fn tolerance(len: usize) -> usize {
    match len {
        0..=4 => 0,
        5..=8 => 1,
        _ => 2,
    }
}

/// Edit distance, or None when it exceeds `max` (bounded: stops early).
pub fn distance(a: &str, b: &str, max: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        let mut best = row[0];
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1)
                .min(row[j] + 1)
                .min(diag + usize::from(ca != cb));
            diag = row[j + 1];
            row[j + 1] = next;
            best = best.min(next);
        }
        if best > max {
            return None;
        }
    }
    let d = row[b.len()];
    (d <= max).then_some(d)
}

/// Equal, or within the OCR tolerance for the wanted word's length.
pub fn fuzzy_eq(found: &str, wanted: &str) -> bool {
    found == wanted || distance(found, wanted, tolerance(wanted.chars().count())).is_some()
}

/// A keyword matches a token exactly, or as a prefix when it ends with `*`.
pub fn keyword_matches(token: &str, keyword: &str) -> bool {
    match keyword.strip_suffix('*') {
        Some(prefix) => token.starts_with(prefix),
        None => token == keyword,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_and_trim() {
        assert_eq!(
            tokens("PERSÖNLICH/Vertraulich: z. Hd. Frau Müller,"),
            vec!["persönlich", "vertraulich", "z", "hd", "frau", "müller"]
        );
    }

    #[test]
    fn ocr_tolerance_grows_with_length() {
        assert!(fuzzy_eq("bauordnunq", "bauordnung"));
        assert!(fuzzy_eq("vertrau1ich", "vertraulich"));
        assert!(!fuzzy_eq("bau", "bad"), "short words must match exactly");
        assert!(!fuzzy_eq("persönliche", "vertraulich"));
        assert_eq!(distance("kitten", "sitting", 3), Some(3));
        assert_eq!(distance("kitten", "sitting", 2), None);
    }

    #[test]
    fn keywords_and_prefixes() {
        assert!(keyword_matches("bauantragsunterlagen", "bauantrag*"));
        assert!(!keyword_matches("bauantragsunterlagen", "bauantrag"));
    }
}
