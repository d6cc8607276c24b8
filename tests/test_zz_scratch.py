from app.auth.models import Role
from tests.test_access import world_template, world, browser  # noqa

def test_scratch(world):
    app, w = world
    client = browser(app, w, Role.ADMIN)
    a = client.post("/escalation-policies/1/steps/1/remove")
    print("STATUS", a.status_code)
