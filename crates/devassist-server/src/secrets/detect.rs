//! The secret detector: where in a text the credentials are, and of which kind.
//!
//! One `RegexSet` pass over the text says which patterns occur at all (for an ordinary
//! prompt: none, and the pass is all it costs); only the patterns that occur are run again
//! to find their spans. Every pattern is written for the lazy DFA: ASCII word boundaries
//! (`(?-u:\b)`; a Unicode `\b` would push the search onto the slow engine whenever the text
//! holds one non-ASCII character), bounded classes, no look-around.
//!
//! A pattern's secret is its first capture group that took part in the match (the value of
//! `password = "…"`, not the key), or the whole match when it has no group. Overlapping
//! finds are settled by priority: a specific kind (a GitHub token) wins over a generic one
//! (an assignment whose value it is).
//!
//! It must not log or keep what it finds: it returns ranges, and the caller replaces them.

use regex::{Regex, RegexSet};
use std::ops::Range;
use std::sync::LazyLock;

/// What kind of secret a find is: a bounded set, the label of
/// `devassist_secrets_redacted_total` and the name in its placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    AwsAccessKey,
    AwsSecretKey,
    GcpKey,
    AzureKey,
    PrivateKey,
    OpenAiKey,
    AnthropicKey,
    SlackToken,
    StripeKey,
    GithubToken,
    GitlabToken,
    Jwt,
    BearerToken,
    UrlPassword,
    Password,
}

impl Kind {
    pub const ALL: [Kind; 15] = [
        Kind::AwsAccessKey,
        Kind::AwsSecretKey,
        Kind::GcpKey,
        Kind::AzureKey,
        Kind::PrivateKey,
        Kind::OpenAiKey,
        Kind::AnthropicKey,
        Kind::SlackToken,
        Kind::StripeKey,
        Kind::GithubToken,
        Kind::GitlabToken,
        Kind::Jwt,
        Kind::BearerToken,
        Kind::UrlPassword,
        Kind::Password,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::AwsAccessKey => "aws_access_key",
            Kind::AwsSecretKey => "aws_secret_key",
            Kind::GcpKey => "gcp_key",
            Kind::AzureKey => "azure_key",
            Kind::PrivateKey => "private_key",
            Kind::OpenAiKey => "openai_key",
            Kind::AnthropicKey => "anthropic_key",
            Kind::SlackToken => "slack_token",
            Kind::StripeKey => "stripe_key",
            Kind::GithubToken => "github_token",
            Kind::GitlabToken => "gitlab_token",
            Kind::Jwt => "jwt",
            Kind::BearerToken => "bearer_token",
            Kind::UrlPassword => "url_password",
            Kind::Password => "password",
        }
    }

    /// The name inside its placeholder (`<SECRET_GITHUB_TOKEN_1>`).
    pub fn placeholder_name(self) -> &'static str {
        match self {
            Kind::AwsAccessKey => "AWS_ACCESS_KEY",
            Kind::AwsSecretKey => "AWS_SECRET_KEY",
            Kind::GcpKey => "GCP_KEY",
            Kind::AzureKey => "AZURE_KEY",
            Kind::PrivateKey => "PRIVATE_KEY",
            Kind::OpenAiKey => "OPENAI_KEY",
            Kind::AnthropicKey => "ANTHROPIC_KEY",
            Kind::SlackToken => "SLACK_TOKEN",
            Kind::StripeKey => "STRIPE_KEY",
            Kind::GithubToken => "GITHUB_TOKEN",
            Kind::GitlabToken => "GITLAB_TOKEN",
            Kind::Jwt => "JWT",
            Kind::BearerToken => "BEARER_TOKEN",
            Kind::UrlPassword => "URL_PASSWORD",
            Kind::Password => "PASSWORD",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// One secret found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub range: Range<usize>,
    pub kind: Kind,
}

/// A line break inside a PEM block: a real one, or `\n` escaped in a JSON string (a GCP
/// service-account file).
const NL: &str = r"(?:\r?\n|\\r?\\n)";
/// What a PEM block holds between its markers: base64, headers (`Proc-Type: 4,ENCRYPTED`),
/// line breaks. No code punctuation, so PEM-parsing code that names both markers is not a
/// "block".
const PEM_BODY: &str = r"[A-Za-z0-9+/=\s:,.\-\\]";
const PEM_BEGIN: &str = r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----";
const PEM_END: &str = r"-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----";
/// Key names whose value is a secret, at the end of a longer name (`DB_PASSWORD`,
/// `client_secret`, `githubToken`).
const KEYWORD: &str = r"(?:passw(?:or)?d|secret|token|api[_\-]?key|access[_\-]?key|auth[_\-]?key|private[_\-]?key|credentials?)";
const KEYWORD_UPPER: &str =
    r"(?:PASSW(?:OR)?D|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|AUTH_?KEY|PRIVATE_?KEY|CREDENTIALS?)";

/// A pattern: its kind, its regex, and its priority when finds overlap (lower wins).
struct Pattern {
    kind: Kind,
    priority: u8,
    regex: String,
}

fn patterns() -> Vec<Pattern> {
    let b = r"(?-u:\b)";
    let p = |kind, priority, regex: String| Pattern {
        kind,
        priority,
        regex,
    };
    vec![
        // Whole PEM blocks first; then the halves of a block a client's window cut through.
        p(
            Kind::PrivateKey,
            0,
            format!(r"{PEM_BEGIN}{PEM_BODY}*?{PEM_END}"),
        ),
        p(
            Kind::PrivateKey,
            1,
            format!(r"{PEM_BEGIN}(?:{NL}[A-Za-z0-9+/=]{{16,}})+"),
        ),
        p(
            Kind::PrivateKey,
            1,
            format!(r"(?:[A-Za-z0-9+/=]{{16,}}{NL})+{PEM_END}"),
        ),
        p(
            Kind::AwsAccessKey,
            2,
            format!(r"{b}((?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{{16}}){b}"),
        ),
        p(
            Kind::AwsSecretKey,
            2,
            r#"(?i:aws_?secret_?(?:access_?)?key|secret_?access_?key)["']?\s*(?::|=|:=|=>)\s*["']?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+]|$)"#.into(),
        ),
        p(
            Kind::GcpKey,
            2,
            format!(r"{b}(AIza[0-9A-Za-z_\-]{{35}})"),
        ),
        p(
            Kind::GcpKey,
            2,
            r#""private_key_id"\s*:\s*"([0-9a-f]{40})""#.into(),
        ),
        p(
            Kind::AzureKey,
            2,
            r"(?i:AccountKey|SharedAccessKey)=([A-Za-z0-9+/]{20,}={0,2})".into(),
        ),
        p(
            Kind::AzureKey,
            2,
            r"[?&;]sig=([A-Za-z0-9%+/=]{30,})".into(),
        ),
        p(
            Kind::AnthropicKey,
            2,
            format!(r"{b}(sk-ant-[a-z0-9]+-[A-Za-z0-9_\-]{{32,}})"),
        ),
        p(
            Kind::OpenAiKey,
            3,
            format!(r"{b}(sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{{32,}})"),
        ),
        p(
            Kind::SlackToken,
            2,
            format!(r"{b}(xox[abposr]-[0-9A-Za-z\-]{{10,}})"),
        ),
        p(
            Kind::SlackToken,
            2,
            format!(r"{b}(xapp-[0-9]-[A-Z0-9]+-[0-9]+-[a-z0-9]+)"),
        ),
        p(
            Kind::SlackToken,
            2,
            r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_\-]{16,}".into(),
        ),
        p(
            Kind::StripeKey,
            2,
            format!(r"{b}((?:sk|rk)_(?:live|test)_[0-9A-Za-z]{{16,}}|whsec_[0-9A-Za-z]{{24,}})"),
        ),
        p(
            Kind::GithubToken,
            2,
            format!(r"{b}(gh[pousr]_[A-Za-z0-9]{{36,}}|github_pat_[A-Za-z0-9_]{{40,}})"),
        ),
        p(
            Kind::GitlabToken,
            2,
            format!(
                r"{b}(gl(?:pat|dt|rt|ptt|ft|imt|soat|cbt|ffct|oas|agent|rtr)-[0-9A-Za-z_\-]{{20,}}|GR1348941[0-9A-Za-z_\-]{{20}})"
            ),
        ),
        p(
            Kind::Jwt,
            2,
            format!(r"{b}(eyJ[A-Za-z0-9_\-]{{8,}}\.[A-Za-z0-9_\-]{{8,}}\.[A-Za-z0-9_\-]{{8,}})"),
        ),
        p(
            Kind::BearerToken,
            4,
            format!(r"(?i:{b}bearer)[ \t]+([A-Za-z0-9\-._~+/]{{20,}}=*)"),
        ),
        p(
            Kind::UrlPassword,
            4,
            format!(r#"{b}[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@"'<>]+:([^\s:/@"'<>${{}}]+)@"#),
        ),
        // `password = "…"`, `"api_key": '…'`, `token => "…"`: a quoted value.
        p(
            Kind::Password,
            5,
            format!(
                r#"(?i:{b}[a-z0-9_.\-]*{KEYWORD})["']?\s*(?::|=|:=|=>)\s*(?:"([^"\s$<{{\[(%\\][^"\n]{{3,}})"|'([^'\s$<{{\[(%\\][^'\n]{{3,}})')"#
            ),
        ),
        // `DB_PASSWORD=…` (a .env file, a shell line, `docker -e`): an unquoted value.
        p(
            Kind::Password,
            5,
            format!(r"{b}[A-Z0-9_]*{KEYWORD_UPPER}=([^\s'`$<{{][^\s'`]{{3,}})"),
        ),
        // `--password=…` on a command line.
        p(
            Kind::Password,
            5,
            r#"(?-u:\B)--(?:password|passwd|token|api-key|secret)[= ]([^\s"'$<{\-][^\s"']{3,})"#
                .into(),
        ),
        // `Password=…;` in a connection string.
        p(
            Kind::Password,
            5,
            r#"(?i:(?:^|[;"'\s])(?:password|pwd)=)([^;"'\s]+)(?:;|["']|$)"#.into(),
        ),
        // `password: …` (YAML) or `password = …` (INI) alone on a line: a value with a digit
        // or a symbol, so that `token: string` or `secret = get_secret` are not taken.
        p(
            Kind::Password,
            5,
            format!(
                r#"(?m:^[ \t\-]*(?i:[a-z0-9_.\-]*{KEYWORD})[ \t]*[:=][ \t]+([^\s"'#$&*{{\[|>!%@`(),;<][^\s"'(),;]*[0-9+/=~^?!@#%][^\s"'(),;]*)[ \t]*\r?$)"#
            ),
        ),
    ]
}

/// How many patterns there are (a test checks that each compiled).
pub fn pattern_count() -> usize {
    patterns().len()
}

/// The compiled patterns.
pub struct Detector {
    set: RegexSet,
    regexes: Vec<Regex>,
    kinds: Vec<(Kind, u8)>,
}

/// The one detector, compiled on first use.
pub static DETECTOR: LazyLock<Detector> = LazyLock::new(Detector::compile);

impl Detector {
    /// Compiles every pattern. One that does not compile is left out and logged (a test
    /// compiles them all, so this is for a regex crate that changed under us).
    fn compile() -> Detector {
        let mut regexes = Vec::new();
        let mut kinds = Vec::new();
        for p in patterns() {
            match Regex::new(&p.regex) {
                Ok(r) => {
                    regexes.push(r);
                    kinds.push((p.kind, p.priority));
                }
                Err(e) => {
                    tracing::error!(kind = p.kind.as_str(), error = %e, "Secret pattern left out")
                }
            }
        }
        let set = RegexSet::new(regexes.iter().map(Regex::as_str)).unwrap_or_else(|e| {
            tracing::error!(error = %e, "Secret patterns left out");
            RegexSet::empty()
        });
        Detector {
            set,
            regexes,
            kinds,
        }
    }

    /// How many patterns compiled.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// The secrets in `text`, in order, none overlapping.
    pub fn find(&self, text: &str) -> Vec<Found> {
        let matched = self.set.matches(text);
        if !matched.matched_any() {
            return Vec::new();
        }
        let mut candidates: Vec<(u8, Found)> = Vec::new();
        for i in matched.iter() {
            let (kind, priority) = self.kinds[i];
            for caps in self.regexes[i].captures_iter(text) {
                let Some(m) = caps.iter().skip(1).flatten().next().or_else(|| caps.get(0)) else {
                    continue;
                };
                if !m.is_empty() {
                    candidates.push((
                        priority,
                        Found {
                            range: m.range(),
                            kind,
                        },
                    ));
                }
            }
        }
        // The best of overlapping finds: lower priority number, then earlier, then longer.
        candidates
            .sort_by_key(|(priority, f)| (*priority, f.range.start, usize::MAX - f.range.len()));
        let mut kept: Vec<Found> = Vec::new();
        for (_, f) in candidates {
            if kept
                .iter()
                .all(|k| f.range.end <= k.range.start || k.range.end <= f.range.start)
            {
                kept.push(f);
            }
        }
        kept.sort_by_key(|f| f.range.start);
        kept
    }
}
