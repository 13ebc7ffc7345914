"""peft_course.quant: the references of notebook 09's Exercises 1 and 2."""

from __future__ import annotations

import pytest
import torch

from peft_course.quant import loftq_factors, nf4_roundtrip


# rows a multiple of the block long, as in every course layer (576, 1536): on CPU, bitsandbytes
# 0.50.2 lays out the blocks of a 2-D tensor with shorter rows differently (e.g. (64, 96), 64)
@pytest.mark.parametrize("shape,blocksize", [((64, 192), 64), ((32, 256), 128)])
def test_nf4_roundtrip_is_bitsandbytes_value_for_value(shape, blocksize):
    bnbf = pytest.importorskip("bitsandbytes.functional")
    w = torch.randn(shape, generator=torch.Generator().manual_seed(0)) * 0.05
    packed, state = bnbf.quantize_4bit(w, blocksize=blocksize, quant_type="nf4")
    levels = bnbf.get_4bit_type("nf4", device="cpu").float()
    assert torch.equal(nf4_roundtrip(w, levels, blocksize), bnbf.dequantize_4bit(packed, state))


def test_loftq_factors_leave_only_the_discarded_singular_values():
    g = torch.Generator().manual_seed(1)
    w, deq = torch.randn(30, 20, generator=g), torch.randn(30, 20, generator=g)
    A, B = loftq_factors(w, deq, r=4, scaling=2.0)
    assert A.shape == (4, 20) and B.shape == (30, 4)
    left = (w - deq - 2.0 * B @ A).norm()
    assert left == pytest.approx(float(torch.linalg.svdvals(w - deq)[4:].norm()), rel=1e-4)
