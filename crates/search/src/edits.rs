//! Edit distance, in characters: the typo-tolerant names of search and the did-you-mean of a
//! call to a tool that does not exist both use it, so they agree on every name.

/// The Levenshtein distance of `a` and `b` in characters if it is at most `max`, else
/// `max + 1`: stops as soon as no cell of a row is within `max`. `usize::MAX - 1` (or any
/// bound over both lengths) gives the whole distance.
pub fn distance(a: &str, b: &str, max: usize) -> usize {
    if a.is_ascii() && b.is_ascii() {
        // One byte is one character: no need to decode.
        levenshtein(a.as_bytes(), b.as_bytes(), max)
    } else {
        let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
        levenshtein(&a, &b, max)
    }
}

fn levenshtein<T: PartialEq>(a: &[T], b: &[T], max: usize) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        let mut lowest = row[0];
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            previous = current;
            lowest = lowest.min(row[j + 1]);
        }
        if lowest > max {
            return max.saturating_add(1);
        }
    }
    row[b.len()].min(max.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::distance;

    #[test]
    fn distances_count_characters_and_stop_past_the_bound() {
        let all = usize::MAX - 1;
        assert_eq!(distance("getissue", "getisue", all), 1);
        assert_eq!(distance("", "abc", all), 3);
        assert_eq!(distance("getissue", "getisue", 2), 1);
        assert_eq!(distance("create_pull_request", "list_issues", 2), 3);
        assert_eq!(distance("abc", "abd", 0), 1);
        // One character is one edit, however many bytes it takes.
        assert_eq!(distance("café", "cafe", all), 1);
        assert_eq!(distance("日本語", "日本", all), 1);
        assert_eq!(distance("日本語", "日本", 0), 1);
    }
}
