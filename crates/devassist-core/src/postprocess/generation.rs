//! Cleaning up answers from chat models: Markdown fences and chatter around the code.

/// Openers of prose lines models put before the code.
const LEADING_CHATTER: &[&str] = &[
    "here is",
    "here's",
    "here are",
    "sure",
    "certainly",
    "of course",
    "below is",
    "the following",
    "okay",
    "ok,",
    "i'll",
    "i will",
    "to do this",
    "this code",
    "the code",
];

/// Openers of prose lines models put after the code.
const TRAILING_CHATTER: &[&str] = &[
    "this code",
    "this function",
    "this implementation",
    "this will",
    "the code",
    "the function",
    "explanation",
    "note:",
    "i've",
    "i have",
    "i hope",
    "hope this",
    "let me know",
    "feel free",
    "in this",
];

fn is_fence(line: &str) -> bool {
    let t = line.trim();
    t.starts_with("```") || t.starts_with("~~~")
}

/// Keeps the code inside Markdown fences. With one fence, keeps the side that holds the
/// code: after an opening fence (it has a language tag or nothing but prose before it), else
/// before a closing one. Text without fences is returned as is.
pub fn strip_markdown_fences(text: &str) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let fences: Vec<usize> = (0..lines.len()).filter(|&i| is_fence(lines[i])).collect();
    let kept: Vec<&str> = match fences.as_slice() {
        [] => return text.to_owned(),
        [only] => {
            let tagged = lines[*only].trim().len() > 3;
            let prose_before = lines[..*only]
                .iter()
                .all(|l| l.trim().is_empty() || is_chatter(l, LEADING_CHATTER));
            if tagged || prose_before {
                lines[only + 1..].to_vec()
            } else {
                lines[..*only].to_vec()
            }
        }
        _ => {
            let mut kept = Vec::new();
            let mut inside = false;
            for line in &lines {
                if is_fence(line) {
                    inside = !inside;
                } else if inside {
                    kept.push(*line);
                }
            }
            kept
        }
    };
    kept.concat()
}

/// Removes prose lines before the first and after the last line of code. Blank lines at
/// either end are kept unless prose was removed there (they can be intended layout).
pub fn strip_chatter(text: &str) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let blank = |l: &&str| l.trim().is_empty();
    let lead = lines
        .iter()
        .position(|l| !(blank(l) || is_chatter(l, LEADING_CHATTER)))
        .unwrap_or(lines.len());
    let start = if lines[..lead].iter().any(|l| !blank(l)) {
        lead
    } else {
        0
    };
    let trail = lines[start..]
        .iter()
        .rposition(|l| !(blank(l) || is_chatter(l, TRAILING_CHATTER)))
        .map_or(start, |i| start + i + 1);
    let end = if lines[trail..].iter().any(|l| !blank(l)) {
        trail
    } else {
        lines.len()
    };
    lines[start..end].concat()
}

/// A line of prose: starts with one of `openers` and reads like a sentence, not code.
fn is_chatter(line: &str, openers: &[&str]) -> bool {
    let t = line.trim();
    let lower = t.to_lowercase();
    let opens = openers.iter().any(|o| {
        lower.starts_with(o)
            && lower[o.len()..]
                .chars()
                .next()
                .is_none_or(|c| !c.is_alphanumeric() || o.ends_with([',', ':']))
    });
    let sentence_end = t.ends_with([':', '.', '!']);
    let code_like = t.ends_with([';', '{', '}', '(', ')', ',']) || t.contains(" = ");
    opens && sentence_end && !code_like
}
