"""Screenshots of the communication pages (agenda, summary, trends) from `make demo`'s store.

Usage: .venv/bin/python scripts/screenshots_comms.py [--db demo/traintriage.db] [--out docs/screenshots]
Needs /usr/bin/chromium (or $CHROMIUM) and the demo store; a throwaway user is added to it.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright

from traintriage.core.timeparse import parse_timestamp
from traintriage.store import accounts
from traintriage.store.db import Store
from traintriage.web import security
from traintriage.web.app import WebSettings, create_app

AT = "2021-01-27T20:10:00Z"
USER, PASSWORD = "screenshots", "screenshots passphrase"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default="demo/traintriage.db")
    parser.add_argument("--owners", default="examples/OWNERS")
    parser.add_argument("--out", default="docs/screenshots")
    args = parser.parse_args()
    out = Path(args.out)
    with Store(args.db) as store:
        if accounts.get_user(store, USER) is None:
            accounts.create_user(store, USER, "viewer", security.hash_password(PASSWORD), None)
    app = create_app(WebSettings(db=args.db, owners=args.owners, at=parse_timestamp(AT), refresh_seconds=0))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
                headless=True,
                args=["--no-sandbox"],
            )
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.goto(f"{base}/login")
            page.fill("input[name=name]", USER)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/**")
            for name, path in (
                ("agenda", "/agenda"),
                ("summary", "/summary?version=1.36.0-wmf.28"),
                ("trends", "/trends"),
            ):
                page.goto(base + path)
                page.screenshot(path=str(out / f"{name}.png"), full_page=True)
                print(out / f"{name}.png")
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
