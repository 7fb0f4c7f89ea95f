"""The web desk (``monitor serve``): Datasette on the monitor's database with the
monitor's own plugin (:mod:`monitor.web.plugin`), metadata and templates.

Pages (all plain HTML, each also as JSON with ``.json``): latest hits by story
(``/-/desk``), a story (``/-/desk/story/<id>``), the watch playground
(``/-/desk/playground``), sources (``/-/desk/sources``) and alerts (``/-/desk/alerts``);
Datasette's own table, row, facet, full-text search, JSON and CSV pages stay as they are.

Browsing uses Datasette's read-only connections (``mode=ro``: a daemon writing the same
file is never blocked). Snoozing and muting watches and stories, and Datasette's SQL
console, are only for a user signed in with the secret the server was started with;
without a secret the desk is read-only.
"""

from __future__ import annotations

import hmac
import secrets
import socket
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.errors import ConfigError

if TYPE_CHECKING:
    from datasette.app import Datasette

TEMPLATES = Path(__file__).parent / "templates"
#: Shortest secret accepted for signing in.
MIN_SECRET = 12


@dataclass(frozen=True)
class DeskSettings:
    """How one desk is set up.

    Attributes:
        db_path: the monitor's SQLite database.
        db_name: its name in Datasette (the file name without suffix).
        rules_dir: the rules folder (watches, entities, variants) the playground uses,
            or None.
        secret: the sign-in secret, or None for a read-only desk.
    """

    db_path: Path
    db_name: str
    rules_dir: Path | None
    secret: str | None

    def secret_matches(self, given: str) -> bool:
        """Whether ``given`` is the secret (constant-time; always False without one)."""
        if not self.secret:
            return False
        return hmac.compare_digest(given.encode(), self.secret.encode())


_SETTINGS: weakref.WeakKeyDictionary[Datasette, DeskSettings] = weakref.WeakKeyDictionary()


def desk_settings(datasette: Datasette) -> DeskSettings | None:
    """Returns: the desk settings of a Datasette instance made by :func:`make_desk`, or
    None for any other instance (the plugin then leaves it alone)."""
    return _SETTINGS.get(datasette)


def make_desk(db_path: str | Path, rules_dir: str | Path | None = None,
              secret: str | None = None, migrate: bool = True) -> Datasette:
    """Build the Datasette instance of the desk.

    Args:
        db_path: the monitor's database; it must exist.
        rules_dir: the rules folder for the playground (None: ad-hoc queries without
            entities only).
        secret: sign-in secret (at least ``MIN_SECRET`` characters), or None for a
            read-only desk.
        migrate: first bring the database's schema up to date (a brief write, only when
            a migration is pending, e.g. the ``mutes`` table).

    Returns:
        A :class:`datasette.app.Datasette`; serve ``.app()`` (ASGI) or use ``.client``.

    Raises:
        ConfigError: the database does not exist or cannot be opened, or the secret is
            too short.
    """
    from datasette.app import Datasette, DatasetteClient
    from datasette.plugins import pm

    from monitor.web import plugin
    from monitor.web.metadata import metadata

    path = Path(db_path)
    if not path.is_file():
        raise ConfigError(f"database {path} not found (run the monitor or "
                          "'monitor replay --db FILE' first, or give --db)")
    if secret is not None and len(secret) < MIN_SECRET:
        raise ConfigError(f"the sign-in secret must be at least {MIN_SECRET} characters")
    if migrate:
        from monitor.store import Store

        Store(path).close()
    if not pm.is_registered(plugin):
        pm.register(plugin, name="monitor-desk")
    name = path.stem
    ds = Datasette(
        files=[str(path)], metadata=metadata(name), template_dir=str(TEMPLATES),
        secret=secrets.token_hex(32),  # sign-ins last as long as the process
        settings={"sql_time_limit_ms": 3000, "default_page_size": 50,
                  "allow_download": False, "facet_time_limit_ms": 500})
    _SETTINGS[ds] = DeskSettings(path, name, Path(rules_dir) if rules_dir else None,
                                 secret)
    # Datasette built its app (and client) before the instance was known as a desk:
    # build them again with the desk's routes
    ds.client = DatasetteClient(ds)
    return ds


def bind(host: str = "127.0.0.1", port: int = 8001) -> socket.socket:
    """Open the listening socket of the desk.

    Args:
        host: address to bind (127.0.0.1 by default: put a reverse proxy in front for
            other machines); an IPv6 address works too.
        port: TCP port (0: any free one; ``sock.getsockname()[1]`` tells which).

    Returns:
        The bound, listening socket.

    Raises:
        OSError: the address cannot be bound (in use, not this machine's, no permission).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def serve(ds: Datasette, sock: socket.socket) -> None:
    """Serve a desk with uvicorn in this process until interrupted (Ctrl-C, SIGTERM).

    Args:
        ds: from :func:`make_desk`.
        sock: from :func:`bind`.
    """
    import uvicorn

    config = uvicorn.Config(ds.app(), lifespan="off", log_level="warning",
                            proxy_headers=True, forwarded_allow_ips="127.0.0.1")
    uvicorn.Server(config).run(sockets=[sock])


__all__ = ["MIN_SECRET", "DeskSettings", "bind", "desk_settings", "make_desk", "serve"]
