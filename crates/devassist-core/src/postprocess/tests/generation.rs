//! Generation clean-up: fences and chatter.

use crate::postprocess::{
    PostprocessOptions, postprocess_generation, strip_chatter, strip_markdown_fences,
};
use proptest::prelude::*;

#[test]
fn fenced_code_is_unwrapped_and_prose_dropped() {
    let answer = "Here is the function you asked for:\n\n```python\ndef add(a, b):\n    return a + b\n```\n\nThis function adds two numbers.\n";
    assert_eq!(
        postprocess_generation(
            answer,
            "# add two numbers\n",
            &PostprocessOptions::default()
        ),
        "def add(a, b):\n    return a + b"
    );
}

#[test]
fn several_blocks_are_joined() {
    let answer = "```js\nconst a = 1;\n```\nand then\n```js\nconst b = 2;\n```";
    assert_eq!(
        strip_markdown_fences(answer),
        "const a = 1;\nconst b = 2;\n"
    );
}

#[test]
fn a_single_fence_keeps_the_side_with_the_code() {
    assert_eq!(strip_markdown_fences("```rust\nfn a() {}\n"), "fn a() {}\n");
    assert_eq!(
        strip_markdown_fences("fn a() {}\n```\nDone."),
        "fn a() {}\n"
    );
    assert_eq!(
        strip_markdown_fences("Here is the code:\n```\nfn a() {}"),
        "fn a() {}"
    );
    assert_eq!(strip_markdown_fences("no fences\n"), "no fences\n");
}

#[test]
fn chatter_detection_leaves_code_alone() {
    let code = "\n    # Here is the plan:\n    x = compute()\n    print(x)\n";
    assert_eq!(strip_chatter(code), code);
    let code = "Here is = 1;\nsure();\n";
    assert_eq!(strip_chatter(code), code);
    assert_eq!(
        strip_chatter("Certainly!\nx = 1\nI hope this helps.\n"),
        "x = 1\n"
    );
    assert_eq!(strip_chatter("Sure.\n"), "");
}

#[test]
fn generated_code_starts_on_its_own_line_after_a_partial_line() {
    let options = PostprocessOptions::default();
    assert_eq!(
        postprocess_generation("x = 1\n", "# make x", &options),
        "\nx = 1"
    );
    assert_eq!(
        postprocess_generation("x = 1\n", "# make x\n", &options),
        "x = 1"
    );
    assert_eq!(postprocess_generation("x = 1", "", &options), "x = 1");
    assert_eq!(postprocess_generation("```\n```", "# make x", &options), "");
}

proptest! {
    #[test]
    fn generation_postprocessing_never_panics(text in "(\\PC|\n|```|~~~)*", prefix in "\\PC*") {
        let out = postprocess_generation(&text, &prefix, &PostprocessOptions::default());
        prop_assert!(!out.lines().any(|l| l.trim_start().starts_with("```")) || text.matches("```").count() > 2);
    }
}
