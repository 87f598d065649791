"""Screenshots of the web app for docs/: simulate a train, load it, serve it, log in, shoot.

    .venv/bin/python scripts/screenshots.py [--events 60000] [--out docs/screenshots] [--prefix before-]

Uses Debian's /usr/bin/chromium through Playwright (no browser download). Desktop shots at
1360 px (train, queue, signature, search) and phone shots at 390 px (phone-*.png).

The server's
clock is frozen at a checkpoint of the simulated train where the verdict is not `go`,
so the pages show blockers, untriaged errors and a queue to work through.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
OWNERS = """\
# Who owns what (sample rules for the simulated train; the last matching rule wins)
channel:* @mw-platform
includes/ @mw-platform #MediaWiki-Core
includes/libs/rdbms/ @data-persistence #MediaWiki-libs-Rdbms
includes/parser/ @content-transform #Parsoid
extension:* @extensions-triage
extension:Echo @growth-team #Notifications
extension:GrowthExperiments @growth-team #Growth-Team
extension:Translate @language-team #MediaWiki-extensions-Translate
extension:Cite @editing-team #Cite
extension:CirrusSearch @search-platform #CirrusSearch
extension:Wikibase* @wikidata #Wikidata
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pick_checkpoint(store: object, sim: Path) -> tuple[str, float]:
    """The first checkpoint of the simulated train whose verdict is no-go or hold (else the last)."""
    import json

    from traintriage.core.timeparse import parse_timestamp
    from traintriage.services.status import load_context, train_status

    ctx = load_context(store)  # type: ignore[arg-type]
    checkpoints = json.loads((sim / "truth" / "train.json").read_text())["checkpoints"]
    chosen = None
    for cp in checkpoints:
        at = parse_timestamp(cp["time"]) - 300
        decision = train_status(store, cp["version"], at, context=ctx)  # type: ignore[arg-type]
        chosen = (cp["version"], at)
        c = decision.classification
        if decision.verdict in ("no-go", "hold") and len(c.new) + len(c.regressed) >= 2:
            break
    assert chosen is not None
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "screenshots"))
    parser.add_argument("--prefix", default="", help="file name prefix, e.g. before- to keep old shots")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: apt-get install chromium", file=sys.stderr)
        return 1

    import uvicorn
    from playwright.sync_api import sync_playwright

    from traintriage.store import accounts
    from traintriage.store.db import Store
    from traintriage.web import security
    from traintriage.web.app import WebSettings, create_app
    from traintriage_sim import simulate
    from traintriage_sim.scoring import load_simulation

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    shots: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tt-shots-") as tmp:
        sim = Path(tmp) / "sim"
        print(simulate(sim, events=args.events, weeks=2, seed=1))
        db = str(Path(tmp) / "traintriage.db")
        owners = Path(tmp) / "OWNERS"
        owners.write_text(OWNERS, encoding="utf-8")
        with Store(db) as store:
            load_simulation(store, sim)
            version, at = pick_checkpoint(store, sim)
            accounts.create_user(
                store, "ana", "deployer", security.hash_password("screenshots passphrase"), "@growth-team"
            )
        print(f"train {version} as of {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime(at))}")

        app = create_app(WebSettings(db=db, owners=str(owners), at=at, refresh_seconds=0))
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)

                for width, tag in ((1360, ""), (390, "phone-")):
                    page = browser.new_page(viewport={"width": width, "height": 900}, device_scale_factor=1)
                    page.goto(f"{base}/login")
                    page.fill("input[name=name]", "ana")
                    page.fill("input[name=password]", "screenshots passphrase")
                    page.click("button[type=submit]")
                    page.wait_for_url(f"{base}/**")

                    def shoot(name: str, tag: str = tag, page: object = page) -> None:
                        path = out / f"{args.prefix}{tag}{name}.png"
                        page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
                        shots.append(str(path))

                    page.goto(f"{base}/train?version={version}")
                    shoot("train")
                    page.goto(f"{base}/queue?version={version}&team=all")
                    page.keyboard.press("j")
                    shoot("queue")
                    link = page.locator("#queue a.sig").first
                    href = link.get_attribute("href") if link.count() else None
                    if href:
                        page.goto(base + href)
                        shoot("signature")
                    page.goto(f"{base}/search?q=Exception")
                    shoot("search")
                    page.close()
                browser.close()
        finally:
            server.should_exit = True
            thread.join(timeout=10)
    for path in shots:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
