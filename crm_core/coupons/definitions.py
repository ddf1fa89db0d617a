"""Coupon definitions: what a marketer (or the API) defines, checked field by field before anything is saved."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import date

from sqlmodel import select

from crm_core import stores
from crm_core.coupons import codes
from crm_core.coupons.benefits import FREE_ITEM, GIFT, KINDS, PERCENT_OFF, YEN_OFF
from crm_core.errors import N_, InvalidFields, InvalidInput, NotFound
from crm_core.models import Coupon, CouponStore, Store
from crm_core.uow import UnitOfWork

CLAIM, FLOW, POINTS, LOTTERY = "claim", "flow", "points", "lottery"
OBTAIN = (CLAIM, FLOW, POINTS, LOTTERY)
MAX_YEN = 10_000_000
MAX_STOCK = 10_000_000
MAX_DAYS = 3_650


@dataclass(frozen=True)
class CouponSpec:
    """Everything a coupon definition says; `check()` names each wrong field."""

    title: str
    benefit_kind: str
    benefit_value: int = 0
    benefit_cap: int | None = None
    benefit_item: str | None = None
    min_purchase: int = 0
    valid_days: int | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    stock: int | None = None
    per_customer_limit: int | None = 1
    obtain: str = CLAIM
    points_cost: int | None = None
    win_basis_points: int | None = None
    image_url: str | None = None
    store_codes: tuple[str, ...] = field(default_factory=tuple)
    active: bool = True
    code_prefix: str = ""
    code_alphabet: str = codes.MIXED
    code_length: int = codes.DEFAULT_LENGTH

    def check(self) -> CouponSpec:
        """This spec tidied (title trimmed), or InvalidFields naming every wrong field."""
        errors: dict[str, InvalidInput] = {}

        def whole(name: str, low: int, high: int, *, optional: bool = False) -> None:
            value = getattr(self, name)
            if value is None and optional:
                return
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                errors[name] = InvalidInput(
                    N_("Enter a whole number from %(low)s to %(high)s."), low=f"{low:,}", high=f"{high:,}"
                )

        title = (self.title or "").strip() if isinstance(self.title, str) else ""
        if not title or len(title) > 200:
            errors["title"] = InvalidInput(N_("A coupon needs a title of at most 200 characters."))
        if self.benefit_kind not in KINDS:
            errors["benefit_kind"] = InvalidInput(N_("The benefit is one of: %(kinds)s."), kinds=", ".join(KINDS))
        elif self.benefit_kind == YEN_OFF:
            whole("benefit_value", 1, MAX_YEN)
        elif self.benefit_kind == PERCENT_OFF:
            whole("benefit_value", 1, 100)
            whole("benefit_cap", 1, MAX_YEN, optional=True)
        else:
            whole("benefit_value", 0, MAX_YEN)  # what the item is worth, for the results
        item = self.benefit_item.strip() if isinstance(self.benefit_item, str) else None
        if self.benefit_kind in (FREE_ITEM, GIFT) and not item:
            errors["benefit_item"] = InvalidInput(N_("Say which item the customer gets."))
        if item and len(item) > 200:
            errors["benefit_item"] = InvalidInput(N_("At most 200 characters."))
        whole("min_purchase", 0, MAX_YEN)
        whole("valid_days", 1, MAX_DAYS, optional=True)
        for name in ("valid_from", "valid_until"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), date):
                errors[name] = InvalidInput(N_("Enter a date."))
        if self.valid_days is None and self.valid_until is None:
            errors["valid_days"] = InvalidInput(N_("Give the number of days it is valid, or its last day."))
        if (
            isinstance(self.valid_from, date)
            and isinstance(self.valid_until, date)
            and self.valid_until < self.valid_from
        ):
            errors["valid_until"] = InvalidInput(N_("The last day comes before the first day."))
        whole("stock", 0, MAX_STOCK, optional=True)
        whole("per_customer_limit", 1, 1_000, optional=True)
        if self.obtain not in OBTAIN:
            errors["obtain"] = InvalidInput(N_("How it is obtained is one of: %(ways)s."), ways=", ".join(OBTAIN))
        if self.obtain == POINTS:
            whole("points_cost", 1, MAX_YEN)
        if self.obtain == LOTTERY:
            whole("win_basis_points", 0, 10_000)
        url = self.image_url.strip() if isinstance(self.image_url, str) else None
        if url and (len(url) > 500 or not url.startswith(("https://", "http://"))):
            errors["image_url"] = InvalidInput(N_("The image needs an http(s) address of at most 500 characters."))
        prefix, format_errors = codes.check_format(
            prefix=self.code_prefix,
            alphabet=self.code_alphabet,
            length=self.code_length,
            stock=self.stock if "stock" not in errors else None,
        )
        errors.update(format_errors)
        if errors:
            raise InvalidFields(errors)
        return replace(
            self,
            title=title,
            benefit_item=item or None,
            image_url=url or None,
            benefit_cap=self.benefit_cap if self.benefit_kind == PERCENT_OFF else None,
            points_cost=self.points_cost if self.obtain == POINTS else None,
            win_basis_points=self.win_basis_points if self.obtain == LOTTERY else None,
            store_codes=tuple(self.store_codes or ()),
            code_prefix=prefix,
        )


_COLUMNS = tuple(f.name for f in fields(CouponSpec) if f.name != "store_codes")


def _store_ids(uow: UnitOfWork, codes: tuple[str, ...]) -> list[int]:
    try:
        return sorted({stores.check_store(uow=uow, code=code).id for code in codes})
    except (NotFound, InvalidInput) as error:
        raise InvalidFields({"store_codes": error}) from None


def define_coupon(*, uow: UnitOfWork, spec: CouponSpec) -> Coupon:
    """Save a new coupon definition; InvalidFields (nothing saved) when a field is wrong."""
    spec = spec.check()
    store_ids = _store_ids(uow, spec.store_codes)
    now = uow.now()
    coupon = Coupon(**{name: getattr(spec, name) for name in _COLUMNS}, created_at=now, updated_at=now)
    uow.session.add(coupon)
    uow.session.flush()
    uow.session.add_all(CouponStore(coupon_id=coupon.id, store_id=store_id) for store_id in store_ids)
    uow.session.flush()
    return coupon


def spec_of(*, uow: UnitOfWork, coupon: Coupon) -> CouponSpec:
    """A coupon's definition as a spec (to change some fields and save it again)."""
    return CouponSpec(
        **{name: getattr(coupon, name) for name in _COLUMNS}, store_codes=tuple(store_codes_of(uow=uow, coupon=coupon))
    )


def update_coupon(*, uow: UnitOfWork, coupon_id: int, **changes) -> Coupon:
    """Change some fields of a definition; coupons already issued keep their expiry.

    The stock may not go below what was already issued.
    """
    coupon = check_coupon(uow=uow, coupon_id=coupon_id, lock=True)
    spec = replace(spec_of(uow=uow, coupon=coupon), **changes).check()
    if spec.stock is not None and spec.stock < coupon.issued:
        less = InvalidInput(N_("%(issued)s were already issued: the stock cannot be less."), issued=coupon.issued)
        raise InvalidFields({"stock": less})
    store_ids = _store_ids(uow, spec.store_codes)
    for name in _COLUMNS:
        setattr(coupon, name, getattr(spec, name))
    coupon.updated_at = uow.now()
    for link in uow.session.exec(select(CouponStore).where(CouponStore.coupon_id == coupon.id)):
        uow.session.delete(link)
    uow.session.flush()
    uow.session.add_all(CouponStore(coupon_id=coupon.id, store_id=store_id) for store_id in store_ids)
    uow.session.flush()
    return coupon


def set_active(*, uow: UnitOfWork, coupon_id: int, active: bool) -> Coupon:
    """Stop handing a coupon out (claims, flows, the API, points, the lottery), or start again.

    Stopping deletes nothing: coupons customers already hold stay usable until they expire.
    """
    coupon = check_coupon(uow=uow, coupon_id=coupon_id, lock=True)
    coupon.active = active
    coupon.updated_at = uow.now()
    uow.session.flush()
    return coupon


def get_coupon(*, uow: UnitOfWork, coupon_id: int) -> Coupon | None:
    return uow.session.get(Coupon, coupon_id)


def check_coupon(*, uow: UnitOfWork, coupon_id: int, lock: bool = False) -> Coupon:
    """The coupon definition (its row locked until the transaction ends when `lock`), or NotFound."""
    query = select(Coupon).where(Coupon.id == coupon_id)
    if lock:
        query = query.with_for_update()
    coupon = uow.session.exec(query.execution_options(populate_existing=True)).first()
    if coupon is None:
        raise NotFound(N_("No coupon with this id."))
    return coupon


def list_coupons(*, uow: UnitOfWork, after_id: int = 0, limit: int = 100, active_only: bool = False) -> list[Coupon]:
    """Coupon definitions, oldest first, from after `after_id`."""
    query = select(Coupon).where(Coupon.id > after_id)
    if active_only:
        query = query.where(Coupon.active.is_(True))
    return list(uow.session.exec(query.order_by(Coupon.id).limit(limit)))


def store_ids_of(*, uow: UnitOfWork, coupon_id: int) -> set[int]:
    """The stores a coupon is valid in; empty: every store."""
    return set(uow.session.exec(select(CouponStore.store_id).where(CouponStore.coupon_id == coupon_id)))


def store_codes_of(*, uow: UnitOfWork, coupon: Coupon) -> list[str]:
    query = (
        select(Store.code)
        .join(CouponStore, CouponStore.store_id == Store.id)
        .where(CouponStore.coupon_id == coupon.id)
        .order_by(Store.code)
    )
    return list(uow.session.exec(query))
