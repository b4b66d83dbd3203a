"""ID-token checks as sso.client applies them, on tokens signed here (no provider needed):
signature against the JWKS, iss, aud, exp, nonce, and no 'none' or symmetric algorithms."""

import time

import pytest
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey, RSAKey

from sso import client
from sso.config import OidcConfig

ISSUER = "https://idp.example.invalid"
NONCE = "nonce-from-the-session"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
CONFIG = OidcConfig(
    issuer=ISSUER,
    discovery_url=f"{ISSUER}/.well-known/openid-configuration",
    client_id="sundown",
    client_secret="client-secret-long-enough-for-hmac-0123456789",
    scopes="openid",
    provider_name="Test",
    username_claim="preferred_username",
    groups_claim="groups",
    mapping={},
    mfa_amr=("mfa",),
    mfa_acr=(),
    timeout=5,
)


@pytest.fixture(scope="module")
def app():
    app = client.app_for(CONFIG)
    # As if discovery had answered: nothing here goes over the network.
    app.server_metadata.update(
        {
            "issuer": ISSUER,
            "jwks": {"keys": [KEY.as_dict(private=False)]},
            "id_token_signing_alg_values_supported": ["RS256", "HS256", "none"],
            "_loaded_at": time.time(),
        }
    )
    return app


def _claims(**changes):
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": "sundown",
        "sub": "u-1",
        "iat": now,
        "exp": now + 300,
        "nonce": NONCE,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _verify(app, id_token, nonce=NONCE):
    metadata = client.provider_metadata(app, CONFIG)
    options = client.id_token_claims_options(metadata, CONFIG)
    return app.parse_id_token({"id_token": id_token}, nonce, claims_options=options)


def _sign(claims, key=KEY, alg="RS256"):
    return jwt.encode({"alg": alg, "kid": "k1"}, claims, key)


def test_a_good_token_passes(app):
    assert _verify(app, _sign(_claims()))["sub"] == "u-1"


@pytest.mark.parametrize(
    "claims",
    [
        _claims(aud="another-client"),
        _claims(iss="https://evil.example"),
        _claims(exp=int(time.time()) - 3600),
        _claims(nonce="another-nonce"),
        _claims(nonce=None),
        _claims(aud=None),
        _claims(sub=None),
    ],
    ids=["aud", "iss", "expired", "nonce", "no-nonce", "no-aud", "no-sub"],
)
def test_a_token_with_wrong_claims_is_refused(app, claims):
    with pytest.raises(JoseError):
        _verify(app, _sign(claims))


def test_a_token_signed_by_another_key_is_refused(app):
    with pytest.raises(JoseError):
        _verify(app, _sign(_claims(), key=OTHER_KEY))


def test_symmetric_and_unsigned_tokens_are_refused(app):
    # HS256 keyed with the client secret would let anyone holding the secret mint tokens.
    hs = jwt.encode({"alg": "HS256"}, _claims(), OctKey.import_key(CONFIG.client_secret))
    with pytest.raises((JoseError, ValueError)):
        _verify(app, hs)
    header, payload = _sign(_claims()).split(".")[:2]
    with pytest.raises((JoseError, ValueError)):
        _verify(app, f"{header}.{payload}.")
    assert client.provider_metadata(app, CONFIG)["id_token_signing_alg_values_supported"] == [
        "RS256"
    ]


def test_discovery_for_another_issuer_is_refused():
    config = OidcConfig(**{**CONFIG.__dict__, "issuer": "https://other.example.invalid"})
    other = client.app_for(config)
    other.server_metadata.update({"issuer": ISSUER, "_loaded_at": time.time()})
    with pytest.raises(client.ProviderError, match="issuer_mismatch"):
        client.provider_metadata(other, config)
