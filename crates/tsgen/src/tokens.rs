//! How many tokens a text costs an agent: OpenAI's `o200k_base` encoding (GPT-4o and later),
//! whose vocabulary is compiled into the binary, so counting needs no network.

/// The number of `o200k_base` tokens in `text`. The first call loads the vocabulary (about
/// a tenth of a second); later calls only encode.
pub fn count_tokens(text: &str) -> usize {
    tiktoken_rs::o200k_base_singleton()
        .encode_ordinary(text)
        .len()
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_real_tokens() {
        assert_eq!(super::count_tokens(""), 0);
        assert_eq!(super::count_tokens("hello world"), 2);
        let declaration = "getIssue(args: { owner: string; repo: string }): Promise<unknown>;";
        let tokens = super::count_tokens(declaration);
        assert!((10..30).contains(&tokens), "{tokens}");
    }
}
