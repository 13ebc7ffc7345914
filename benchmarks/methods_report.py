"""The report of `make bench-methods`: methods.md (a row per method) and methods.png."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from peft_course.methods import METHODS

GIB, MIB = 2**30, 2**20


def _spread(values: list[float], spec: str) -> str:
    mean = statistics.mean(values)
    if len(values) == 1:
        return format(mean, spec)
    return f"{mean:{spec}} ({min(values):{spec}}–{max(values):{spec}})"


def summarise(results: list[dict]) -> dict[str, dict]:
    """Per method (table order): the runs, the failures, and the means over seeds."""
    names = [m for m in METHODS if any(r["method"] == m for r in results)]
    names += sorted({r["method"] for r in results} - set(names))
    rows = {}
    for name in names:
        runs = sorted((r for r in results if r["method"] == name), key=lambda r: r["seed"])
        ok = [r for r in runs if "error" not in r]
        row = {"runs": ok, "errors": [r for r in runs if "error" in r]}
        if ok:
            row.update(
                {
                    k: statistics.mean(r[k] for r in ok)
                    for k in ("exact_match", "forgetting", "peak_memory_bytes", "train_seconds")
                }
            )
            row["em_all"] = [r["exact_match"] for r in ok]
            row["forgetting_all"] = [r["forgetting"] for r in ok]
        rows[name] = row
    return rows


def markdown(rows: dict[str, dict]) -> str:
    ok = [r for row in rows.values() for r in row["runs"]]
    if not ok:
        failed = [f"- {e['method']} seed {e['seed']}: {e['error']}" for row in rows.values()
                  for e in row["errors"]]  # fmt: skip
        return "\n".join(["No successful runs.", "", *failed]) + "\n"
    s, v, d = ok[0]["settings"], ok[0]["versions"], ok[0]["device"]
    same = all(
        r["settings"]["steps"] == s["steps"]
        and r["settings"]["batch"] == s["batch"]
        and r["eval_n"] == ok[0]["eval_n"]
        for r in ok
    )
    out = [
        f"PEFT methods on the extract task ({s['model']}): {s['steps']} steps x batch "
        f"{s['batch']} ({s['train_rows']} training rows), AdamW; exact match on the first "
        f"{ok[0]['eval_n']} validation rows; forgetting = mean loss of the answers' words on "
        f"data/general/probe.jsonl ({ok[0]['probe_rows']} rows) after training minus before "
        f"(> 0: general ability lost). Mean over seeds (min–max). Device: {d['name']} "
        f"({d['type']}, torch threads: {d['torch_threads']}); torch {v['torch']}, transformers "
        f"{v['transformers']}, peft {v['peft']}, bitsandbytes {v['bitsandbytes']}; peak memory = "
        f"{ok[0]['peak_memory_kind']}.",
        "",
        "| method | lr | seeds | exact match | forgetting | trainable params | % of total | "
        "peak memory (GiB) | train time (s) | checkpoint (MiB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    if not same:
        out.insert(1, "\nNote: the runs do not all share steps, batch and evaluation rows.")
    loads = [r["device"].get(k) for r in ok for k in ("load_avg_start", "load_avg_end")]
    loads = [x for x in loads if x is not None]
    if loads and d["type"] == "cpu" and max(loads) > d["torch_threads"] + 0.75:
        out.insert(1, f"\nNote: 1-minute load average up to {max(loads):.1f} during the runs "
                   f"(torch threads: {d['torch_threads']}): other processes competed for the CPU, "
                   "so times are inflated.")  # fmt: skip
    for name, row in rows.items():
        if not row["runs"]:
            label = METHODS[name].label if name in METHODS else name
            error = row["errors"][0]["error"][:80].replace("|", "/")
            out.append(f"| {label} | | 0 | failed: {error} | | | | | | |")
            continue
        r0 = row["runs"][0]
        em = _spread(row["em_all"], ".3f")
        fails = f" ({len(row['errors'])} failed)" if row["errors"] else ""
        out.append(
            f"| {r0['label']} | {r0['settings']['learning_rate']:g} | {len(row['runs'])}{fails} | "
            f"{em} | {_spread(row['forgetting_all'], '+.3f')} | {r0['trainable_params']:,} | "
            f"{100 * r0['trainable_params'] / r0['total_params']:.3f} | "
            f"{row['peak_memory_bytes'] / GIB:.2f} | {row['train_seconds']:.0f} | "
            f"{r0['checkpoint_bytes'] / MIB:.2f} |"
        )
    return "\n".join(out) + "\n"


def plot(rows: dict[str, dict], path: Path) -> None:
    """Exact match against peak memory, one point per method, bars from the seeds' min to max."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    kind = "?"
    for row in rows.values():
        if not row["runs"]:
            continue
        x, y, em = row["peak_memory_bytes"] / GIB, row["exact_match"], row["em_all"]
        ax.errorbar(x, y, yerr=[[y - min(em)], [max(em) - y]], fmt="o", capsize=4)
        ax.annotate(row["runs"][0]["label"], (x, y), textcoords="offset points", xytext=(6, 4))
        kind = row["runs"][0]["peak_memory_kind"]
    ax.set_xlabel(f"peak memory during training (GiB, {kind})")
    ax.set_ylabel("exact match (extract, validation)")
    ax.set_title("PEFT methods: accuracy vs memory (mean over seeds, bars: min–max)")
    ax.set_ylim(-0.05, 1.05)
    ax.margins(x=0.2)  # room for the labels
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(results_dir: Path) -> tuple[str, int]:
    """Rebuild methods.md and methods.png from every JSON under results_dir/methods/; returns
    (the Markdown table, the number of result files)."""
    files = sorted((results_dir / "methods").glob("*.json"))
    rows = summarise([json.loads(p.read_text()) for p in files])
    table = markdown(rows)
    (results_dir / "methods.md").write_text(table)
    plot(rows, results_dir / "methods.png")
    return table, len(files)
