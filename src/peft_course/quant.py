"""4-bit quantisation by hand: the NF4 round trip and LoftQ's starting point for LoRA.

The references for notebook 09's exercises: a learner who is stuck imports these and runs the
notebook to its end. Introduced in 09_qlora_methods.
"""

from __future__ import annotations

import torch


def nf4_roundtrip(weight: torch.Tensor, levels: torch.Tensor, blocksize: int = 64) -> torch.Tensor:
    """``weight`` quantised to the 16 ``levels`` (NF4: ``bitsandbytes.functional.get_4bit_type``)
    block by block and back: each block of ``blocksize`` consecutive values is divided by its
    largest absolute value, each value replaced by its nearest level, then scaled back.
    Introduced in 09_qlora_methods."""
    blocks = weight.detach().float().reshape(-1, blocksize)  # (n_blocks, blocksize)
    absmax = blocks.abs().amax(dim=1, keepdim=True)  # (n_blocks, 1)
    nearest = (blocks / absmax).unsqueeze(-1).sub(levels).abs().argmin(dim=-1)
    return (levels[nearest] * absmax).reshape(weight.shape)


def loftq_factors(weight: torch.Tensor, dequantized: torch.Tensor, r: int, scaling: float):
    """(lora_A (r, d_in), lora_B (d_out, r)) with ``scaling * lora_B @ lora_A`` the best rank-r
    approximation (truncated SVD) of the quantisation error ``weight - dequantized``: one step of
    LoftQ (Li et al., 2023). Introduced in 09_qlora_methods."""
    residual = (weight.float() - dequantized.float()) / scaling  # (d_out, d_in)
    U, S, Vh = torch.linalg.svd(residual, full_matrices=False)
    root = S[:r].sqrt()
    return root[:, None] * Vh[:r], U[:, :r] * root  # A: (r, d_in), B: (d_out, r)
