"""What re-triage and the impact report tell."""

from typing import ClassVar

from pydantic import BaseModel, Field

from services.triage.schemas import Urgency


class RetriageReport(BaseModel):
    OUTCOMES: ClassVar[tuple[str, ...]] = ("escalated", "suggested", "unchanged", "skipped")

    ruleset_version: str
    escalated: int = Field(description="Made more urgent (urgency, pathway or due time)")
    suggested: int = Field(description="Kept; a less urgent result suggested for a person to decide")
    unchanged: int = Field(description="Triaged again with the same urgency, pathway and due time")
    skipped: int = Field(description="Already done by another process, changed meanwhile, or erased")

    def counts(self) -> dict[str, int]:
        return {o: getattr(self, o) for o in self.OUTCOMES}


class Directions(BaseModel):
    """How many results would move, each way, in one dimension or overall."""

    more_urgent: int = 0
    less_urgent: int = 0
    unchanged: int = 0


class RuleImpact(BaseModel):
    rule: str
    fires_now: int = Field(description="Intakes it fires for under the deployed rules")
    fires_with_candidate: int
    starts_firing: int = Field(description="Intakes it would newly fire for")
    stops_firing: int = Field(description="Intakes it would no longer fire for")
    changed: bool = Field(description="The rule is new, removed or defined differently in the candidate")
    results_more_urgent: int = Field(
        description="Results made more urgent where its firing changes, or where it fires and was changed"
    )
    results_less_urgent: int = Field(description="... and results made less urgent")


class ImpactReport(BaseModel):
    deployed_version: str
    candidate_version: str
    intakes: int = Field(description="Intakes read (erased ones are left out)")
    changed: int = Field(description="Results that would differ in urgency, pathway or due time")
    overall: Directions = Field(description="More urgent in any of urgency, pathway, due time and less in none, ...")
    by_urgency: dict[Urgency, dict[Urgency, int]] = Field(description="Deployed urgency → candidate urgency → count")
    urgency: Directions
    pathway: Directions
    due_time: Directions
    rules: list[RuleImpact] = Field(description="Rules whose firing would change, and rules that changed")
    warnings: list[str] = Field(description="Versions that must be bumped for the change to reach waiting referrals")
