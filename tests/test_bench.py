"""The benchmarks (benchmarks/run.py, `make bench`) on a tiny random Llama, so they cannot rot.

The end-to-end run starts eight fresh Python processes (one per measurement, as the real
benchmark does): about 70 s of CPU on 2 cores, so those tests are marked slow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A 2-layer random Llama with GQA (k/v narrower than q, like SmolLM2), saved as safetensors."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny-llama")
    config = LlamaConfig(
        vocab_size=256,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def bench_run(tiny_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    readme = out / "README.md"
    readme.write_text(
        "# Benchmarks\n\nIntro kept.\n\n<!-- bench:start -->\nold\n<!-- bench:end -->\n"
    )
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "run.py"),
        "--model",
        str(tiny_model),
        "--rounds",
        "1",
        "--steps",
        "2",
        "--warmup",
        "1",
        "--batch",
        "2",
        "--seq",
        "16",
        "--prompt-tokens",
        "8",
        "--new-tokens",
        "4",
        "--reps",
        "2",
        "--results-dir",
        str(out / "results"),
        "--readme",
        str(readme),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PEFT_COURSE_DEVICE": "cpu"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    return proc, out


@pytest.mark.slow
def test_bench_runs_and_writes_results(bench_run):
    proc, out = bench_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "train round 1/1" in proc.stdout  # progress output
    for ext in ("json", "md", "png"):
        assert (out / "results" / f"cpu.{ext}").stat().st_size > 0
    readme = (out / "README.md").read_text()
    assert "Intro kept." in readme and "old" not in readme and "| LoRA q,v r=8 |" in readme


@pytest.mark.slow
def test_bench_results_are_consistent(bench_run):
    proc, out = bench_run
    results = json.loads((out / "results" / "cpu.json").read_text())
    configs = results["train"]["configs"]
    from common import TRAIN_CONFIGS

    assert set(configs) == set(TRAIN_CONFIGS)
    full = configs["full"]
    for name, c in configs.items():
        if "skipped" in c:  # only quantisation may be unavailable (no usable bitsandbytes)
            assert name.endswith(("8bit", "4bit")), (name, c)
            continue
        assert c["peak_bytes"] > 0 and c["step_seconds"] > 0
        assert c["trainable_without_grad"] == 0, name  # the 4-bit CPU trap would show here
        if name != "full":
            assert c["trainable"] < full["trainable"]
            assert c["optimizer_state_bytes"] < full["optimizer_state_bytes"]
    # AdamW keeps two fp32 moments per trainable parameter (+ a step counter per tensor)
    assert full["optimizer_state_bytes"] >= 8 * full["trainable"]
    # q,v r=8 on the GQA model: 2 layers x 8 x [(64 + 64) + (64 + 32)]
    assert configs["lora_qv"]["trainable"] == 2 * 8 * ((64 + 64) + (64 + 32))
    assert configs["scratch_qv"]["trainable"] == configs["lora_qv"]["trainable"]
    parity = results["train"]["parity"]
    assert parity["logits_max_abs_diff"] <= 1e-5
    assert parity["trainable"]["scratch"] == parity["trainable"]["peft"]
    inf = results["inference"]
    assert inf["merged_vs_adapter_logits_max_abs_diff"] < 1e-4
    assert 0 < inf["adapter_file_bytes"] < inf["base_file_bytes"]
    assert results["course"]["measured"] is False


@pytest.mark.slow
def test_every_goal_has_goal_value_met(bench_run):
    _, out = bench_run
    results = json.loads((out / "results" / "cpu.json").read_text())
    from report import all_goals

    goals = all_goals(results)
    assert len(goals) == 6
    for key, g in goals.items():
        assert {"goal", "value", "met"} <= set(g), key
        if g["value"] is None:
            assert g["met"] is None, key  # never a verdict without a measurement
        else:
            limit = float(g["goal"].split("<=")[1])
            assert g["met"] == (g["value"] <= limit), key
    assert goals["course.total_seconds"]["value"] is None


def test_goal_and_readme_helpers(tmp_path):
    from report import goal, update_readme

    assert goal(0.5, 0.6, "x")["met"] is True
    assert goal(0.7, 0.6, "x")["met"] is False
    assert goal(None, 0.6, "x")["met"] is None
    readme = tmp_path / "README.md"
    update_readme(readme, "| a |\n", "cpu")
    update_readme(readme, "| b |\n", "cpu")
    text = readme.read_text()
    assert "| b |" in text and "| a |" not in text and text.count("bench:start") == 1


def test_course_section_times_each_notebook(tmp_path):
    import nbformat
    from course_time import run_course

    folder = tmp_path / "solutions" / "00_tiny"
    folder.mkdir(parents=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('Headline: 42')")])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, folder / "00_tiny.ipynb")
    course = run_course(progress=lambda _: None, root=tmp_path)
    assert course["measured"] and course["all_ok"]
    [row] = course["notebooks"]
    assert row["name"] == "00_tiny" and row["headline"] == "42" and row["seconds"] > 0
    assert course["total_seconds"] == row["seconds"]
    assert run_course(root=tmp_path / "empty")["measured"] is False
