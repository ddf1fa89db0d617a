"""Console pages: dashboard, customer search, the customer screen, failed webhook events."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.routing import BuildError

from bot.console.reservations.customer_panel import customer_bookings
from bot.console.session import current_user, kizuna, login_required
from bot.console.system import quota_notice
from bot.console.tier_labels import tier_label
from bot.console.timeline_labels import describe
from bot.i18n import format_month_day
from bot.web_i18n import current_locale
from bot.web_i18n import gettext as _
from crm_core import customers, events, profiles, segments, shop, timeline
from crm_core.errors import InvalidFields, KizunaError
from crm_core.models import Store

PAGE_SIZE = 50
MAX_ID = 2**31 - 1  # ids are 32-bit integers in the database
PURCHASES_SHOWN = 10
TIMELINE_SHOWN = 100


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/", view_func=dashboard)
    bp.add_url_rule("/customers", view_func=customer_search)
    bp.add_url_rule("/customers/<int:customer_id>", view_func=customer_detail, methods=["GET", "POST"])
    bp.add_url_rule("/customers/<int:customer_id>/erase", view_func=erase_customer, methods=["POST"])
    bp.add_url_rule("/customers/<int:customer_id>/tags", view_func=customer_tags, methods=["POST"])
    bp.add_url_rule("/events", view_func=failed_events)
    bp.add_url_rule("/events/<int:event_id>/rerun", view_func=rerun_event, methods=["POST"])
    bp.context_processor(lambda: {"tier_label": tier_label})


def _error(status: int, title: str, message: str):
    return render_template("console/error.html", title=title, message=message), status


# checklist item -> (endpoint, anchor) of the page that fixes it
CHECKLIST_LINKS = {
    "shop_name": ("console.shop_settings", "shop"),
    "privacy_contact": ("console.shop_settings", "privacy"),
    "store": ("console.store_list", None),
    "staff": ("console.staff_list", None),
    "line": ("console.shop_settings", "line"),
}


def _link(endpoint: str, anchor: str | None) -> str | None:
    try:
        return url_for(endpoint, _anchor=anchor)
    except BuildError:
        return None


@login_required
def dashboard():
    """Show how many customers and LINE friends there are, what waits or failed, and what setup is missing."""
    is_admin = current_user().role == "admin"
    with kizuna().uow_factory() as uow:
        counts = customers.counts(uow=uow)
        backlog = events.backlog(uow=uow)
        checklist = shop.setup_checklist(uow=uow) if is_admin else []
        quota_until = quota_notice(uow)
    todo = [(item.key, _link(*CHECKLIST_LINKS[item.key])) for item in checklist if not item.done]
    return render_template(
        "console/dashboard.html", counts=counts, backlog=backlog, todo=todo, is_admin=is_admin, quota_until=quota_until
    )


@login_required
def customer_search():
    """Find customers by name, kana, member number, phone digits, e-mail, external id or LINE user id."""
    text = request.args.get("q", "").strip()[:200]
    after = request.args.get("after", "")
    after_id = min(int(after), MAX_ID) if after.isdigit() and len(after) <= 18 else 0
    with kizuna().uow_factory() as uow:
        found = customers.search(uow=uow, text=text, after_id=after_id, limit=PAGE_SIZE + 1)
    page, more = found[:PAGE_SIZE], len(found) > PAGE_SIZE
    next_url = url_for("console.customer_search", q=text, after=page[-1].id) if more else None
    return render_template("console/customers.html", q=text, customers=page, next_url=next_url, paged=after_id > 0)


@login_required
def customer_detail(customer_id: int):
    """The screen that pops up when a customer calls: profile (staff correct it), LINE state, purchases, bookings,
    timeline."""
    values, errors, status = None, {}, 200
    with kizuna().uow_factory() as uow:
        customer = customers.get_customer(uow=uow, customer_id=customer_id) if customer_id <= MAX_ID else None
        if customer is None:
            return _error(404, _("Not found"), _("No customer with this id."))
        if customer.erased_at is not None:
            return _error(410, _("Erased"), _("This customer's data was erased on request."))
        if request.method == "POST":
            values = {key: request.form.get(key, "")[:254] for key in profiles.form_values(customer)}
            try:
                checked = profiles.check_profile(uow=uow, customer=customer, form=values, fields=profiles.FIELDS)
            except InvalidFields as invalid:
                errors = {field: _(error.message, **error.params) for field, error in invalid.errors.items()}
                status = 400
            else:
                changed = profiles.update_profile(
                    uow=uow, customer=customer, values=checked, via="console", staff_user_id=current_user().id
                )
                uow.commit()
                flash(_("The profile was saved.") if changed else _("Nothing was changed."), "info")
                return redirect(url_for("console.customer_detail", customer_id=customer_id))
        summary = customers.view(uow=uow, customer=customer)
        identity = customers.line_identity_of(uow=uow, customer_id=customer_id)
        purchases = customers.recent_purchases(uow=uow, customer_id=customer_id, limit=PURCHASES_SHOWN)
        entries = timeline.list_for_customer(uow=uow, customer_id=customer_id, limit=TIMELINE_SHOWN)
        stores = profiles.stores_to_choose(uow=uow, current_id=customer.home_store_id)
        home_store = uow.session.get(Store, customer.home_store_id) if customer.home_store_id else None
        tags = segments.tags_of(uow=uow, customer_id=customer_id)
        bookings = customer_bookings(uow=uow, customer_id=customer_id)
    birthday = customer.birth_month and format_month_day(customer.birth_month, customer.birth_day, current_locale())
    page = render_template(
        "console/customer.html",
        customer=customer,
        summary=summary,
        identity=identity,
        purchases=purchases,
        tier=tier_label(customer.tier),
        entries=[(entry, *describe(entry)) for entry in entries],
        is_admin=current_user().role == "admin",
        birthday=birthday,
        home_store=home_store,
        stores=stores,
        values=values or profiles.form_values(customer),
        errors=errors,
        tags=tags,
        bookings=bookings,
    )
    return page, status


@login_required
def customer_tags(customer_id: int):
    """Add a tag to a customer, or remove one (segments choose customers by tag)."""
    with kizuna().uow_factory() as uow:
        customer = customers.get_customer(uow=uow, customer_id=customer_id) if customer_id <= MAX_ID else None
        if customer is None or customer.erased_at is not None:
            return _error(404, _("Not found"), _("No customer with this id."))
        try:
            if request.form.get("remove"):
                segments.untag_customer(uow=uow, customer_id=customer_id, tag=request.form["remove"])
            else:
                segments.tag_customer(uow=uow, customer_id=customer_id, tag=request.form.get("add", ""))
            uow.commit()
        except KizunaError as error:
            flash(_(error.message, **error.params), "error")
    return redirect(url_for("console.customer_detail", customer_id=customer_id))


@login_required(role="admin")
def erase_customer(customer_id: int):
    """Erase a customer's personal data on their request; their purchases stay, anonymous."""
    if request.form.get("confirm") != "erase":
        flash(_("Tick the box to confirm the erasure."), "error")
        return redirect(url_for("console.customer_detail", customer_id=customer_id))
    with kizuna().uow_factory() as uow:
        if customer_id > MAX_ID or customers.get_customer(uow=uow, customer_id=customer_id) is None:
            return _error(404, _("Not found"), _("No customer with this id."))
        customers.erase_customer(uow=uow, customer_id=customer_id, staff_user_id=current_user().id)
        uow.commit()
    flash(_("The customer's personal data was erased."), "info")
    return redirect(url_for("console.customer_search"))


@login_required(role="admin")
def failed_events():
    """List webhook events whose processing failed, with their error."""
    with kizuna().uow_factory() as uow:
        failed = events.failed_events(uow=uow)
    return render_template("console/events.html", events=failed)


@login_required(role="admin")
def rerun_event(event_id: int):
    """Put a failed event back in its lane and process it now."""
    services = kizuna()
    with services.uow_factory() as uow:
        event = events.rerun(uow=uow, event_id=event_id) if event_id <= MAX_ID else None
        if event is None:
            return _error(404, _("Not found"), _("No webhook event with this id."))
        lane = event.lane
        uow.commit()
    services.pump.submit([lane])
    flash(_("Event %(id)d is being processed again.", id=event_id), "info")
    return redirect(url_for("console.failed_events"))
