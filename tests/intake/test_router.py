import httpx

from tests.factories import intake_body


async def test_create_and_read_back(client: httpx.AsyncClient, sk: dict[str, str]) -> None:
    response = await client.post("/v1/intakes", json=intake_body(), headers=sk)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["referral"]["status"] == "new"
    assert created["referral"]["urgency"] == "self_care"

    stored = await client.get(f"/v1/intakes/{created['id']}", headers=sk)
    assert stored.status_code == 200
    assert stored.json()["patient"]["given_name"] == "Sam"
    assert stored.json()["referral"]["id"] == created["referral"]["id"]
