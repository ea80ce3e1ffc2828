"""Turn a test database read-only and back, the way a failover to a hot standby looks to a client.

``ALTER DATABASE ... SET default_transaction_read_only`` applies to new sessions only, so the
open ones are ended (``pg_terminate_backend``: SQLSTATE 57P01, as when the primary goes away);
the pool's next connection is a new session that refuses writes (SQLSTATE 25006) as a standby
does, and still reads.
"""

from __future__ import annotations

import psycopg
from psycopg import sql


def set_read_only(url: str, read_only: bool) -> None:
    """Make the database at ``url`` read-only (or writable again) for every client of it."""
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SET default_transaction_read_only = off")  # the database's own default
        admin.execute(
            sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = {}").format(
                sql.Identifier(admin.info.dbname), sql.Literal(read_only)
            )
        )
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
