"""Protocol clients at the edge: Phabricator's Conduit, HTTP webhooks, SMTP.

Plain standard library (urllib, smtplib), short timeouts, no redirects followed, and one
error type that says whether retrying can help. Nothing here decides anything: the
services call these and keep the outcome (a cached task state, an outbox row).
"""
