"""A brand's own domain: entered by the merchant, proven by its DNS, served once verified.

The merchant enters a host name (`puntos.cafelaesquina.co`). Its DNS must then hold a
CNAME to the platform's host (`PREMIA_CNAME_TARGET`, else the first platform host) and a
TXT record `_premia-verify.<name>` holding the merchant's token. A check that finds both
serves the domain: it becomes `Tenant.domain`, which the resolver, mailed links and the
reverse proxy's `ask` endpoint read. Every domain is checked again daily: a served domain
that stops verifying is reported once to the merchant and the operators and stays served
for `PREMIA_DOMAIN_GRACE_DAYS`, then stops; one that verifies again is served again.

Another merchant's pending claim of the same name never blocks a merchant (a squatter
could otherwise hold a brand's domain): only the TXT token proves a domain is one's own,
and a served domain belongs to one merchant (`tenants.domain` is unique). A domain the
operator set by hand (`premia tenant create --domain`) is served as it is, until the
merchant enters a domain here.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import formataddr

import dns.exception
import dns.nameserver
import dns.resolver
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.host.db import platform_session, utcnow
from core.host.errors import Conflict, InvalidInput, NotFound
from core.host.platform import current_platform, plan_limit
from core.host.plugins import PlanLimit
from core.loyalty.staff import Role, StaffUser
from core.web import links, mail
from tenants.models import Tenant, TenantDomain
from worker.jobs import enqueue, platform_job, tenant_job

log = logging.getLogger(__name__)

# Plans are data: whether a plan includes an own domain is a plan limit the operators
# edit like the plugins' (0: none; the white-label plan has one).
LIMIT = PlanLimit("core.own_domains", _l("Own domains"), seeds={"free": 0, "white-label": 1})
TXT_PREFIX = "_premia-verify"
CHECK_EVERY = timedelta(days=1)

# What a check can find wrong, as the merchant reads it.
PROBLEMS = {
    "no_cname": _l("No CNAME record was found for the domain."),
    "wrong_cname": _l("The domain's CNAME record points to another host."),
    "no_txt": _l("No TXT record with the verification token was found."),
    "wrong_txt": _l("The TXT record does not hold this business's verification token."),
    "taken": _l("Another business uses this domain."),
    "dns_error": _l("The DNS servers did not answer. Try again in a few minutes."),
}

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_TLD = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")


@dataclass(frozen=True)
class Record:
    """A DNS record the merchant creates at its DNS provider."""

    type: str
    name: str
    value: str


@dataclass
class Check:
    """What one look at the domain's DNS found."""

    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def inconclusive(self) -> bool:
        """Our DNS did not answer: nothing was learnt about the domain."""
        return self.problems == ["dns_error"]

    @property
    def messages(self) -> list[str]:
        return [str(PROBLEMS[code]) for code in self.problems]


# --- what a plan allows, what is set ---------------------------------------------------


def allowed(tenant: Tenant) -> bool:
    """Whether `tenant`'s plan includes an own domain."""
    return plan_limit(tenant, LIMIT.name) != 0


def current(session: Session) -> TenantDomain | None:
    """The domain the session's tenant entered, if any."""
    return session.scalar(select(TenantDomain))


def cname_target() -> str:
    config = current_app.config
    return config["PREMIA_CNAME_TARGET"] or config["PREMIA_PLATFORM_HOSTS"][0]


def records(domain: TenantDomain) -> list[Record]:
    """The records to create for `domain`, as DNS providers' forms ask for them."""
    return [
        Record("CNAME", domain.name, cname_target()),
        Record("TXT", f"{TXT_PREFIX}.{domain.name}", txt_value(domain.token)),
    ]


def txt_value(token: str) -> str:
    return f"premia-verify={token}"


def grace_ends(domain: TenantDomain) -> datetime | None:
    """Until when a served domain that fails its checks stays served."""
    if domain.failing_since is None:
        return None
    return domain.failing_since + timedelta(days=current_app.config["PREMIA_DOMAIN_GRACE_DAYS"])


def normalize(text: str) -> str:
    """A host name from what the merchant typed (a pasted address's scheme and path are
    dropped, an internationalized name is encoded), or InvalidInput."""
    name = (text or "").strip().lower()
    name = re.sub(r"^[a-z]+://", "", name).split("/", 1)[0].rstrip(".")
    if not name:
        raise InvalidInput(domain=_l("Enter a domain, e.g. puntos.cafelaesquina.co."))
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        name = "\0"  # refused below
    labels = name.split(".")
    if (
        len(name) > 253
        or len(labels) < 2
        or not all(_LABEL.match(label) for label in labels)
        or not _TLD.match(labels[-1])
    ):
        raise InvalidInput(
            domain=_l("This is not a domain name. Enter one like puntos.cafelaesquina.co.")
        )
    return name


def _platform_names() -> set[str]:
    config = current_app.config
    return {*(h.lower() for h in config["PREMIA_PLATFORM_HOSTS"]), cname_target()}


def _served_elsewhere(session: Session, tenant: Tenant, name: str) -> bool:
    return (
        session.scalar(select(Tenant.id).where(Tenant.domain == name, Tenant.id != tenant.id))
        is not None
    )


# --- the merchant's commands -------------------------------------------------------------


def set_domain(session: Session, tenant: Tenant, text: str) -> TenantDomain:
    """Enter `text` as `tenant`'s own domain, to be verified. A domain served until now
    under another name stops being served at once (it is no longer the brand's)."""
    if not allowed(tenant):
        raise NotFound(_l("This plan does not include an own domain."))
    name = normalize(text)
    if any(name == host or name.endswith("." + host) for host in _platform_names()):
        raise InvalidInput(domain=_l("This is an address of the platform, not your own domain."))
    if _served_elsewhere(session, tenant, name):
        raise Conflict(PROBLEMS["taken"], domain=PROBLEMS["taken"])
    domain = current(session)
    if domain is not None and domain.name == name:
        return domain
    if tenant.domain and tenant.domain != name:
        log.info(
            "domain %s of %s no longer served: the merchant entered %s",
            tenant.domain,
            tenant.slug,
            name,
        )
        tenant.domain = None
    if domain is None:
        # One token per merchant: kept when it moves to another name.
        domain = TenantDomain(name=name, token=secrets.token_hex(16))
        session.add(domain)
    domain.name = name
    domain.verified_at = domain.checked_at = domain.problem = None
    domain.failing_since = domain.reported_at = domain.stopped_at = None
    session.flush()
    return domain


def remove_domain(session: Session, tenant: Tenant) -> None:
    """Forget `tenant`'s own domain; it is served no more."""
    domain = current(session)
    if domain is not None:
        session.delete(domain)
    tenant.domain = None
    session.flush()


def verify(session: Session, tenant: Tenant, domain: TenantDomain) -> Check:
    """Look `domain` up in the DNS now and act on what is found: serve it when both
    records are there; for a served domain that fails, start (or end) its grace period
    and report it. The "verify now" button and the daily check both come here."""
    now = utcnow()
    check = lookup(domain.name, domain.token)
    if check.ok and _served_elsewhere(session, tenant, domain.name):
        check = Check(["taken"])
    domain.checked_at = now
    if check.ok:
        domain.verified_at = now
        domain.problem = domain.failing_since = domain.reported_at = domain.stopped_at = None
        if tenant.domain != domain.name:
            log.info("domain %s verified: now served for %s", domain.name, tenant.slug)
        tenant.domain = domain.name
        session.flush()
        return check
    domain.problem = ",".join(check.problems)
    if check.inconclusive or tenant.domain != domain.name:
        session.flush()  # not served: nothing to report, the merchant sees the problem
        return check
    domain.failing_since = domain.failing_since or now
    ends = grace_ends(domain)
    assert ends is not None
    if now >= ends:
        log.warning(
            "domain %s of %s stopped verifying on %s (%s): no longer served",
            domain.name,
            tenant.slug,
            domain.failing_since.isoformat(),
            domain.problem,
        )
        tenant.domain = None
        domain.stopped_at = now
        enqueue(session, send_report, tenant.id, "stopped")
    elif domain.reported_at is None:
        log.warning(
            "domain %s of %s stopped verifying (%s): served until %s",
            domain.name,
            tenant.slug,
            domain.problem,
            ends.isoformat(),
        )
        domain.reported_at = now
        enqueue(session, send_report, tenant.id, "failing")
    session.flush()
    return check


# --- the DNS -------------------------------------------------------------------------


def lookup(name: str, token: str) -> Check:
    """Ask the DNS for `name`'s CNAME and its verification TXT record."""
    resolver = _resolver()
    problems = []
    try:
        targets = [
            rr.target.to_text().rstrip(".").lower() for rr in resolver.resolve(name, "CNAME")
        ]
        if cname_target() not in targets:
            problems.append("wrong_cname")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        problems.append("no_cname")
    except dns.exception.DNSException as error:
        log.warning("DNS lookup of %s failed: %s", name, error)
        return Check(["dns_error"])
    try:
        texts = [
            b"".join(rr.strings).decode("utf-8", "replace")
            for rr in resolver.resolve(f"{TXT_PREFIX}.{name}", "TXT")
        ]
        if txt_value(token) not in texts:
            problems.append("wrong_txt")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        problems.append("no_txt")
    except dns.exception.DNSException as error:
        log.warning("DNS lookup of %s.%s failed: %s", TXT_PREFIX, name, error)
        return Check(["dns_error"])
    return Check(problems)


def _resolver() -> dns.resolver.Resolver:
    config = current_app.config
    servers = config["PREMIA_DNS_NAMESERVERS"]
    if servers:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [_nameserver(server) for server in servers]
    else:
        resolver = dns.resolver.Resolver()
    resolver.lifetime = config["PREMIA_DNS_TIMEOUT"]
    resolver.cache = None  # a check must see the DNS as it is now
    return resolver


def _nameserver(text: str) -> dns.nameserver.Do53Nameserver:
    """ "1.2.3.4", "1.2.3.4:5353" or "[::1]:5353"."""
    if text.startswith("["):
        address, _, port = text[1:].partition("]:")
    elif text.count(":") == 1:
        address, _, port = text.partition(":")
    else:
        address, port = text, ""
    return dns.nameserver.Do53Nameserver(address, int(port or 53))


def is_served(session: Session, name: str) -> bool:
    """Whether `name` is a brand's verified, served domain (the proxy's `ask`)."""
    name = (name or "").strip().lower().rstrip(".")
    return bool(name) and session.scalar(select(Tenant.id).where(Tenant.domain == name)) is not None


# --- the daily check and its reports -------------------------------------------------


@platform_job()
def tick(now: datetime | None = None) -> list[int]:
    """Queue the check of every domain not checked for a day (run hourly, so a restart
    never skips a day)."""
    now = now or utcnow()
    with platform_session(current_platform().sessions) as session:
        due = list(
            session.scalars(
                select(TenantDomain.tenant_id)
                .where(
                    or_(
                        TenantDomain.checked_at.is_(None),
                        TenantDomain.checked_at <= now - CHECK_EVERY,
                    )
                )
                .order_by(TenantDomain.tenant_id)
            )
        )
    for tenant_id in due:  # queued once the session is closed: embedded, they run here
        enqueue(None, recheck, tenant_id)
    return due


@tenant_job(queue="default")
def recheck(session: Session, tenant: Tenant) -> Check | None:
    domain = current(session)
    if domain is None:
        return None
    if not allowed(tenant):  # the plan changed: its own domain went with it
        if tenant.domain == domain.name:
            log.warning(
                "domain %s of %s no longer served: its plan has no own domain",
                domain.name,
                tenant.slug,
            )
            tenant.domain = None
        domain.checked_at = utcnow()
        return None
    return verify(session, tenant, domain)


@tenant_job(queue="mail")
def send_report(session: Session, tenant: Tenant, what: str) -> int:
    """Tell the merchant's owners (in the merchant's language) and the operators (in the
    platform's) that its domain is failing ("failing") or no longer served ("stopped").
    A worker dying mid-send may send it twice, which beats a delivery table."""
    domain = current(session)
    if domain is None:
        return 0
    context = {
        "what": what,
        "domain": domain,
        "until": grace_ends(domain),
        "problems": [PROBLEMS[c] for c in (domain.problem or "").split(",") if c in PROBLEMS],
        "records": records(domain),
        # On the shared app's address: the brand's own domain is what is failing.
        "panel_url": links.external_url("t.panel_domain.index", None, tenant_slug=tenant.slug),
    }
    owners = session.scalars(
        select(StaffUser.email)
        .where(StaffUser.role == Role.OWNER, StaffUser.active.is_(True))
        .order_by(StaffUser.id)
    ).all()
    sent = 0
    for email in owners:
        subject, text, html = mail.render_mail(tenant, "mail/domain_report", None, **context)
        mail.send(mail.build_message(tenant, email, subject, text, html))
        sent += 1
    config = current_app.config
    for email in config["PREMIA_OPERATOR_EMAILS"]:
        subject, text, html = mail.render_mail(
            tenant, "mail/domain_operator", config["BABEL_DEFAULT_LOCALE"], **context
        )
        message = mail.build_message(tenant, email, subject, text, html)
        # From the platform, not the brand: the operators run the platform.
        message.replace_header(
            "From", formataddr((config["PREMIA_PLATFORM_NAME"], config["PREMIA_MAIL_FROM"]))
        )
        del message["Reply-To"]
        mail.send(message)
        sent += 1
    return sent
