//! `devassist docs index SRC… --out FILE` and `devassist docs search QUERY --index FILE`: build
//! an offline documentation index and query it from the command line.

use devassist_search::{IndexOptions, SearchOptions, Searcher, build_index};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum DocsCommand {
    /// Build a search index from Markdown, HTML and text trees or .tar.gz/.zip archives.
    Index(IndexArgs),
    /// Search an index.
    Search(SearchArgs),
}

#[derive(clap::Args)]
pub struct IndexArgs {
    /// Documentation sources: directories, files, .tar.gz/.tgz or .zip archives.
    #[arg(required = true)]
    pub sources: Vec<PathBuf>,
    /// Index file to write (replaced if it exists).
    #[arg(long, short)]
    pub out: PathBuf,
    /// Index name, used by the search API to pick an index.
    #[arg(long, default_value = "docs")]
    pub name: String,
    /// Version of the documentation.
    #[arg(long, default_value = "")]
    pub version: String,
    /// URL prefix of the published docs; result URLs are this plus the page path.
    #[arg(long)]
    pub base_url: Option<String>,
    /// Leave out paths matching this glob (matched against the whole relative path and each
    /// path component); repeatable.
    #[arg(long)]
    pub exclude: Vec<String>,
    /// Longest passage in words; longer sections are cut at paragraph boundaries.
    #[arg(long, default_value_t = 300)]
    pub max_section_words: usize,
}

#[derive(clap::Args)]
pub struct SearchArgs {
    /// What to look for: keywords or a question.
    pub query: String,
    /// Index file built by `devassist docs index`.
    #[arg(long, short)]
    pub index: PathBuf,
    /// Most results to show.
    #[arg(long, short = 'n', default_value_t = 5)]
    pub limit: usize,
    /// Token budget for all results together.
    #[arg(long, default_value_t = 2000)]
    pub budget: usize,
    /// Print JSON (the `/v1/search/docs` result shape) instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: DocsCommand) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .try_init();
    let result = match cmd {
        DocsCommand::Index(args) => index(args),
        DocsCommand::Search(args) => search(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn index(args: IndexArgs) -> Result<(), Box<dyn std::error::Error>> {
    let opts = IndexOptions {
        name: args.name,
        version: args.version,
        base_url: args.base_url,
        exclude: args.exclude,
        max_section_words: args.max_section_words,
        progress: true,
    };
    let stats = build_index(&args.sources, &args.out, &opts)?;
    let skipped = if stats.skipped > 0 {
        format!(" ({} unreadable files skipped)", stats.skipped)
    } else {
        String::new()
    };
    println!(
        "Indexed {} files into {} sections in {:.1} s: {} ({:.1} MB){skipped}",
        stats.files,
        stats.sections,
        stats.elapsed.as_secs_f64(),
        args.out.display(),
        stats.index_bytes as f64 / 1e6,
    );
    Ok(())
}

fn search(args: SearchArgs) -> Result<(), Box<dyn std::error::Error>> {
    let options = SearchOptions {
        token_budget: args.budget,
        connections: 1,
        ..SearchOptions::default()
    };
    let searcher = Searcher::open_with(&args.index, options)?;
    let hits = searcher.search(&args.query, args.limit)?;
    if args.json {
        let body = devassist_search::api::DocsSearchResponse {
            index: searcher.info().name.clone(),
            results: hits,
        };
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    if hits.is_empty() {
        println!("No results.");
    }
    for (i, h) in hits.iter().enumerate() {
        let heading = if h.heading.is_empty() {
            String::new()
        } else {
            format!(" › {}", h.heading)
        };
        println!(
            "{}. {}{heading}  ({:.2})\n   {}\n   {}\n",
            i + 1,
            h.title,
            h.score,
            h.url,
            h.snippet
        );
    }
    Ok(())
}
