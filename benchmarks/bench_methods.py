"""PEFT method comparison (`make bench-methods`): every method of peft_course/methods.py on the same task.

    python benchmarks/bench_methods.py all                       # 10 methods x 3 seeds, then report
    python benchmarks/bench_methods.py all --methods lora ia3 --seeds 0
    python benchmarks/bench_methods.py all --report-only         # rebuild methods.md/.png
    python benchmarks/bench_methods.py run --method lora --seed 0 --out r.json   # one worker

Each (method, seed) trains in a fresh process (peak RSS only grows) on the first steps x batch
rows of the extract task's training split, loss on the answer tokens, with AdamW (a tenth of the
steps warming up, then linear decay; gradients clipped at 1.0 like the Trainer), and writes one
JSON: exact match on the first validation rows, forgetting (probe loss after minus before),
parameter counts, peak memory, training time and checkpoint size. The driver writes
<results-dir>/methods/<method>-seed<S>.json, then <results-dir>/methods.md and methods.png.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import bitsandbytes_version, quiet, say, write_json  # noqa: E402
from methods_report import report  # noqa: E402

from peft_course.compare import DEFAULTS  # noqa: E402
from peft_course.methods import METHODS  # noqa: E402

GIB, MIB = 2**30, 2**20
def versions() -> dict:
    import peft
    import torch
    import transformers

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "bitsandbytes": bitsandbytes_version(),
    }


def device_info(device) -> dict:
    import torch

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    if device.type == "cpu" and Path("/proc/cpuinfo").is_file():
        models = [ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in ln]
        name = models[0].split(":", 1)[1].strip() if models else name
    return {"type": device.type, "name": name, "torch_threads": torch.get_num_threads()}


def _load_average() -> float | None:
    """1-minute load average (other processes competing for the CPU inflate every time)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def checkpoint(model, initial_adapter: str | None) -> dict:
    """Bytes of what one would ship: the adapter (``save_pretrained``; PiSSA converted to a plain
    LoRA for the untouched base), or the whole model's files for full fine-tuning."""
    from peft import PeftModel

    with tempfile.TemporaryDirectory(prefix="bench-methods-ckpt-") as tmp:
        if isinstance(model, PeftModel):
            extra = {"path_initial_model_for_weight_conversion": initial_adapter}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.save_pretrained(
                    tmp, save_embedding_layers=False, **(extra if initial_adapter else {})
                )
            kind = "adapter converted to plain LoRA" if initial_adapter else "adapter"
        else:
            model.save_pretrained(tmp)
            kind = "full model"
        files = {p.name: p.stat().st_size for p in Path(tmp).iterdir() if p.name != "README.md"}
    return {
        "checkpoint_bytes": sum(files.values()),
        "checkpoint_files": files,
        "checkpoint_kind": kind,
    }


def run_one(a) -> dict:
    """Train ``a.method`` for ``a.seed`` with ``peft_course.compare.run_method`` and add what
    only a fresh process can say: the process's peak memory, the checkpoint, the versions."""
    import torch
    from measure import peak_memory_bytes

    from peft_course.compare import run_method
    from peft_course.device import get_device
    from peft_course.models import DEFAULT_MODEL

    method, device, t_start = METHODS[a.method], get_device(), time.perf_counter()
    load_start = _load_average()
    if a.threads:
        torch.set_num_threads(a.threads)
    budget = {"steps": a.steps, "batch": a.batch, "eval_rows": a.eval_rows,
              "max_length": a.max_length}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-methods-init-") as init_dir:
        record, model = run_method(method, a.seed, model_name=a.model, init_dir=init_dir, **budget)
        peak, peak_kind = peak_memory_bytes(device)
        ckpt = checkpoint(model, init_dir if method.converted else None)
    record["settings"]["model"] = a.model or DEFAULT_MODEL
    return {
        **record,
        "versions": versions(),
        "device": device_info(device)
        | {"load_avg_start": load_start, "load_avg_end": _load_average()},
        "peak_memory_bytes": peak,
        "peak_memory_kind": peak_kind,
        **ckpt,
        "run_seconds": time.perf_counter() - t_start,
    }


def run_all(a) -> int:
    """Every (method, seed) in a fresh process, seeds outermost; then the report."""
    out_dir = a.results_dir / "methods"
    out_dir.mkdir(parents=True, exist_ok=True)
    shared = [f"--steps={a.steps}", f"--batch={a.batch}", f"--eval-rows={a.eval_rows}"]
    shared += [f"--max-length={a.max_length}", f"--threads={a.threads}"] + (
        [f"--model={a.model}"] if a.model else []
    )
    jobs = [(m, s) for s in a.seeds for m in a.methods]
    failed = 0
    for i, (name, seed) in enumerate(jobs, 1):
        say(f"[{i}/{len(jobs)}] {name} seed {seed} ...")
        out = out_dir / f"{name}-seed{seed}.json"
        cmd = [
            sys.executable,
            str(HERE / "bench_methods.py"),
            "run",
            f"--method={name}",
            f"--seed={seed}",
        ]
        cmd += [f"--out={out}", *shared]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-15:] or [f"exit code {proc.returncode}"]
            say("  FAILED:\n    " + "\n    ".join(tail))
            write_json(out, {"method": name, "seed": seed, "error": tail[-1]})
            failed += 1
            continue
        r = json.loads(out.read_text())
        say(
            f"  exact match {r['exact_match']:.3f}, forgetting {r['forgetting']:+.3f}, "
            f"trainable {r['trainable_params']:,}, peak {r['peak_memory_bytes'] / GIB:.2f} GiB, "
            f"train {r['train_seconds']:.0f} s, checkpoint {r['checkpoint_bytes'] / MIB:.2f} MiB "
            f"(process {time.perf_counter() - t0:.0f} s)"
        )
        if r["trainable_without_grad"]:
            say(f"  ERROR: {r['trainable_without_grad']} trainable tensors got no gradient")
            failed += 1
    show_report(a.results_dir)
    return 1 if failed else 0


def show_report(results_dir: Path) -> None:
    table, n_files = report(results_dir)
    print("\n" + table)
    say(f"wrote {results_dir / 'methods.md'} and methods.png from {n_files} result files")


def _no_progress_bars() -> None:
    import datasets
    from transformers.utils import logging

    datasets.disable_progress_bars()  # "Map", "Filter" from tokenize_dataset
    logging.disable_progress_bar()  # "Loading weights"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    run_p, all_p = sub.add_parser("run", help="one method, one seed"), sub.add_parser("all")
    for q in (run_p, all_p):
        q.add_argument("--steps", type=int, default=DEFAULTS["steps"], help="optimizer steps")
        q.add_argument("--batch", type=int, default=DEFAULTS["batch"], help="rows per step")
        q.add_argument(
            "--eval-rows",
            type=int,
            default=DEFAULTS["eval_rows"],
            help="validation rows scored by exact match",
        )
        q.add_argument("--max-length", type=int, default=DEFAULTS["max_length"])
        q.add_argument("--model", default=None, help="model folder or name (default: course)")
        q.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    run_p.add_argument("--method", choices=list(METHODS), required=True)
    run_p.add_argument("--seed", type=int, default=0)
    run_p.add_argument("--out", type=Path, required=True)
    all_p.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    all_p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    all_p.add_argument("--results-dir", type=Path, default=HERE / "results")
    all_p.add_argument("--report-only", action="store_true", help="rebuild md/png from JSON")
    return p.parse_args(argv)


def main(argv=None) -> int:
    a = parse_args(argv)
    if a.command == "run":
        quiet()
        _no_progress_bars()
        write_json(a.out, run_one(a))
        return 0
    if a.report_only:
        show_report(a.results_dir)
        return 0
    say(
        f"{len(a.methods)} method(s) x {len(a.seeds)} seed(s), {a.steps} steps x batch {a.batch}, "
        f"{a.eval_rows} evaluation rows"
    )
    return run_all(a)


if __name__ == "__main__":
    sys.exit(main())
