"""Communications: templates for every audience, stakeholder lists, updates on a cadence, webhooks."""
