"""Goals, the Markdown tables, the plot, and the results section of benchmarks/README.md."""

from __future__ import annotations

import re
from pathlib import Path

from common import TRAIN_CONFIGS

GIB, MIB = 2**30, 2**20
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def goal(value, limit: float, what: str) -> dict:
    """{"goal": "<= limit", "value": value, "met": bool}; met is None when not measured."""
    met = None if value is None else bool(value <= limit)
    return {"goal": f"<= {limit:g}", "value": value, "met": met, "what": what}


def all_goals(results: dict) -> dict:
    """Every section's goals, keyed "section.name"."""
    return {
        f"{section}.{name}": g
        for section in ("train", "inference", "size", "course")
        for name, g in results.get(section, {}).get("goals", {}).items()
    }


def _fmt(x, spec=".2f", none="-"):
    return none if x is None else format(x, spec)


def _met(g):
    return {True: "yes", False: "**no**", None: "not measured"}[g["met"]]


def machine_line(m: dict) -> str:
    threads = f"{m['torch_threads']} torch thread(s)"
    return (f"{m['device_name']} ({m['device']}, {m['cpu_count']} CPU cores, {threads}, "
            f"{m['ram_gib']:.0f} GiB RAM), torch {m['torch']}, transformers {m['transformers']}, "
            f"peft {m['peft']}, bitsandbytes {m['bitsandbytes']}; {m['date']}")


def markdown(results: dict) -> str:
    s, m = results["settings"], results["machine"]
    out = [f"Machine: {machine_line(m)}. Benchmark wall time: {results.get('seconds', 0) / 60:.1f} "
           "min.", ""]
    if m.get("note"):
        out += [f"Note: {m['note']}", ""]
    tr = results.get("train", {})
    if tr.get("configs"):
        full = tr["configs"].get("full", {})
        out += [f"**Training** ({s['model_label']}, batch {s['batch']} x {s['seq']} tokens, "
                f"AdamW, {s['steps']} timed steps after {s['warmup']} warm-up, {s['rounds']} "
                f"round(s) of fresh processes; peak = {tr.get('peak_kind', '?')})", "",
                "| configuration | trainable params | peak memory (GiB) | vs full | "
                "optimizer state (MiB) | step time (s) | vs full |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        for name, c in tr["configs"].items():
            if "skipped" in c:
                out.append(f"| {TRAIN_CONFIGS[name]['label']} | skipped: {c['skipped']} "
                           "| | | | | |")
                continue
            rel_mem = c["peak_bytes"] / full["peak_bytes"] if full.get("peak_bytes") else None
            rel_t = c["step_seconds"] / full["step_seconds"] if full.get("step_seconds") else None
            out.append(
                f"| {c['label']} | {c['trainable']:,} | {c['peak_bytes'] / GIB:.2f} | "
                f"{_fmt(rel_mem)} | {c['optimizer_state_bytes'] / MIB:.1f} | "
                f"{_fmt(c['step_seconds'], '.3f')} | {_fmt(rel_t)} |")
        p = tr.get("parity")
        if p:
            out += ["", f"Scratch LoRA (notebook 02) vs PEFT, same weights, one process, steps "
                    f"alternated: logits max abs diff {p['logits_max_abs_diff']:.2e} (logits up to "
                    f"{p['logits_max_abs']:.1f}); step time ratio "
                    f"{p['step_ratio_scratch_vs_peft']:.3f}."]
        out.append("")
    inf = results.get("inference")
    if inf:
        out += [f"**Inference** (batch 1, {inf['prompt_tokens']}-token prompt, "
                f"{inf['new_tokens']} new tokens greedy, median of {inf['reps']} interleaved "
                f"repetitions; adapter: {inf['adapter_source']})", "",
                "| model | ms per generated token | vs base |", "|---|---:|---:|"]
        for name, sec in inf["seconds_per_token"].items():
            out.append(f"| {name} | {sec * 1e3:.2f} | "
                       f"{sec / inf['seconds_per_token']['base']:.3f} |")
        out += ["", f"Unmerged adapter overhead: {inf['unmerged_overhead']:+.1%} per token; merged "
                f"vs unmerged logits max abs diff "
                f"{inf['merged_vs_adapter_logits_max_abs_diff']:.1e}.", ""]
    size = results.get("size")
    if size:
        out += ["**Size**", "", "| item | MiB | ratio |", "|---|---:|---:|"]
        for label, num, den in size["rows"]:
            out.append(f"| {label} | {num / MIB:.2f} | {_fmt(num / den if den else None, '.4f')} |")
        out.append("")
    course = results.get("course", {})
    if course.get("measured"):
        out += ["**Course run time** (solution notebooks, headless)", "",
                "| notebook | seconds | ok |", "|---|---:|---|"]
        for r in course["notebooks"]:
            out.append(f"| {r['name']} | {r['seconds']:.0f} | {'yes' if r['ok'] else 'FAILED'} |")
        out += [f"| **total** | {course['total_seconds']:.0f} | |", ""]
    else:
        out += ["**Course run time**: not measured in this run (`python benchmarks/run.py "
                "--course` measures it).", ""]
    out += ["**Goals**", "", "| goal | value | target | met |", "|---|---:|---:|---|"]
    for key, g in all_goals(results).items():
        value = "-" if g["value"] is None else (f"{g['value']:.0f}" if abs(g["value"]) >= 100
                                                 else f"{g['value']:.3g}")
        out.append(f"| {g['what']} (`{key}`) | {value} | {g['goal']} | {_met(g)} |")
    return "\n".join(out) + "\n"


def plot(results: dict, path: Path) -> None:
    """Three panels: peak memory and step time per training configuration, inference latency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    configs = {k: c for k, c in results.get("train", {}).get("configs", {}).items()
               if "skipped" not in c}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    labels = [c["label"] for c in configs.values()]
    mem = [c["peak_bytes"] / GIB for c in configs.values()]
    step = [c["step_seconds"] for c in configs.values()]
    for ax, values, color, xlabel, title in (
        (axes[0], mem, "tab:blue",
         f"peak memory (GiB, {results.get('train', {}).get('peak_kind', '')})", "training memory"),
        (axes[1], step, "tab:orange", "step time (s, median)", "training step"),
    ):
        bars = ax.barh(labels, values, color=color)
        if "full" in configs:  # label each bar with its ratio to full fine-tuning
            ref = values[list(configs).index("full")]
            ax.bar_label(bars, labels=[f"{v / ref:.2f}x" for v in values], padding=2)
        ax.set_xlabel(xlabel)
        ax.set_title(title)
        ax.invert_yaxis()
        ax.margins(x=0.15)
    axes[1].set_yticklabels([])
    inf = results.get("inference")
    if inf:
        names = list(inf["seconds_per_token"])
        ms = [inf["seconds_per_token"][n] * 1e3 for n in names]
        bars = axes[2].bar(names, ms, color="tab:green")
        axes[2].bar_label(bars, labels=[f"{v / ms[0]:.2f}x" for v in ms], padding=2)
        axes[2].set_ylabel("ms per generated token (median)")
        axes[2].margins(y=0.15)
    axes[2].set_title("inference")
    fig.suptitle(f"peft-course benchmarks on {results['machine']['device_name']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def update_readme(readme: Path, table_md: str, results_name: str) -> None:
    """Replace the section between the bench markers with the latest table."""
    section = (f"{START}\nLatest results (`benchmarks/results/{results_name}.json`, plot "
               f"`benchmarks/results/{results_name}.png`), written by `make bench`:\n\n"
               f"{table_md}\n![benchmarks](results/{results_name}.png)\n{END}")
    text = readme.read_text() if readme.is_file() else f"# Benchmarks\n\n{START}\n{END}\n"
    if START not in text:
        text = text.rstrip() + f"\n\n{START}\n{END}\n"
    text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: section, text, flags=re.S)
    readme.write_text(text)
