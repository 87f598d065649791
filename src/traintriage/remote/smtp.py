"""Sending e-mail over SMTP (stdlib smtplib): plain text, optional STARTTLS and login."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

from traintriage.remote.http import DeliveryError


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int = 25
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 10.0


def send(server: SmtpServer, message: EmailMessage) -> None:
    """Deliver one message; temporary failures (4xx, network) are retryable, 5xx are not."""
    try:
        with smtplib.SMTP(server.host, server.port, timeout=server.timeout) as smtp:
            if server.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if server.username:
                smtp.login(server.username, server.password or "")
            refused = smtp.send_message(message)
    except smtplib.SMTPResponseException as err:
        text = (
            err.smtp_error.decode("utf-8", "replace") if isinstance(err.smtp_error, bytes) else err.smtp_error
        )
        raise DeliveryError(
            f"SMTP {server.host}:{server.port}: {err.smtp_code} {text}", retryable=400 <= err.smtp_code < 500
        ) from None
    except smtplib.SMTPRecipientsRefused as err:
        raise DeliveryError(
            f"SMTP {server.host}:{server.port}: recipients refused: {err}", retryable=False
        ) from None
    except (TimeoutError, smtplib.SMTPException, OSError) as err:
        raise DeliveryError(f"SMTP {server.host}:{server.port}: {err}", retryable=True) from None
    if refused:
        raise DeliveryError(f"SMTP {server.host}:{server.port}: refused {sorted(refused)}", retryable=False)
