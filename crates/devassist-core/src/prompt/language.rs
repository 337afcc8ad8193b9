//! Languages we know by name or file extension, with their line-comment marker.
//!
//! Used to write other-file snippets as comments and to name the language in chat prompts.
//! Languages without a line comment (HTML, CSS, JSON, Markdown) get no comment snippets.

/// A programming language as the prompt layer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Language {
    /// Lower-case identifier, as editors name it (`python`, `typescriptreact`, `shellscript`).
    pub id: &'static str,
    /// Name for prose in chat prompts.
    pub display: &'static str,
    pub line_comment: Option<&'static str>,
    extensions: &'static [&'static str],
    aliases: &'static [&'static str],
}

const fn lang(
    id: &'static str,
    display: &'static str,
    line_comment: Option<&'static str>,
    extensions: &'static [&'static str],
    aliases: &'static [&'static str],
) -> Language {
    Language {
        id,
        display,
        line_comment,
        extensions,
        aliases,
    }
}

const HASH: Option<&str> = Some("#");
const SLASHES: Option<&str> = Some("//");
const DASHES: Option<&str> = Some("--");

static LANGUAGES: &[Language] = &[
    lang("python", "Python", HASH, &["py", "pyi", "pyw"], &["py"]),
    lang("rust", "Rust", SLASHES, &["rs"], &[]),
    lang("go", "Go", SLASHES, &["go"], &["golang"]),
    lang(
        "javascript",
        "JavaScript",
        SLASHES,
        &["js", "mjs", "cjs"],
        &["js", "node"],
    ),
    lang(
        "javascriptreact",
        "JavaScript (JSX)",
        SLASHES,
        &["jsx"],
        &["jsx"],
    ),
    lang(
        "typescript",
        "TypeScript",
        SLASHES,
        &["ts", "mts", "cts"],
        &["ts"],
    ),
    lang(
        "typescriptreact",
        "TypeScript (TSX)",
        SLASHES,
        &["tsx"],
        &["tsx"],
    ),
    lang("java", "Java", SLASHES, &["java"], &[]),
    lang("kotlin", "Kotlin", SLASHES, &["kt", "kts"], &[]),
    lang("scala", "Scala", SLASHES, &["scala", "sc"], &[]),
    lang("groovy", "Groovy", SLASHES, &["groovy", "gradle"], &[]),
    lang("c", "C", SLASHES, &["c", "h"], &[]),
    lang(
        "cpp",
        "C++",
        SLASHES,
        &["cpp", "cc", "cxx", "hpp", "hh", "hxx"],
        &["c++"],
    ),
    lang("csharp", "C#", SLASHES, &["cs"], &["c#", "cs"]),
    lang(
        "objective-c",
        "Objective-C",
        SLASHES,
        &["m", "mm"],
        &["objc"],
    ),
    lang("swift", "Swift", SLASHES, &["swift"], &[]),
    lang("dart", "Dart", SLASHES, &["dart"], &[]),
    lang("php", "PHP", SLASHES, &["php"], &[]),
    lang("zig", "Zig", SLASHES, &["zig"], &[]),
    lang("scss", "SCSS", SLASHES, &["scss"], &[]),
    lang(
        "protobuf",
        "Protocol Buffers",
        SLASHES,
        &["proto"],
        &["proto"],
    ),
    lang("ruby", "Ruby", HASH, &["rb", "rake", "gemspec"], &["rb"]),
    lang("perl", "Perl", HASH, &["pl", "pm"], &[]),
    lang(
        "shellscript",
        "Shell",
        HASH,
        &["sh", "bash", "zsh"],
        &["shell", "bash", "sh", "zsh"],
    ),
    lang("powershell", "PowerShell", HASH, &["ps1", "psm1"], &[]),
    lang("r", "R", HASH, &["r"], &[]),
    lang("julia", "Julia", HASH, &["jl"], &[]),
    lang("elixir", "Elixir", HASH, &["ex", "exs"], &[]),
    lang("nim", "Nim", HASH, &["nim"], &[]),
    lang("yaml", "YAML", HASH, &["yml", "yaml"], &["yml"]),
    lang("toml", "TOML", HASH, &["toml"], &[]),
    lang(
        "terraform",
        "Terraform",
        HASH,
        &["tf", "tfvars", "hcl"],
        &["hcl"],
    ),
    lang(
        "dockerfile",
        "Dockerfile",
        HASH,
        &["dockerfile"],
        &["docker"],
    ),
    lang("makefile", "Makefile", HASH, &["mk"], &["make"]),
    lang("sql", "SQL", DASHES, &["sql"], &[]),
    lang("lua", "Lua", DASHES, &["lua"], &[]),
    lang("haskell", "Haskell", DASHES, &["hs"], &[]),
    lang("elm", "Elm", DASHES, &["elm"], &[]),
    lang(
        "clojure",
        "Clojure",
        Some(";;"),
        &["clj", "cljs", "cljc", "edn"],
        &[],
    ),
    lang(
        "lisp",
        "Lisp",
        Some(";;"),
        &["lisp", "el", "scm"],
        &["elisp", "scheme"],
    ),
    lang("erlang", "Erlang", Some("%"), &["erl", "hrl"], &[]),
    lang("latex", "LaTeX", Some("%"), &["tex"], &["tex"]),
    lang("vim", "Vim script", Some("\""), &["vim"], &["viml"]),
    lang("html", "HTML", None, &["html", "htm"], &[]),
    lang("xml", "XML", None, &["xml", "svg", "xsd"], &[]),
    lang("vue", "Vue", None, &["vue"], &[]),
    lang("css", "CSS", None, &["css"], &[]),
    lang("json", "JSON", None, &["json", "jsonc"], &[]),
    lang("markdown", "Markdown", None, &["md", "markdown"], &["md"]),
];

/// Finds a language by id, alias or extension, case-insensitively (`Python`, `py`, `C++`).
pub fn lookup(name: &str) -> Option<&'static Language> {
    let wanted = name.trim().trim_start_matches('.').to_lowercase();
    LANGUAGES.iter().find(|l| {
        l.id == wanted
            || l.display.to_lowercase() == wanted
            || l.aliases.contains(&wanted.as_str())
            || l.extensions.contains(&wanted.as_str())
    })
}

/// Finds a language from a file path's extension (or well-known file name).
pub fn from_path(path: &str) -> Option<&'static Language> {
    let file = path
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(path)
        .to_lowercase();
    match file.as_str() {
        "dockerfile" | "containerfile" => return lookup("dockerfile"),
        "makefile" | "gnumakefile" => return lookup("makefile"),
        _ => {}
    }
    let (_, ext) = file.rsplit_once('.')?;
    LANGUAGES.iter().find(|l| l.extensions.contains(&ext))
}

impl Language {
    /// Whether Markdown fences are content in this language, not the end of a completion.
    pub fn uses_fences(&self) -> bool {
        self.id == "markdown"
    }
}
