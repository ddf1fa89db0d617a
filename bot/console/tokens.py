"""REST API tokens (admins): list them with their scopes and last use, create one (shown once), revoke one."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from bot.console.session import kizuna, login_required
from bot.web_i18n import gettext as _
from crm_core import api_tokens, stores
from crm_core.errors import N_, KizunaError, NotFound

ADMIN_ROLE = "admin"
MAX_ID = 2**31 - 1


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/tokens", view_func=token_list, methods=["GET", "POST"])
    bp.add_url_rule("/tokens/<int:token_id>/revoke", view_func=revoke_token, methods=["POST"])


def _page(*, values: dict | None = None, errors: dict | None = None, created: dict | None = None, status: int = 200):
    with kizuna().uow_factory() as uow:
        tokens = api_tokens.list_tokens(uow=uow)
        all_stores = stores.list_stores(uow=uow)
    page = render_template(
        "console/tokens.html",
        tokens=tokens,
        stores=all_stores,
        store_codes={store.id: store.code for store in all_stores},
        scopes=api_tokens.SCOPES,
        scopes_of=api_tokens.scopes_of,
        values=values or {"name": "", "scopes": [], "store": ""},
        errors=errors or {},
        created=created,
    )
    # the page that shows a new token once must not be kept by any cache
    return page, status, {"Cache-Control": "no-store"}


@login_required(role=ADMIN_ROLE)
def token_list():
    """List API tokens; create one, whose value this response shows once and never again."""
    if request.method == "GET":
        return _page()
    values = {
        "name": request.form.get("name", "").strip(),
        "scopes": request.form.getlist("scopes")[: len(api_tokens.SCOPES) + 1],
        "store": request.form.get("store", "").strip(),
    }
    try:
        with kizuna().uow_factory() as uow:
            token, raw = api_tokens.create_token(
                uow=uow, name=values["name"], scopes=values["scopes"], store_code=values["store"]
            )
            uow.commit()
    except KizunaError as error:
        field = error.params.get("field")
        field = field if field in ("name", "scopes") else "store" if isinstance(error, NotFound) else "name"
        return _page(values=values, errors={field: _(error.message, **error.params)}, status=400)
    return _page(created={"name": token.name, "raw": raw})


@login_required(role=ADMIN_ROLE)
def revoke_token(token_id: int):
    """Revoke a token: requests that carry it are refused from now on."""
    try:
        with kizuna().uow_factory() as uow:
            token = api_tokens.revoke(uow=uow, token_id=token_id) if token_id <= MAX_ID else None
            if token is None:
                raise NotFound(N_("There is no such API token."))
            uow.commit()
    except KizunaError as error:
        flash(_(error.message, **error.params), "error")
    else:
        flash(_("The token %(name)s was revoked; it no longer works.", name=token.name), "info")
    return redirect(url_for("console.token_list"))
