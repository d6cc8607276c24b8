"""Outbound webhooks: one way to sign and deliver every JSON POST Firebreak makes to
someone else's URL (comms webhooks to Slack, Teams and JSON receivers; status-page
subscriber webhooks).

- `signing`: Standard Webhooks signatures (`webhook-id`, `webhook-timestamp`,
  `webhook-signature`) and `whsec_` secrets.
- `addresses`: which URLs may be saved, and which addresses may be reached.
- `sender`: one POST to a vetted, pinned address, and what its answer means.

The domains keep their own delivery rows and payloads; they claim a row, commit,
call `sender.deliver` outside any transaction, and record the `Result` with the
shared backoff (app.engine.backoff). Receivers' side: docs/webhooks.md.
"""
