from tests.revocation.conftest import _test_broker  # noqa: F401 - this process's own queue
