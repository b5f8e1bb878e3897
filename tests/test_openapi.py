"""openapi/openapi.json is the published contract: it must equal what the code serves."""

import json
from pathlib import Path

from services.cli import openapi_json

COMMITTED = Path(__file__).parents[1] / "openapi" / "openapi.json"


def test_committed_openapi_matches_the_code() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == openapi_json(), (
        "the API changed: run `make openapi` and commit openapi/openapi.json"
    )


def test_every_v1_operation_documents_its_errors_as_problems() -> None:
    document = json.loads(openapi_json())
    for path, operations in document["paths"].items():
        if not path.startswith("/v1"):
            continue
        for method, operation in operations.items():
            responses = operation["responses"]
            # The JWKS is public: an EHR's authorization server fetches it.
            if path != "/v1/jwks/{clinic_id}.json":
                assert "401" in responses, f"{method} {path}"
            # Logging in takes no credentials; logging out takes only the token it ends.
            if path not in ("/v1/auth/token", "/v1/auth/logout", "/v1/jwks/{clinic_id}.json"):
                assert "403" in responses, f"{method} {path}"
            assert operation.get("description"), f"{method} {path} has no docstring"
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    assert list(response["content"]) == ["application/problem+json"], f"{method} {path} {status}"
