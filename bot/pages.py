"""Public pages customers reach from LINE: the privacy notice and the account-link login."""

from __future__ import annotations

import io
from urllib.parse import urlencode

import segno
from flask import Blueprint, Response, abort, current_app, redirect, render_template, request

from bot.i18n import format_moment
from bot.web_i18n import current_locale
from bot.web_i18n import gettext as _
from crm_core import cards, membership, shop
from crm_core.errors import ExpiredCardToken, InvalidCardToken
from crm_core.staff import LoginFailed, LoginLocked

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
                    uow=uow, email=request.form.get("email", ""), password=request.form.get("password", "")
                )
            except (LoginFailed, LoginLocked) as refused:
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
