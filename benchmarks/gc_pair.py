"""Paired check of ADR 0044: two single-worker gunicorns, `GC_COLLECT_EVERY` off and on, same traffic.

    python -m benchmarks.gc_pair --setup FILE [--minutes 30] [--port-a P] [--port-b P]

Both servers must already run `benchmarks.donations:application` with `-c deploy/gunicorn.conf.py`
against one database prepared by `python -m benchmarks.donations --child setup --file FILE`,
server A with `GC_COLLECT_EVERY=0`, server B without. The driver sends each the same closed-loop
sequence, one request at a time and interleaved A, B (a donation's two requests, then three
public pages), so the machine's load falls on both alike; every 30 s it reads both workers'
VmRSS and prints the least-squares slope (benchmarks.soak's) after a 3-minute warm-up. A
diagnostic beside the soak, not a replacement for its hour: one worker each, tasks run inline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path

from benchmarks import donations
from benchmarks.soak import _children, _rss_kb, slope_mb_per_hour


def master_pid(port: int) -> int:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"127.0.0.1:{port}".encode() in cmd and b"gunicorn" in b" ".join(cmd) and not _parent_is_gunicorn(entry):
                return int(entry)
    raise SystemExit(f"no gunicorn on port {port}")


def _parent_is_gunicorn(pid: str) -> bool:
    ppid = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
    try:
        return b"gunicorn" in Path(f"/proc/{ppid}/cmdline").read_bytes()
    except OSError:
        return False


async def run(args: argparse.Namespace) -> None:
    import httpx

    setup = json.loads(Path(args.setup).read_text())
    workers = {}
    for name, port in (("A (GC_COLLECT_EVERY=0)", args.port_a), ("B (default)", args.port_b)):
        (pid,) = _children(master_pid(port))
        workers[name] = (port, pid)
    pages = [f"/raccolte/{c['slug']}/" for c in setup["campaigns"]] + ["/raccolte/", "/trasparenza/"]
    samples: dict[str, list[tuple[float, int]]] = {name: [] for name in workers}
    clients = {
        name: httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60, cookies={"csrftoken": setup["csrf"]})
        for name, (port, _) in workers.items()
    }
    donors = {name: donations.Donor(client, setup, []) for name, client in clients.items()}  # same seed: same gifts
    start = next_sample = time.monotonic()
    i = 0
    while time.monotonic() - start < args.minutes * 60:
        if time.monotonic() >= next_sample:
            for name, (_, pid) in workers.items():
                samples[name].append((time.monotonic() - start, _rss_kb(pid)))
            next_sample += 30
        campaign = setup["campaigns"][i % len(setup["campaigns"])]
        for name in workers:
            await donors[name].give(campaign, replay=False)
            for k in range(3):
                response = await clients[name].get(pages[(3 * i + k) % len(pages)])
                response.raise_for_status()
        i += 1
    for client in clients.values():
        await client.aclose()
    load = os.getloadavg()
    print(f"{i} rounds (each: a donation and 3 pages per server), load at the end {load[0]:.1f} / {load[1]:.1f}")
    for name, points in samples.items():
        late = [(t, kb) for t, kb in points if t >= 180]
        slope = slope_mb_per_hour(late)
        print(
            f"{name}: RSS {late[0][1] / 1024:.1f} -> {late[-1][1] / 1024:.1f} MB after the warm-up, "
            f"slope {slope:+.2f} MB/h ({len(late)} samples)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="benchmarks.gc_pair", description=__doc__.splitlines()[0])
    parser.add_argument("--setup", required=True)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--port-a", type=int, default=18777)
    parser.add_argument("--port-b", type=int, default=18778)
    args = parser.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
