"""Where a clinic's emergency and urgent referrals are announced."""

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["notifications"])
