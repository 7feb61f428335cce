"""`socialrating serve`: uvicorn around the app, with a log that names no one.

uvicorn's own access log prints each request's path (with SNILS, citizen and entry ids
in it), so it is off; the app logs the route's template instead (web/app.py).
"""

from __future__ import annotations

import logging
from pathlib import Path

from .service import ServeError

__all__ = ["ServeError", "run_server"]


def run_server(run_dir: Path, *, host: str = "127.0.0.1", port: int = 8000, db: str | None = None,
               compare_with: tuple[Path, ...] = (), logins_per_minute: int = 20) -> None:
    import uvicorn

    from .app import create_app
    from .security import Throttle

    app = create_app(run_dir, db, compare_with=compare_with, throttle=Throttle(per_ip=logins_per_minute))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="info", server_header=False)
