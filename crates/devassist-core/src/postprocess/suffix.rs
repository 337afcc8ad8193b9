//! Dropping completion text that repeats the start of the suffix.
//!
//! Models often finish the hole and then carry on into code that already follows the cursor
//! (the closing `}` of the function, the rest of the current line). Without a parser we guard
//! the cut with bracket balance: a tail is removed only if that does not leave the
//! completion's brackets less balanced, so a `}` that closes a block the completion opened
//! stays even when the suffix also starts with `}`.

/// Removes the end of `completion` that repeats the start of `suffix`.
pub fn trim_suffix_overlap<'a>(completion: &'a str, suffix: &str) -> &'a str {
    let suffix_lines: Vec<&str> = suffix
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if suffix_lines.is_empty() {
        return completion;
    }
    if let Some(head) = repeated_lines(completion, &suffix_lines) {
        return head;
    }
    rest_of_line(completion, suffix).unwrap_or(completion)
}

/// The completion without its trailing lines, when those lines (ignoring blank lines and
/// indentation) are the suffix's first lines.
fn repeated_lines<'a>(completion: &'a str, suffix_lines: &[&str]) -> Option<&'a str> {
    let mut starts = Vec::new();
    let mut offset = 0;
    for line in completion.split_inclusive('\n') {
        if !line.trim().is_empty() {
            starts.push(offset);
        }
        offset += line.len();
    }
    // Earliest start first: the longest repeated tail that keeps brackets balanced.
    starts.into_iter().find_map(|start| {
        let tail = &completion[start..];
        let tail_lines = tail.lines().map(str::trim).filter(|l| !l.is_empty());
        let count = tail_lines.clone().count();
        let repeats =
            count <= suffix_lines.len() && tail_lines.eq(suffix_lines[..count].iter().copied());
        let head = &completion[..start];
        (repeats && no_less_balanced(head, completion)).then_some(head)
    })
}

/// The completion without an ending that repeats the rest of the cursor's line
/// (`print(` + `x)` + `)` → `x`).
fn rest_of_line<'a>(completion: &'a str, suffix: &str) -> Option<&'a str> {
    let rest = suffix.split('\n').next().unwrap_or("").trim();
    if rest.is_empty() {
        return None;
    }
    let head = completion.trim_end().strip_suffix(rest)?;
    no_less_balanced(head, completion).then_some(head)
}

fn no_less_balanced(head: &str, full: &str) -> bool {
    balance(head).abs() <= balance(full).abs()
}

/// Opening minus closing brackets.
fn balance(text: &str) -> i64 {
    text.chars()
        .map(|c| match c {
            '(' | '[' | '{' => 1,
            ')' | ']' | '}' => -1,
            _ => 0,
        })
        .sum()
}
