"""Peak resident memory over a block of code (peft_course.memory)."""

import numpy as np

from peft_course.memory import activation_checkpointing, rss_mib, track_peak_memory, track_peak_rss


def test_peak_sees_a_temporary_allocation():
    before = rss_mib()
    with track_peak_rss() as mem:
        block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched so it is resident
        del block
    assert mem.start > 0 and abs(mem.start - before) < 64
    assert mem.peak >= mem.start
    if mem.exact:  # Linux: the peak mark was reset, so the 64 MiB must show up
        assert 48 < mem.extra < 256, mem
    assert rss_mib() < mem.peak  # the block's memory is gone again


def test_second_block_does_not_inherit_the_first_peak():
    with track_peak_rss():
        big = np.ones(128 * 2**20 // 8)
        del big
    with track_peak_rss() as small:
        tiny = np.ones(2**20 // 8)
        del tiny
    if small.exact:
        assert small.extra < 64, small


def test_peak_memory_reads_the_rss_off_cuda_and_names_its_counter():
    with track_peak_memory("cpu") as mem:
        block = np.ones(64 * 2**20 // 8)
        del block
    assert mem.counter == "process RSS"
    if mem.exact:
        assert 48 < mem.extra < 256, mem


def test_peak_memory_uses_the_accelerator_counters_on_cuda(monkeypatch):
    """On CUDA the GPU's own counters are read (mocked here: this machine has no GPU)."""
    import torch

    allocated = {"now": 100 * 2**20, "peak": 0}
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: None)
    monkeypatch.setattr(
        torch.cuda, "reset_peak_memory_stats", lambda *a: allocated.update(peak=allocated["now"])
    )
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda *a: allocated["now"])
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda *a: allocated["peak"])
    with track_peak_memory("cuda") as mem:
        allocated["peak"] = 612 * 2**20  # what a training step would push the counter to
    assert mem.counter == "torch.cuda.max_memory_allocated"
    assert (mem.start, mem.peak, mem.extra) == (100, 612, 512)


def _saved_tensors(model, ids) -> int:
    import torch

    count = 0

    def pack(tensor):
        nonlocal count
        count += 1
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model(input_ids=ids).logits.sum()
    return count


def test_activation_checkpointing_keeps_fewer_tensors_inside_the_block_only():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=128,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    model = LlamaForCausalLM(config).train()
    ids = torch.randint(0, 128, (2, 16))
    plain = _saved_tensors(model, ids)
    with activation_checkpointing(model) as same:
        assert same is model
        kept = _saved_tensors(model, ids)
        # reentrant checkpoints need the inputs to require grad: enabling hooks the embeddings
        assert model.model.embed_tokens._forward_hooks
    assert kept < plain / 2, (kept, plain)  # each layer keeps its input, not its insides
    assert _saved_tensors(model, ids) == plain  # off again after the block
    assert model.model.embed_tokens._forward_hooks == {}  # the inputs' requires_grad hook is gone


class _OldNames:
    """A model of a transformers version that knows only gradient_checkpointing_* (5.17)."""

    def __init__(self):
        self.calls = []

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs=None):
        self.calls.append(("enable", gradient_checkpointing_kwargs))

    def gradient_checkpointing_disable(self):
        self.calls.append(("disable",))

    def disable_input_require_grads(self):
        self.calls.append(("inputs",))


def test_activation_checkpointing_uses_the_old_names_and_switches_off_after_an_error():
    model = _OldNames()
    try:
        with activation_checkpointing(model, use_reentrant=False):
            raise RuntimeError("out of memory")
    except RuntimeError:
        pass
    assert model.calls == [("enable", {"use_reentrant": False}), ("disable",), ("inputs",)]
