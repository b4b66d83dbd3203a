"""The API's rate limit (api.throttling.TokenRateThrottle): a sliding window counted as two
fixed ones, the previous window weighted by how much of it is still within the last
minute; Retry-After says when the estimate drops below the limit."""

import pytest
from django.core.cache import cache
from django.test import override_settings

from api.models import ApiToken
from api.throttling import TokenRateThrottle
from tests.api.conftest import token_client

pytestmark = pytest.mark.django_db

START = 1_800_000_000 // 60 * 60  # the start of a minute


@pytest.fixture
def clock(monkeypatch):
    now = [float(START)]
    monkeypatch.setattr(TokenRateThrottle, "timer", staticmethod(lambda: now[0]))
    return now


@pytest.fixture
def three_a_minute(settings):
    rest = {**settings.REST_FRAMEWORK}
    rest["DEFAULT_THROTTLE_RATES"] = {"token": "3/min", "anon": "3/min"}
    with override_settings(REST_FRAMEWORK=rest):
        yield


def _codes(client, n):
    return [client.get("/api/v1/agencies/").status_code for _ in range(n)]


def test_the_previous_minute_counts_by_how_much_of_it_is_still_inside(
    officer, world, clock, three_a_minute
):
    client = token_client(officer)
    assert _codes(client, 4) == [200, 200, 200, 429]
    response = client.get("/api/v1/agencies/")
    assert response["Retry-After"] == "60"  # three this minute: the whole next one

    clock[0] = START + 60 + 30  # half of the previous minute inside: 1.5 of 3 used
    assert _codes(client, 3) == [200, 200, 429]  # 1.5 + 1, then 1.5 + 2 >= 3
    # 3 - 2 = 1 left when the previous minute's weight is 1/3: 40 s in, 10 s from now.
    assert client.get("/api/v1/agencies/")["Retry-After"] == "10"

    clock[0] = START + 60 + 45  # a quarter inside: 0.75 + 2 < 3
    assert _codes(client, 2) == [200, 429]

    clock[0] = START + 180  # two minutes on: nothing counts
    assert _codes(client, 4) == [200, 200, 200, 429]


def test_a_bucket_written_by_drfs_own_throttle_counts_as_empty(
    officer, world, clock, three_a_minute
):
    client = token_client(officer)
    token = ApiToken.objects.get(user=officer)
    # DRF's throttle kept a list of request times under the same key.
    cache.set(f"sundown_api_throttle:token:{token.pk}", [float(START)] * 10, 60)
    assert _codes(client, 4) == [200, 200, 200, 429]
