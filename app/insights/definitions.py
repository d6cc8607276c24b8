"""Every metric in plain words: shown on the Definitions page, linked from each
figure on the dashboard and the monthly report, and copied into docs/insights.md.
Kept beside the queries in app.insights.metrics; change one, change the other."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Definition:
    key: str
    name: str
    what: str          # one sentence: what it tells you
    how: str           # how it is counted, exactly
    edges: str = ""    # what happens in the awkward cases


WHO_COUNTS = (
    "Incidents count in a period when they were detected in it: whole days from midnight to midnight in "
    "your time zone. Drills and game days (incidents flagged as exercises) are left out of every operational "
    "figure and counted under Training. An incident merged into another counts once, as the one it was merged "
    "into. The team filter keeps incidents on services the team owns; the severity filter uses the incident's "
    "severity now (for a resolved incident, its final severity).")

DEFINITIONS: list[Definition] = [
    Definition(
        "mttd", "Time to detect (MTTD)",
        "How long customers were affected before we knew.",
        "From impact started to detected, for incidents whose impact start is known. Shown as the mean, the "
        "median (half took less) and the 90th percentile (nine in ten took less).",
        "Incidents without a known impact start are left out. Percentiles interpolate between the two nearest "
        "values, as PostgreSQL's percentile_cont does."),
    Definition(
        "mtta", "Time to acknowledge (MTTA)",
        "How long it took a person to say “I'm on it”.",
        "From detected to the first acknowledgement, for incidents someone acknowledged.",
        "Incidents never acknowledged (resolved first, or still waiting) are left out and counted apart. "
        "Acknowledging again after a timeout does not move the first acknowledgement."),
    Definition(
        "mttm", "Time to mitigate (MTTM)",
        "How long until customers stopped being hurt.",
        "From detected to mitigated. Resolving an incident that was never marked mitigated mitigates it then.",
        "A reopened incident keeps its first mitigation."),
    Definition(
        "mttr", "Time to resolve (MTTR)",
        "How long from detection until the incident was over.",
        "From detected to resolved, for resolved incidents.",
        "A reopened incident counts from detection to its final resolution; while reopened it is open and left "
        "out. Still-open incidents are left out and counted apart."),
    Definition(
        "objectives", "Objective compliance",
        "Whether we responded and resolved within each severity's objectives.",
        "Per severity, the share of incidents whose response (first acknowledgement, or the resolution if "
        "nobody acknowledged) and whose resolution came within the severity's response and resolution "
        "objectives as the severity model sets them now.",
        "An open incident still inside its objective is not yet judged; one past it counts as breached."),
    Definition(
        "recurrence", "Recurrence rate",
        "How often the same problem comes back.",
        "The share of the period's incidents that repeat an earlier incident: same service, and the same alert "
        "fingerprint (dedup key) or a contributing factor of the same category, detected at most 90 days after "
        "the earlier one.",
        "The earlier incident may fall before the period. Drills and incidents merged away are not earlier "
        "incidents either."),
    Definition(
        "classification", "Severity classification accuracy",
        "Whether the first severity we chose was the right one.",
        "Of the period's resolved incidents, the share whose first severity is their final severity. Raised "
        "means it ended more severe than first thought (under-estimated); lowered, less severe.",
        ""),
    Definition(
        "postmortems", "Post-mortem completion",
        "Whether required reviews get written on time.",
        "Of the period's resolved incidents whose severity requires a post-mortem, the share published by its due "
        "date. Published late, overdue (not published, past due) and never started count against it; drafts not "
        "yet due are not judged.",
        "Dates are compared in UTC."),
    Definition(
        "action_items", "Action item completion",
        "Whether we do what reviews decide, when we said we would.",
        "Of the action items due in the period, the share done by their due date. Done late and still open past "
        "the due date count against it; open items not yet due and items decided against (won't do) are not "
        "judged. Open overdue is every open item past its due date today, whenever it was due.",
        "Dates are compared in UTC. Drills' action items are left out."),
    Definition(
        "communication", "Communication compliance",
        "Whether stakeholder updates go out on the cadence the severity sets.",
        "Of the updates the severity's cadence owed on incidents that count, and that fell due in the period, the "
        "share sent by the time they were due. Sent late, and overdue with none sent since, count against it; "
        "updates not due yet are not judged.",
        "An open incident owes its first update one cadence after detection, and each update sent owes the next "
        "one cadence later. The period is when updates fell due, so an incident detected earlier can owe updates "
        "in it. Resolving the incident, or a severity without a cadence, cancels what is not yet due: it was never "
        "owed. One that is already overdue stays owed, and the next update sent (often the resolution notice) "
        "meets it, late."),
    Definition(
        "improvement", "Improvement success",
        "Whether our fixes work.",
        "Of the period's incidents whose action items were all done, the share that did not recur (same service, "
        "same fingerprint or factor category) within 90 days after the last item was done.",
        "Fixes finished less than 90 days ago are still being watched and not judged. An incident with an item "
        "still open, or decided against, does not count as fixed."),
    Definition(
        "knowledge", "Knowledge sharing",
        "Whether people learn from past incidents.",
        "How many different people opened a post-mortem or the page of a past (resolved) incident in the "
        "period, and per team, how many of its members did. Each person counts once per day per page.",
        "The filters choose what was read (its service, team and severity); the table says who read it."),
    Definition(
        "training", "Training",
        "How many drills and game days we run and how people do in them.",
        "Incidents flagged as exercises in the period, and the assessment each participant got (0–100): mean "
        "and median, and per person.",
        "Exercises never count in the operational figures."),
    Definition(
        "culture", "Culture",
        "Whether responders feel the response and review were blameless and safe to speak up in.",
        "After each incident every responder is asked two questions, 1 (strongly disagree) to 5 (strongly "
        "agree), through a link that works once. Shown: the mean and the spread of answers for the period's "
        "incidents.",
        "Only shown when at least three answers make up the group, and answers are stored without the person or "
        "the time, so none can be traced to anyone."),
    Definition(
        "interruptions", "On-call interruptions",
        "When people get paged.",
        "Pages sent to a person in the period (what the on-call load report counts), by weekday and hour of day "
        "in your time zone.",
        "Pages in drills are left out. For each person's own hours, see On-call load."),
    Definition(
        "top", "Top services and contributing factors",
        "Where incidents come from and why.",
        "Services with the most incidents in the period (and how many of those were SEV-1 or SEV-2), and the "
        "contributing-factor categories named in most of the period's post-mortems.",
        ""),
]
BY_KEY = {d.key: d for d in DEFINITIONS}
