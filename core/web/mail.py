"""E-mail: rendered per tenant theme and language, sent over SMTP from a job.

A mail is three templates, `<name>.subject.txt`, `<name>.txt` and
`<name>.html`, looked up through the tenant's theme (a brand theme overrides
a plugin's). Without an
SMTP host configured (the embedded default) messages are written as .eml
files to the instance's outbox folder instead, so nothing is silently lost.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path
from typing import Any

from flask import current_app, g, render_template
from flask_babel import force_locale

from core.web import brand
from tenants.models import Tenant

log = logging.getLogger(__name__)


def render_mail(
    tenant: Tenant, name: str, language: str | None, **context: Any
) -> tuple[str, str, str]:
    """(subject, text, html) of mail `name` for `tenant`, in `language` or the tenant's.

    `name` is a template path without extension, e.g. "notifications/mail/welcome".
    """
    shown = brand.look(tenant)  # asked before g.tenant changes: the request's plugins are its own
    previous = g.get("tenant")
    g.tenant = tenant  # picks the tenant's theme and money format
    try:
        with force_locale(language or tenant.language):
            context = {"tenant": tenant, **context}
            subject = render_template(f"{name}.subject.txt", **context).strip()
            text = render_template(f"{name}.txt", **context)
            html = render_template(f"{name}.html", **context)
            text += _text_footer(shown)
    finally:
        g.tenant = previous
    return " ".join(subject.split()), text, html


def _text_footer(shown: brand.BrandLook) -> str:
    """The brand's footer and links under a plain-text e-mail (the HTML one draws its own)."""
    lines = [shown.footer_text or ""]
    lines += [url for url in (shown.terms_url, shown.privacy_url) if url]
    lines = [line for line in lines if line]
    return "\n-- \n" + "\n".join(lines) + "\n" if lines else ""


def build_message(
    tenant: Tenant, to: str, subject: str, text: str, html: str, once_key: str | None = None
) -> EmailMessage:
    """An e-mail from the tenant (its brand's sender name, its reply-to address: by default
    its name and e-mail) with text and HTML parts.

    `once_key` names a message sent once per key (a job's delivery key): its Message-ID
    is made from the tenant and the key, so the same message sent again (a worker killed
    after the SMTP server took it but before the job's commit recorded it) is one message
    to the mail systems that drop a Message-ID they already delivered."""
    config = current_app.config
    domain = config["PREMIA_MAIL_FROM"].split("@")[-1]
    shown = brand.look(tenant)
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = formataddr((shown.sender_name or tenant.name, config["PREMIA_MAIL_FROM"]))
    if shown.reply_to:
        message["Reply-To"] = shown.reply_to
    message["To"] = to
    if once_key is None:
        message["Message-ID"] = make_msgid(domain=domain)
    else:
        digest = hashlib.sha256(f"{tenant.id}:{once_key}".encode()).hexdigest()[:40]
        message["Message-ID"] = f"<{digest}@{domain}>"  # never a name: brands say theirs
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def send(message: EmailMessage) -> None:
    """Send an e-mail over SMTP, or write it to the instance's outbox when no SMTP host is set."""
    config = current_app.config
    host = config["PREMIA_SMTP_HOST"]
    if not host:
        _write_to_outbox(message, Path(config["PREMIA_OUTBOX"]))
        return
    port, security = config["PREMIA_SMTP_PORT"], config["PREMIA_SMTP_SECURITY"]
    if security == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            host, port, context=ssl.create_default_context(), timeout=30
        )
    else:
        client = smtplib.SMTP(host, port, timeout=30)
    with client:
        if security == "starttls":
            client.starttls(context=ssl.create_default_context())
        if config["PREMIA_SMTP_USER"]:
            client.login(config["PREMIA_SMTP_USER"], config["PREMIA_SMTP_PASSWORD"] or "")
        client.send_message(message)


def _write_to_outbox(message: EmailMessage, outbox: Path) -> None:
    outbox.mkdir(parents=True, exist_ok=True)
    name = message["Message-ID"].strip("<>").replace("@", "_").replace("/", "_")
    path = outbox / f"{name}.eml"
    path.write_bytes(bytes(message))
    log.info("no SMTP host configured: e-mail to %s written to %s", message["To"], path)
