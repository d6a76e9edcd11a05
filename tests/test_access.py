"""API keys and rate limits: unit rules, then a real server with keys configured."""

from __future__ import annotations

import bentoml
import httpx
import pytest
import tritonclient.http as triton

from riskserve.access import (
    API_KEYS_ENV,
    AccessGuard,
    TokenBuckets,
    load_key_digests,
    presented_key,
)
from riskserve.errors import ErrorResponse
from tests.cases import CREDIT, EXAMPLE
from tests.server import Server
from tests.test_inference_protocol_http import named_inputs


def test_keys_from_env_and_file_kept_only_as_digests(tmp_path, monkeypatch):
    monkeypatch.setenv(API_KEYS_ENV, " alpha , ,beta")
    keys_file = tmp_path / "keys"
    keys_file.write_text("# ops team\ngamma\n\n")
    digests = load_key_digests(keys_file)
    assert len(digests) == 3
    assert all(len(d) == 32 for d in digests)
    assert b"alpha" not in b"".join(digests)


def test_no_keys_means_no_auth(monkeypatch):
    monkeypatch.delenv(API_KEYS_ENV, raising=False)
    assert load_key_digests(None) == []


@pytest.mark.parametrize(
    ("headers", "key"),
    [
        ([(b"x-api-key", b"k1")], b"k1"),
        ([(b"authorization", b"Bearer k2")], b"k2"),
        ([(b"authorization", b"bearer  k3 ")], b"k3"),
        ([(b"authorization", b"Basic abc")], None),
        ([], None),
    ],
)
def test_presented_key(headers, key):
    assert presented_key(headers) == key


def test_token_bucket_allows_bursts_then_says_when_to_retry():
    buckets = TokenBuckets(rate=2, burst=3)
    assert [buckets.retry_after(b"a", now=0) for _ in range(3)] == [0, 0, 0]
    assert buckets.retry_after(b"a", now=0) == 1
    assert buckets.retry_after(b"b", now=0) == 0  # per client
    assert buckets.retry_after(b"a", now=0.6) == 0  # refilled at 2 per second


def test_token_bucket_retry_after_rounds_up():
    buckets = TokenBuckets(rate=0.1, burst=1)
    assert buckets.retry_after(b"a", now=0) == 0
    assert buckets.retry_after(b"a", now=0) == 10


def _scope(path: str, headers: list[tuple[bytes, bytes]], method: str = "POST") -> dict:
    return {"path": path, "headers": headers, "method": method}


def test_guard_rules(monkeypatch):
    monkeypatch.setenv(API_KEYS_ENV, "good")
    guard = AccessGuard(load_key_digests(None), {"/livez"}, ("/static/",), None)
    guard.check(_scope("/livez", []))
    guard.check(_scope("/static/x.js", [], "GET"))
    guard.check(_scope("/predict", [(b"x-api-key", b"good")]))
    for headers in ([], [(b"x-api-key", b"bad")], [(b"authorization", b"Bearer goo")]):
        with pytest.raises(ErrorResponse) as info:
            guard.check(_scope("/predict", headers))
        assert info.value.status == 401
        assert info.value.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.fixture(scope="module")
def keyed_server(trained_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("keyed")
    keys_file = folder / "keys.txt"
    keys_file.write_text("file-key\n")
    with Server.source(
        folder,
        env={API_KEYS_ENV: "env-key,other-key"},
        security={
            "api_keys_file": str(keys_file),
            "rate_limit": {"requests_per_second": 1, "burst": 5},
        },
    ) as srv:
        yield srv


slow = pytest.mark.slow


@slow
def test_missing_or_wrong_key_is_401_with_json(keyed_server):
    for headers in ({}, {"x-api-key": "nope"}, {"authorization": "Bearer nope"}):
        response = httpx.post(f"{keyed_server.url}/predict", json=EXAMPLE, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer realm="riskserve"'
        assert response.json()["error"] == "unauthorized"


@slow
def test_keys_from_env_and_file_both_work(keyed_server):
    for headers in ({"x-api-key": "env-key"}, {"authorization": "Bearer file-key"}):
        response = httpx.post(f"{keyed_server.url}/predict", json=EXAMPLE, headers=headers)
        assert response.status_code == 200, response.text


@slow
def test_probes_open_metrics_and_docs_protected(keyed_server):
    url = keyed_server.url
    assert httpx.get(f"{url}/livez").status_code == 200
    assert httpx.get(f"{url}/readyz").status_code == 200
    for path in ("/metrics", "/docs.json", "/schema.json", "/"):
        assert httpx.get(f"{url}{path}").status_code == 401, path
        assert httpx.get(f"{url}{path}", headers={"x-api-key": "env-key"}).status_code == 200
    assert httpx.post(f"{url}/model_info").status_code == 401


@slow
def test_bentoml_client_with_a_token(keyed_server):
    with bentoml.SyncHTTPClient(keyed_server.url, token="other-key") as client:
        assert client.predict(EXAMPLE)["risk_category"] in {"Low", "Medium", "High"}


@slow
def test_rate_limit_per_key_with_retry_after(keyed_server):
    statuses = [
        httpx.post(f"{keyed_server.url}/predict", json=EXAMPLE, headers={"x-api-key": "file-key"})
        for _ in range(8)
    ]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited, [r.status_code for r in statuses]
    assert int(limited[0].headers["retry-after"]) >= 1
    assert limited[0].json()["error"] == "rate limit exceeded"
    # Another key has its own bucket.
    other = httpx.post(
        f"{keyed_server.url}/predict", json=EXAMPLE, headers={"x-api-key": "other-key"}
    )
    assert other.status_code == 200


@slow
def test_auth_off_is_announced_once(server):
    assert server.log().count("authentication is off") == 1


@slow
def test_protocol_routes_need_a_key_but_not_its_probes(keyed_server):
    url = keyed_server.url
    assert httpx.get(f"{url}/v2/health/live").status_code == 200
    assert httpx.get(f"{url}/v2/health/ready").status_code == 200
    refused = httpx.get(f"{url}/v2/models/credit_model")
    assert refused.status_code == 401 and list(refused.json()) == ["error"]
    assert refused.json()["error"].startswith("unauthorized: send a valid API key")
    key = {"X-API-Key": "env-key"}
    with triton.InferenceServerClient(url.removeprefix("http://")) as client:
        assert client.is_server_ready()
        assert not client.is_model_ready("credit_model")
        assert client.is_model_ready("credit_model", headers=key)
        result = client.infer("credit_model", named_inputs(CREDIT, [EXAMPLE]), headers=key)
    assert result.as_numpy("risk_category").tolist()[0] in {"Low", "Medium", "High"}
