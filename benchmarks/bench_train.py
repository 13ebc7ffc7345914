"""Section 1 workers, each run in a fresh process by run.py.

``train``: one training configuration (peak memory, optimizer state, step time).
``parity``: the scratch LoRA of notebook 02 against PEFT's, in one process (logits, step time).

Usage: python benchmarks/bench_train.py train --config lora_qv --out result.json [options]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import time

from common import TRAIN_CONFIGS, add_lora, load_base, median, quiet, random_batch, write_json


def _sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _autocast(device):
    import torch

    # GPU: fp32 weights with bf16/fp16 autocast (what Trainer's bf16=True does); CPU: plain fp32
    if device.type == "cuda":
        from peft_course.device import get_dtype

        return torch.autocast("cuda", dtype=get_dtype(device))
    return contextlib.nullcontext()


def _step(model, optimizer, ids, device):
    """One optimizer step on (batch, seq) token ids; returns (seconds, loss)."""
    _sync(device)
    t0 = time.perf_counter()
    with _autocast(device):
        loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    _sync(device)
    return time.perf_counter() - t0, float(loss)


def _missing_grads(model, ids, device) -> int:
    """Trainable tensors that get no gradient (the 4-bit CPU trap leaves every LoRA grad None)."""
    with _autocast(device):
        model(input_ids=ids, labels=ids).loss.backward()
    missing = sum(1 for p in model.parameters() if p.requires_grad and p.grad is None)
    model.zero_grad(set_to_none=True)
    return missing


def run_train(args) -> dict:
    import torch
    from measure import optimizer_state_bytes, peak_memory_bytes, reset_peak_memory

    from peft_course.device import get_device, set_seed

    cfg = TRAIN_CONFIGS[args.config]
    device = get_device()
    set_seed(0)
    model, applied = load_base(args.model, cfg.get("quant"))
    if not applied:
        return {"config": args.config, "skipped": f"{cfg['quant']} not available on {device.type}"}
    footprint = model.get_memory_footprint()
    total = sum(p.numel() for p in model.parameters())
    if cfg["lora"]:
        model = add_lora(model, cfg["lora"], cfg["targets"], cfg["r"])
    model.train()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    ids = random_batch(model.config.vocab_size, args.batch, args.seq, device)
    missing = _missing_grads(model, ids, device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    reset_peak_memory(device)
    times, losses = [], []
    for i in range(args.warmup + args.steps):
        seconds, loss = _step(model, optimizer, ids, device)
        losses.append(loss)
        if i >= args.warmup:
            times.append(seconds)
    peak, kind = peak_memory_bytes(device)
    return {
        "config": args.config,
        "label": cfg["label"],
        "peak_bytes": peak,
        "peak_kind": kind,
        "optimizer_state_bytes": optimizer_state_bytes(optimizer),
        "step_seconds": median(times),
        "step_seconds_all": times,
        "trainable": trainable,
        "total_params": total,
        "base_footprint_bytes": footprint,
        "trainable_without_grad": missing,
        "losses": losses,
    }


def _lora_pairs(peft_model, scratch_model):
    """(PEFT LoRA layer, scratch LoRA layer) pairs, matched by module name."""
    from peft.tuners.lora import LoraLayer

    from peft_course.lora import LoraLinear

    scratch = {n: m for n, m in scratch_model.named_modules() if isinstance(m, LoraLinear)}
    pairs = []
    for name, module in peft_model.base_model.model.named_modules():
        if isinstance(module, LoraLayer):
            pairs.append((module, scratch[name]))
    if len(pairs) != len(scratch) or not pairs:
        raise RuntimeError(f"LoRA layers do not match: {len(pairs)} PEFT vs {len(scratch)} scratch")
    return pairs


def _copy_into(dst, src):
    """Copy a PEFT weight into a scratch nn.Linear or bare Parameter (either layout)."""
    dst = dst.weight if hasattr(dst, "weight") else dst
    dst.copy_(src if dst.shape == src.shape else src.T)


def run_parity(args) -> dict:
    """Same random non-zero LoRA weights in both; compare logits, then alternate train steps."""
    import torch

    from peft_course.device import get_device, set_seed

    device = get_device()
    set_seed(0)
    base, _ = load_base(args.model)
    scratch_model = add_lora(copy.deepcopy(base), "scratch", ["q_proj", "v_proj"], 8)
    peft_model = add_lora(base, "peft", ["q_proj", "v_proj"], 8, init_lora_weights=False)
    with torch.no_grad():
        for theirs, ours in _lora_pairs(peft_model, scratch_model):
            _copy_into(ours.lora_A, theirs.lora_A["default"].weight)
            # B = 0 at init would hide a wrong scaling or layout: use random non-zero B
            _copy_into(ours.lora_B, theirs.lora_B["default"].weight.normal_(0, 0.02))
    ids = random_batch(base.config.vocab_size, args.batch, args.seq, device, seed=1)
    models = {"peft": peft_model, "scratch": scratch_model}
    logits = {}
    with torch.no_grad():
        for name, model in models.items():
            model.eval()
            logits[name] = model(input_ids=ids).logits.float()
    diff = float((logits["peft"] - logits["scratch"]).abs().max())
    scale = float(logits["peft"].abs().max())
    trainable = {
        k: sum(p.numel() for p in m.parameters() if p.requires_grad) for k, m in models.items()
    }
    opts = {}
    for name, model in models.items():
        model.train()
        opts[name] = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    times = {"peft": [], "scratch": []}
    for i in range(args.warmup + args.steps):
        order = ["peft", "scratch"] if i % 2 == 0 else ["scratch", "peft"]  # alternate who goes first
        for name in order:
            seconds, _ = _step(models[name], opts[name], ids, device)
            if i >= args.warmup:
                times[name].append(seconds)
    return {
        "logits_max_abs_diff": diff,
        "logits_max_abs": scale,
        "trainable": trainable,
        "step_seconds": {k: median(v) for k, v in times.items()},
        "step_seconds_all": times,
        "step_ratio_scratch_vs_peft": median(times["scratch"]) / median(times["peft"]),
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("task", choices=["train", "parity"])
    p.add_argument("--config", choices=list(TRAIN_CONFIGS))
    p.add_argument("--model", default=None, help="model folder or name (default: course model)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--steps", type=int, default=4, help="timed steps")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    quiet()
    result = run_train(args) if args.task == "train" else run_parity(args)
    write_json(args.out, result)


if __name__ == "__main__":
    main()
