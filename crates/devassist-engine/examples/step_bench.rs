//! `step_bench`: what one multi-sequence decode step costs, measured on llama.cpp directly (no
//! HTTP, no scheduler), to tell apart the engine's batching hypotheses:
//!
//! - **KV layout**: with one KV stream per sequence (`kv_unified = false`), llama.cpp only puts
//!   sequences with *consecutive* ids into one micro-batch (`split_equal(.., sequential)`), so
//!   a step over slots {0, 2, 4, 6} runs the model four times where {0, 1, 2, 3} runs it once.
//!   A unified cache runs any set once, but every token attends over every slot's cells.
//! - **Sampling**: llama.cpp's sampler builds an `n_vocab` candidate array per sequence per
//!   step; an argmax straight over the logits does the greedy case in one pass.
//!
//! ```sh
//! cargo run --release -p devassist-engine --example step_bench -- MODEL.gguf \
//!     [--threads N] [--gpu-layers N] [--seqs 1,2,4] [--prefill 64] [--steps 32]
//! ```
//!
//! Prints one line per (layout, sequences): milliseconds per decode step over consecutive and
//! over spread-out sequence ids, then the cost of sampling one sequence both ways.

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::{LogOptions, send_logs_to_tracing};
use std::num::NonZeroU32;
use std::time::Instant;

type Error = Box<dyn std::error::Error>;

struct Opts {
    model: String,
    threads: i32,
    gpu_layers: u32,
    seqs: Vec<usize>,
    prefill: usize,
    steps: usize,
    ctx: u32,
}

fn parse() -> Result<Opts, Error> {
    let mut args = std::env::args().skip(1);
    let mut opts = Opts {
        model: String::new(),
        threads: 2,
        gpu_layers: u32::MAX,
        seqs: vec![1, 2, 4],
        prefill: 64,
        steps: 32,
        ctx: 1024,
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--threads" => opts.threads = value()?.parse()?,
            "--gpu-layers" => opts.gpu_layers = value()?.parse()?,
            "--prefill" => opts.prefill = value()?.parse()?,
            "--steps" => opts.steps = value()?.parse()?,
            "--ctx" => opts.ctx = value()?.parse()?,
            "--seqs" => {
                opts.seqs = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?;
            }
            _ if opts.model.is_empty() => opts.model = arg,
            _ => return Err(format!("unexpected argument {arg}").into()),
        }
    }
    if opts.model.is_empty() {
        return Err("usage: step_bench MODEL.gguf [--threads N] [--seqs 1,2,4] ...".into());
    }
    Ok(opts)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Prefill `prefill` tokens into each sequence of each set, then time single-token steps over
/// each set in turn (interleaved, so load from elsewhere hits both alike): per set, the median
/// and the fastest step in milliseconds.
fn time_steps(
    ctx: &mut LlamaContext<'_>,
    sets: &[&[i32]],
    prefill: usize,
    steps: usize,
) -> Result<Vec<(f64, f64)>, Error> {
    ctx.clear_kv_cache();
    let widest = sets.iter().map(|s| s.len()).max().unwrap_or(1);
    let mut batch = LlamaBatch::new(prefill.max(widest), 1);
    for &seq in sets.iter().flat_map(|s| s.iter()) {
        batch.clear();
        for pos in 0..prefill {
            let tok = LlamaToken(i32::try_from(
                100 + (pos * 7 + usize::try_from(seq)?) % 1000,
            )?);
            batch.add(tok, i32::try_from(pos)?, &[seq], pos + 1 == prefill)?;
        }
        ctx.decode(&mut batch)?;
    }
    let mut times = vec![Vec::with_capacity(steps); sets.len()];
    for step in 0..steps {
        for (set, out) in sets.iter().zip(times.iter_mut()) {
            batch.clear();
            for &seq in *set {
                batch.add(
                    LlamaToken(200),
                    i32::try_from(prefill + step)?,
                    &[seq],
                    true,
                )?;
            }
            let t = Instant::now();
            ctx.decode(&mut batch)?;
            // Reading the logits waits for the device, as sampling does.
            let _ = ctx.get_logits_ith(batch.n_tokens() - 1).first();
            out.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok(times
        .into_iter()
        .map(|t| {
            let min = t.iter().copied().fold(f64::INFINITY, f64::min);
            (median(t), min)
        })
        .collect())
}

fn argmax(logits: &[f32]) -> i32 {
    let mut best = 0;
    let mut best_logit = f32::NEG_INFINITY;
    for (i, &l) in logits.iter().enumerate() {
        if l > best_logit {
            best_logit = l;
            best = i;
        }
    }
    i32::try_from(best).unwrap_or(0)
}

fn main() -> Result<(), Error> {
    let opts = parse()?;
    send_logs_to_tracing(LogOptions::default().with_logs_enabled(false));
    let backend = LlamaBackend::init()?;
    let params = LlamaModelParams::default().with_n_gpu_layers(opts.gpu_layers);
    let model = LlamaModel::load_from_file(&backend, &opts.model, &params)?;
    let max_seqs = opts.seqs.iter().copied().max().unwrap_or(1);
    // Sequences 0..n run consecutive; n, n+2, n+4, … run spread out.
    let n_seq_max = u32::try_from(max_seqs * 3)?;
    println!(
        "model {}: vocab {}, threads {}, prefill {} tokens per sequence, {} steps each, \
         interleaved; ms per step, median (fastest)",
        opts.model,
        model.n_vocab(),
        opts.threads,
        opts.prefill,
        opts.steps
    );
    for unified in [false, true] {
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(opts.ctx * n_seq_max))
            .with_n_seq_max(n_seq_max)
            .with_kv_unified(unified)
            .with_n_batch(512)
            .with_n_ubatch(512)
            .with_n_threads(opts.threads)
            .with_n_threads_batch(opts.threads)
            .with_flash_attention_policy(1);
        let mut ctx = model.new_context(&backend, params)?;
        let layout = if unified { "unified KV" } else { "KV per slot" };
        for &n in &opts.seqs {
            let n_i32 = i32::try_from(n)?;
            let consecutive: Vec<i32> = (0..n_i32).collect();
            let spread: Vec<i32> = (0..n_i32).map(|i| n_i32 + 2 * i).collect();
            let t = time_steps(&mut ctx, &[&consecutive, &spread], opts.prefill, opts.steps)?;
            let (a, b) = (t[0], t[1]);
            println!(
                "{layout:11} {n:3} seqs: consecutive {:7.2} ({:7.2})   spread {:7.2} ({:7.2})",
                a.0, a.1, b.0, b.1
            );
        }
        if unified {
            continue;
        }
        // Sampling one sequence's logits: llama.cpp's greedy chain vs an argmax.
        time_steps(&mut ctx, &[&[0]], opts.prefill, 1)?;
        let mut sampler = LlamaSampler::chain_simple([LlamaSampler::greedy()]);
        let (mut chain_us, mut argmax_us) = (Vec::new(), Vec::new());
        let (mut via_sampler, mut via_argmax) = (LlamaToken(0), 0);
        for _ in 0..300 {
            let t = Instant::now();
            via_sampler = sampler.sample(&ctx, -1);
            chain_us.push(t.elapsed().as_secs_f64() * 1e6);
            let t = Instant::now();
            via_argmax = argmax(std::hint::black_box(ctx.get_logits_ith(-1)));
            argmax_us.push(t.elapsed().as_secs_f64() * 1e6);
        }
        let fastest = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        println!(
            "sampling one sequence (vocab {}), µs, median (fastest): llama.cpp greedy chain {:.1} ({:.1}), \
             argmax over the logits {:.1} ({:.1}); same token: {}",
            model.n_vocab(),
            median(chain_us.clone()),
            fastest(&chain_us),
            median(argmax_us.clone()),
            fastest(&argmax_us),
            via_sampler.0 == via_argmax
        );
    }
    Ok(())
}
