//! Completion clean-up: suffix overlap, line limit, whitespace, switches.

use crate::postprocess::{
    CompletionContext, PostprocessOptions, postprocess_completion, trim_suffix_overlap,
};
use proptest::prelude::*;

fn complete(text: &str, suffix: &str) -> String {
    let stop = vec!["<|endoftext|>".to_owned()];
    let ctx = CompletionContext {
        suffix,
        stop: &stop,
        chat: false,
    };
    postprocess_completion(text, &ctx, &PostprocessOptions::default())
}

#[test]
fn a_repeated_closing_line_is_dropped() {
    let out = complete("    return x;\n}\n", "\n}\n\nfn next() {}\n");
    assert_eq!(out, "    return x;");
}

#[test]
fn a_closing_line_the_completion_needs_is_kept() {
    let out = complete("if x {\n        y();\n    }", "\n}\n");
    assert_eq!(out, "if x {\n        y();\n    }");
}

#[test]
fn several_repeated_suffix_lines_are_dropped() {
    let out = complete("foo();\n    bar();\n}", "\n    bar();\n}\n");
    assert_eq!(out, "foo();");
}

#[test]
fn a_completion_that_only_repeats_the_suffix_becomes_empty() {
    assert_eq!(complete("    return result\n", "\n    return result\n"), "");
}

#[test]
fn the_rest_of_the_line_is_not_written_twice() {
    assert_eq!(complete("name)", ")\nprint(done)"), "name");
    // The `)` closes a call the completion opened: kept.
    assert_eq!(complete("f(x)", ")\n"), "f(x)");
    assert_eq!(trim_suffix_overlap("value", ""), "value");
}

#[test]
fn stops_line_limits_and_whitespace() {
    assert_eq!(complete("a = 1  \n\n<|endoftext|>junk", "\n"), "a = 1");
    assert_eq!(complete(" \n\t\n", ""), "");
    let ctx = CompletionContext {
        suffix: "",
        stop: &[],
        chat: false,
    };
    let two_lines = PostprocessOptions {
        max_lines: Some(2),
        ..PostprocessOptions::default()
    };
    assert_eq!(
        postprocess_completion("one\r\ntwo\r\nthree\r\n", &ctx, &two_lines),
        "one\r\ntwo"
    );
    let zero = PostprocessOptions {
        max_lines: Some(0),
        ..PostprocessOptions::default()
    };
    assert_eq!(postprocess_completion("one", &ctx, &zero), "");
}

#[test]
fn every_step_can_be_switched_off() {
    let stop = vec!["<EOT>".to_owned()];
    let ctx = CompletionContext {
        suffix: "\n}\n",
        stop: &stop,
        chat: true,
    };
    let raw = "```rust\nx();\n}\n```  <EOT>more  ";
    assert_eq!(
        postprocess_completion(raw, &ctx, &PostprocessOptions::none()),
        raw
    );
    assert_eq!(
        postprocess_completion(raw, &ctx, &PostprocessOptions::default()),
        "x();"
    );
}

#[test]
fn chat_answers_lose_fences_and_chatter() {
    let ctx = CompletionContext {
        suffix: "\n    return result\n",
        stop: &[],
        chat: true,
    };
    let answer = "Sure! Here is the code:\n```python\nresult = os.listdir(path)\n```\nThis code lists the directory.";
    assert_eq!(
        postprocess_completion(answer, &ctx, &PostprocessOptions::default()),
        "result = os.listdir(path)"
    );
}

proptest! {
    #[test]
    fn completion_postprocessing_never_panics(text in "\\PC*", suffix in "\\PC*", chat: bool, lines in proptest::option::of(0usize..5)) {
        let stop = vec!["\n\n".to_owned(), "🦀".to_owned()];
        let ctx = CompletionContext { suffix: &suffix, stop: &stop, chat };
        let options = PostprocessOptions { max_lines: lines, ..PostprocessOptions::default() };
        let out = postprocess_completion(&text, &ctx, &options);
        prop_assert!(!out.contains("\n\n") || chat);
        prop_assert_eq!(out.trim_end(), out.as_str());
    }
}
