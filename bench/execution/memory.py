"""Memory: sizes for ``--max-memory``, and a cell's own peak resident memory.

:class:`PeakMemory` measures the peak of this process's resident memory during a block *above*
its resident memory when the block started. Before the start it collects young garbage and asks the
allocator to hand freed memory back to the kernel (glibc's ``malloc_trim``), so that memory an
earlier cell freed (but the allocator kept) does not hide this cell's allocations: without it a
cell that runs after a big one reuses the freed pages and shows an increase near zero.
"""

from __future__ import annotations

import ctypes
import gc
import re
import sys
import threading
from typing import Any

from bench.errors import BenchError

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
MB = 2**20


def parse_memory(text: str | int | None) -> int | None:
    """``"4GB"``, ``"500MiB"``, ``"2e9"`` -> bytes (``None`` or ``""`` -> no limit)."""
    if text is None or text == "":
        return None
    if isinstance(text, int):
        if text <= 0:
            raise BenchError(f"{text!r}: the memory limit must be positive")
        return text
    match = re.fullmatch(r"\s*([0-9.]+(?:e[0-9]+)?)\s*([a-z]*)\s*", str(text).lower())
    if not match or match.group(2) not in _UNITS:
        raise BenchError(f"{text!r} is not a memory size (e.g. 4GB, 500MB, 2GiB)")
    value = int(float(match.group(1)) * _UNITS[match.group(2)])
    if value <= 0:
        raise BenchError(f"{text!r}: the memory limit must be positive")
    return value


def format_memory(n_bytes: float) -> str:
    for unit, size in (("GB", 10**9), ("MB", 10**6)):
        if n_bytes >= size:
            return f"{n_bytes / size:.3g} {unit}"
    return f"{n_bytes / 10**3:.3g} kB"


def _status_kb(field: bytes) -> int | None:
    try:
        with open("/proc/self/status", "rb") as fh:
            for line in fh:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def resident() -> int:
    """This process's resident memory now, in bytes."""
    value = _status_kb(b"VmRSS:")
    if value is not None:
        return value
    import psutil

    return int(psutil.Process().memory_info().rss)


_libc: Any = None


def release_free_memory() -> None:
    """Collect young garbage and return the allocator's free pages to the kernel (glibc only).

    Generations 0-1 only: a full collection costs ~120 ms in a worker that imported scikit-learn
    and PyOD (measured on 2 cores), 12% of a one-second cell; these two cost under 1 ms, and so
    does ``malloc_trim``.
    """
    global _libc
    gc.collect(1)
    if not sys.platform.startswith("linux"):
        return
    if _libc is None:
        try:
            _libc = ctypes.CDLL("libc.so.6")
            _libc.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _libc = False
    if _libc:
        _libc.malloc_trim(0)


class PeakMemory:
    """``baseline`` (resident bytes at the start) and ``peak`` (the most during the block), and
    ``own = peak - baseline``.

    On Linux the kernel keeps the high-water mark (``VmHWM``) and lets a process reset it
    (``/proc/self/clear_refs``): exact and free. Elsewhere a thread samples the resident memory
    every ``interval`` seconds.
    """

    _hwm: bool | None = None  # whether the kernel's high-water mark can be reset here

    def __init__(self, interval: float = 0.01) -> None:
        self._interval = interval
        self._thread: threading.Thread | None = None
        self.baseline = 0
        self.peak = 0

    @property
    def own(self) -> int:
        return max(0, self.peak - self.baseline)

    @classmethod
    def _reset_hwm(cls) -> bool:
        if cls._hwm is False:
            return False
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
        except OSError:
            cls._hwm = False
            return False
        cls._hwm = _status_kb(b"VmHWM:") is not None
        return cls._hwm

    def _sample(self) -> None:
        assert self._stop is not None
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, resident())

    def __enter__(self) -> PeakMemory:
        release_free_memory()
        self.baseline = resident()
        if self._reset_hwm():
            return self
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is None:
            self.peak = max(_status_kb(b"VmHWM:") or 0, self.baseline)
        else:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, resident())
