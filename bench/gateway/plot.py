"""Plots latency against offered rate from bench/results/gateway.json (written by
`bench-gateway run`): p50 and p99 per target, every fixed-rate and search step, log-log.

Usage: python plot.py gateway.json gateway.png
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = {
    "direct": "#555555",
    "devassist": "#1f77b4",
    "devassist-ollama": "#2ca02c",
    "litellm": "#d62728",
}


def points(report, target):
    """(rate, p50 ms, p99 ms, error rate) for every run against target, sorted by rate."""
    runs = [p for p in report["fixed"] if p["target"] == target]
    for search in report["search"]:
        if search["target"] == target:
            runs.extend(search["steps"])
    by_rate = {}
    for p in runs:
        r = p["result"]
        # Keep the longer run when a rate was measured twice (fixed phase and search).
        if r["target_rps"] not in by_rate or r["duration_s"] > by_rate[r["target_rps"]]["duration_s"]:
            by_rate[r["target_rps"]] = r
    out = []
    for rate in sorted(by_rate):
        r = by_rate[rate]
        out.append((rate, r["latency"]["p50_us"] / 1000, r["latency"]["p99_us"] / 1000, r["error_rate"]))
    return out


def main(src, dst):
    with open(src, encoding="utf-8") as f:
        report = json.load(f)
    targets = []
    for p in report["fixed"]:
        if p["target"] not in targets:
            targets.append(p["target"])
    fig, ax = plt.subplots(figsize=(10, 6), dpi=110)
    for target in targets:
        pts = [p for p in points(report, target) if p[3] < 0.01]
        failed = [p for p in points(report, target) if p[3] >= 0.01]
        colour = COLOURS.get(target, None)
        if pts:
            rates = [p[0] for p in pts]
            ax.plot(rates, [p[1] for p in pts], "o-", color=colour, label=f"{target} p50")
            ax.plot(rates, [p[2] for p in pts], "s--", color=colour, label=f"{target} p99")
        if failed:
            ax.plot([p[0] for p in failed], [p[2] for p in failed], "x", color=colour, markersize=9,
                    label=f"{target} p99, ≥ 1% errors")
    m = report["machine"]
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("offered rate (requests/s, open loop)")
    ax.set_ylabel("latency from scheduled send (ms)")
    ax.set_title(
        f"Non-streaming chat completion latency vs rate — {m['nproc']} × {m['cpu_model']}, "
        f"LiteLLM {report.get('litellm_version') or 'n/a'}",
        fontsize=10,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2, loc="upper left")
    fig.tight_layout()
    fig.savefig(dst)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
