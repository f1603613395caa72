"""The memory soak's sampler (issue 14, ADR 0044): what it reads about each worker must be right,
or the soak's figures (the RssAnon/RssFile split, requests per worker) mislead."""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks.soak import Sampler, _status_kb


def test_requests_are_counted_per_worker_from_gunicorns_access_log(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    # gunicorn writes %(p)s as "<pid>"; the last line may be half written when the sampler reads.
    log.write_bytes(b"<101> GET 200 /raccolte/\n<102> POST 302 /pagamenti/x/\n<101> GET 200 /tr")
    sampler = Sampler(master=0, worker=0, every=30, access_log=log)
    sampler._count_requests()
    assert dict(sampler._counted) == {"101": 1, "102": 1}
    with log.open("ab") as out:
        out.write(b"asparenza/conti/\n<102> GET 200 /\n")
    sampler._count_requests()
    assert dict(sampler._counted) == {"101": 2, "102": 2}


def test_the_resident_split_adds_up_to_vmrss() -> None:
    status = _status_kb(os.getpid())
    assert status["VmRSS"] == status["RssAnon"] + status["RssFile"] + status["RssShmem"]
    assert _status_kb(2**22 + 12345) == {}  # a process that is gone reads as nothing
