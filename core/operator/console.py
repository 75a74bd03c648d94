"""The operator console's pages at `/operator/`: merchants, plans, health, the audit log.

Views are thin: the rules are in `merchants`, `plans`, `exports` and `health`, and every
change is audited in the same transaction (who, what, when, from which address).
"""

from __future__ import annotations

from typing import Any

from babel.numbers import format_decimal
from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select

from core.host.db import ALL_TENANTS, scope
from core.host.errors import PremiaError
from core.host.platform import current_platform
from core.operator import audit, exports, health, merchants, plans, signin
from core.operator.models import DataExport
from core.operator.signin import address, current_operator
from core.web.request import db
from tenants.models import Plan, Tenant
from tenants.services import get_plan


def make_blueprint() -> Blueprint:
    bp = Blueprint("operator", __name__, url_prefix="/operator")

    @bp.before_request
    def platform_scope() -> None:
        # The console reads across merchants: its session is the platform's.
        scope(db(), ALL_TENANTS)

    signin.register(bp)

    @bp.context_processor
    def helpers() -> dict[str, Any]:
        return {
            "number": lambda n: format_decimal(n or 0, locale=str(get_locale() or "es")),
            "operator": signin.current_operator_or_none(),
            "action_label": audit.label,
        }

    bp.get("/")(index)
    bp.get("/merchants", endpoint="merchants")(merchant_list)
    bp.get("/merchants/<int:merchant_id>", endpoint="merchant")(merchant_page)
    bp.post("/merchants/<int:merchant_id>/plan", endpoint="change_plan")(change_plan)
    bp.post("/merchants/<int:merchant_id>/suspend", endpoint="suspend")(suspend)
    bp.post("/merchants/<int:merchant_id>/reactivate", endpoint="reactivate")(reactivate)
    bp.post("/merchants/<int:merchant_id>/exports", endpoint="start_export")(start_export)
    bp.get("/exports/<int:export_id>", endpoint="download_export")(download_export)
    bp.get("/plans", endpoint="plans")(plan_page)
    bp.post("/plans/<code>/plugins", endpoint="plan_plugins")(plan_plugins)
    bp.post("/plans/<code>/limits", endpoint="plan_limits")(plan_limits)
    bp.get("/health", endpoint="health")(health_page)
    bp.post("/health/jobs/<job_id>/retry", endpoint="retry_job")(retry_job)
    bp.post("/health/jobs/<job_id>/drop", endpoint="drop_job")(drop_job)
    bp.get("/audit", endpoint="audit")(audit_page)
    bp.get("/account", endpoint="account")(account_page)
    return bp


def index() -> Any:
    return redirect(url_for("operator.merchants"))


def _merchant(merchant_id: int) -> Tenant:
    tenant = db().get(Tenant, merchant_id)
    if tenant is None:
        abort(404)
    return tenant


def merchant_list() -> Any:
    query = (request.args.get("q") or "").strip()[:100]
    rows = merchants.search(db(), current_platform().plugins, query)
    return render_template("operator/merchants.html", rows=rows, query=query)


def merchant_page(merchant_id: int) -> Any:
    tenant = _merchant(merchant_id)
    (row,) = merchants.rows_for(db(), current_platform().plugins, [tenant])
    return render_template(
        "operator/merchant.html",
        row=row,
        tenant=tenant,
        plans=plans.all_plans(db()),
        exports=exports.recent(db(), tenant.id),
        kept_days=exports.KEPT.days,
        entries=audit.recent(db(), merchant_id=tenant.id, limit=50),
    )


def _done(tenant: Tenant, work: Any, message: str) -> Any:
    """Run a change, commit it with its audit row, or say why not (nothing written)."""
    try:
        work()
        db().commit()
    except PremiaError as error:
        db().rollback()
        flash(str(next(iter(error.fields.values()), error.message)), "error")
    else:
        flash(message, "success")
    return redirect(url_for("operator.merchant", merchant_id=tenant.id))


def change_plan(merchant_id: int) -> Any:
    tenant = _merchant(merchant_id)
    code = request.form.get("plan") or ""
    return _done(
        tenant,
        lambda: merchants.change_plan(db(), tenant, code, by=current_operator(), address=address()),
        _("The plan of %(name)s is now %(plan)s.", name=tenant.name, plan=code),
    )


def suspend(merchant_id: int) -> Any:
    tenant = _merchant(merchant_id)
    return _done(
        tenant,
        lambda: merchants.suspend(db(), tenant, by=current_operator(), address=address()),
        _("%(name)s is suspended.", name=tenant.name),
    )


def reactivate(merchant_id: int) -> Any:
    tenant = _merchant(merchant_id)
    return _done(
        tenant,
        lambda: merchants.reactivate(db(), tenant, by=current_operator(), address=address()),
        _("%(name)s is active again.", name=tenant.name),
    )


def start_export(merchant_id: int) -> Any:
    tenant = _merchant(merchant_id)
    return _done(
        tenant,
        lambda: exports.start(db(), tenant, by=current_operator(), address=address()),
        _("The export has started; its archive appears below when ready."),
    )


def download_export(export_id: int) -> Any:
    export = db().get(DataExport, export_id)
    path = exports.path_of(export) if export is not None else None
    if path is None:
        abort(404)
    tenant = _merchant(export.merchant_id)
    audit.record(
        db(),
        current_operator(),
        "export_download",
        address=address(),
        merchant=tenant,
        export=export.id,
    )
    db().commit()
    return send_file(path, mimetype="application/zip", as_attachment=True, download_name=path.name)


def plan_page() -> Any:
    installed = current_platform().plugins
    rows = [(plan, plans.limit_values(installed, plan)) for plan in plans.all_plans(db())]
    return render_template("operator/plans.html", rows=rows, infos=sorted(installed.infos.items()))


def _plan(code: str) -> Plan:
    try:
        return get_plan(db(), code)
    except PremiaError:
        abort(404)


def plan_plugins(code: str) -> Any:
    plan = _plan(code)
    names = set(request.form.getlist("plugins"))
    try:
        plans.edit_plugins(
            db(),
            current_platform().plugins,
            plan,
            names,
            by=current_operator(),
            address=address(),
        )
        db().commit()
    except PremiaError as error:
        db().rollback()
        flash(str(next(iter(error.fields.values()), error.message)), "error")
    else:
        flash(_("Plan %(plan)s saved.", plan=plan.code), "success")
    return redirect(url_for("operator.plans"))


def plan_limits(code: str) -> Any:
    plan = _plan(code)
    installed = current_platform().plugins
    try:
        changes = {}
        for name in installed.limits():
            field = f"limit:{name}"
            if field in request.form:
                changes[name] = plans.parse_limit(request.form[field])
        stored = plan.limits or {}
        current = {v.limit.name: v.value for v in plans.limit_values(installed, plan)}
        for name, value in changes.items():
            if name not in stored and value == current.get(name):
                continue  # left at the seed: nothing stored
            if name in stored and stored[name] == value:
                continue
            plans.edit_limit(
                db(), installed, plan, name, value, by=current_operator(), address=address()
            )
        db().commit()
    except PremiaError as error:
        db().rollback()
        flash(str(next(iter(error.fields.values()), error.message)), "error")
    else:
        flash(_("Plan %(plan)s saved.", plan=plan.code), "success")
    return redirect(url_for("operator.plans"))


def health_page() -> Any:
    # End this request's transaction first: on SQLite it holds the write lock, and the
    # database check opens a connection of its own.
    db().commit()
    return render_template("operator/health.html", health=health.report(current_platform()))


def _job_action(job_id: str, action: str) -> Any:
    runner = current_platform().jobs
    try:
        name = health.describe(runner, job_id)
        (health.retry if action == "job_retry" else health.drop)(runner, job_id)
    except PremiaError as error:
        flash(str(error.message), "error")
        return redirect(url_for("operator.health"))
    audit.record(db(), current_operator(), action, address=address(), target=name[:200], job=job_id)
    db().commit()
    message = _("The job is queued again.") if action == "job_retry" else _("The job is dropped.")
    flash(message, "success")
    return redirect(url_for("operator.health"))


def retry_job(job_id: str) -> Any:
    return _job_action(job_id, "job_retry")


def drop_job(job_id: str) -> Any:
    return _job_action(job_id, "job_drop")


def audit_page() -> Any:
    entries = audit.recent(db(), limit=300)
    ids = {e.merchant_id for e in entries if e.merchant_id}
    names = dict(db().execute(select(Tenant.id, Tenant.name).where(Tenant.id.in_(ids))).all())
    return render_template("operator/audit.html", entries=entries, names=names)


def account_page() -> Any:
    from core.operator.accounts import recovery_codes_left

    left = recovery_codes_left(db(), current_operator())
    return render_template("operator/account.html", left=left)
