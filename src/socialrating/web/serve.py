"""`socialrating serve`: uvicorn around the app, with a log that names no one.

uvicorn's own access log prints each request's path (with SNILS, citizen and entry ids
in it), so it is off; the app logs the route's template instead (web/app.py).

`workers` above 1 (PostgreSQL only) runs that many server processes on one socket
(uvicorn's workers): each holds the run's tables, the sessions and login limits are
shared through the database (web/shared.py), the check log's chain is extended under an
exclusive table lock (store/access.py), and a change made through one process is seen by
the others at their next request (the manifest's stamp, web/service.py). The embedded
store stays one process: a DuckDB file is open for writing in one process only.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from pathlib import Path

from .service import ServeError

__all__ = ["ServeError", "run_server", "app_from_env"]

_ENV = "SOCIALRATING_SERVE_CONFIG"


def run_server(run_dir: Path, *, host: str = "127.0.0.1", port: int = 8000, db: str | None = None,
               compare_with: tuple[Path, ...] = (), logins_per_minute: int = 20, workers: int = 1) -> None:
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    opts = {"host": host, "port": port, "access_log": False, "log_level": "info", "server_header": False}
    if workers > 1:
        if not db:
            raise ServeError("--workers above 1 needs --db postgresql://...: the embedded store (a DuckDB file) "
                             "is written by one process only")
        from .service import load_snapshot
        from .shared import ensure_tables

        load_snapshot(Path(run_dir))  # refuse a non-synthetic or broken folder once, before the workers start
        ensure_tables(db)
        os.environ[_ENV] = json.dumps({"run_dir": str(run_dir), "db": db, "compare_with": [str(p) for p in compare_with],
                                       "logins_per_minute": logins_per_minute, "salt": secrets.token_hex(16)})
        uvicorn.run("socialrating.web.serve:app_from_env", factory=True, workers=workers, **opts)
        return
    from .app import create_app
    from .security import Throttle

    app = create_app(run_dir, db, compare_with=compare_with, throttle=Throttle(per_ip=logins_per_minute))
    uvicorn.run(app, **opts)


def app_from_env():
    """One worker's app (`--workers`): the configuration comes from the parent's environment
    (the secret salt of the login limits' account keys with it, never on a command line)."""
    from .app import create_app
    from .shared import DbSessions, DbThrottle

    cfg = json.loads(os.environ[_ENV])
    db = cfg["db"]
    return create_app(Path(cfg["run_dir"]), db, compare_with=tuple(Path(p) for p in cfg["compare_with"]),
                      throttle=DbThrottle(db, bytes.fromhex(cfg["salt"]), per_ip=cfg["logins_per_minute"]),
                      sessions=DbSessions(db))
