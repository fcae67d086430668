"""Keep freed activation memory in the process on CPU, so a forward does not re-fault it.

Under ``torch.inference_mode`` every activation is freed when the next layer no longer needs
it. glibc serves blocks above its mmap threshold with fresh ``mmap`` calls and trims the heap top
on free, so each forward pass of a video model maps, faults in and unmaps hundreds of MB again:
about a third of the CPU time went to page faults in the issue's measurement (I3D R50, 2 cores).
Raising the mmap threshold and the trim threshold keeps those pages in the heap for the next
forward, which is what a warm allocator means here. ``mallopt`` is called through ``ctypes`` at
start-up so users never export ``MALLOC_*`` variables; on non-glibc platforms it is a no-op.
The cost is a higher steady RSS (the largest forward's working set stays mapped), measured in
BENCHMARKS.md.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
from dataclasses import dataclass

log = logging.getLogger("staticdyn")

# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# Blocks up to this size come from the heap instead of a fresh mmap; freed heap memory is
# given back to the kernel only above the trim threshold.
MMAP_THRESHOLD_BYTES = 1 << 30
TRIM_THRESHOLD_BYTES = (1 << 31) - 1  # mallopt takes a C int
# Users who export their own settings keep them.
_ENV_KEYS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


@dataclass(frozen=True)
class AllocatorState:
    """What ``keep_freed_memory`` did, for the log and the tests."""

    applied: bool
    reason: str


_STATE: AllocatorState | None = None


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    return lib if hasattr(lib, "mallopt") and hasattr(lib, "gnu_get_libc_version") else None


def keep_freed_memory(enabled: bool = True) -> AllocatorState:
    """Raise glibc's mmap and trim thresholds once per process (idempotent).

    Returns whether it was applied and why not otherwise (disabled, not glibc, the user set
    ``MALLOC_*``/``GLIBC_TUNABLES`` already, or mallopt refused a value).
    """
    global _STATE
    if _STATE is not None and _STATE.applied:
        return _STATE
    if not enabled:
        return AllocatorState(False, "disabled (probe.warm_allocator=false)")
    user = [k for k in _ENV_KEYS if k in os.environ]
    if user:
        _STATE = AllocatorState(False, f"left to the user's {', '.join(user)}")
        return _STATE
    lib = _libc()
    if lib is None:
        _STATE = AllocatorState(False, "not glibc: nothing to do")
        return _STATE
    ok = lib.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    ok = lib.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1 and ok
    _STATE = AllocatorState(ok, "glibc mallopt" if ok else "mallopt refused a value")
    log.debug("allocator: %s", _STATE.reason)
    return _STATE


def release_in_forked_child() -> None:
    """Hand back, in a freshly forked process, the free heap memory it inherited.

    A forked DataLoader worker shares the parent's pages copy-on-write. With the warm
    allocator the parent's heap holds the freed activation memory of the last forward, so the
    parent's next forward writes to shared pages: each write faults, and while the child still
    maps the page, the fault copies it. The child never uses that memory, so it releases it
    (``malloc_trim``: free pages leave the child's mappings) and the parent's faults reuse its
    pages in place instead of copying them (measured, i3d_r50 at 160 px, batch 4: 0.56-0.64 s
    of system time in the first forward after the fork, 0.08-0.17 s with this). A no-op off
    glibc.
    """
    lib = _libc()
    if lib is not None and hasattr(lib, "malloc_trim"):
        lib.malloc_trim(0)


#: PyTorch's own switch (c10 ``alloc_cpu``): CPU tensors of 2 MB and more are 2 MB-aligned and
#: ``madvise(MADV_HUGEPAGE)``d, so the kernel faults them in 2 MB at a time
THP_ENV = "THP_MEM_ALLOC_ENABLE"


def huge_pages_for_tensors() -> bool:
    """Let PyTorch back large CPU tensors with transparent huge pages; call before torch is
    imported (c10 reads the variable once). Returns whether it is in effect.

    Where the warm allocator is off (``probe.warm_allocator=false``, or blocks above glibc's
    thresholds), each forward maps its activations afresh; with huge pages the kernel faults
    them in 2 MB instead of 4 KB at a time (BENCHMARKS.md section (f), i3d_r50 batch 8 at
    224 px on 2 cores: 0.45 s per clip instead of 0.70 at about the same 1.8 GiB peak; the warm
    allocator gives 0.32). It changes where tensors live, never a value. A user's own setting
    (``0``) is kept; once torch is imported it is too late and the current state is returned.
    """
    if "torch" not in sys.modules:
        os.environ.setdefault(THP_ENV, "1")
    return os.environ.get(THP_ENV) == "1"


def cpu_memory_line(state: AllocatorState) -> str:
    """The run log's one line on how CPU activations get their memory (speed and peak RSS
    depend on it; BENCHMARKS.md section (f))."""
    warm = "on" if state.applied else f"off ({state.reason})"
    huge = "on" if os.environ.get(THP_ENV) == "1" else f"off ({THP_ENV} not 1 before torch)"
    return f"CPU memory: warm allocator {warm}; huge pages for large tensors {huge}"
