"""Shared fixtures: the embedded model and tokenizer, loaded once per test session, and a tiny
random Llama saved with the course tokenizer (plumbing tests, not quality).

The notebook lane's blank notebooks (test_notebooks.py) are autograded in the background from the
start of the session (`python -m peft_course.grading check --blank`, two one-thread kernels at a
time on two cores), while the other slow tests run beside them on one thread each; their tests
come last among tests/ and wait for it, and the solutions (nbval) run after them on every thread.
"""

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

BLANK_TEST = "test_blank_notebook_earns_zero"
BLANK_RUN = pytest.StashKey[dict]()


def pytest_collection_modifyitems(config, items):
    """The blank notebooks' tests go last among tests/ (before any solution notebook), so the
    other slow tests overlap their background run."""
    blank = [item for item in items if getattr(item, "originalname", "") == BLANK_TEST]
    if not blank:
        return
    rest = [item for item in items if item not in blank]
    at = next((i for i, it in enumerate(rest) if it.nodeid.startswith("solutions/")), len(rest))
    items[:] = rest[:at] + blank + rest[at:]


def pytest_collection_finish(session):
    """Start the blank autograde in the background when this run checks it; meanwhile this
    process and what it starts use one thread (`blank_autograde` restores the rest)."""
    if not any(getattr(item, "originalname", "") == BLANK_TEST for item in session.items):
        return
    import torch

    from peft_course.grading.course_check import ONE_THREAD

    environ = pytest.MonkeyPatch()  # undone by blank_autograde
    for key, value in ONE_THREAD.items():
        environ.setenv(key, value)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="peft-course-blank-"))
    log = open(work / "check.log", "w")  # noqa: SIM115 - closed by blank_autograde
    root = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "peft_course.grading", "check", "--blank", "--root", str(root),
           "--work", str(work / "course"), "--json", str(work / "result.json")]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    session.config.stash[BLANK_RUN] = {
        "proc": proc, "work": work, "log": log, "environ": environ, "threads": threads,
    }  # fmt: skip


@pytest.fixture(scope="session")
def blank_autograde(request) -> dict:
    """The background blank autograde's result (`check --blank --json`), once it has finished;
    the threads of this process and of what it starts are restored first."""
    run = request.config.stash[BLANK_RUN]
    if "result" not in run:
        code = run["proc"].wait()
        run["log"].close()
        import torch

        torch.set_num_threads(run["threads"])
        run["environ"].undo()
        out = run["work"] / "result.json"
        if not out.is_file():
            tail = (run["work"] / "check.log").read_text()[-4000:]
            raise RuntimeError(f"the blank autograde failed (exit {code}):\n{tail}")
        run["result"] = json.loads(out.read_text())
    return run["result"]


def pytest_unconfigure(config):
    run = config.stash.get(BLANK_RUN, None)
    if run is not None:
        if run["proc"].poll() is None:
            run["proc"].kill()
        shutil.rmtree(run["work"], ignore_errors=True)


@pytest.fixture(scope="session")
def tokenizer():
    from peft_course.models import load_tokenizer

    return load_tokenizer()


@pytest.fixture(scope="session")
def model():
    from peft_course.models import load_model

    return load_model()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from peft_course.models import prepare_default_model

    folder = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = AutoTokenizer.from_pretrained(prepare_default_model())
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)  # safetensors
    tokenizer.save_pretrained(folder)
    return folder
