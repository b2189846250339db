"""Opt-in memory diagnostics of a node process (``python -m chaos --trace-memory``).

When ``DAFFI_CHAOS_TRACE_MEMORY`` names a folder, :func:`start_if_requested` starts tracemalloc and a
thread that reads ``snap LABEL`` lines on standard input (the harness sends one at each memory
sample, while the caller is paused). For each it writes ``<folder>/<label>.txt`` and prints
``MARK snapped {json}``:

- RSS (VmRSS, RssAnon), the memory tracemalloc traces, pymalloc's arenas (only without tracemalloc,
  which hides them), glibc's ``mallinfo2``
  (bytes malloc has handed out and bytes it holds free): RSS that grows while the Python figures
  stay flat is allocator or C-extension (gRPC core) memory, not Python objects;
- glibc's arenas (``malloc_info``): how many, and the memory each holds from the system; and the
  bytes parked in the threads' tcaches (:func:`tcache_held`);
- the top tracemalloc differences grouped by traceback against the snapshot after warm-up (the second),
  the previous one and the first (before any call);
- a histogram of the objects the garbage collector tracks, by type, and its differences; then
  ``gc.collect()``, whose count of unreachable objects is garbage in reference cycles that was
  waiting for the cyclic collector (it should stay near 0 when nothing makes cycles per call).

The diagnostic perturbs what it measures: with tracemalloc on, the node runs several times slower
and keeps three snapshots (RSS figures are then not comparable with a plain run); with
``DAFFI_CHAOS_TRACE_FRAMES=0`` it only reads figures, but the collection at each sample changes
when later garbage is freed.

``DAFFI_CHAOS_TRACE_FRAMES`` is the traceback depth (default 25); 0 leaves tracemalloc off (no
slowdown: RSS, malloc, pymalloc and gc figures only). ``DAFFI_CHAOS_MALLOC_TRIM=1`` also calls
glibc's ``malloc_trim(0)`` after each snapshot and records the RSS it gave back (an experiment: it
changes what the next sample measures).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import json
import os
import re
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

ENV_FOLDER = "DAFFI_CHAOS_TRACE_MEMORY"
ENV_TRIM = "DAFFI_CHAOS_MALLOC_TRIM"
ENV_FRAMES = "DAFFI_CHAOS_TRACE_FRAMES"
FRAMES = 25
TOP = 25


class _MallInfo2(ctypes.Structure):
    _fields_ = [  # the ctypes layout of struct mallinfo2
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _libc() -> Any:
    with contextlib.suppress(OSError):
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    return None


LIBC = _libc()


def mallinfo() -> dict[str, int]:
    """glibc's view of the heap in bytes (all arenas); {} off glibc < 2.33."""
    func = getattr(LIBC, "mallinfo2", None)
    if func is None:
        return {}
    func.restype = _MallInfo2
    info = func()
    return {
        "malloc_in_use": int(info.uordblks) + int(info.hblkhd),  # handed out: small/medium blocks + mmapped ones
        "malloc_free_held": int(info.fordblks),  # free inside the arenas (fragmentation, not given back)
        "malloc_arena": int(info.arena),  # bytes obtained with sbrk/mmap for the arenas
        "malloc_mmapped": int(info.hblkhd),
        "malloc_top_releasable": int(info.keepcost),
    }


def malloc_arenas() -> tuple[list[int], str]:
    """Bytes each glibc arena holds from the system (``malloc_info``), and the raw XML."""
    fopen, info, fclose = (getattr(LIBC, n, None) for n in ("fopen", "malloc_info", "fclose"))
    if fopen is None or info is None or fclose is None:
        return [], ""
    fopen.restype = ctypes.c_void_p
    fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    fclose.argtypes = [ctypes.c_void_p]
    with tempfile.NamedTemporaryFile(suffix=".xml") as tmp:
        fp = fopen(tmp.name.encode(), b"w")
        if not fp:
            return [], ""
        info(0, fp)
        fclose(fp)
        xml = Path(tmp.name).read_text()
    sizes = [
        int(m.group(1)) for m in re.finditer(r'<heap nr="\d+">.*?<system type="current" size="(\d+)"/>', xml, re.DOTALL)
    ]
    return sizes, xml


#: glibc 2.26+ (x86-64): sizeof(heap_info) and the offset of ``top`` in ``struct malloc_state``
_HEAP_INFO = 48
_STATE_TOP = 96
_STATE_SIZE = 2200
_HEAP_MAX = 64 << 20


def _heaps() -> list[tuple[int, int]]:
    """(start, end) of glibc's heaps: the main arena's ``[heap]`` and the 64 MiB-aligned heaps of the others."""
    found = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/maps").read_text().splitlines():
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            name = parts[5] if len(parts) > 5 else ""
            if name == "[heap]" or (not name and parts[1].startswith("rw") and lo % _HEAP_MAX == 0):
                found.append((lo, hi))
    return found


def tcache_held() -> dict[str, int]:
    """Bytes in chunks that sit in some thread's tcache (glibc's per-thread cache of freed chunks).

    Walks this process's heaps through /proc/self/mem (a wrong guess reads garbage, never faults). A
    chunk in a tcache has the process's random ``tcache_key`` in its second word (glibc 2.34+); the
    key is read from a chunk this thread frees into its own tcache. malloc counts these chunks as in
    use (``malloc_in_use``) though no one holds them; each thread keeps at most 7 per size class
    (64 classes, 32 to 1,040 bytes): at most ≈ 234 KiB a thread.
    """
    malloc, free = getattr(LIBC, "malloc", None), getattr(LIBC, "free", None)
    if malloc is None or free is None:
        return {}
    malloc.restype = ctypes.c_void_p
    malloc.argtypes = [ctypes.c_size_t]
    free.argtypes = [ctypes.c_void_p]
    # Header by header (pread): a buffer the size of a heap would make malloc raise its mmap
    # threshold and grow an arena, which is what this measures.
    try:
        fd = os.open("/proc/self/mem", os.O_RDONLY)
    except OSError:
        return {}
    held = count = 0
    try:
        probe = malloc(1000)  # a size this thread does not otherwise free: its tcache bin has room
        free(probe)
        key = os.pread(fd, 8, probe + 8)
        if not int.from_bytes(key, "little") >> 32:  # not a random key: the chunk went elsewhere
            return {}
        for lo, hi in _heaps():
            end = hi
            if lo % _HEAP_MAX == 0:  # a heap of a secondary arena: heap_info, then its malloc_state
                state = int.from_bytes(os.pread(fd, 8, lo), "little")
                end = min(hi, int.from_bytes(os.pread(fd, 8, state + _STATE_TOP), "little"))
                pos = state + _STATE_SIZE if state == lo + _HEAP_INFO else lo + _HEAP_INFO
                pos += -(pos + 16) % 16
            else:
                pos = lo
            while pos + 32 <= end:
                head = os.pread(fd, 32, pos)
                size = int.from_bytes(head[8:16], "little") & ~7
                if size < 32 or pos + size > end:
                    break
                if size <= 1040 and head[24:32] == key:
                    held += size
                    count += 1
                pos += size
    except (OSError, ValueError):
        return {}
    finally:
        os.close(fd)
    return {"malloc_in_tcache": held, "malloc_tcache_chunks": count}


def malloc_trim() -> bool:
    func = getattr(LIBC, "malloc_trim", None)
    return bool(func(0)) if func is not None else False


def proc_status() -> dict[str, int]:
    """VmRSS and its parts, in bytes."""
    out: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "VmData"):
                out[key] = int(value.split()[0]) * 1024
    return out


def pymalloc() -> dict[str, int]:
    """pymalloc's arenas and what is allocated in them (parsed from ``sys._debugmallocstats``)."""
    stats = getattr(sys, "_debugmallocstats", None)
    if stats is None:
        return {}
    sys.stderr.flush()
    with tempfile.TemporaryFile(mode="w+") as tmp:
        saved = os.dup(2)
        try:
            os.dup2(tmp.fileno(), 2)
            stats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read()
    out: dict[str, int] = {}
    patterns = {
        "pymalloc_arenas": r"# arenas allocated current\s*=\s*([\d,]+)",
        "pymalloc_bytes_in_blocks": r"# bytes in allocated blocks\s*=\s*([\d,]+)",
        "pymalloc_bytes_free": r"# bytes in available blocks\s*=\s*([\d,]+)",
        "pymalloc_total": r"^Total\s*=\s*([\d,]+)",
    }
    for key, pattern in patterns.items():
        match = re.search(pattern, text, re.MULTILINE)
        if match:
            out[key] = int(match.group(1).replace(",", ""))
    return out


def type_histogram() -> Counter[str]:
    """How many objects of each type the garbage collector tracks."""
    counts: Counter[str] = Counter()
    for obj in gc.get_objects():
        kind = type(obj)
        counts[f"{kind.__module__}.{kind.__qualname__}"] += 1
    return counts


def _mib(n: float) -> str:
    return f"{n / 2**20:,.2f} MiB"


#: traces allocated by the diagnostic itself (formatting tracebacks fills linecache) are not the node's
_OWN = [
    tracemalloc.Filter(False, __file__, all_frames=True),
    tracemalloc.Filter(False, tracemalloc.__file__, all_frames=True),
    tracemalloc.Filter(False, "*/linecache.py", all_frames=True),
]


class Tracer:
    def __init__(self, folder: Path, frames: int) -> None:
        self.folder = folder
        self.frames = frames
        #: the first snapshot (before any call), the second (after warm-up: the reference for growth), the last
        self.first: tuple[str, tracemalloc.Snapshot | None, Counter[str]] | None = None
        self.warm: tuple[str, tracemalloc.Snapshot | None, Counter[str]] | None = None
        self.previous: tuple[str, tracemalloc.Snapshot | None, Counter[str]] | None = None
        self.summary: list[dict[str, Any]] = []
        self.trim = os.environ.get(ENV_TRIM, "") not in ("", "0")

    def snap(self, label: str) -> dict[str, Any]:
        t0 = time.monotonic()
        # What the harness just sampled, before this diagnostic allocates anything.
        row: dict[str, Any] = {"label": label, "tracemalloc_frames": self.frames, **proc_status(), **mallinfo()}
        row.update(tcache_held())
        snapshot: tracemalloc.Snapshot | None = None
        if tracemalloc.is_tracing():
            snapshot = tracemalloc.take_snapshot().filter_traces(_OWN)
            row["tracemalloc_current"] = sum(t.size for t in snapshot.traces)
            row["tracemalloc_blocks"] = len(snapshot.traces)
        row.update(pymalloc())
        arenas, arenas_xml = malloc_arenas()
        row["malloc_arenas"] = len(arenas)
        row["malloc_arena_bytes"] = arenas
        row["gc_counts"] = list(gc.get_count())
        histogram = type_histogram()
        row["gc_tracked_objects"] = sum(histogram.values())
        row["gc_unreachable_found"] = gc.collect()  # garbage waiting for a collection, not a leak
        row["gc_tracked_after_collect"] = len(gc.get_objects())
        if self.trim:
            before = proc_status().get("VmRSS", 0)
            row["malloc_trim_released"] = malloc_trim()
            row["rss_after_trim"] = proc_status().get("VmRSS", 0)
            row["rss_given_back_by_trim"] = before - row["rss_after_trim"]
        lines = [f"# memory of pid {os.getpid()} at {label}", "", json.dumps(row, indent=1), ""]
        for name, base in (("the warm-up", self.warm), ("the previous", self.previous), ("the start", self.first)):
            if base is None or (name == "the previous" and base is self.warm):
                continue
            base_label, base_snapshot, base_histogram = base
            lines += self._diff(f"{name} ({base_label})", snapshot, base_snapshot, histogram, base_histogram)
        if self.first is None and snapshot is not None:
            lines += ["## top allocations (by traceback)", ""]
            for stat in snapshot.statistics("traceback")[:TOP]:
                lines += [f"{_mib(stat.size)} in {stat.count:,} blocks", *stat.traceback.format(), ""]
        if self.first is None:
            lines += ["## gc-tracked objects by type", ""]
            lines += [f"{count:>10,}  {kind}" for kind, count in histogram.most_common(40)]
        lines += ["## malloc_info", "", arenas_xml]
        (self.folder / f"{label}.txt").write_text("\n".join(lines) + "\n")
        entry = (label, snapshot, histogram)
        if self.first is None:
            self.first = entry
        elif self.warm is None:
            self.warm = entry
        self.previous = entry
        row["seconds"] = round(time.monotonic() - t0, 2)
        self.summary.append(row)
        (self.folder / "summary.json").write_text(json.dumps(self.summary, indent=1) + "\n")
        return row

    @staticmethod
    def _diff(
        title: str,
        snapshot: tracemalloc.Snapshot | None,
        base: tracemalloc.Snapshot | None,
        histogram: Counter[str],
        base_histogram: Counter[str],
    ) -> list[str]:
        lines = []
        if snapshot is not None and base is not None:
            lines += Tracer._traced_diff(title, snapshot, base)
        lines += [f"## gc-tracked objects since {title}, by type", ""]
        delta = Counter(histogram)
        delta.subtract(base_histogram)
        changed = sorted(((k, v) for k, v in delta.items() if v), key=lambda kv: abs(kv[1]), reverse=True)
        lines += [f"{v:>+10,}  {k}  (now {histogram[k]:,})" for k, v in changed[:40]]
        lines.append("")
        return lines

    @staticmethod
    def _traced_diff(title: str, snapshot: tracemalloc.Snapshot, base: tracemalloc.Snapshot) -> list[str]:
        lines = [f"## tracemalloc growth since {title}, by traceback", ""]
        stats = [s for s in snapshot.compare_to(base, "traceback") if s.size_diff]
        stats.sort(key=lambda s: s.size_diff, reverse=True)
        total = sum(s.size_diff for s in stats)
        lines.append(f"net {total / 1024:+,.1f} KiB over {len(stats)} tracebacks")
        lines.append("")
        for stat in stats[:TOP]:
            lines.append(
                f"{stat.size_diff / 1024:+,.1f} KiB ({stat.count_diff:+,} blocks), now {stat.size / 1024:,.1f} KiB "
                f"in {stat.count:,} blocks"
            )
            lines += stat.traceback.format()
            lines.append("")
        lines += [f"## tracemalloc growth since {title}, by line", ""]
        by_line = sorted(snapshot.compare_to(base, "lineno"), key=lambda s: s.size_diff, reverse=True)
        lines += [str(stat) for stat in by_line[:TOP]]
        lines.append("")
        return lines


def _serve(tracer: Tracer) -> None:
    for raw in sys.stdin:
        command, _, label = raw.strip().partition(" ")
        if command != "snap":
            continue
        try:
            row = tracer.snap(re.sub(r"[^\w.-]", "_", label) or f"snap-{len(tracer.summary)}")
        except Exception as exc:  # a diagnostic must not take the node down
            row = {"label": label, "error": repr(exc)}
        keep = ("label", "VmRSS", "tracemalloc_current", "malloc_in_use", "malloc_in_tcache", "malloc_free_held")
        print(f"MARK snapped {json.dumps({k: row[k] for k in keep if k in row})}", flush=True)


def start_if_requested() -> None:
    """Start tracing when the harness asked for it (``DAFFI_CHAOS_TRACE_MEMORY``)."""
    folder = os.environ.get(ENV_FOLDER)
    if not folder:
        return
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    frames = int(os.environ.get(ENV_FRAMES) or FRAMES)
    if frames > 0:
        tracemalloc.start(frames)
    threading.Thread(target=_serve, args=(Tracer(path, frames),), name="chaos-memtrace", daemon=True).start()
