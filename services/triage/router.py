"""Triage endpoints: a dry run of triage, and the rules it applies."""

from typing import Annotated

from fastapi import APIRouter, Depends

from services.core.auth import require
from services.core.db import utcnow
from services.core.errors import responses
from services.core.principal import Principal
from services.intake.schemas import EvaluateIn
from services.triage import service
from services.triage.ruleset import Ruleset
from services.triage.schemas import TriageResult

router = APIRouter(prefix="/v1/triage", tags=["triage"])


@router.post("/evaluate", response_model=TriageResult, responses=responses(400, 401, 403, 413, 422, 503))
async def evaluate(
    body: EvaluateIn,
    _principal: Annotated[Principal, Depends(require("intake:write"))],
) -> TriageResult:
    """Triage an intake body without storing anything.

    `patient` and `consent` may be left out; `patient.birth_date` alone gives the age,
    taken today. Without it, age rules cannot fire and the birth date counts as a question
    not asked (`screening_incomplete`). The result is what `POST /v1/intakes` would attach
    to the referral for the same answers today under the same `ruleset_version`.
    """
    birth_date = body.patient.birth_date if body.patient else None
    return service.evaluate(body, birth_date, utcnow().date())


@router.get("/ruleset", response_model=Ruleset, responses=responses(401, 403, 503))
async def ruleset(_principal: Annotated[Principal, Depends(require())]) -> Ruleset:
    """The triage rules in force: ids, versions, conditions, outcomes and citations."""
    return service.current_ruleset()
