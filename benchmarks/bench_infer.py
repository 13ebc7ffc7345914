"""Sections 2 and 3 worker, run in a fresh process by run.py.

Inference: latency per generated token of the base model, the base with an unmerged LoRA adapter
and the merged model, repetitions interleaved (the order rotates) and the median reported.
Size: the adapter on disk against the base model's safetensors.

Usage: python benchmarks/bench_infer.py --out result.json [options]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

from common import add_lora, load_base, median, quiet, random_batch, write_json

from peft_course.models import resolve_model


def _adapter(base, model_arg):
    """The course's shipped extract adapter on the course model, else a random q,v r=8 LoRA."""
    from peft_course.course import repo_path
    from peft_course.models import DEFAULT_MODEL

    shipped = repo_path("adapters", "extract")
    if model_arg in (None, DEFAULT_MODEL) and (shipped / "adapter_config.json").is_file():
        from peft import PeftModel

        return PeftModel.from_pretrained(base, str(shipped)), "adapters/extract (q,v r=8)"
    import torch

    model = add_lora(base, "peft", ["q_proj", "v_proj"], 8, init_lora_weights=False)
    with torch.no_grad():  # non-zero B, so merging changes the weights as a trained adapter would
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.02)
    return model, "random q,v r=8"


def _per_token(model, ids, new_tokens, device) -> float:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    with torch.no_grad():
        out = model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
            min_new_tokens=new_tokens, do_sample=False, pad_token_id=0,
        )
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    assert out.shape[1] - ids.shape[1] == new_tokens
    return (time.perf_counter() - t0) / new_tokens


def _file_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.glob("*.safetensors"))


def run(args) -> dict:
    import torch

    from peft_course.device import get_device, set_seed

    device = get_device()
    set_seed(0)
    base, _ = load_base(args.model)
    base.eval()
    adapted, source = _adapter(copy.deepcopy(base), args.model)
    adapted.eval()
    merged = copy.deepcopy(adapted).merge_and_unload()
    merged.eval()
    models = {"base": base, "adapter": adapted, "merged": merged}
    ids = random_batch(base.config.vocab_size, 1, args.prompt_tokens, device, seed=2)
    with torch.no_grad():
        la, lm = adapted(input_ids=ids).logits, merged(input_ids=ids).logits
    merge_diff = float((la - lm).abs().max())
    names = list(models)
    for name in names:  # warm-up: first calls allocate caches and pick kernels
        _per_token(models[name], ids, 2, device)
    latency = {name: [] for name in names}
    for rep in range(args.reps):
        order = names[rep % 3:] + names[: rep % 3]  # rotate who goes first
        for name in order:
            latency[name].append(_per_token(models[name], ids, args.new_tokens, device))
        print(f"    rep {rep + 1}/{args.reps}: "
              + ", ".join(f"{n} {latency[n][-1] * 1e3:.1f} ms/token" for n in names), flush=True)
    med = {name: median(v) for name, v in latency.items()}
    with tempfile.TemporaryDirectory() as tmp:
        adapted.save_pretrained(tmp)
        adapter_bytes = _file_bytes(Path(tmp))
    base_dir = Path(resolve_model(args.model)[0])  # name_or_path is the hub id
    return {
        "adapter_source": source,
        "prompt_tokens": args.prompt_tokens,
        "new_tokens": args.new_tokens,
        "reps": args.reps,
        "seconds_per_token": med,
        "seconds_per_token_all": latency,
        "ratio_merged_vs_base": med["merged"] / med["base"],
        "ratio_adapter_vs_base": med["adapter"] / med["base"],
        "merged_vs_adapter_logits_max_abs_diff": merge_diff,
        "adapter_file_bytes": adapter_bytes,
        "base_file_bytes": _file_bytes(base_dir) if base_dir.is_dir() else None,
        "base_param_bytes": sum(p.numel() * p.element_size() for p in base.parameters()),
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="model folder or name (default: course model)")
    p.add_argument("--prompt-tokens", type=int, default=32)
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    quiet()
    write_json(args.out, run(args))


if __name__ == "__main__":
    main()
