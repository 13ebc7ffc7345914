"""`make bench-methods` (benchmarks/bench_methods.py) on the tiny random Llama of conftest.py:
every method builds and trains, the worker writes every column, the report builds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from peft_course.methods import METHODS, build, load_base, parameter_counts  # noqa: E402

# conftest's tiny model: 2 layers, hidden 64, k/v 32 (GQA), intermediate 128
LORA_ATTENTION = 2 * 8 * ((64 + 64) + (64 + 32) + (64 + 32) + (64 + 64))  # r=8 on q,k,v,o
TRAINABLE = {
    "lora": LORA_ATTENTION,
    "rslora": LORA_ATTENTION,
    "loraplus": LORA_ATTENTION,
    "pissa": LORA_ATTENTION,
    "qlora": LORA_ATTENTION,
    "dora": LORA_ATTENTION + 2 * (64 + 32 + 32 + 64),  # + a magnitude per output feature
    "ia3": 2 * (32 + 32 + 128),  # k, v outputs and down_proj's input
    "prompt_tuning": 16 * 64,  # 16 virtual tokens
    "ln_tuning": (2 * 2 + 1) * 64,  # two RMSNorms per layer and the final one
}
COLUMNS = {
    "method", "seed", "settings", "versions", "device", "exact_match", "forgetting",
    "probe_loss_before", "probe_loss_after", "probe_stop_loss_before", "probe_stop_loss_after",
    "trainable_params", "total_params",
    "peak_memory_bytes", "peak_memory_kind", "train_seconds", "checkpoint_bytes",
}  # fmt: skip


@pytest.fixture(scope="module")
def batch(tiny_model):
    from peft_course.data import CompletionCollator, load_task, tokenize_example
    from peft_course.models import load_tokenizer

    tokenizer = load_tokenizer(str(tiny_model))
    rows = load_task("extract", "train").select(range(2))
    examples = [tokenize_example(tokenizer, r["prompt"], r["completion"]) for r in rows]
    return CompletionCollator(tokenizer.pad_token_id)(examples)


def test_every_method_has_an_expected_count():
    assert set(TRAINABLE) | {"full"} == set(METHODS)


@pytest.mark.parametrize("name", list(METHODS))
def test_method_builds_and_takes_a_step(name, tiny_model, batch):
    from peft_course.device import set_seed
    from peft_course.models import quantization_unavailable

    method = METHODS[name]
    if method.quant and quantization_unavailable("cpu"):
        pytest.skip(quantization_unavailable("cpu"))
    set_seed(0)
    base, path = load_base(method, str(tiny_model))
    model, optimizer = build(method, base, path)
    trainable, total = parameter_counts(model)
    params = [p for p in model.parameters() if p.requires_grad]
    assert trainable == sum(p.numel() for p in params) == TRAINABLE.get(name, total)
    if name == "full":
        assert total > 100 * LORA_ATTENTION
    else:
        assert trainable < LORA_ATTENTION * 1.1 and total > 100 * trainable
    before = [p.detach().clone() for p in params]
    model.train()
    loss = model(**batch).loss
    assert torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None for p in params)  # the 4-bit CPU trap would leave them None
    optimizer.step()
    assert any(not torch.equal(b, p) for b, p in zip(before, params, strict=True))
    if name == "loraplus":
        rates = {g["lr"] for g in optimizer.param_groups if g["params"]}
        assert max(rates) / min(rates) == pytest.approx(16)
    if name == "qlora":
        import bitsandbytes as bnb

        assert any(isinstance(m, bnb.nn.Linear4bit) for m in model.modules())


def test_worker_writes_every_column(tiny_model, tmp_path):
    import bench_methods

    a = bench_methods.parse_args(
        ["run", "--method", "lora", "--seed", "1", "--out", str(tmp_path / "r.json"),
         "--steps", "2", "--batch", "2", "--eval-rows", "2", "--model", str(tiny_model)]
    )  # fmt: skip
    r = bench_methods.run_one(a)
    assert COLUMNS <= set(r)
    assert r["method"] == "lora" and r["seed"] == 1 and r["settings"]["steps"] == 2
    assert r["settings"]["r"] == 8 and r["settings"]["learning_rate"] == 3e-3
    assert {"torch", "transformers", "peft", "bitsandbytes"} <= set(r["versions"])
    assert r["trainable_params"] == LORA_ATTENTION and r["trainable_without_grad"] == 0
    assert r["eval_n"] == 2 and 0 <= r["exact_match"] <= 1 and r["probe_rows"] == 40
    assert r["forgetting"] == pytest.approx(r["probe_loss_after"] - r["probe_loss_before"])
    assert len(r["losses"]) == 2 and all(x == x for x in r["losses"])  # finite, not NaN
    assert r["peak_memory_bytes"] > 0 and r["train_seconds"] > 0
    weights = r["checkpoint_files"]["adapter_model.safetensors"]
    assert 4 * LORA_ATTENTION < weights < r["checkpoint_bytes"]  # fp32 weights + a header; config
    json.dumps(r)  # serialisable as it is


def _fake(method: str, seed: int, exact_match: float, **extra) -> dict:
    return {
        "method": method, "label": METHODS[method].label, "seed": seed,
        "settings": {"steps": 20, "batch": 4, "train_rows": 80, "learning_rate": 3e-3,
                     "model": "tiny"},
        "versions": {"torch": "t", "transformers": "tf", "peft": "p", "bitsandbytes": "b"},
        "device": {"type": "cpu", "name": "test cpu", "torch_threads": 2},
        "exact_match": exact_match, "eval_n": 24, "probe_rows": 40, "forgetting": 0.1 * seed,
        "trainable_params": 1000, "total_params": 100000, "peak_memory_bytes": 2**30,
        "peak_memory_kind": "peak_rss", "train_seconds": 30.0, "checkpoint_bytes": 2**20,
        **extra,
    }  # fmt: skip


def test_report_from_json_files(tmp_path):
    import bench_methods

    folder = tmp_path / "methods"
    folder.mkdir()
    for seed, em in ((0, 0.5), (1, 0.7)):
        (folder / f"lora-seed{seed}.json").write_text(json.dumps(_fake("lora", seed, em)))
    (folder / "ia3-seed0.json").write_text(
        json.dumps({"method": "ia3", "seed": 0, "error": "RuntimeError: boom"})
    )
    assert bench_methods.main(["all", "--report-only", "--results-dir", str(tmp_path)]) == 0
    md = (tmp_path / "methods.md").read_text()
    assert "| LoRA | 0.003 | 2 | 0.600 (0.500–0.700) | +0.050 (+0.000–+0.100) | 1,000 |" in md
    assert "| IA3 | | 0 | failed: RuntimeError: boom |" in md
    assert md.index("| LoRA |") < md.index("| IA3 |")  # the table order of methods.py
    assert (tmp_path / "methods.png").read_bytes()[:4] == b"\x89PNG"


def test_driver_runs_a_fresh_process_per_run(tiny_model, tmp_path):
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_methods.py"), "all",
           "--methods", "ia3", "--seeds", "0", "--steps", "1", "--batch", "2",
           "--eval-rows", "1", "--model", str(tiny_model), "--results-dir", str(tmp_path)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PEFT_COURSE_DEVICE": "cpu"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "[1/1] ia3 seed 0 ..." in proc.stdout and "exact match" in proc.stdout
    r = json.loads((tmp_path / "methods" / "ia3-seed0.json").read_text())
    assert r["trainable_params"] == TRAINABLE["ia3"]
    assert "| IA3 |" in (tmp_path / "methods.md").read_text()


def test_probe_is_shipped_and_rebuilds_identically():
    from peft_course.compare import load_probe

    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_probe.py"), "--check"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout
    probe = load_probe()
    assert len(probe) == 40 and {"prompt", "completion", "kind"} <= set(probe.column_names)
    assert probe[0]["prompt"] == "What is the capital of France?"
    assert probe[0]["completion"] == "The capital of France is Paris."


@pytest.mark.parametrize("name", ["lora", "prompt_tuning"])  # prompt tuning prepends positions
def test_probe_loss_splits_the_answer_loss(name, tiny_model):
    from peft_course.compare import answer_loss, load_probe
    from peft_course.data import CompletionCollator, tokenize_dataset
    from peft_course.models import load_tokenizer

    tokenizer = load_tokenizer(str(tiny_model))
    examples = tokenize_dataset(load_probe(), tokenizer)
    base, path = load_base(METHODS[name], str(tiny_model))
    model, _ = build(METHODS[name], base, path)
    words, stop = answer_loss(model, examples, tokenizer.pad_token_id, batch_size=7)
    batch = CompletionCollator(tokenizer.pad_token_id)(list(examples))
    with torch.no_grad():
        overall = float(model(**batch).loss)  # mean over every answer token, one batch
    n_answer = int((batch["labels"][:, 1:] != -100).sum())
    n_stop = len(examples)  # one end-of-turn token per answer
    assert words != stop
    mixed = (words * (n_answer - n_stop) + stop * n_stop) / n_answer
    assert mixed == pytest.approx(overall, rel=1e-4)
