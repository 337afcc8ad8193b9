//! Budgeting: properties over arbitrary unicode and counters, plus the split rules.

use super::python_input;
use crate::prompt::{
    BudgetLimits, EstimatingCounter, FimFormat, FimInput, LineEnding, PromptFamily, Snippet,
    TokenCounter, budget, render_fim,
};
use proptest::prelude::*;

/// Counts like a pre-tokenizer: a run of letters/digits is one token, every other
/// non-space character is one. Not additive across concatenation, as real tokenizers are not.
struct WordCounter;

impl TokenCounter for WordCounter {
    fn count(&self, text: &str) -> usize {
        let mut count = 0;
        let mut in_word = false;
        for c in text.chars() {
            if c.is_alphanumeric() {
                count += usize::from(!in_word);
                in_word = true;
            } else {
                in_word = false;
                count += usize::from(!c.is_whitespace());
            }
        }
        count
    }
}

/// Counts more for a text than for its parts together, so quotas computed per part overshoot
/// and only the final fitting rounds can save the budget.
struct Superadditive;

impl TokenCounter for Superadditive {
    fn count(&self, text: &str) -> usize {
        let n = text.chars().count();
        n + n * n / 256
    }
}

/// Uses the trait's generic binary-search `fit_*` over the estimator's `count`.
struct Generic(EstimatingCounter);

impl TokenCounter for Generic {
    fn count(&self, text: &str) -> usize {
        self.0.count(text)
    }
}

fn arb_input() -> impl Strategy<Value = FimInput> {
    let text = prop_oneof![
        any::<String>(),
        "(\\PC|\n|\r\n){0,300}",
        "[a-z {}()\n]{0,400}"
    ];
    let snippet =
        (any::<String>(), text.clone()).prop_map(|(path, content)| Snippet { path, content });
    (
        text.clone(),
        text,
        proptest::option::of(any::<String>()),
        proptest::option::of(prop_oneof![
            Just("python".to_owned()),
            Just("rust".to_owned()),
            any::<String>()
        ]),
        proptest::option::of(any::<String>()),
        proptest::collection::vec(snippet, 0..4),
    )
        .prop_map(
            |(prefix, suffix, file_name, language, repo_name, snippets)| FimInput {
                prefix,
                suffix,
                file_name,
                language,
                repo_name,
                snippets,
            },
        )
}

fn check_budget(
    counter: &dyn TokenCounter,
    family_index: usize,
    input: &FimInput,
    limits: &BudgetLimits,
) -> Result<(), TestCaseError> {
    let format = FimFormat::Family(PromptFamily::ALL[family_index % PromptFamily::ALL.len()]);
    let out = budget(&format, input, counter, limits);
    let tokens = render_fim(&format, &out).count_tokens(counter);
    let bare = render_fim(&format, &input.without_code()).count_tokens(counter);
    prop_assert!(
        tokens <= limits.input_limit()
            || (out == input.without_code() && bare > limits.input_limit()),
        "{tokens} tokens over {} (bare prompt {bare})",
        limits.input_limit()
    );
    // Room for code means some code is kept: falling back to no code is for hopeless cases.
    if limits.input_limit() >= bare + 50 && !(input.prefix.is_empty() && input.suffix.is_empty()) {
        prop_assert!(
            !(out.prefix.is_empty() && out.suffix.is_empty()),
            "all code dropped"
        );
    }
    prop_assert!(input.prefix.ends_with(&out.prefix));
    prop_assert!(input.suffix.starts_with(&out.suffix));
    prop_assert!(out.snippets.len() <= input.snippets.len());
    for (kept, original) in out.snippets.iter().zip(&input.snippets) {
        prop_assert_eq!(&kept.path, &original.path);
        prop_assert!(original.content.starts_with(&kept.content));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn budget_fits_the_estimating_counter(
        input in arb_input(),
        family in 0usize..64,
        context in 0usize..1500,
        output in 0usize..300,
        share in 0.0f64..=1.0,
    ) {
        let limits = BudgetLimits { context_tokens: context, max_output_tokens: output, prefix_share: share };
        check_budget(&EstimatingCounter::default(), family, &input, &limits)?;
    }

    #[test]
    fn budget_fits_a_non_additive_counter(
        input in arb_input(),
        family in 0usize..64,
        context in 0usize..600,
        share in 0.0f64..=1.0,
    ) {
        let limits = BudgetLimits { context_tokens: context, max_output_tokens: 16, prefix_share: share };
        check_budget(&WordCounter, family, &input, &limits)?;
    }

    #[test]
    fn budget_fits_a_superadditive_counter(
        input in arb_input(),
        family in 0usize..64,
        context in 0usize..900,
        share in 0.0f64..=1.0,
    ) {
        let limits = BudgetLimits { context_tokens: context, max_output_tokens: 16, prefix_share: share };
        check_budget(&Superadditive, family, &input, &limits)?;
    }

    #[test]
    fn estimator_fits_agree_with_the_generic_search(text in "(\\PC|\n){0,200}", max in 0usize..80) {
        let fast = EstimatingCounter::default();
        let generic = Generic(fast);
        prop_assert_eq!(fast.fit_start(&text, max), generic.fit_start(&text, max));
        prop_assert_eq!(fast.fit_end(&text, max), generic.fit_end(&text, max));
        prop_assert!(fast.count(&text[..fast.fit_start(&text, max)]) <= max);
        prop_assert!(fast.count(&text[fast.fit_end(&text, max)..]) <= max);
    }

    #[test]
    fn crlf_round_trips(text in "([a-z]|\r\n|\n){0,60}") {
        let mut input = FimInput::new(format!("x\r\n{text}"), "");
        let ending = input.normalize_line_endings();
        prop_assert_eq!(ending, LineEnding::CrLf);
        prop_assert!(!input.prefix.contains('\r'));
        prop_assert_eq!(ending.restore(&input.prefix), format!("x\r\n{text}").replace("\r\n", "\n").replace('\n', "\r\n"));
    }
}

#[test]
fn estimator_is_conservative_for_digits_and_wide_characters() {
    let c = EstimatingCounter::default();
    assert_eq!(c.count(""), 0);
    assert_eq!(c.count("abc"), 1);
    assert_eq!(c.count("abcd"), 2);
    assert_eq!(c.count("1234"), 4);
    assert_eq!(c.count("é"), 1);
    assert_eq!(c.count("世界"), 4);
    assert_eq!(c.count("🦀"), 2);
}

#[test]
fn a_short_side_leaves_its_share_to_the_other() {
    let counter = EstimatingCounter::default();
    let input = FimInput::new("p".repeat(3000), "short suffix\n");
    let format = FimFormat::Family(PromptFamily::StarCoder);
    let out = budget(&format, &input, &counter, &BudgetLimits::new(500, 100));
    assert_eq!(out.suffix, input.suffix);
    let tokens = render_fim(&format, &out).count_tokens(&counter);
    // Everything the suffix did not need went to the prefix.
    assert!((395..=400).contains(&tokens), "{tokens}");
}

#[test]
fn both_long_sides_share_the_budget_by_prefix_share() {
    let counter = EstimatingCounter::default();
    let input = FimInput::new("p".repeat(3000), "s".repeat(3000));
    let format = FimFormat::Family(PromptFamily::StarCoder);
    let limits = BudgetLimits {
        prefix_share: 0.5,
        ..BudgetLimits::new(1000, 0)
    };
    let out = budget(&format, &input, &counter, &limits);
    let (p, s) = (counter.count(&out.prefix), counter.count(&out.suffix));
    assert!(p.abs_diff(s) <= 1, "{p} vs {s}");
}

#[test]
fn snippets_are_cut_before_code_and_in_priority_order() {
    let counter = EstimatingCounter::default();
    let mut input = python_input();
    input.snippets = vec![
        Snippet {
            path: "a.py".to_owned(),
            content: "first = 1\n".repeat(30),
        },
        Snippet {
            path: "b.py".to_owned(),
            content: "second = 2\n".repeat(30),
        },
    ];
    let format = FimFormat::Family(PromptFamily::CodeLlama);
    let out = budget(&format, &input, &counter, &BudgetLimits::new(200, 50));
    assert_eq!(out.prefix, input.prefix);
    assert_eq!(out.suffix, input.suffix);
    assert_eq!(out.snippets.len(), 1);
    assert_eq!(out.snippets[0].path, "a.py");
    // Cut on a line boundary.
    assert!(out.snippets[0].content.ends_with("first = 1\n"));
    assert!(out.snippets[0].content.len() < input.snippets[0].content.len());
}

#[test]
fn cuts_prefer_line_boundaries() {
    let counter = EstimatingCounter::default();
    let line = "let value = compute(input);\n";
    let input = FimInput::new(line.repeat(50), line.repeat(50));
    let format = FimFormat::Family(PromptFamily::DeepSeekCoder);
    let out = budget(&format, &input, &counter, &BudgetLimits::new(300, 0));
    assert!(
        out.prefix.starts_with("let value"),
        "{:?}",
        &out.prefix[..20]
    );
    assert!(out.suffix.ends_with('\n'));
}

#[test]
fn an_impossible_budget_returns_the_input_without_code() {
    let input = super::with_snippets(python_input());
    let format = FimFormat::Family(PromptFamily::GenericChat);
    let out = budget(
        &format,
        &input,
        &EstimatingCounter::default(),
        &BudgetLimits::new(10, 5),
    );
    assert_eq!(out, input.without_code());
    assert_eq!(out.file_name, input.file_name);
}
