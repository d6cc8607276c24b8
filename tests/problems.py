"""Reading the API's RFC 9457 problem details (app/api/problems.py) in tests."""
from __future__ import annotations


def detail(answer) -> str:
    """The `detail` of a problem details answer, once it is checked to be one."""
    assert answer.mimetype == "application/problem+json", (answer.mimetype, answer.data[:300])
    body = answer.json
    assert body["status"] == answer.status_code and body["type"] == "about:blank", body
    assert body["error"] == body["detail"], body  # kept for older clients
    return body["detail"]


def listed(answer) -> list[str]:
    """Each problem the answer lists, worded as its `detail` words them: "'name' what"
    (name from the JSON Pointer or the parameter), or the bare detail."""
    detail(answer)
    words = []
    for problem in answer.json.get("errors", []):
        name = problem.get("parameter") or problem.get("pointer", "").lstrip("/").replace("/", ".")
        words.append(f"'{name}' {problem['detail']}" if name else problem["detail"])
    return words
