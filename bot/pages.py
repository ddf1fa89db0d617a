"""Public pages customers reach from LINE: the privacy notice, the account-link login, the profile page."""

from __future__ import annotations

import io
from urllib.parse import urlencode

import segno
from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, url_for

from bot import client_address, notifications, profile_links
from bot.i18n import format_moment
from bot.web_i18n import current_locale
from bot.web_i18n import gettext as _
from crm_core import cards, customers, membership, profiles, shop
from crm_core.errors import ExpiredCardToken, InvalidCardToken, InvalidFields
from crm_core.login_attempts import LoginFailed, LoginThrottled

bp = Blueprint("pages", __name__, template_folder="templates")


@bp.get("/privacy")
def privacy():
    """Show the full privacy notice."""
    with current_app.extensions["kizuna"].uow_factory() as uow:
        profile = shop.get_profile(uow=uow)
    return render_template("pages/privacy.html", shop=profile)


@bp.get("/card/<code>.png")
def card_qr(code: str):
    """The QR image of a point-card code, while the code is valid."""
    kizuna = current_app.extensions["kizuna"]
    try:
        cards.read(secret=kizuna.settings.secret_key, purpose=cards.CARD, code=code, now=kizuna.uow_factory.clock.now())
    except (InvalidCardToken, ExpiredCardToken):
        abort(404)
    return _qr_png(code)


@bp.get("/coupon/<code>.png")
def coupon_qr(code: str):
    """The QR image of a coupon opened in LINE, while its code is valid."""
    kizuna = current_app.extensions["kizuna"]
    try:
        cards.read_bound(
            secret=kizuna.settings.secret_key, purpose=cards.COUPON, code=code, now=kizuna.uow_factory.clock.now()
        )
    except (InvalidCardToken, ExpiredCardToken):
        abort(404)
    return _qr_png(code)


def _qr_png(code: str) -> Response:
    buffer = io.BytesIO()
    segno.make(code.upper(), error="m").save(buffer, kind="png", scale=12, border=3)
    response = Response(buffer.getvalue(), mimetype="image/png")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/account/link", methods=["GET", "POST"])
def account_link():
    """Log in with a web account; on success hand LINE a nonce to finish linking."""
    kizuna = current_app.extensions["kizuna"]
    link_token = request.values.get("linkToken", "")
    if not link_token or len(link_token) > 200:
        abort(400)
    error = None
    if request.method == "POST":
        with kizuna.uow_factory() as uow:
            try:
                customer = membership.log_in_web_member(
                    uow=uow,
                    email=request.form.get("email", ""),
                    password=request.form.get("password", ""),
                    address=client_address.of_request(request),
                )
            except (LoginFailed, LoginThrottled) as refused:
                uow.commit()  # the wrong try counts
                params = dict(refused.params)
                if "until" in params:
                    params["until"] = format_moment(params["until"], current_locale(), kizuna.settings.zone)
                error = _(refused.message, **params)
            else:
                nonce = membership.issue_account_link_nonce(uow=uow, customer_id=customer.id)
                uow.commit()
                query = urlencode({"linkToken": link_token, "nonce": nonce})
                return redirect(f"{kizuna.settings.line_access_base_url}/dialog/bot/accountLink?{query}")
    with kizuna.uow_factory() as uow:
        profile = shop.get_profile(uow=uow)
    return render_template("pages/account_link.html", link_token=link_token, error=error, shop=profile), (
        401 if error else 200
    )


MAX_TOKEN = 500


@bp.route("/profile", methods=["GET", "POST"])
def profile():
    """The member's profile, opened from the signed link LINE shows (no login); saving confirms on LINE too."""
    kizuna = current_app.extensions["kizuna"]
    token = request.values.get("t", "")[:MAX_TOKEN]
    with kizuna.uow_factory() as uow:
        shop_profile = shop.get_profile(uow=uow)
        customer_id = profile_links.read(secret=kizuna.settings.secret_key, token=token, now=uow.now())
        customer = customers.get_customer(uow=uow, customer_id=customer_id) if customer_id else None
        if customer is None or customer.erased_at is not None:
            return render_template("pages/profile_expired.html", shop=shop_profile), 403
        values, errors, status = profiles.form_values(customer), {}, 200
        if request.method == "POST":
            values = {key: request.form.get(key, "")[:200] for key in values}
            try:
                checked = profiles.check_profile(
                    uow=uow,
                    customer=customer,
                    form=values,
                    fields=profiles.CUSTOMER_FIELDS,
                    required=("name", "name_kana"),
                )
            except InvalidFields as invalid:
                errors = {field: _(error.message, **error.params) for field, error in invalid.errors.items()}
                status = 400
            else:
                profiles.update_profile(uow=uow, customer=customer, values=checked, via="line")
                notifications.queue_profile_saved(services=kizuna, uow=uow, customer=customer)
                uow.commit()
                return redirect(url_for("pages.profile", t=token, saved=1))
        stores = profiles.stores_to_choose(uow=uow, current_id=customer.home_store_id)
        page = render_template(
            "pages/profile.html",
            shop=shop_profile,
            token=token,
            values=values,
            errors=errors,
            stores=stores,
            saved=request.method == "GET" and request.args.get("saved") == "1",
        )
    return page, status
