"""Plots the notebooks share (matplotlib; each function returns its Figure)."""


def metric_heatmap(scores, title="Task metric", cmap="Greens", ylabel=""):
    """Heatmap of ``scores[row][column]`` (e.g. adapter x task exact match in [0, 1]), each cell
    annotated with its value. Introduced in 03_loading_adapters."""
    import matplotlib.pyplot as plt
    import numpy as np

    rows = list(scores)
    cols = list(next(iter(scores.values())))
    grid = np.array([[scores[r][c] for c in cols] for r in rows], dtype=float)  # (rows, cols)
    fig, ax = plt.subplots(figsize=(1.6 + 1.5 * len(cols), 0.9 + 0.6 * len(rows)))
    im = ax.imshow(grid, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(rows)), rows)
    for i in range(len(rows)):
        for j in range(len(cols)):
            color = "white" if grid[i, j] > 0.6 else "black"
            ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", color=color, fontsize=11)
    ax.set_xlabel("evaluated on task")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.05)
    fig.tight_layout()
    return fig


def grouped_bars(scores, reference=None, title="Task metric", ylabel="exact match"):
    """Bars of ``scores[group][series]`` side by side per group (e.g. one group per adapter
    combination, one bar per task); ``reference[series]`` draws a dashed line per series (e.g.
    each task's own adapter). Introduced in 07_merging."""
    import matplotlib.pyplot as plt

    groups = list(scores)
    series = list(next(iter(scores.values())))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(1.0 + 1.3 * len(groups), 3.8))
    for k, name in enumerate(series):
        xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(groups))]
        bars = ax.bar(xs, [scores[g][name] for g in groups], width, label=name, color=f"C{k}")
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
        if reference and name in reference:
            ax.axhline(
                reference[name],
                color=f"C{k}",
                ls="--",
                lw=1,
                label=f"{name}: own adapter ({reference[name]:.2f})",
            )
    ax.set_xticks(range(len(groups)), groups, rotation=20, ha="right")
    ax.set_ylim(0, 1.1)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def plot_loss_curves(history: dict, ax=None, title: str = "LoRA fine-tuning"):
    """Train and validation loss against the optimizer step.

    Args:
        history: ``{"train": [(step, loss)], "eval": [(step, eval_loss)]}``, as in
            ``TrainResult.history``.

    Introduced in 04_lora_sft.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for key, style, label in (("train", "-", "train loss"), ("eval", "o--", "validation loss")):
        if history.get(key):
            steps, losses = zip(*history[key], strict=True)
            ax.plot(steps, losses, style, label=label)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy on answer tokens")
    ax.set_yscale("log")
    ax.set_title(title)
    if ax.lines:  # a run shorter than logging_steps logged no loss
        ax.legend()
    ax.grid(alpha=0.3)
    return ax.figure


def plot_loss_spread(runs: dict, ax=None, ylabel: str = "train loss", title: str = ""):
    """Mean loss per step with a band from the lowest to the highest run (e.g. over seeds).

    Args:
        runs: ``{label: [[(step, loss), ...], ...]}``, one inner list per run; every run of a
            label logs the same steps.

    Introduced in 05_olora.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4))
    for label, curves in runs.items():
        steps = [s for s, _ in curves[0]]
        values = np.array([[v for _, v in curve] for curve in curves])  # (runs, steps)
        mean = values.mean(axis=0)
        (line,) = ax.plot(steps, mean, label=f"{label} (n={len(curves)})")
        ax.fill_between(
            steps, values.min(axis=0), values.max(axis=0), color=line.get_color(), alpha=0.2
        )
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(ylabel)
    ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    return ax.figure


def plot_word_counts(counts: dict, ax=None, title: str = "Answer length", cap: int | None = None):
    """Histogram of words per answer for several models on the same prompts, each with its
    mean as a dashed line.

    Args:
        counts: ``{label: [words in answer 1, words in answer 2, ...]}``.
        cap: the length at which generation was cut off (``max_new_tokens`` in words is only
            approximate), drawn as a grey line when given.

    Introduced in 06_trl_peft.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.5))
    top = max(max(v) for v in counts.values())
    bins = np.arange(0, top + 3, 2)
    for k, (label, values) in enumerate(counts.items()):
        mean = float(np.mean(values))
        ax.hist(values, bins=bins, alpha=0.55, color=f"C{k}", label=f"{label} (mean {mean:.1f})")
        ax.axvline(mean, color=f"C{k}", ls="--", lw=1.2)
    if cap is not None:
        ax.axvline(cap, color="grey", lw=0.8, ls=":", label="generation cut-off (approx.)")
    ax.set_xlabel("words per answer")
    ax.set_ylabel("answers")
    ax.set_title(title)
    ax.legend(fontsize=9)
    return ax.figure


def plot_sweep(
    points: list[dict],
    y: str = "val_loss",
    ax=None,
    title: str = "",
    ylabel: str | None = None,
    log_y: bool = True,
):
    """One line per sweep (e.g. rank, target modules) of a value against trainable parameters.

    Args:
        points: dicts with ``sweep`` (line label), ``name`` (point label), ``trainable`` and the
            key ``y`` (e.g. ``val_loss`` or ``exact_match``); points without ``y`` are skipped.

    Introduced in 08_lora_hyperparameters.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4))
    sweeps = list(dict.fromkeys(p["sweep"] for p in points))
    for k, sweep in enumerate(sweeps):
        pts = sorted(
            (p for p in points if p["sweep"] == sweep and p.get(y) is not None),
            key=lambda p: p["trainable"],
        )
        if not pts:
            continue
        ax.plot(
            [p["trainable"] for p in pts],
            [p[y] for p in pts],
            "os^Dv<>"[k % 7] + "-",
            color=f"C{k}",
            label=sweep,
        )
        for p in pts:
            ax.annotate(
                p["name"],
                (p["trainable"], p[y]),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=7,
                color=f"C{k}",
            )
    ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel("trainable parameters")
    ax.set_ylabel(ylabel or y)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax.figure


def compare_curves(
    curves: dict, ax=None, title: str = "", ylabel: str = "loss", log_y: bool = True
):
    """Several ``[(step, value), ...]`` curves on one axis, e.g. a broken run and its fix.

    Args:
        curves: ``{label: [(step, value), ...]}``; a label containing "validation" is dashed.

    Introduced in 08_lora_hyperparameters.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.6))
    for k, (label, curve) in enumerate(curves.items()):
        steps, values = zip(*curve, strict=True)
        style = "o--" if "validation" in label else "-"
        ax.plot(steps, values, style, color=f"C{k}", label=label, markersize=4)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(ylabel)
    if log_y:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax.figure
