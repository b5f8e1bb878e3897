"""The clinic admin console (/ui/admin): clinic_admin only."""

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
