"""Printing coupons: 1,000 coupons in the 24-per-page layout, beside the straightforward
way of drawing the same sheet and the way shipped before, in the same run.

    python bench/coupons.py [--coupons 1000] [--layout labels-24] [--rounds 1]

Each measurement runs in a fresh process (so its peak RSS is its own), on an embedded
SQLite database in a temporary folder: a white-label merchant with a 600×600 logo and
a campaign of `--coupons` single-use codes made by the service, then the sheet of all
its codes drawn to a file as the print job draws it (`print_jobs.coupon_items` →
`sheets.write_file`). Timed: reading the codes, building every claim URL and QR,
laying out and writing the PDF.

  baseline  the straightforward way: segno chooses the best of the eight masks for
            every QR, each QR an SVG data URI, every coupon laid out whole, the whole
            sheet by one WeasyPrint run
  previous  the way shipped before: every coupon laid out whole (`sheets.sheet_html`
            with its QR), a fixed mask, a one-pixel-per-module PNG data URI,
            WeasyPrint runs of `sheets.CHUNK_PAGES` pages joined by pypdf
  shipped   sheets.py as the app runs it: each page's back laid out once per look,
            only the QRs and codes per page, laid over the back with pikepdf

Both baseline and shipped also run with a quarter of the coupons, and the shipped way
with twice as many, to show how memory grows.
Prints wall and CPU seconds, pages, PDF size, and the peak RSS of the process above
what it held before drawing; then shipped/baseline and shipped/previous ratios. The
machine is shared by other work: the CPU seconds drift less than the wall clock.
Figures go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def naive_qr(url: str) -> str:
    """The straightforward QR: the best mask chosen by segno, drawn as SVG."""
    import segno

    return segno.make_qr(url, error="m").svg_data_uri(scale=4, border=4)


def whole_sheet(tenant, layout, items, path: Path, qr, pages_per_run: int) -> int:
    """Every coupon laid out whole, `pages_per_run` pages per WeasyPrint run, the
    parts joined by pypdf (the baseline and the previous way)."""
    import io

    import weasyprint
    from flask_babel import force_locale
    from pypdf import PdfReader, PdfWriter
    from weasyprint.urls import URLFetcher

    from plugins.coupons import sheets

    fetcher = URLFetcher(allowed_protocols={"data"})
    writer = PdfWriter()
    logo = sheets.logo_data_uri(tenant)
    size = layout.per_page * pages_per_run
    with force_locale(tenant.language):
        for start in range(0, len(items), size):
            html = sheets.sheet_html(tenant, layout, items[start : start + size], logo, qr=qr)
            part = weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf()
            writer.append(PdfReader(io.BytesIO(part)))
    with path.open("wb") as out:
        writer.write(out)
    return len(items)


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def reset_peak() -> None:
    """Start the peak RSS (VmHWM) afresh: the migrations' peak is not the sheet's."""
    Path("/proc/self/clear_refs").write_text("5")


def child(mode: str, count: int, layout_name: str) -> dict:
    from flask import g
    from PIL import Image

    from core.app import create_app
    from core.host.db import platform_session, tenant_session
    from core.host.migrate import upgrade
    from plugins.coupons import campaigns, print_jobs, sheets
    from tenants.models import Tenant
    from tenants.services import create_tenant

    folder = Path(tempfile.mkdtemp(prefix="bench-coupons-"))
    app = create_app(
        {
            "PREMIA_DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
            "PREMIA_REDIS_URL": None,
            "PREMIA_UPLOAD_FOLDER": str(folder / "uploads"),
            "PREMIA_INSTANCE_PATH": str(folder),
            "SERVER_NAME": "localhost",
        }
    )
    with app.app_context():
        upgrade(app)
        platform = app.extensions["premia"]
        with platform_session(platform.sessions) as session:
            tenant = create_tenant(
                session,
                slug="bench",
                name="Café La Esquina",
                plan="white-label",
                currency="COP",
                country="CO",
                timezone="America/Bogota",
                owner_email="bench@bench.example",
                owner_password="bench-password-2026",
            )
            session.commit()
            logos = folder / "uploads" / str(tenant.id)
            logos.mkdir(parents=True)
            Image.new("RGB", (600, 600), (15, 118, 110)).save(logos / ("ab" * 16 + ".png"))
            tenant.logo = "ab" * 16 + ".png"
            session.commit()
            tenant_id = tenant.id
        with tenant_session(platform.sessions, tenant_id) as session:
            tenant = session.get(Tenant, tenant_id)
            g.tenant = tenant
            g.db = session  # as the print job runs: the brand's look read on this connection
            campaign = campaigns.create_campaign(
                session,
                tenant,
                name="BIENVENIDA2027",
                points=150,
                starts_on=date(2026, 12, 1),
                ends_on=date(2027, 3, 31),
                kind="single",
                count=count,
            )
            session.commit()
            layout = sheets.LAYOUTS[layout_name]
            before = status_kb("VmRSS")
            reset_peak()
            wall, cpu = time.perf_counter(), time.process_time()
            items = list(print_jobs.coupon_items(session, tenant, campaign, None, None))
            out = folder / "sheet.pdf"
            if mode == "baseline":
                drawn = whole_sheet(tenant, layout, items, out, naive_qr, 10**6)
            elif mode == "previous":
                drawn = whole_sheet(
                    tenant, layout, items, out, sheets.qr_data_uri, sheets.CHUNK_PAGES
                )
            else:
                drawn = sheets.write_file(tenant, layout, items, out, total=len(items))
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            peak = status_kb("VmHWM")
    from pypdf import PdfReader

    return {
        "mode": mode,
        "coupons": drawn,
        "wall": wall,
        "cpu": cpu,
        "pages": len(PdfReader(out).pages),
        "mb": out.stat().st_size / 1e6,
        "rss_mb": (peak - before) / 1024,
    }


def run(mode: str, count: int, layout: str) -> dict:
    answer = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--coupons", str(count), "--layout", layout],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(answer.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--coupons", type=int, default=1000)
    parser.add_argument("--layout", default="labels-24")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--child", choices=("baseline", "previous", "shipped"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.coupons, args.layout)))
        return
    n = args.coupons
    # The baseline at twice the coupons would take minutes: its memory grows already at n.
    plan = [("baseline", n // 4), ("shipped", n // 4), ("baseline", n), ("previous", n)]
    plan += [("shipped", n), ("shipped", n * 2)]
    print(
        f"{'round':>5} {'mode':<9} {'coupons':>7} {'pages':>5} {'wall s':>7} {'cpu s':>7} "
        f"{'PDF MB':>6} {'+RSS MB':>7}"
    )
    print("load average (1, 5, 15 min) at the start: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    figures: dict[tuple[str, int], list[dict]] = {}
    for round_ in range(1, args.rounds + 1):
        for mode, count in plan:
            r = run(mode, count, args.layout)
            figures.setdefault((mode, count), []).append(r)
            print(
                f"{round_:>5} {mode:<9} {r['coupons']:>7} {r['pages']:>5} {r['wall']:>7.1f} "
                f"{r['cpu']:>7.1f} {r['mb']:>6.2f} {r['rss_mb']:>7.0f}",
                flush=True,
            )
    print()
    # The least of each figure over the rounds: other work only ever adds to them.
    least = {
        key: {f: min(r[f] for r in runs) for f in ("wall", "cpu", "rss_mb")}
        for key, runs in figures.items()
    }
    for mode, count in (("baseline", n // 4), ("baseline", n), ("previous", n)):
        base, ship = least[(mode, count)], least[("shipped", count)]
        print(
            f"{count:>5} coupons: shipped/{mode} wall {ship['wall'] / base['wall']:.2f}, "
            f"cpu {ship['cpu'] / base['cpu']:.2f}, +RSS {ship['rss_mb']:.0f} vs "
            f"{base['rss_mb']:.0f} MB"
        )
    print("load average (1, 5, 15 min) at the end: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
