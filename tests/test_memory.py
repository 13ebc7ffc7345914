"""Peak resident memory over a block of code (peft_course.memory)."""

import numpy as np

from peft_course.memory import rss_mib, track_peak_rss


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
