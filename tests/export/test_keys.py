"""SMART Backend Services keys (export/keys.py): private keys sealed to SECRET_KEY, the clinic and
the key id; public JWKs with nothing private; client assertions a token endpoint can verify."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from services.export import keys
from services.export.models import IntegrationKey

SECRET = "s" * 40
CLINIC = uuid.uuid4()
NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
CLIENT = "backstride-clinic-1"
TOKEN_URL = "https://ehr.example.org/oauth2/token"


@pytest.fixture(scope="module")
def made() -> Iterator[dict[str, IntegrationKey]]:
    """One key of each algorithm, made once: an RSA 3072 key takes about a second."""
    yield {algorithm: keys.new_key(CLINIC, algorithm, SECRET, NOW) for algorithm in keys.ALGORITHMS}


@pytest.fixture(params=keys.ALGORITHMS)
def key(request: pytest.FixtureRequest, made: dict[str, IntegrationKey]) -> IntegrationKey:
    return made[request.param]


def changed(key: IntegrationKey, **values: Any) -> IntegrationKey:
    """The same row with some columns changed (the fixture's key is left as it is)."""
    fields = ("kid", "clinic_id", "algorithm", "public_jwk", "sealed_private_key", "created_at")
    return IntegrationKey(**{**{f: getattr(key, f) for f in fields}, **values})


def sealed(pem: bytes, clinic_id: uuid.UUID = CLINIC, kid: str = "kid-1") -> IntegrationKey:
    return IntegrationKey(
        kid=kid, clinic_id=clinic_id, algorithm="ES384", public_jwk={},
        sealed_private_key=keys.seal(pem, SECRET, clinic_id, kid), created_at=NOW,
    )  # fmt: skip


# seal and unseal


def test_a_sealed_key_unseals_to_what_was_sealed() -> None:
    pem = b"-----BEGIN PRIVATE KEY-----\nnot really\n-----END PRIVATE KEY-----\n"
    assert keys.unseal(sealed(pem), SECRET) == pem


def test_sealing_twice_gives_two_ciphertexts() -> None:
    assert keys.seal(b"pem", SECRET, CLINIC, "k") != keys.seal(b"pem", SECRET, CLINIC, "k")


def test_the_stored_key_is_not_the_private_key() -> None:
    row = sealed(b"-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n")
    assert "PRIVATE KEY" not in row.sealed_private_key and "secret" not in row.sealed_private_key


def test_another_secret_key_does_not_unseal() -> None:
    with pytest.raises(InvalidTag):
        keys.unseal(sealed(b"pem"), "x" * 40)


def test_a_sealed_key_moved_to_another_clinic_does_not_unseal(key: IntegrationKey) -> None:
    with pytest.raises(InvalidTag):
        keys.unseal(changed(key, clinic_id=uuid.uuid4()), SECRET)


def test_a_sealed_key_under_another_key_id_does_not_unseal(key: IntegrationKey) -> None:
    with pytest.raises(InvalidTag):
        keys.unseal(changed(key, kid=uuid.uuid4().hex), SECRET)


def test_a_sealed_key_cut_short_does_not_unseal(key: IntegrationKey) -> None:
    with pytest.raises(InvalidTag):
        keys.unseal(changed(key, sealed_private_key=key.sealed_private_key[:-8] + "AAAAAAA="), SECRET)


# new_key and jwks


def test_a_new_key_is_the_clinics_with_its_algorithm_and_time(key: IntegrationKey) -> None:
    assert key.clinic_id == CLINIC and key.algorithm in keys.ALGORITHMS and key.created_at == NOW
    assert key.public_jwk["kid"] == key.kid and len(key.kid) == 32


def test_the_public_jwk_names_its_key_and_use_and_holds_nothing_private(key: IntegrationKey) -> None:
    jwk = key.public_jwk
    assert (jwk["kid"], jwk["alg"], jwk["use"]) == (key.kid, key.algorithm, "sig")
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk)
    assert jwt.PyJWK(jwk).algorithm_name == key.algorithm


def test_rs384_is_rsa_3072_and_es384_is_p384(made: dict[str, IntegrationKey]) -> None:
    rsa_key = serialization.load_pem_private_key(keys.unseal(made["RS384"], SECRET), None)
    ec_key = serialization.load_pem_private_key(keys.unseal(made["ES384"], SECRET), None)
    assert isinstance(rsa_key, rsa.RSAPrivateKey) and rsa_key.key_size == 3072
    assert isinstance(ec_key, ec.EllipticCurvePrivateKey) and isinstance(ec_key.curve, ec.SECP384R1)
    assert made["RS384"].public_jwk["kty"] == "RSA" and made["ES384"].public_jwk["crv"] == "P-384"


def test_the_unsealed_private_key_is_the_public_jwks_other_half(key: IntegrationKey) -> None:
    private = serialization.load_pem_private_key(keys.unseal(key, SECRET), None)
    public = jwt.PyJWK(key.public_jwk).key
    der = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert private.public_key().public_bytes(*der) == public.public_bytes(*der)


def test_each_new_key_has_its_own_kid(made: dict[str, IntegrationKey]) -> None:
    assert made["RS384"].kid != made["ES384"].kid


def test_jwks_serves_the_public_jwks(made: dict[str, IntegrationKey]) -> None:
    served = keys.jwks(list(made.values()))
    assert served == {"keys": [made["RS384"].public_jwk, made["ES384"].public_jwk]}
    assert jwt.PyJWKSet.from_dict(served)[made["ES384"].kid].algorithm_name == "ES384"
    assert keys.jwks([]) == {"keys": []}


# client_assertion


def verified(token: str, key: IntegrationKey) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        token,
        jwt.PyJWK(key.public_jwk),
        algorithms=[key.algorithm],
        audience=TOKEN_URL,
        issuer=CLIENT,
        subject=CLIENT,
        options={"require": ["exp", "iat", "jti", "iss", "sub", "aud"]},
    )
    return claims


def test_a_client_assertion_verifies_against_the_public_jwk(key: IntegrationKey) -> None:
    now = datetime.now(UTC)
    claims = verified(keys.client_assertion(key, SECRET, CLIENT, TOKEN_URL, now), key)
    assert (claims["iss"], claims["sub"], claims["aud"]) == (CLIENT, CLIENT, TOKEN_URL)
    assert claims["iat"] == int(now.timestamp())


def test_a_client_assertion_lives_five_minutes(key: IntegrationKey) -> None:
    token = keys.client_assertion(key, SECRET, CLIENT, TOKEN_URL, NOW)
    claims = jwt.decode(token, options={"verify_signature": False})  # NOW may be past or to come: times only
    assert claims["exp"] - claims["iat"] == 300 and claims["iat"] == int(NOW.timestamp())


def test_every_client_assertion_has_its_own_jti(key: IntegrationKey) -> None:
    now = datetime.now(UTC)
    jtis = {verified(keys.client_assertion(key, SECRET, CLIENT, TOKEN_URL, now), key)["jti"] for _ in range(5)}
    assert len(jtis) == 5


def test_a_client_assertion_names_its_key_and_type(key: IntegrationKey) -> None:
    header = jwt.get_unverified_header(keys.client_assertion(key, SECRET, CLIENT, TOKEN_URL, NOW))
    assert header == {"alg": key.algorithm, "kid": key.kid, "typ": "JWT"}


def test_a_client_assertion_does_not_verify_against_another_key(made: dict[str, IntegrationKey]) -> None:
    other = keys.new_key(CLINIC, "ES384", SECRET, NOW)
    token = keys.client_assertion(made["ES384"], SECRET, CLIENT, TOKEN_URL, datetime.now(UTC))
    with pytest.raises(jwt.InvalidSignatureError):
        verified(token, other)


def test_no_client_assertion_is_signed_without_the_secret_key(key: IntegrationKey) -> None:
    with pytest.raises(InvalidTag):
        keys.client_assertion(key, "x" * 40, CLIENT, TOKEN_URL, NOW)
