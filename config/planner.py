"""A PostgreSQL planner method switched off for a few statements of one transaction."""

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def planner_without(cursor, setting: str) -> Iterator[None]:
    """Inside the block the planner does without ``setting`` (``enable_sort``,
    ``enable_nestloop``, ...); after it the setting is what it was.

    For statements whose statistics can be far behind the data (a mass contract end,
    a bench table never analysed), where a plan the setting rules out is known to be
    right. Transaction-local (``set_config(..., true)``): if the block raises, the
    rollback of the transaction or savepoint puts the setting back, and the failed
    transaction is not sent another statement.
    """
    cursor.execute("SELECT current_setting(%s), set_config(%s, 'off', true)", [setting, setting])
    before = cursor.fetchone()[0]
    yield
    cursor.execute("SELECT set_config(%s, %s, true)", [setting, before])
