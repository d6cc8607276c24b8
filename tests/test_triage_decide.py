"""The triage decision, path by path."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.triage.decide import EFFECTS, REACH, Answers, decide

C = "checkout"
S = "search"


@pytest.mark.parametrize("answers,severity,reason", [
    # SEV-1: security, data loss, a service down for everyone
    (Answers(security=True, reach="none"), 1, "security is involved"),
    (Answers(data_loss=True, reach="few"), 1, "data is lost or corrupted"),
    (Answers({C: "unavailable"}, reach="all"), 1, "checkout is unavailable for all customers"),
    (Answers({C: "unavailable"}, reach="all", workaround=True), 1, "checkout is unavailable for all customers"),
    # SEV-2: badly degraded or down for many with no workaround; down for some; money or regulators
    (Answers({C: "unavailable"}, reach="many"), 2, "checkout is unavailable for many customers with no workaround"),
    (Answers({C: "degraded"}, reach="all"), 2, "checkout is degraded for all customers with no workaround"),
    (Answers({C: "degraded"}, reach="many"), 2, "checkout is degraded for many customers with no workaround"),
    (Answers({C: "unavailable"}, reach="some"), 2, "checkout is unavailable for some customers"),
    (Answers({C: "unavailable"}, reach="many", workaround=True), 2, "checkout is unavailable for many customers"),
    (Answers({C: "bug"}, reach="few", exposure=True), 2, "there is revenue or regulatory exposure"),
    # SEV-3: partial degradation, a workaround, few customers
    (Answers({C: "degraded"}, reach="all", workaround=True), 3,
     "checkout is degraded for all customers, with a workaround"),
    (Answers({C: "unavailable"}, reach="few"), 3, "checkout is unavailable for a few customers"),
    (Answers({C: "degraded"}, reach="some"), 3, "checkout is degraded for some customers"),
    (Answers({C: "bug"}, reach="many"), 3, "checkout is behaving wrongly for many customers"),
    (Answers({}, reach="many"), 3, "many customers are affected"),
    # SEV-4: cosmetic or internal only
    (Answers({C: "unavailable"}, reach="none"), 4, "no customer is affected"),
    (Answers({C: "bug"}, reach="none", exposure=True), 4, "no customer is affected"),
    (Answers({}, reach="few"), 4, "nothing customers rely on is affected"),
    (Answers({C: "operational"}, reach="some"), 4, "nothing customers rely on is affected"),
])
def test_every_path_of_the_decision(answers, severity, reason):
    recommendation = decide(answers)
    assert recommendation.severity == severity
    assert reason in recommendation.reasons


def test_the_worst_service_decides_and_all_its_names_are_given():
    recommendation = decide(Answers({C: "unavailable", S: "unavailable", "login": "bug"}, reach="all"))
    assert recommendation.because == "SEV-1 because checkout, search is unavailable for all customers"


def test_a_services_matrix_can_raise_the_severity_and_the_most_severe_match_wins():
    matrix = {(C, "degraded"): 1, (S, "degraded"): 3}
    assert decide(Answers({C: "degraded"}, reach="few"), matrix).because == \
        "SEV-1 because the checkout matrix says degraded is SEV-1"
    assert decide(Answers({S: "degraded"}, reach="some"), matrix).severity == 3
    assert decide(Answers({S: "unavailable"}, reach="all"), matrix).severity == 1  # the rules still apply


@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), st.sampled_from(EFFECTS), max_size=3),
       st.sampled_from(REACH), st.booleans(), st.booleans(), st.booleans(), st.booleans())
def test_worse_answers_never_lower_the_severity(services, reach, data_loss, security, exposure, workaround):
    base = Answers(services, reach, data_loss, security, exposure, workaround)
    result = decide(base)
    assert 1 <= result.severity <= 4 and result.reasons
    assert decide(Answers(services, reach, True, security, exposure, workaround)).severity <= result.severity
    assert decide(Answers(services, reach, data_loss, True, exposure, workaround)).severity <= result.severity
    wider = REACH[max(REACH.index(reach) - 1, 0)]
    assert decide(Answers(services, wider, data_loss, security, exposure, workaround)).severity <= result.severity
