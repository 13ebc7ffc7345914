"""Run the peft-course benchmarks (`make bench`) and write benchmarks/results/<device>.{json,md,png}.

Sections: 1 training memory and step time (each configuration in a fresh process, rounds
alternate the order), plus the scratch-vs-PEFT LoRA parity check; 2 inference latency per token;
3 sizes; 4 (only with --course) the run time of every solution notebook. The same script runs on
a GPU unchanged; the results file is named by device (cpu.json, cuda-<gpu name>.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import (  # noqa: E402
    T0,
    TRAIN_CONFIGS,
    bitsandbytes_version,
    device_slug,
    median,
    say,
    write_json,
)
from report import all_goals, goal, markdown, plot, update_readme  # noqa: E402


def machine_info() -> dict:
    import torch

    from peft_course.device import environment_report, get_device

    bnb_version = bitsandbytes_version()
    env = environment_report()
    device = get_device()
    name = env.device_name
    if device.type == "cpu" and Path("/proc/cpuinfo").is_file():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    return {
        "device": device.type, "device_name": name, "slug": device_slug(device, name),
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "ram_gib": env.ram_gib, "accelerator_gib": env.accelerator_gib,
        "platform": platform.platform(), "python": env.python, "torch": env.torch,
        "transformers": env.transformers, "peft": env.peft, "bitsandbytes": bnb_version,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_avg_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def worker(script: str, args: list[str], out: Path) -> dict:
    """Run one measurement in a fresh Python process; its JSON result, or {"error": ...}."""
    cmd = [sys.executable, str(HERE / script), *args, "--out", str(out)]
    proc = subprocess.run(cmd, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0 or not out.is_file():
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        say(f"  FAILED ({script} {' '.join(args)}):\n{tail}")
        return {"error": tail.splitlines()[-1] if tail else f"exit code {proc.returncode}"}
    return json.loads(out.read_text())


def run_training(a, tmp: Path) -> dict:
    common = ["--batch", str(a.batch), "--seq", str(a.seq), "--steps", str(a.steps),
              "--warmup", str(a.warmup)] + (["--model", a.model] if a.model else [])
    names = a.configs
    runs = {n: [] for n in names}
    for rnd in range(a.rounds):
        order = names if rnd % 2 == 0 else names[::-1]  # alternate the order between rounds
        for i, name in enumerate(order, 1):
            say(f"train round {rnd + 1}/{a.rounds} [{i}/{len(order)}] {name} ...")
            r = worker("bench_train.py", ["train", "--config", name, *common],
                       tmp / f"train-{name}-{rnd}.json")
            runs[name].append(r)
            if r.get("trainable_without_grad"):  # e.g. the 4-bit CPU trap: LoRA learns nothing
                r["error"] = f"{r['trainable_without_grad']} trainable tensors got no gradient"
                say(f"  ERROR: {r['error']}")
            if "peak_bytes" in r:
                say(f"  peak {r['peak_bytes'] / 2**30:.2f} GiB, step {r['step_seconds']:.3f} s, "
                    f"trainable {r['trainable']:,}")
            elif "skipped" in r:
                say(f"  skipped: {r['skipped']}")
    configs = {}
    for name in names:
        ok = [r for r in runs[name] if "peak_bytes" in r]
        if not ok:
            first = runs[name][0]
            configs[name] = {"skipped": first.get("skipped") or f"failed: {first.get('error')}"}
            continue
        c = dict(ok[0])
        c["peak_bytes"] = int(median([r["peak_bytes"] for r in ok]))
        c["peak_bytes_rounds"] = [r["peak_bytes"] for r in ok]
        c["step_seconds_all"] = [t for r in ok for t in r["step_seconds_all"]]
        c["step_seconds"] = median(c["step_seconds_all"])
        c["step_seconds_rounds"] = [r["step_seconds"] for r in ok]
        configs[name] = c
    say("parity: scratch LoRA vs PEFT (same weights, one process) ...")
    parity = worker("bench_train.py", ["parity", *common], tmp / "parity.json")
    if "error" not in parity:
        say(f"  logits max abs diff {parity['logits_max_abs_diff']:.2e}, "
            f"step ratio scratch/PEFT {parity['step_ratio_scratch_vs_peft']:.3f}")
    full, lora = configs.get("full", {}), configs.get("lora_qv", {})
    mem_ratio = (lora["peak_bytes"] / full["peak_bytes"]
                 if "peak_bytes" in full and "peak_bytes" in lora else None)
    kinds = {c.get("peak_kind") for c in configs.values() if "peak_kind" in c}
    return {
        "peak_kind": kinds.pop() if len(kinds) == 1 else None,
        "configs": configs,
        "parity": parity if "error" not in parity else None,
        "errors": {n: [r["error"] for r in rs if "error" in r] for n, rs in runs.items()
                   if any("error" in r for r in rs)} | (
            {"parity": parity["error"]} if "error" in parity else {}),
        "goals": {
            "lora_vs_full_peak_memory": goal(mem_ratio, 0.6, "LoRA q,v / full fine-tuning peak memory"),
            "scratch_vs_peft_step_time": goal(parity.get("step_ratio_scratch_vs_peft"), 1.10,
                                              "scratch / PEFT LoRA step time"),
            "scratch_vs_peft_logits_max_abs_diff": goal(parity.get("logits_max_abs_diff"), 1e-5,
                                                        "scratch vs PEFT logits max abs diff"),
        },
    }


def run_inference(a, tmp: Path) -> dict:
    say("inference: base, adapter (unmerged), merged; interleaved repetitions ...")
    args = ["--prompt-tokens", str(a.prompt_tokens), "--new-tokens", str(a.new_tokens),
            "--reps", str(a.reps)] + (["--model", a.model] if a.model else [])
    r = worker("bench_infer.py", args, tmp / "infer.json")
    if "error" in r:
        return {"error": r["error"], "goals": {"merged_vs_base_latency": goal(
            None, 1.05, "merged / base latency per token")}}
    say(f"  merged/base {r['ratio_merged_vs_base']:.3f}, adapter/base "
        f"{r['ratio_adapter_vs_base']:.3f}")
    r["unmerged_overhead"] = r["ratio_adapter_vs_base"] - 1.0
    r["goals"] = {"merged_vs_base_latency": goal(r["ratio_merged_vs_base"], 1.05,
                                                  "merged / base latency per token")}
    return r


def size_section(train: dict, inf: dict) -> dict:
    """Adapter file vs base file; 8-bit and 4-bit weights vs fp32 (get_memory_footprint)."""
    rows = []
    if inf.get("adapter_file_bytes"):
        rows.append(("adapter file (adapter_model.safetensors)", inf["adapter_file_bytes"],
                     inf.get("base_file_bytes")))
        if inf.get("base_file_bytes"):
            rows.append(("base model file (model.safetensors)", inf["base_file_bytes"],
                         inf["base_file_bytes"]))
    cfg = train.get("configs", {})
    fp32 = cfg.get("full", {}).get("base_footprint_bytes")
    for name, label in (("full", "fp32 weights in memory"), ("lora_qv_8bit", "8-bit weights"),
                        ("lora_qv_4bit", "4-bit (nf4) weights")):
        if cfg.get(name, {}).get("base_footprint_bytes"):
            rows.append((label, cfg[name]["base_footprint_bytes"], fp32))
    int8 = cfg.get("lora_qv_8bit", {}).get("base_footprint_bytes")
    ratio = int8 / fp32 if int8 and fp32 else None
    return {"rows": rows, "goals": {"int8_vs_fp32_weights": goal(
        ratio, 0.45, "8-bit / fp32 weights (get_memory_footprint)")}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="model folder or name (default: course model)")
    p.add_argument("--configs", default=",".join(TRAIN_CONFIGS),
                   help="comma-separated training configurations")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--steps", type=int, default=3, help="timed training steps per process")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--rounds", type=int, default=2, help="fresh processes per configuration")
    p.add_argument("--prompt-tokens", type=int, default=32)
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--course", action="store_true", help="also time every solution notebook")
    p.add_argument("--skip-inference", action="store_true")
    p.add_argument("--results-dir", type=Path, default=HERE / "results")
    p.add_argument("--readme", type=Path, default=HERE / "README.md",
                   help="README whose results section is replaced ('' to leave it alone)")
    a = p.parse_args(argv)
    a.configs = [c.strip() for c in a.configs.split(",") if c.strip()]
    unknown = set(a.configs) - set(TRAIN_CONFIGS)
    if unknown:
        p.error(f"unknown configurations {sorted(unknown)}; choose from {list(TRAIN_CONFIGS)}")
    machine = machine_info()
    say(f"benchmarks on {machine['device_name']} ({machine['slug']}), "
        f"{machine['torch_threads']} torch thread(s)")
    from peft_course.models import DEFAULT_MODEL

    results = {
        "machine": machine,
        "settings": {k: v for k, v in vars(a).items() if k not in ("results_dir", "readme")}
        | {"model_label": a.model or DEFAULT_MODEL},
    }
    with tempfile.TemporaryDirectory(prefix="peft-bench-") as tmp:
        results["train"] = run_training(a, Path(tmp))
        results["inference"] = {} if a.skip_inference else run_inference(a, Path(tmp))
    results["size"] = size_section(results["train"], results["inference"])
    limit = 300 if machine["device"] == "cuda" else 1200
    if a.course:
        from course_time import run_course

        say("course: executing every solution notebook ...")
        results["course"] = run_course(progress=say)
    else:
        results["course"] = {"measured": False, "reason": "run with --course to measure"}
    course_goal = goal(results["course"].get("total_seconds"), limit,
                       f"course run time in s ({machine['device']})")
    if results["course"].get("all_ok") is False:  # a failed notebook: its time is not the course's
        course_goal.update(met=False, what=course_goal["what"] + ", a notebook FAILED")
    results["course"]["goals"] = {"total_seconds": course_goal}
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    machine["load_avg_end"] = load_end
    if load_end is not None and machine["device"] == "cpu":
        busy = max(load_end, machine["load_avg_start"]) > machine["torch_threads"] + 0.75
        machine["note"] = (
            f"1-minute load average {machine['load_avg_start']:.1f} at start and {load_end:.1f} "
            f"at end on {machine['cpu_count']} cores"
            + (": other processes competed for the CPU, so absolute times are inflated; "
               "compare the ratios." if busy else "."))
    results["seconds"] = time.perf_counter() - T0
    out = a.results_dir
    out.mkdir(parents=True, exist_ok=True)
    stem = machine["slug"]
    write_json(out / f"{stem}.json", results)
    table = markdown(results)
    (out / f"{stem}.md").write_text(table)
    plot(results, out / f"{stem}.png")
    if str(a.readme) not in ("", "."):
        update_readme(a.readme, table, stem)
    print("\n" + table)
    say(f"wrote {out / stem}.json, .md and .png")
    failed = results["train"]["errors"] or "error" in results["inference"]
    missed = [k for k, g in all_goals(results).items() if g["met"] is False]
    if missed:
        say(f"goals not met: {', '.join(missed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
