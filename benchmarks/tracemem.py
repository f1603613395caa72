"""Opt-in allocation tracing for a benchmark server's workers (issue 14, the memory soak).

With `BENCH_TRACEMALLOC=1` in its environment, a worker serving `benchmarks.donations:application`
starts `tracemalloc` at its first request, takes a baseline snapshot after
`BENCH_TRACEMALLOC_BASE` requests (default 500: past the warm-up) and then, every
`BENCH_TRACEMALLOC_EVERY` requests (default 1000) and on SIGUSR2, writes to
`var/tracemalloc/<pid>.txt` what grew since the baseline: the traced Python heap and VmRSS,
the top 30 lines (file:line) and the top 10 tracebacks by growth. A heap that stays flat while
VmRSS grows points at the allocator (fragmentation), not at Python objects held.

Never on in production: tracing costs a worker memory and CPU of its own (on this 2-core
machine, shared, a traced worker served too slowly for an 8-minute soak to tell anything).

The cheap alternative, `BENCH_HEAPSTATS=1`: every `BENCH_HEAPSTATS_EVERY` requests (default 250)
a worker appends one line to `var/heapstats/<pid>.tsv`: VmRSS, glibc's heap in use and free
(`mallinfo2`), its mmapped blocks and CPython's allocated block count. Python blocks and
malloc's in-use bytes growing is a leak; free heap bytes growing with RSS is fragmentation.
With it, each line also takes a census of the objects the collector tracks, by type, and
`var/heapstats/<pid>.types.txt` gets the 25 types that grew most since the second census.
`BENCH_HEAPSTATS_COLLECT=1` runs a full `gc.collect()` first, so that only objects still reached
are counted (garbage cycles waiting for a collection are not): a diagnostic, it changes the worker.
`BENCH_HEAPSTATS_CENSUS=0` skips the census (a list of every tracked object, a few MB allocated and
freed each time), leaving only the line of figures: the cheap form for an hour-long soak.
"""

from __future__ import annotations

import ctypes
import gc
import os
import signal
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT

OUT = ROOT / "var" / "tracemalloc"
FRAMES = int(os.environ.get("BENCH_TRACEMALLOC_FRAMES", "1"))  # more frames, slower worker

_state: dict[str, Any] = {"requests": 0, "baseline": None, "started": False}


def enabled() -> bool:
    return os.environ.get("BENCH_TRACEMALLOC") == "1"


def _rss_kb(field: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def _filtered(snapshot: tracemalloc.Snapshot) -> tracemalloc.Snapshot:
    return snapshot.filter_traces(
        [
            tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, __file__),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
        ]
    )


def count_request() -> None:
    """Called once per request by the benchmark WSGI entry when tracing is on."""
    if not _state["started"]:
        tracemalloc.start(FRAMES)
        signal.signal(signal.SIGUSR2, lambda *_: write())
        _state["started"] = True
    _state["requests"] += 1
    n = _state["requests"]
    if n == int(os.environ.get("BENCH_TRACEMALLOC_BASE", "500")):
        _state["baseline"] = _filtered(tracemalloc.take_snapshot())
        _state["baseline_rss"] = _rss_kb()
        _state["baseline_traced"] = tracemalloc.get_traced_memory()[0]
    elif _state["baseline"] is not None and n % int(os.environ.get("BENCH_TRACEMALLOC_EVERY", "1000")) == 0:
        write()


def write() -> None:
    baseline = _state["baseline"]
    if baseline is None:
        return
    snapshot = _filtered(tracemalloc.take_snapshot())
    traced = tracemalloc.get_traced_memory()[0]
    rss = _rss_kb()
    lines = [
        f"== {time.strftime('%H:%M:%S')} pid {os.getpid()} request {_state['requests']}: "
        f"traced heap {traced / 1e6:.2f} MB ({(traced - _state['baseline_traced']) / 1e6:+.2f} since the baseline), "
        f"VmRSS {rss / 1024:.1f} MB ({(rss - _state['baseline_rss']) / 1024:+.1f})",
        "-- top 30 lines by growth",
    ]
    lines += [str(stat) for stat in snapshot.compare_to(baseline, "lineno")[:30]]
    lines.append("-- top 10 tracebacks by growth")
    for stat in snapshot.compare_to(baseline, "traceback")[:10]:
        lines.append(f"{stat.size_diff / 1024:+.1f} KiB, {stat.count_diff:+d} blocks")
        lines += ["    " + line for line in stat.traceback.format(limit=FRAMES)]
    OUT.mkdir(parents=True, exist_ok=True)
    with (OUT / f"{os.getpid()}.txt").open("a") as out:
        out.write("\n".join(lines) + "\n\n")


# --- heap statistics (BENCH_HEAPSTATS=1) ---------------------------------------------------------


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks")
    ] + [("keepcost", ctypes.c_size_t)]


_heap: dict[str, Any] = {"requests": 0, "mallinfo2": None}
HEAP_OUT = ROOT / "var" / "heapstats"
HEAP_COLUMNS = (
    "time\trequests\trss_kb\theap_in_use\theap_free\theap_size\tmmapped\tpython_blocks\trss_anon_kb"
    "\tpymalloc_arenas\tpymalloc_used\tpymalloc_free"
)


def _pymalloc() -> tuple[int, int, int]:
    """CPython's small-object allocator: arenas (1 MiB each) held now, bytes in live blocks, bytes
    free inside them (available blocks + unused pools). Arenas growing while the live bytes do not
    is fragmentation: an arena goes back to the system only when every block in it is free.
    `sys._debugmallocstats` prints to the C stderr, so it is caught through a temporary file."""
    with tempfile.TemporaryFile() as caught:
        saved = os.dup(2)
        try:
            os.dup2(caught.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        caught.seek(0)
        text = caught.read().decode(errors="replace")

    figures = {}
    for line in text.splitlines():
        label, equals, value = line.rpartition("=")
        if equals and value.strip().replace(",", "").isdigit():
            figures[label.strip()] = int(value.strip().replace(",", ""))
    unused = sum(value for label, value in figures.items() if "unused pools" in label)
    free = figures.get("# bytes in available blocks", 0) + unused
    return figures.get("# arenas allocated current", 0), figures.get("# bytes in allocated blocks", 0), free


def heapstats_enabled() -> bool:
    return os.environ.get("BENCH_HEAPSTATS") == "1"


def count_request_heap() -> None:
    """Called once per request by the benchmark WSGI entry when heap statistics are on."""
    if _heap["mallinfo2"] is None:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        _heap["mallinfo2"] = libc.mallinfo2
    _heap["requests"] += 1
    if _heap["requests"] % int(os.environ.get("BENCH_HEAPSTATS_EVERY", "250")) == 0:
        if os.environ.get("BENCH_HEAPSTATS_COLLECT") == "1":  # count only what is still reachable
            gc.collect()
        info = _heap["mallinfo2"]()
        HEAP_OUT.mkdir(parents=True, exist_ok=True)
        path = HEAP_OUT / f"{os.getpid()}.tsv"
        new = not path.exists()
        with path.open("a") as out:
            if new:
                out.write(HEAP_COLUMNS + "\n")
            row = [time.time(), _heap["requests"], _rss_kb(), info.uordblks, info.fordblks, info.arena, info.hblkhd]
            row += [sys.getallocatedblocks(), _rss_kb("RssAnon"), *_pymalloc()]
            out.write("\t".join(str(int(x)) for x in row) + "\n")
        if os.environ.get("BENCH_HEAPSTATS_CENSUS", "1") != "1":
            return
        census = Counter(type(o).__qualname__ for o in gc.get_objects())
        _heap["censuses"] = _heap.get("censuses", 0) + 1
        if _heap["censuses"] <= 2:  # the second is the baseline: the first pages seen once
            _heap["census"] = census
            return
        grown = (census - _heap["census"]).most_common(25)
        with (HEAP_OUT / f"{os.getpid()}.types.txt").open("a") as out:
            out.write(f"== request {_heap['requests']}, {sum(census.values())} objects tracked\n")
            out.write("".join(f"{n:+8d} {name}\n" for name, n in grown) + "\n")
