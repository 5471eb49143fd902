from __future__ import annotations

import asyncpg
import pytest
from devstack.postgres_server import find_bin_dir, start_postgres

pytestmark = pytest.mark.postgres


@pytest.mark.skipif(find_bin_dir() is None, reason="no PostgreSQL server binaries")
async def test_throwaway_cluster_serves_a_database_and_is_deleted_on_stop() -> None:
    server, url = start_postgres(database="probe")
    try:
        conn = await asyncpg.connect(url)
        assert await conn.fetchval("SELECT current_database()") == "probe"
        await conn.close()
    finally:
        server.stop()
    assert not server.workdir.exists()
