"""The triage decision: from what a responder can answer in a minute to a severity,
with the reasons in words. One pure function over data; the wizard's questions and
each service's impact matrix are data too.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# How a service is affected, worst first.
EFFECTS = ("unavailable", "degraded", "bug", "operational")
EFFECT_WORDS = {"unavailable": "unavailable", "degraded": "degraded", "bug": "behaving wrongly",
                "operational": "working"}
# How many customers feel it, most first.
REACH = ("all", "many", "some", "few", "none")
REACH_WORDS = {"all": "all customers", "many": "many customers", "some": "some customers",
               "few": "a few customers", "none": "no customers"}


@dataclass(frozen=True)
class Question:
    key: str
    prompt: str
    help: str
    options: tuple[tuple[str, str], ...] = ()
    kind: str = "choice"  # choice, yesno, services


QUESTIONS: tuple[Question, ...] = (
    Question("services", "Which services are affected, and how?",
             "Mark each service you know is affected; leave the rest as working.",
             tuple((e, EFFECT_WORDS[e].capitalize()) for e in EFFECTS), kind="services"),
    Question("reach", "How many customers are affected?",
             "Your best guess now; you can reclassify later.",
             (("all", "All or nearly all"), ("many", "Many"), ("some", "Some"), ("few", "A few"),
              ("none", "None: internal only"))),
    Question("data_loss", "Is any data lost or corrupted?", "Including data customers cannot reach again.",
             kind="yesno"),
    Question("security", "Is security involved?", "A breach, exposed data, or an attacker at work.", kind="yesno"),
    Question("exposure", "Is there revenue or regulatory exposure?",
             "Payments failing, contractual SLAs, or something a regulator must hear of.", kind="yesno"),
    Question("workaround", "Is there a workaround customers can use?", "", kind="yesno"),
)

STEPS = (("services",), ("reach",), ("data_loss", "security"), ("exposure", "workaround"))


@dataclass(frozen=True)
class Answers:
    services: dict[str, str] = field(default_factory=dict)   # service name → effect
    reach: str = "some"
    data_loss: bool = False
    security: bool = False
    exposure: bool = False
    workaround: bool = False

    def affected(self) -> dict[str, str]:
        return {name: effect for name, effect in self.services.items() if effect != "operational"}


@dataclass(frozen=True)
class Recommendation:
    severity: int
    reasons: tuple[str, ...]

    @property
    def because(self) -> str:
        return f"SEV-{self.severity} because " + "; ".join(self.reasons)


def _worst(affected: dict[str, str]) -> str:
    return min(affected.values(), key=EFFECTS.index) if affected else "operational"


def _names(affected: dict[str, str], effect: str) -> str:
    return ", ".join(sorted(name for name, e in affected.items() if e == effect))


def decide(answers: Answers, matrix: dict[tuple[str, str], int] | None = None) -> Recommendation:
    """The recommended severity and why.

    The rules follow the severity model's definitions (SEV-1 critical … SEV-4 low);
    a service's impact matrix (service, effect) → severity can only raise the result:
    the most severe match wins.
    """
    affected = answers.affected()
    worst = _worst(affected)
    reach = answers.reach
    wide = reach in ("all", "many")
    candidates: list[tuple[int, str]] = []

    if answers.security:
        candidates.append((1, "security is involved"))
    if answers.data_loss:
        candidates.append((1, "data is lost or corrupted"))
    if worst == "unavailable" and reach == "all":
        candidates.append((1, f"{_names(affected, 'unavailable')} is unavailable for all customers"))
    if worst in ("unavailable", "degraded") and reach in ("all", "many") and not answers.workaround:
        if not (worst == "unavailable" and reach == "all"):
            candidates.append((2, f"{_names(affected, worst)} is {EFFECT_WORDS[worst]} for {REACH_WORDS[reach]} "
                                  "with no workaround"))
    if worst == "unavailable" and reach in ("many", "some"):
        candidates.append((2, f"{_names(affected, 'unavailable')} is unavailable for {REACH_WORDS[reach]}"))
    if answers.exposure and reach != "none":
        candidates.append((2, "there is revenue or regulatory exposure"))
    if worst in ("unavailable", "degraded", "bug") and reach != "none":
        candidates.append((3, f"{_names(affected, worst)} is {EFFECT_WORDS[worst]} for {REACH_WORDS[reach]}"
                              + (", with a workaround" if answers.workaround else "")))
    if wide and worst == "operational":
        candidates.append((3, f"{REACH_WORDS[reach]} are affected"))
    for (service, effect), severity in sorted((matrix or {}).items()):
        if affected.get(service) == effect:
            candidates.append((severity, f"the {service} matrix says {EFFECT_WORDS[effect]} is SEV-{severity}"))
    if not candidates:
        if reach == "none":
            return Recommendation(4, ("no customer is affected",))
        return Recommendation(4, ("nothing customers rely on is affected",))
    best = min(severity for severity, _ in candidates)
    return Recommendation(best, tuple(reason for severity, reason in candidates if severity == best))
