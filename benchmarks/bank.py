"""Bank statement import: lines/s end to end (store, match, book) against C_insert, re-import
idempotency and zero double bookings, for the current code and for the code before batching.

Each code version gets its own scratch PostgreSQL database (`bench_bank_*`), migrated with that
version, and a child process running Django there. A statement of `--lines` credit lines is built
per run: most carry the RF reference of an expected transfer, some only the payer's name and the
exact amount (scored), a few nothing we know (queued). The file is imported synchronously (the
same work the worker does behind the progress bar), then imported again.

    python -m benchmarks.bank [--lines 600] [--runs 3] [--before <commit>|none]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script by a child process of another code version
    sys.path.insert(0, os.environ.get("PYTHONPATH", "").split(os.pathsep)[0])

from benchmarks.common import ROOT, ceiling_insert, django_env, scratch_database, write_section

BEFORE_COMMIT = "802c05c"  # the bank app before statement lookups were batched (per-line queries)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks.bank", description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=600, help="statement lines per run")
    parser.add_argument("--runs", type=int, default=3, help="imports measured (median reported)")
    parser.add_argument("--before", default=BEFORE_COMMIT, help="commit to compare with, or 'none'")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv if argv is not None else sys.argv[1:] if __name__ == "__main__" else [])
    if args.child:
        return child(args)
    results = {"after": measure_version("after", ROOT, args)}
    if args.before != "none":
        with tempfile.TemporaryDirectory(prefix="bench_bank_") as tmp:
            archive = subprocess.run(
                ["git", "archive", "--format=tar", args.before], cwd=ROOT, check=True, capture_output=True
            ).stdout
            Path(tmp, "code.tar").write_bytes(archive)
            with tarfile.open(Path(tmp, "code.tar")) as tar:
                tar.extractall(Path(tmp, "code"), filter="data")
            results["before"] = measure_version("before", Path(tmp, "code"), args)
    markdown = render(results, args)
    write_section("bank", markdown)
    print(markdown)
    return 0 if all(r["correct"] for r in results.values()) else 1


def measure_version(label: str, code: Path, args: argparse.Namespace) -> dict[str, Any]:
    name = f"bench_bank_{label}_{os.getpid()}"
    with scratch_database(name) as url:
        env = django_env(url, PYTHONPATH=str(code), EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
        for command in (["migrate", "--noinput", "-v0"], ["load_territory"]):
            subprocess.run(
                [sys.executable, str(code / "manage.py"), *command],
                env=env,
                cwd=code,
                check=True,
                stdout=subprocess.DEVNULL,
            )
        done = subprocess.run(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--child",
                "--lines",
                str(args.lines),
                "--runs",
                str(args.runs),
            ],
            env=env,
            cwd=code,
            stdout=subprocess.PIPE,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            print(done.stdout)
            raise SystemExit(f"benchmarks.bank: the {label} child failed (exit {done.returncode})")
        return json.loads(done.stdout.strip().splitlines()[-1])


# --- Child: Django against the scratch database --------------------------------------------------


def log(message: str) -> None:
    print(f"[bank] {message}", file=sys.stderr, flush=True)


def _statement(account: Any, transfers: list[Any], run: int) -> bytes:
    """CAMT.053.001.02: 85% referenced, 10% name + exact amount only, 5% unknown payers."""
    entries = []
    for index, transfer in enumerate(transfers):
        cents = transfer.amount_cents
        if index % 20 == 0:
            party, remittance, cents = f"Sconosciuto {run}-{index}", "<Ustrd>bonifico</Ustrd>", 777 + index
        elif index % 10 == 1:
            party, remittance = transfer.payer_name.upper(), "<Ustrd>contributo</Ustrd>"
        else:
            party = transfer.payer_name
            remittance = f"<Strd><CdtrRefInf><Ref>{transfer.reference}</Ref></CdtrRefInf></Strd>"
        entries.append(
            f'<Ntry><Amt Ccy="EUR">{cents // 100}.{cents % 100:02d}</Amt><CdtDbtInd>CRDT</CdtDbtInd>'
            f"<Sts>BOOK</Sts><BookgDt><Dt>{time.strftime('%Y-%m-%d')}</Dt></BookgDt><AcctSvcrRef>B{run}-{index}"
            f"</AcctSvcrRef><NtryDtls><TxDtls><RltdPties><Dbtr><Nm>{party}</Nm></Dbtr></RltdPties><RmtInf>"
            f"{remittance}</RmtInf></TxDtls></NtryDtls></Ntry>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">'
        f"<BkToCstmrStmt><GrpHdr><MsgId>BENCH-{run}</MsgId></GrpHdr><Stmt><Id>BENCH-{run}</Id><Acct><Id><IBAN>"
        f"{account.iban}</IBAN></Id><Ccy>EUR</Ccy></Acct>" + "".join(entries) + "</Stmt></BkToCstmrStmt></Document>"
    ).encode()


def _count(counter: list[int], execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    """Execute wrapper counting statements (no 9,000-query cap like CaptureQueriesContext)."""
    counter[0] += 1
    return execute(sql, params, many, context)


def child(args: argparse.Namespace) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db import connection

    from piazza.core.money import Money
    from piazza.ledger.accounts import get_account
    from piazza.ledger.checks import run_checks
    from piazza.ledger.models import Entry, LedgerTransaction
    from piazza.payments.bank.actions import accounts as accounts_actions
    from piazza.payments.bank.actions import matching as matching_actions
    from piazza.payments.bank.actions import statements as statements_actions
    from piazza.payments.bank.models import ExpectedTransfer, LineStatus, StatementLine
    from piazza.territory.models import Role
    from piazza.territory.testing import build_tree, make_official

    tree = build_tree()
    anna = make_official("bench_tesoriera", tree.bologna, [Role.TREASURY])
    account = accounts_actions.register_bank_account(
        actor=anna,
        territory=tree.bologna,
        name="PD Bologna",
        iban="IT60X0542811101000000123456",
        creditor_id="IT66ZZZA1B2C3D4E5F6G7H8",
    )
    funds = get_account("territory", territory=tree.bologna)
    out: dict[str, Any] = {"lines": args.lines, "runs": []}
    out["c_insert"] = ceiling_insert(os.environ["DATABASE_URL"], clients=1)
    correct = True
    for run in range(args.runs):
        transfers = [
            matching_actions.expect_transfer(
                actor=anna,
                account=account,
                amount=Money(1000 + run * 7919 + i),
                payer_name=f"Donatrice {run}-{i} Rossi",
                description="Donazione",
                credit_account=funds,
                creation_key=f"bench:{run}:{i}",
            )
            for i in range(args.lines)
        ]
        data = _statement(account, transfers, run)
        log(f"run {run + 1}: importing {args.lines} lines")
        queries = [0]
        with connection.execute_wrapper(partial(_count, queries)):
            started = time.perf_counter()
            statements_actions.import_statement(actor=anna, territory=tree.bologna, filename=f"b{run}.xml", data=data)
            seconds = time.perf_counter() - started
        entries = Entry.objects.count()
        started = time.perf_counter()
        [again] = statements_actions.import_statement(
            actor=anna, territory=tree.bologna, filename=f"b{run}.xml", data=data
        )
        reimport_seconds = time.perf_counter() - started
        lines = StatementLine.objects.filter(statement_import__filename=f"b{run}.xml")
        matched = lines.filter(status=LineStatus.MATCHED).count()
        received = sum(
            ExpectedTransfer.objects.filter(creation_key__startswith=f"bench:{run}:").values_list(
                "received_cents", flat=True
            )
        )
        matched_cents = sum(lines.filter(status=LineStatus.MATCHED).values_list("amount_cents", flat=True))
        ok = (
            again.new_lines == 0
            and again.duplicate_lines == args.lines
            and Entry.objects.count() == entries
            and lines.count() == args.lines
            and received == matched_cents
        )
        correct &= ok
        out["runs"].append(
            {
                "seconds": seconds,
                "lines_per_s": args.lines / seconds,
                "queries_per_line": queries[0] / args.lines,
                "matched": matched,
                "queued": lines.filter(status=LineStatus.QUEUED).count(),
                "reimport_seconds": reimport_seconds,
                "reimport_new": again.new_lines,
                "ok": ok,
            }
        )
    out["bookings"] = LedgerTransaction.objects.filter(idempotency_key__startswith="bank:line:").count()
    out["matched_total"] = StatementLine.objects.filter(status=LineStatus.MATCHED).count()
    out["double_bookings"] = out["bookings"] - out["matched_total"]
    out["ledger_violations"] = len(run_checks())
    out["correct"] = correct and out["double_bookings"] == 0 and out["ledger_violations"] == 0
    print(json.dumps(out))
    return 0


# --- Report --------------------------------------------------------------------------------------


def render(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    rows = []
    for label in ("before", "after"):
        r = results.get(label)
        if r is None:
            continue
        rates = [x["lines_per_s"] for x in r["runs"]]
        median = statistics.median(rates)
        rows.append(
            f"| {label} | {r['lines']} × {len(rates)} | {min(rates):.0f} / {median:.0f} / {max(rates):.0f} | "
            f"{statistics.median(x['queries_per_line'] for x in r['runs']):.1f} | {r['c_insert']:.0f} | "
            f"{median / r['c_insert']:.1%} | {statistics.median(x['reimport_seconds'] for x in r['runs']):.2f} s, "
            f"{sum(x['reimport_new'] for x in r['runs'])} new | {r['double_bookings']} | {r['ledger_violations']} | "
            f"{'yes' if r['correct'] else '**NO**'} |"
        )
    speedup = ""
    if "before" in results:
        before = statistics.median(x["lines_per_s"] for x in results["before"]["runs"])
        after = statistics.median(x["lines_per_s"] for x in results["after"]["runs"])
        speedup = f"\n\nMedian speed-up of the statement import: **×{after / before:.1f}**."
    return (
        "### Bank statement import (issue 5)\n\n"
        "CAMT.053 credit lines stored, matched (85% by RF reference, 10% by name + amount, 5% unknown → "
        "queued) and booked, one ledger transaction per booked line, synchronously in one process "
        "(the worker's work behind the progress bar). C_insert: single-row INSERT commits/s in the same run. "
        f"`before` is commit {BEFORE_COMMIT if args.before == BEFORE_COMMIT else args.before} (per-line lookups), "
        "`after` the current code.\n\n"
        "| code | lines × runs | lines/s min / median / max | queries per line | C_insert/s | median ÷ C_insert "
        "| re-import of the same file | double bookings | `check_ledger` violations | correct |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + speedup
    )


if __name__ == "__main__":
    sys.exit(main())
