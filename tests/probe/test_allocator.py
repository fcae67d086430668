"""The warm allocator: freed activation memory stays in the process (glibc), no-op elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from staticdyn.probe import allocator

# A real 3-D CNN forward (I3D stem at 288 px: 42 MB activations, above the 32 MB glibc keeps
# on the heap by itself), repeated: cold, glibc unmaps and re-faults
# the large activation blocks every time; warm, the second and later passes reuse them.
_FAULTS = textwrap.dedent("""
    import resource, sys, torch
    torch.set_num_threads(1)
    if sys.argv[1] == "warm":
        from staticdyn.probe.allocator import keep_freed_memory
        assert keep_freed_memory().applied
    from pytorchvideo.models.hub import i3d_r50
    net = i3d_r50(pretrained=False).eval()
    net.blocks = net.blocks[:1]
    x = torch.randn(1, 3, 8, 288, 288)
    with torch.inference_mode():
        net(x)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(5):
            net(x)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


def _faults(mode: str) -> int:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
    proc = subprocess.run([sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return int(proc.stdout.strip().splitlines()[-1])


def test_freed_blocks_are_not_faulted_in_again() -> None:
    if allocator._libc() is None:  # not glibc: documented no-op
        state = allocator.keep_freed_memory()
        assert not state.applied and "not glibc" in state.reason
        return
    cold, warm = _faults("cold"), _faults("warm")
    assert cold > 50_000  # measured here: about 216,000 minor faults for 5 passes
    assert warm < cold / 5  # measured here: 0 to 13,000


def test_disabled_and_user_settings_are_respected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator, "_STATE", None)
    assert not allocator.keep_freed_memory(enabled=False).applied
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    state = allocator.keep_freed_memory()
    assert not state.applied and "MALLOC_MMAP_THRESHOLD_" in state.reason


_CHILD_RSS = textwrap.dedent("""
    import os, sys
    from staticdyn.probe.allocator import keep_freed_memory, release_in_forked_child
    assert keep_freed_memory().applied

    def rss_mb():
        with open("/proc/self/status") as f:
            return int(f.read().split("VmRSS:")[1].split()[0]) // 1024

    block = bytearray(200 * 2**20)  # touched: 200 MB on the heap (warm allocator)
    del block                       # freed, kept in the heap
    r, w = os.pipe()
    if os.fork() == 0:
        before = rss_mb()
        if sys.argv[1] == "release":
            release_in_forked_child()
        os.write(w, f"{before} {rss_mb()}".encode())
        os._exit(0)
    os.wait()
    print(os.read(r, 100).decode())
""")


@pytest.mark.parametrize("mode", ["release", "keep"])
def test_a_forked_worker_hands_back_the_inherited_free_heap(mode: str) -> None:
    """The child drops the parent's freed activation memory from its mappings, so the parent's
    next forward writes those pages in place instead of copying them."""
    if allocator._libc() is None:  # not glibc: a documented no-op that must not fail
        allocator.release_in_forked_child()
        return
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
    proc = subprocess.run([sys.executable, "-c", _CHILD_RSS, mode], capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    before, after = map(int, proc.stdout.split())
    assert before > 200  # the child starts by mapping the parent's freed 200 MB
    if mode == "release":
        assert after < before - 150
    else:
        assert after > before - 20


_CHILD_THP = textwrap.dedent("""
    import sys
    from staticdyn.probe.allocator import huge_pages_for_tensors
    print(huge_pages_for_tensors())
    import torch
    x = torch.ones(64 * 2**20 // 4)  # 64 MB, touched
    with open("/proc/self/smaps_rollup") as f:
        huge = [int(line.split()[1]) for line in f if line.startswith("AnonHugePages:")][0]
    print(huge)
    print(huge_pages_for_tensors())  # after torch: reports, changes nothing
""")


def _thp_mode() -> str:
    try:
        text = open("/sys/kernel/mm/transparent_hugepage/enabled").read()
    except OSError:
        return "absent"
    return text.split("[")[1].split("]")[0]


@pytest.mark.parametrize("user", [None, "0"])
def test_large_tensors_get_huge_pages_unless_the_user_says_no(user: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "THP_"))}
    if user is not None:
        env[allocator.THP_ENV] = user
    proc = subprocess.run([sys.executable, "-c", _CHILD_THP], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    first, huge_kb, after = proc.stdout.split()
    assert first == after == str(user is None)
    if user is None and _thp_mode() in ("always", "madvise"):
        assert int(huge_kb) >= 32 * 1024  # most of the 64 MB tensor is in 2 MB pages
    elif _thp_mode() != "always":
        assert int(huge_kb) == 0


def test_the_run_log_says_how_cpu_memory_is_served(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(allocator.THP_ENV, "1")
    line = allocator.cpu_memory_line(allocator.AllocatorState(True, "glibc mallopt"))
    assert line == "CPU memory: warm allocator on; huge pages for large tensors on"
    monkeypatch.setenv(allocator.THP_ENV, "0")
    line = allocator.cpu_memory_line(
        allocator.AllocatorState(False, "disabled (probe.warm_allocator=false)"))
    assert line == ("CPU memory: warm allocator off (disabled (probe.warm_allocator=false)); "
                    "huge pages for large tensors off (THP_MEM_ALLOC_ENABLE not 1 before torch)")
