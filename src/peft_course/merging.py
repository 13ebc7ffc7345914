"""Merging an adapter for deployment: the reference for notebook 07's first exercise."""

from __future__ import annotations

import torch


def merge_for_serving(peft_model, dtype: torch.dtype | None = None):
    """The plain transformers model that computes what ``peft_model`` computes with its active
    adapter: the update folded into each ``base_layer`` weight and the PEFT layers removed.

    ``safe_merge=True`` merges into a copy first and raises ``ValueError`` (base weights untouched)
    when a merged weight would not be finite. With ``dtype`` the merge happens in the precision the
    weights are in (fp32 for the course's base) and the merged model is cast once afterwards, so
    each weight is rounded once rather than twice. Introduced in 07_merging (Exercise 1).
    """
    merged = peft_model.merge_and_unload(safe_merge=True)
    return merged if dtype is None else merged.to(dtype)
