//! Docs-search benchmark and retrieval evaluation, run by `make bench-search`:
//! builds an index of a documentation tree, scores the question set as written and with
//! typos (recall@5, MRR@10), measures query latency, and writes a Markdown report.
//!
//! ```text
//! search_bench --corpus DIR --questions FILE --index OUT.sqlite --report REPORT.md
//!              [--exclude GLOB]… [--rounds N] [--base-url URL]
//! ```

use devassist_search::eval::{EvalReport, add_typos, evaluate, load_questions};
use devassist_search::{IndexOptions, IndexStats, SearchOptions, Searcher, build_index};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

struct Args {
    corpus: PathBuf,
    questions: PathBuf,
    index: PathBuf,
    report: PathBuf,
    exclude: Vec<String>,
    rounds: usize,
    base_url: Option<String>,
    /// Reuse an existing index instead of building one (for profiling queries).
    reuse_index: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let (mut corpus, mut questions, mut index, mut report) = (None, None, None, None);
    let mut exclude = Vec::new();
    let mut rounds = 20;
    let mut base_url = None;
    let mut reuse_index = false;
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--corpus" => corpus = Some(PathBuf::from(value()?)),
            "--questions" => questions = Some(PathBuf::from(value()?)),
            "--index" => index = Some(PathBuf::from(value()?)),
            "--report" => report = Some(PathBuf::from(value()?)),
            "--exclude" => exclude.push(value()?),
            "--rounds" => rounds = value()?.parse().map_err(|e| format!("--rounds: {e}"))?,
            "--base-url" => base_url = Some(value()?),
            "--reuse-index" => reuse_index = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        corpus: corpus.ok_or("--corpus is required")?,
        questions: questions.ok_or("--questions is required")?,
        index: index.ok_or("--index is required")?,
        report: report.ok_or("--report is required")?,
        exclude,
        rounds,
        base_url,
        reuse_index,
    })
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let questions = load_questions(&args.questions)?;
    let opts = IndexOptions {
        name: "python".into(),
        version: "3.11".into(),
        base_url: args.base_url.clone(),
        exclude: args.exclude.clone(),
        progress: true,
        ..IndexOptions::default()
    };
    let stats = if args.reuse_index {
        IndexStats {
            files: 0,
            sections: Searcher::open(&args.index)?.info().sections as usize,
            skipped: 0,
            index_bytes: std::fs::metadata(&args.index)?.len(),
            elapsed: Duration::ZERO,
        }
    } else {
        eprintln!("Building index of {} …", args.corpus.display());
        build_index(&[&args.corpus], &args.index, &opts)?
    };
    eprintln!(
        "Indexed {} files, {} sections in {:.2} s ({:.1} MB)",
        stats.files,
        stats.sections,
        stats.elapsed.as_secs_f64(),
        stats.index_bytes as f64 / 1e6
    );

    let open_started = Instant::now();
    let mut search_options = SearchOptions::default();
    if let Some(rows) = std::env::var("MAX_SCORED_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        search_options.max_scored_rows = rows;
    }
    let searcher = Searcher::open_with(&args.index, search_options)?;
    let open_time = open_started.elapsed();
    let written = evaluate(&searcher, &questions, false)?;
    let typos = evaluate(&searcher, &questions, true)?;
    print_eval("as written", &written);
    print_eval("with typos", &typos);

    let mut queries: Vec<String> = questions.iter().map(|q| q.text.clone()).collect();
    queries.extend(
        questions
            .iter()
            .enumerate()
            .map(|(i, q)| add_typos(&q.text, i as u64)),
    );
    let single = latency(&searcher, &queries, args.rounds)?;
    let (threads, total, wall) = concurrent(&searcher, &queries, args.rounds)?;
    let lat = summary(&single);
    eprintln!(
        "Latency over {} queries: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        single.len(),
        lat.0,
        lat.1,
        lat.2,
        lat.3
    );
    eprintln!(
        "{threads} threads: {total} queries in {:.2} s = {:.0} queries/s",
        wall.as_secs_f64(),
        total as f64 / wall.as_secs_f64()
    );

    let report = render(
        &args,
        &stats,
        open_time,
        &written,
        &typos,
        &single,
        (threads, total, wall),
    );
    if let Some(dir) = args.report.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.report, report)?;
    eprintln!("Report written to {}", args.report.display());
    Ok(())
}

fn print_eval(label: &str, r: &EvalReport) {
    eprintln!(
        "{label}: recall@5 {:.3}, MRR@10 {:.3} over {} questions",
        r.recall_at_5, r.mrr_at_10, r.questions
    );
    for m in &r.misses {
        eprintln!(
            "  miss: {} (want {:?}) got {:?}",
            m.question, m.expected, m.got
        );
    }
}

fn latency(
    s: &Searcher,
    queries: &[String],
    rounds: usize,
) -> Result<Vec<Duration>, Box<dyn std::error::Error>> {
    // Warm the page cache and statement caches first, as a running server would be.
    for q in queries {
        s.search(q, 5)?;
    }
    let mut out = Vec::with_capacity(queries.len() * rounds);
    let mut per_query = vec![Duration::ZERO; queries.len()];
    for _ in 0..rounds {
        for (i, q) in queries.iter().enumerate() {
            let t = Instant::now();
            s.search(q, 5)?;
            let d = t.elapsed();
            per_query[i] += d;
            out.push(d);
        }
    }
    let mut slowest: Vec<(Duration, &String)> = per_query.into_iter().zip(queries).collect();
    slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
    for (d, q) in slowest.iter().take(8) {
        eprintln!(
            "  slow: {:.2} ms  {q}",
            d.as_secs_f64() * 1000.0 / rounds.max(1) as f64
        );
    }
    Ok(out)
}

/// Queries from as many threads as there are cores, to show the searcher shares well.
fn concurrent(
    s: &Searcher,
    queries: &[String],
    rounds: usize,
) -> Result<(usize, usize, Duration), Box<dyn std::error::Error>> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let started = Instant::now();
    let results: Vec<Result<usize, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut n = 0;
                    for _ in 0..rounds {
                        for q in queries {
                            s.search(q, 5).map_err(|e| e.to_string())?;
                            n += 1;
                        }
                    }
                    Ok(n)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("query thread panicked".into()))
            })
            .collect()
    });
    let mut total = 0;
    for r in results {
        total += r?;
    }
    Ok((threads, total, started.elapsed()))
}

/// p50, p90, p99, max in milliseconds.
fn summary(d: &[Duration]) -> (f64, f64, f64, f64) {
    let mut ms: Vec<f64> = d.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    let pick = |p: f64| {
        ms.get(((ms.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    (pick(0.50), pick(0.90), pick(0.99), pick(1.0))
}

fn render(
    args: &Args,
    stats: &IndexStats,
    open_time: Duration,
    written: &EvalReport,
    typos: &EvalReport,
    single: &[Duration],
    conc: (usize, usize, Duration),
) -> String {
    let (p50, p90, p99, max) = summary(single);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut r = String::new();
    let _ = writeln!(r, "# Docs search benchmark\n");
    let _ = writeln!(
        r,
        "Generated by `make bench-search` (crates/devassist-search/examples/search_bench.rs) on \
         {}, {cores} cores ({cpu}).\n",
        chrono_date()
    );
    let _ = writeln!(
        r,
        "Corpus: `{}` (Debian `python3.11-doc`, HTML), excludes: `{}`.\n",
        args.corpus.display(),
        args.exclude.join("`, `")
    );
    let _ = writeln!(r, "## Index build\n");
    let _ = writeln!(r, "| files | sections | build time | index size |");
    let _ = writeln!(r, "|---|---|---|---|");
    let _ = writeln!(
        r,
        "| {} | {} | {:.2} s | {:.1} MB |\n",
        stats.files,
        stats.sections,
        stats.elapsed.as_secs_f64(),
        stats.index_bytes as f64 / 1e6
    );
    let _ = writeln!(
        r,
        "Opening the index (with integrity check): {:.0} ms.\n",
        open_time.as_secs_f64() * 1000.0
    );
    let _ = writeln!(r, "## Retrieval quality\n");
    let _ = writeln!(
        r,
        "{} questions (`{}`), page-level match.\n",
        written.questions,
        args.questions.display()
    );
    let _ = writeln!(r, "| run | recall@5 | MRR@10 | goal recall@5 |");
    let _ = writeln!(r, "|---|---|---|---|");
    let _ = writeln!(
        r,
        "| as written | {:.3} | {:.3} | ≥ 0.8 |",
        written.recall_at_5, written.mrr_at_10
    );
    let _ = writeln!(
        r,
        "| with typos | {:.3} | {:.3} | ≥ 0.6 |\n",
        typos.recall_at_5, typos.mrr_at_10
    );
    for (label, rep) in [("as written", written), ("with typos", typos)] {
        if rep.misses.is_empty() {
            continue;
        }
        let _ = writeln!(r, "Misses {label}:\n");
        for m in &rep.misses {
            let _ = writeln!(
                r,
                "- {} — want `{}`, top 5: `{}`",
                m.question,
                m.expected.join("` or `"),
                m.got.join("`, `")
            );
        }
        let _ = writeln!(r);
    }
    let _ = writeln!(r, "## Query latency\n");
    let _ = writeln!(
        r,
        "{} queries (every question as written and with typos, {} rounds, limit 5, one thread, warm cache):\n",
        single.len(),
        args.rounds
    );
    let _ = writeln!(r, "| p50 | p90 | p99 | max | goal p99 |");
    let _ = writeln!(r, "|---|---|---|---|---|");
    let _ = writeln!(
        r,
        "| {p50:.2} ms | {p90:.2} ms | {p99:.2} ms | {max:.2} ms | ≤ 5 ms |\n"
    );
    let (threads, total, wall) = conc;
    let _ = writeln!(
        r,
        "{threads} threads sharing one `Searcher`: {total} queries in {:.2} s = {:.0} queries/s.",
        wall.as_secs_f64(),
        total as f64 / wall.as_secs_f64()
    );
    r
}

fn chrono_date() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}
