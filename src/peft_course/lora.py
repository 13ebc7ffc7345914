"""LoRA from scratch: a wrapper for linear layers, injection by module name, parameter counts."""

from __future__ import annotations

import math

import torch
from torch import nn


def _is_conv1d(module: nn.Module) -> bool:
    """True for transformers' ``Conv1D`` (GPT-2): a linear layer storing its weight as (d_in, d_out)."""
    try:
        from transformers.pytorch_utils import Conv1D
    except ImportError:  # transformers is optional for this module
        return False
    return isinstance(module, Conv1D)


class LoraLinear(nn.Module):
    """A frozen linear layer plus a trainable low-rank update: ``h = W0 x + scaling * B A x``.

    Args:
        base_layer: the layer to adapt, ``nn.Linear`` (weight of shape (d_out, d_in)) or, with
            ``fan_in_fan_out=True``, GPT-2's ``Conv1D`` (weight of shape (d_in, d_out)).
        r: rank of the update.
        lora_alpha: the update is scaled by ``scaling = lora_alpha / r``.
        lora_dropout: dropout probability on the input of the LoRA path (0 disables it).
        fan_in_fan_out: True when the base weight is stored transposed, as (d_in, d_out).

    ``lora_A`` (d_in -> r) starts Kaiming-uniform like PEFT, ``lora_B`` (r -> d_out) starts at zero,
    so the wrapped layer initially computes exactly what ``base_layer`` computes.

    Introduced in 02_lora_from_scratch.
    """

    def __init__(
        self,
        base_layer: nn.Module,
        r: int,
        lora_alpha: float,
        lora_dropout: float = 0.0,
        fan_in_fan_out: bool = False,
    ):
        super().__init__()
        if r <= 0:
            raise ValueError(f"r must be a positive integer, got {r}")
        weight = base_layer.weight
        d_in, d_out = weight.shape if fan_in_fan_out else weight.shape[::-1]
        self.base_layer = base_layer
        self.r = r
        self.lora_alpha = lora_alpha
        self.scaling = lora_alpha / r
        self.fan_in_fan_out = fan_in_fan_out
        self.lora_dropout = nn.Dropout(lora_dropout) if lora_dropout > 0 else nn.Identity()
        self.lora_A = nn.Linear(d_in, r, bias=False, device=weight.device, dtype=weight.dtype)
        self.lora_B = nn.Linear(r, d_out, bias=False, device=weight.device, dtype=weight.dtype)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))  # PEFT's default for A
        nn.init.zeros_(self.lora_B.weight)  # B = 0: the update starts at zero
        self.merged = False
        for param in self.base_layer.parameters():
            param.requires_grad = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., d_in) -> (..., d_out)."""
        result = self.base_layer(x)
        if self.merged:
            return result
        x = x.to(self.lora_A.weight.dtype)
        update = self.lora_B(self.lora_A(self.lora_dropout(x))) * self.scaling
        return result + update.to(result.dtype)

    def delta_weight(self) -> torch.Tensor:
        """``scaling * B @ A``, shaped like ``base_layer.weight`` ((d_out, d_in), or transposed)."""
        delta = self.scaling * (self.lora_B.weight @ self.lora_A.weight)  # (d_out, d_in)
        return delta.T if self.fan_in_fan_out else delta

    @torch.no_grad()
    def merge(self) -> None:
        """Add the update into the base weight; forward then skips the LoRA path."""
        if not self.merged:
            self.base_layer.weight += self.delta_weight().to(self.base_layer.weight.dtype)
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Subtract the update again (exact up to floating-point rounding)."""
        if self.merged:
            self.base_layer.weight -= self.delta_weight().to(self.base_layer.weight.dtype)
            self.merged = False

    def extra_repr(self) -> str:
        return f"r={self.r}, lora_alpha={self.lora_alpha}, fan_in_fan_out={self.fan_in_fan_out}"


def matches_target(name: str, target_modules) -> bool:
    """PEFT's rule for a list of names: the full name, or its last dotted part(s), equals a target.

    Introduced in 02_lora_from_scratch.
    """
    if isinstance(target_modules, str):
        target_modules = [target_modules]
    return any(name == t or name.endswith("." + t) for t in target_modules)


def inject_lora(
    model: nn.Module,
    target_modules,
    r: int,
    lora_alpha: float,
    lora_dropout: float = 0.0,
) -> list[str]:
    """Freeze ``model`` and wrap every matching linear layer in a ``LoraLinear``, in place.

    A module matches when its name equals a target or ends with ``"." + target`` (as in PEFT).
    ``nn.Linear`` and GPT-2's ``Conv1D`` (wrapped with ``fan_in_fan_out=True``) are supported.
    Afterwards only the ``lora_A`` and ``lora_B`` weights are trainable.

    Returns:
        The names of the wrapped modules.

    Introduced in 02_lora_from_scratch.
    """
    for param in model.parameters():
        param.requires_grad = False
    chosen = [
        (name, module)
        for name, module in model.named_modules()
        if matches_target(name, target_modules)
        and (isinstance(module, nn.Linear) or _is_conv1d(module))
    ]
    if not chosen:
        raise ValueError(f"No nn.Linear or Conv1D module matches target_modules={target_modules!r}")
    for name, module in chosen:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        wrapped = LoraLinear(module, r, lora_alpha, lora_dropout, fan_in_fan_out=_is_conv1d(module))
        setattr(parent, child, wrapped)
    return [name for name, _ in chosen]


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts; shared (tied) tensors are counted once.

    Introduced in 02_lora_from_scratch.
    """
    trainable = total = 0
    for param in model.parameters():  # parameters() yields a tied tensor once
        total += param.numel()
        if param.requires_grad:
            trainable += param.numel()
    return trainable, total
