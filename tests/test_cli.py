"""`train-lora`: bad input exits 2 and writes nothing; runs write a loadable, complete folder;
a SIGKILLed run resumes without losing or repeating a step; two processes train with DDP.

The model tests use a tiny random Llama (hidden 64, 2 layers) saved as safetensors with the
course tokenizer, so they check plumbing, not quality (the real-model runs are in
docs/train_lora.md)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from peft_course.cli import main
from peft_course.cli.args import parse
from peft_course.cli.data import read_jsonl
from peft_course.cli.output import latest_checkpoint
from peft_course.data import tokenize_rows
from peft_course.presets import PRESETS
from peft_course.train import TARGET_SETS, TrainConfig, training_arguments

REPO = Path(__file__).resolve().parents[1]
TRAIN = REPO / "data" / "extract" / "train.jsonl"


@pytest.fixture
def data(tmp_path) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text("".join(TRAIN.read_text().splitlines(keepends=True)[:24]))
    return path


def call(argv: list[str], capsys) -> tuple[int, str]:
    """Run `train-lora` in this process: (exit code, stderr)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as stop:
        code = stop.code
    return code, capsys.readouterr().err


def assert_rejected(argv, capsys, tmp_path, *phrases):
    """Exit 2, a message with every phrase, and nothing new written under tmp_path."""
    before = sorted(tmp_path.rglob("*"))
    code, err = call(argv, capsys)
    assert code == 2, err
    for phrase in phrases:
        assert phrase in err, f"{phrase!r} not in {err!r}"
    assert sorted(tmp_path.rglob("*")) == before


# --- bad input: validated before the model loads ---------------------------------------------


def test_missing_file(tmp_path, capsys):
    assert_rejected(
        ["--data", tmp_path / "nope.jsonl", "--output", tmp_path / "out"],
        capsys,
        tmp_path,
        "nope.jsonl: file not found",
    )


def test_empty_file(tmp_path, capsys):
    (tmp_path / "empty.jsonl").write_text("\n\n")
    assert_rejected(
        ["--data", tmp_path / "empty.jsonl", "--output", tmp_path / "out"],
        capsys,
        tmp_path,
        "the file is empty",
        "one example per line",
    )


def test_malformed_line_named(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a"}\n{"text": "b"}\n{"text": "c",\n')
    assert_rejected(
        ["--data", bad, "--output", tmp_path / "out"],
        capsys,
        tmp_path,
        "line 3 is not valid JSON",
        "Fix or delete that line",
    )


def test_unknown_row_shape(tmp_path, capsys):
    bad = tmp_path / "odd.jsonl"
    bad.write_text('{"question": "q", "answer": "a"}\n')
    assert_rejected(
        ["--data", bad, "--output", tmp_path / "out"],
        capsys,
        tmp_path,
        "unknown shape (keys: answer, question)",
        '{"prompt": "...", "completion"',
    )


def test_mixed_rows_named(tmp_path, capsys):
    bad = tmp_path / "mixed.jsonl"
    bad.write_text('{"prompt": "p", "completion": "c"}\n{"text": "t"}\n')
    assert_rejected(
        ["--data", bad, "--output", tmp_path / "out"],
        capsys,
        tmp_path,
        "row 2 does not have the prompt-completion shape",
    )


@pytest.mark.parametrize(
    ("flag", "value", "phrase"),
    [
        ("--lora-r", "0", "r (--lora-r) must be a positive integer"),
        ("--lora-r", "-4", "r (--lora-r) must be a positive integer"),
        ("--lora-alpha", "0", "lora_alpha (--lora-alpha) must be > 0"),
        ("--lora-alpha", "-16", "lora_alpha (--lora-alpha) must be > 0"),
        ("--lora-dropout", "1.0", "lora_dropout (--lora-dropout) must be in [0, 1)"),
        ("--lora-dropout", "-0.1", "lora_dropout (--lora-dropout) must be in [0, 1)"),
        ("--learning-rate", "0", "learning_rate (--learning-rate) must be > 0"),
        ("--batch-size", "0", "per_device_train_batch_size (--batch-size) must be >= 1"),
        ("--val-split", "1.5", "--val-split must be in [0, 1)"),
        ("--target-modules", ",", "target_modules (--target-modules) is empty"),
        ("--preset", "fast", "unknown preset 'fast'"),
    ],
)
def test_bad_numbers(flag, value, phrase, data, tmp_path, capsys):
    assert_rejected(
        ["--data", data, "--output", tmp_path / "out", flag, value], capsys, tmp_path, phrase
    )


def test_output_exists(data, tmp_path, capsys):
    (tmp_path / "out").mkdir()
    assert_rejected(
        ["--data", data, "--output", tmp_path / "out"],
        capsys,
        tmp_path,
        "already exists",
        "--overwrite",
    )


def test_interrupted_run_needs_resume_or_overwrite(data, tmp_path, capsys):
    (tmp_path / "out.partial").mkdir()
    assert_rejected(
        ["--data", data, "--output", tmp_path / "out"],
        capsys,
        tmp_path,
        "interrupted run",
        "--resume",
    )
    assert_rejected(
        ["--data", data, "--output", tmp_path / "other", "--resume"],
        capsys,
        tmp_path,
        "no interrupted run",
    )


def test_hub_name_offline(data, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert_rejected(
        ["--data", data, "--output", tmp_path / "out", "--model", "someone/not-a-cached-model"],
        capsys,
        tmp_path,
        "HF_HUB_OFFLINE=1",
        "leave --model out",
    )


def test_missing_target_module_lists_the_real_ones(tiny_model, data, tmp_path, capsys):
    assert_rejected(
        [
            "--data",
            data,
            "--output",
            tmp_path / "out",
            "--model",
            tiny_model,
            "--target-modules",
            "q_proj,query_key_value",
        ],
        capsys,
        tmp_path,
        "no module named query_key_value",
        "It has: ",
        "k_proj",
        "gate_proj",
    )


def test_max_length_shorter_than_every_example(tiny_model, data, tmp_path, capsys):
    assert_rejected(
        ["--data", data, "--output", tmp_path / "out", "--model", tiny_model, "--max-length", "16"],
        capsys,
        tmp_path,
        "--max-length 16 is shorter than every example",
        "use --max-length",
    )


# --- settings and formats ----------------------------------------------------------------------


def test_presets_then_explicit_flags():
    args = parse(
        [
            "--data",
            "d",
            "--output",
            "o",
            "--preset",
            "style,low-memory",
            "--lora-r",
            "4",
            "--batch-size",
            "2",
        ]
    )
    cfg = args.train
    assert (cfg.r, cfg.learning_rate, cfg.target_modules) == (4, 3e-3, TARGET_SETS["attention"])
    assert (cfg.per_device_train_batch_size, cfg.gradient_accumulation_steps) == (2, 8)
    assert cfg.activation_checkpointing is True and args.model.load_in_4bit is True
    assert parse(["--data", "d", "--output", "o"]).train == TrainConfig()  # the one set of defaults


def test_seed_guide_flags_reach_peft_and_transformers_unrenamed():
    args = parse(
        [
            "--model",
            "m",
            "--data",
            "d",
            "--lora-r",
            "16",
            "--lora-alpha",
            "32",
            "--lora-dropout",
            "0.1",
            "--epochs",
            "3",
            "--batch-size",
            "2",
            "--gradient-accumulation-steps",
            "4",
            "--learning-rate",
            "2e-4",
            "--output",
            "o",
        ]
    )
    lora = args.train.lora_config()
    assert (lora.r, lora.lora_alpha, lora.lora_dropout) == (16, 32, 0.1)
    targs = training_arguments(args.train, "unused", has_eval=False)
    assert (targs.num_train_epochs, targs.per_device_train_batch_size) == (3, 2)
    assert (targs.gradient_accumulation_steps, targs.learning_rate) == (4, 2e-4)
    assert (args.model.model, args.data.data, args.output.output) == ("m", "d", "o")


def test_every_shipped_preset_parses_and_a_typo_is_refused(data, tmp_path, capsys, monkeypatch):
    for name in PRESETS:
        parse(["--data", "d", "--output", "o", "--preset", name])
    monkeypatch.setitem(PRESETS, "style", {**PRESETS["style"], "lr": 1e-3})  # a typo'd key
    assert_rejected(
        ["--data", data, "--output", tmp_path / "out", "--preset", "chat"],
        capsys,
        tmp_path,
        "preset 'style' has unknown setting(s) lr",
        "learning_rate",
        "valid settings are",
    )


def test_data_in_another_encoding_is_named(tmp_path, capsys):
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes(
        '{"prompt": "a", "completion": "b"}\n{"prompt": "caf\u00e9", "completion": "ok"}\n'.encode(
            "latin-1"
        )
    )
    assert_rejected(
        ["--data", bad, "--output", tmp_path / "out"],
        capsys,
        tmp_path,
        "line 2 is not UTF-8 text (byte 0xe9",
        "Save the file as UTF-8",
        "iconv",
    )
    with_bom = tmp_path / "bom.jsonl"
    with_bom.write_bytes(b"\xef\xbb\xbf" + b'{"text": "ok"}\n')
    assert read_jsonl(with_bom) == [{"text": "ok"}]


def test_formats_mask_the_prompt(tiny_model, tmp_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    chat = tmp_path / "chat.jsonl"
    chat.write_text(
        json.dumps(
            {
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello"},
                    {"role": "user", "content": "Capital of Peru?"},
                    {"role": "assistant", "content": "Lima"},
                ]
            }
        )
        + "\n"
    )
    ds = tokenize_rows(read_jsonl(chat), "messages", tokenizer, 256)
    learned = [t for t, lab in zip(ds[0]["input_ids"], ds[0]["labels"], strict=True) if lab != -100]
    assert tokenizer.decode(learned) == "Lima<|im_end|>"  # only the last assistant turn
    text = tokenize_rows([{"text": "plain words"}], "text", tokenizer, 256)
    assert text[0]["labels"] == text[0]["input_ids"]  # language modelling: every token


# --- runs with the tiny model -----------------------------------------------------------------

COMMON = [
    "--batch-size",
    "2",
    "--max-steps",
    "16",
    "--lora-dropout",
    "0",
    "--learning-rate",
    "1e-2",
    "--save-steps",
    "4",
    "--logging-steps",
    "1",
    "--metric-rows",
    "2",
]


def cli(*args) -> list[str]:
    return [sys.executable, "-m", "peft_course.cli", *map(str, args)]


def env() -> dict:
    return {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PEFT_COURSE_DEVICE": "cpu",
        "CUDA_VISIBLE_DEVICES": "",
    }


def test_8bit_unavailable_warns_and_falls_back(tiny_model, data, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # as if it could not be imported
    monkeypatch.setenv("PEFT_COURSE_DEVICE", "cpu")
    out = tmp_path / "out"
    code, err = call(
        [
            "--data",
            data,
            "--output",
            out,
            "--model",
            tiny_model,
            "--load-in-8bit",
            "--max-steps",
            "2",
            "--batch-size",
            "2",
            "--metric-rows",
            "0",
        ],
        capsys,
    )
    assert code == 0, err
    assert "warning: 8-bit loading is unavailable" in err and "Falling back" in err
    info = json.loads((out / "training_info.json").read_text())
    assert info["model"]["load_in_8bit"] is False and info["model"]["quantization_warning"]
    assert info["steps"] == 2


@pytest.mark.slow
def test_killed_run_resumes_without_losing_or_repeating_a_step(tiny_model, data, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = ["--data", data, "--val-split", "0.25", "--model", tiny_model, *COMMON]
    ref = subprocess.run(
        cli(*base, "--output", tmp_path / "ref"), env=env(), capture_output=True, text=True
    )
    assert ref.returncode == 0, ref.stderr[-2000:]
    ref_info = json.loads((tmp_path / "ref" / "training_info.json").read_text())

    out = tmp_path / "run"
    proc = subprocess.Popen(
        cli(*base, "--output", out), env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    checkpoints = tmp_path / "run.partial" / "checkpoints"
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        found = latest_checkpoint(checkpoints) if checkpoints.is_dir() else None
        if found is not None and int(found.name.split("-")[1]) >= 8:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    assert not out.exists()  # an interrupted run never looks finished

    resumed = subprocess.run(
        cli(*base, "--output", out, "--resume"), env=env(), capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from" in resumed.stderr
    assert not (tmp_path / "run.partial").exists()
    info = json.loads((out / "training_info.json").read_text())
    assert info["resumed_from"] and int(info["resumed_from"].rsplit("-", 1)[1]) >= 8
    steps = [s for s, _ in info["loss_history"]]
    assert steps == list(range(1, 17)) and info["steps"] == 16
    # the same losses as the uninterrupted run: data order, RNG and optimizer state restored
    for (_, a), (_, b) in zip(info["loss_history"], ref_info["loss_history"], strict=True):
        assert a == pytest.approx(b, rel=1e-4)
    assert info["final_validation_loss"] == pytest.approx(
        ref_info["final_validation_loss"], rel=1e-4
    )

    names = {p.name for p in out.iterdir()}
    assert {
        "adapter_config.json",
        "adapter_model.safetensors",
        "tokenizer.json",
        "training_info.json",
        "loss_curve.png",
    } <= names
    assert info["data"]["train"]["sha256"] and info["data"]["train"]["rows"] == 18
    assert info["trainable_parameters"] == 2 * (2 * 8 * (64 + 64) + 2 * 8 * (64 + 32))
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), out)
    assert sum("lora_A" in n for n, _ in model.named_parameters()) == 8


@pytest.mark.slow
def test_two_processes_train_one_output(tiny_model, data, tmp_path):
    out = tmp_path / "ddp"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "peft_course.cli",
        "--data",
        str(data),
        "--model",
        str(tiny_model),
        "--output",
        str(out),
        *COMMON,
    ]
    done = subprocess.run(command, env=env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp", "train.jsonl"]
    info = json.loads((out / "training_info.json").read_text())
    assert info["device"]["world_size"] == 2 and info["steps"] == 16
    losses = [loss for _, loss in info["loss_history"]]
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4  # falling


@pytest.mark.slow
def test_pissa_saved_as_plain_lora_for_the_untouched_base(
    tiny_model, data, tmp_path, capsys, monkeypatch
):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    monkeypatch.setenv("PEFT_COURSE_DEVICE", "cpu")
    out = tmp_path / "pissa"
    code, err = call(
        [
            "--data",
            data,
            "--output",
            out,
            "--model",
            tiny_model,
            "--max-steps",
            "3",
            "--batch-size",
            "2",
            "--init-lora-weights",
            "pissa",
            "--lora-r",
            "4",
            "--target-modules",
            "minimal",
            "--metric-rows",
            "0",
        ],
        capsys,
    )
    assert code == 0, err
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["r"] == 8 and config["init_lora_weights"] is True  # rank 2r, plain LoRA
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    ids = torch.tensor([[1, 2, 3, 4]])
    before = base(ids).logits
    model = PeftModel.from_pretrained(base, out)
    assert not torch.allclose(model(ids).logits, before)  # the trained change, on the base
    assert torch.equal(
        model.get_base_model().model.layers[0].self_attn.q_proj.base_layer.weight,
        AutoModelForCausalLM.from_pretrained(tiny_model).model.layers[0].self_attn.q_proj.weight,
    )  # loading did not re-run the decomposition
