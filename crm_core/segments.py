"""Segments: saved audiences a marketer builds from rules, compiled to one SQL query (SQLite and PostgreSQL).

A segment's rules are JSON: `{"match": "all" | "any", "conditions": [...]}`; each condition names a
field, an operator and a value, and the behaviour fields a window in days:

    {"field": "tier", "op": "in", "value": ["gold", "silver"]}
    {"field": "recency_days", "op": ">=", "value": 60}              # no purchase in the last 60 days
    {"field": "frequency", "op": ">=", "value": 3, "days": 90}      # 3 purchases or more in 90 days
    {"field": "bought_category", "op": "in", "value": ["coffee"], "days": 30}
    {"field": "rfm_r", "op": ">=", "value": 4}                      # recency score 4 or 5 of 5
    {"field": "line_friend", "op": "is", "value": true}

Days count business days in the shop's zone, today included: "in the last 30 days" starts at 00:00 of
the day 29 days before today, and "60 days since the last purchase" means its day is 60 or more days
before today. A purchase refunded in full does not count. Erased customers are never in a segment.
`check_rules` names each wrong condition (`conditions.2.value`) before anything is saved or run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, exists, func, not_, or_, select
from sqlalchemy.exc import IntegrityError

from crm_core.errors import N_, Conflict, InvalidFields, InvalidInput, NotFound
from crm_core.models import ChannelIdentity, Customer, CustomerTag, Purchase, PurchaseItem, Segment, Store
from crm_core.uow import UnitOfWork

C = Customer.__table__
I = ChannelIdentity.__table__  # noqa: E741
P = Purchase.__table__
PI = PurchaseItem.__table__
T = CustomerTag.__table__
S = Store.__table__

MAX_CONDITIONS = 20
MAX_DAYS = 3_650
MAX_VALUES = 100
RFM_DAYS = 365  # scores rank the customers who bought within this many days
RFM_BANDS = 5
AGE_BANDS = {  # band -> (lowest age, highest age); None: no birth date known
    "under_20": (0, 19),
    "20s": (20, 29),
    "30s": (30, 39),
    "40s": (40, 49),
    "50s": (50, 59),
    "60s": (60, 69),
    "70_plus": (70, 200),
    "unknown": None,
}
TIERS = ("regular", "silver", "gold")

NUMBER_OPS = (">=", "<=", "=")
LIST_OPS = ("in", "not_in")
BOOL_OPS = ("is",)


@dataclass(frozen=True)  # mutation-equivalent: frozen=False (nothing assigns to a Field)
class Field:
    kind: str  # number, list, bool
    group: str  # member, behaviour, engagement
    label: str
    window: bool = False  # takes "days"
    low: int = 0
    high: int = 10_000_000  # mutation-equivalent: ±1 (every number field gives its own)


FIELDS: dict[str, Field] = {
    "tier": Field("list", "member", N_("Tier")),
    "home_store": Field("list", "member", N_("Home store")),
    "age_band": Field("list", "member", N_("Age band")),
    "tag": Field("list", "member", N_("Tag")),
    "member_days": Field("number", "member", N_("Days since becoming a member"), high=MAX_DAYS * 10),
    "recency_days": Field("number", "behaviour", N_("Days since the last purchase"), high=MAX_DAYS * 10),
    "frequency": Field("number", "behaviour", N_("Purchases in the window"), window=True, high=100_000),
    "monetary": Field("number", "behaviour", N_("Spend in the window (yen)"), window=True, high=1_000_000_000),
    "bought_product": Field("list", "behaviour", N_("Bought a product (SKU) in the window"), window=True),
    "bought_category": Field("list", "behaviour", N_("Bought in a category in the window"), window=True),
    "rfm_r": Field("number", "behaviour", N_("RFM recency score (1-5)"), low=1, high=RFM_BANDS),
    "rfm_f": Field("number", "behaviour", N_("RFM frequency score (1-5)"), low=1, high=RFM_BANDS),
    "rfm_m": Field("number", "behaviour", N_("RFM monetary score (1-5)"), low=1, high=RFM_BANDS),
    "consented": Field("bool", "engagement", N_("Agreed to the privacy notice")),
    "line_friend": Field("bool", "engagement", N_("LINE friend (following, not blocked)")),
    "opted_out": Field("bool", "engagement", N_("Stopped marketing messages")),
}
OPS = {"number": NUMBER_OPS, "list": LIST_OPS, "bool": BOOL_OPS}


@dataclass(frozen=True)  # mutation-equivalent: frozen=False (nothing assigns to a Member)
class Member:
    """One customer of a segment's sample."""

    customer_id: int
    member_number: str
    name: str
    tier: str
    last_purchase_at: datetime | None


def check_rules(rules) -> dict:
    """The rules tidied (`match` defaulted, values of lists de-duplicated), or InvalidFields naming each wrong part."""
    errors: dict[str, InvalidInput] = {}
    if not isinstance(rules, dict):
        raise InvalidFields({"rules": InvalidInput(N_("Segment rules are an object with match and conditions."))})
    match = rules.get("match", "all")
    if match not in ("all", "any"):
        errors["match"] = InvalidInput(N_("Match is all or any."))
    conditions = rules.get("conditions")
    if not isinstance(conditions, list) or not 1 <= len(conditions) <= MAX_CONDITIONS:
        errors["conditions"] = InvalidInput(N_("Give from 1 to %(most)s conditions."), most=MAX_CONDITIONS)
        raise InvalidFields(errors)
    tidy = []
    for index, condition in enumerate(conditions):
        where = f"conditions.{index}"
        if not isinstance(condition, dict):
            errors[where] = InvalidInput(N_("A condition is an object with field, op and value."))
            continue
        name = condition.get("field")
        spec = FIELDS.get(name) if isinstance(name, str) else None
        if spec is None:
            errors[f"{where}.field"] = InvalidInput(N_("Unknown field: %(field)s."), field=str(name)[:50])
            continue
        op = condition.get("op")
        if op not in OPS[spec.kind]:
            errors[f"{where}.op"] = InvalidInput(
                N_("For this field the operator is one of: %(ops)s."), ops=", ".join(OPS[spec.kind])
            )
            continue
        value = condition.get("value")
        problem, value = _check_value(name, spec, value)
        if problem is not None:
            errors[f"{where}.value"] = problem
            continue
        out = {"field": name, "op": op, "value": value}
        if spec.window:
            days = condition.get("days")
            if not _whole(days, 1, MAX_DAYS):
                errors[f"{where}.days"] = InvalidInput(
                    N_("Enter a whole number of days from 1 to %(high)s."), high=f"{MAX_DAYS:,}"
                )
                continue
            out["days"] = days
        tidy.append(out)
    if errors:
        raise InvalidFields(errors)
    return {"match": match, "conditions": tidy}


def _whole(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _check_value(name: str, spec: Field, value) -> tuple[InvalidInput | None, object]:
    if spec.kind == "bool":
        if not isinstance(value, bool):
            return InvalidInput(N_("Choose yes or no.")), value
        return None, value
    if spec.kind == "number":
        if not _whole(value, spec.low, spec.high):
            return InvalidInput(
                N_("Enter a whole number from %(low)s to %(high)s."), low=f"{spec.low:,}", high=f"{spec.high:,}"
            ), value
        return None, value
    if not isinstance(value, list) or not value or len(value) > MAX_VALUES:
        return InvalidInput(N_("Choose from 1 to %(most)s values."), most=MAX_VALUES), value
    texts = [v.strip() for v in value if isinstance(v, str) and v.strip()]
    if len(texts) != len(value) or any(len(v) > 100 for v in texts):
        return InvalidInput(N_("Each value is a text of at most 100 characters.")), value
    if name == "tier" and not set(texts) <= set(TIERS):
        return InvalidInput(N_("A tier is one of: %(tiers)s."), tiers=", ".join(TIERS)), value
    if name == "age_band" and not set(texts) <= set(AGE_BANDS):
        return InvalidInput(N_("An age band is one of: %(bands)s."), bands=", ".join(AGE_BANDS)), value
    if name == "tag":
        texts = [t.lower() for t in texts]  # as tag_customer stores them
    return None, list(dict.fromkeys(texts))


def audience(rules: dict, *, now: datetime, zone: ZoneInfo):
    """SELECT customers.id of the customers the (checked) rules match, at `now` in the shop's `zone`."""
    today = now.astimezone(zone).date()
    clauses = [_clause(condition, now=now, today=today, zone=zone) for condition in rules["conditions"]]
    matched = and_(*clauses) if rules["match"] == "all" else or_(*clauses)
    return select(C.c.id).where(C.c.erased_at.is_(None), matched)


def _day_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone).astimezone(ZoneInfo("UTC"))


def _kept():
    """A purchase that counts: not refunded in full."""
    return or_(P.c.total == 0, P.c.refunded_total < P.c.total)


def _compare(column, op: str, value):
    return {">=": column >= value, "<=": column <= value, "=": column == value}[op]


def _satisfied_by_zero(op: str, value: int) -> bool:
    """Whether a customer with nothing in the window (0 purchases, ¥0) meets `op value` (value is never negative)."""
    return {">=": value == 0, "<=": True, "=": value == 0}[op]


def _clause(condition: dict, *, now: datetime, today: date, zone: ZoneInfo):
    name, op, value = condition["field"], condition["op"], condition["value"]
    negate = op == "not_in"
    if name == "tier":
        clause = C.c.tier.in_(value)
    elif name == "home_store":
        clause = C.c.home_store_id.in_(select(S.c.id).where(S.c.code.in_(value)))
    elif name == "age_band":
        clause = or_(*(_age_band(band, today) for band in value))
    elif name == "tag":
        clause = C.c.id.in_(select(T.c.customer_id).where(T.c.tag.in_(value)))
    elif name == "member_days":
        clause = _days_since(C.c.created_at, op, value, today=today, zone=zone)
    elif name == "recency_days":
        having = _days_since(func.max(P.c.occurred_at), op, value, today=today, zone=zone)
        clause = C.c.id.in_(select(P.c.customer_id).where(_kept()).group_by(P.c.customer_id).having(having))
    elif name in ("frequency", "monetary"):
        since = _day_start(today - timedelta(days=condition["days"] - 1), zone)
        measure = func.count() if name == "frequency" else func.sum(P.c.total - P.c.refunded_total)
        window = select(P.c.customer_id).where(P.c.occurred_at >= since, _kept()).group_by(P.c.customer_id)
        if _satisfied_by_zero(op, value):  # those who bought nothing match too: all but those who fail
            clause = C.c.id.not_in(window.having(not_(_compare(measure, op, value))))
        else:
            clause = C.c.id.in_(window.having(_compare(measure, op, value)))
    elif name in ("bought_product", "bought_category"):
        since = _day_start(today - timedelta(days=condition["days"] - 1), zone)
        column = PI.c.sku if name == "bought_product" else PI.c.category
        clause = C.c.id.in_(
            select(P.c.customer_id)
            .select_from(P.join(PI, PI.c.purchase_id == P.c.id))
            .where(P.c.occurred_at >= since, _kept(), column.in_(value))
        )
    elif name in ("rfm_r", "rfm_f", "rfm_m"):
        scores = rfm_scores(now=now, zone=zone).subquery()
        clause = C.c.id.in_(select(scores.c.customer_id).where(_compare(scores.c[name[-1]], op, value)))
    elif name == "consented":
        agreed = or_(
            C.c.consented_at.is_not(None),
            exists().where(I.c.customer_id == C.c.id, I.c.channel == "line", I.c.consented_at.is_not(None)),
        )
        clause = agreed if value else not_(agreed)
    elif name == "line_friend":
        friend = exists().where(
            I.c.customer_id == C.c.id, I.c.channel == "line", I.c.followed.is_(True), I.c.blocked_at.is_(None)
        )
        clause = friend if value else not_(friend)
    elif name == "opted_out":
        clause = C.c.marketing_opt_out.is_(True) if value else C.c.marketing_opt_out.is_(False)
    else:  # check_rules lets no other field through
        raise InvalidInput(N_("Unknown field: %(field)s."), field=name)
    if not negate:
        return clause
    # "is none of" keeps those with nothing there: no home store, no birth date (unless "unknown" is chosen)
    if name == "home_store":
        return or_(not_(clause), C.c.home_store_id.is_(None))
    if name == "age_band" and "unknown" not in value:
        return or_(not_(clause), C.c.birth_date.is_(None))
    return not_(clause)


def _days_since(moment, op: str, value: int, *, today: date, zone: ZoneInfo):
    """`moment`'s business day is `value` days before today, or more (>=), or fewer (<=)."""
    day = today - timedelta(days=value)
    start, end = _day_start(day, zone), _day_start(day + timedelta(days=1), zone)
    return {">=": moment < end, "<=": moment >= start, "=": and_(moment >= start, moment < end)}[op]


def _age_band(band: str, today: date):
    limits = AGE_BANDS[band]
    if limits is None:
        return C.c.birth_date.is_(None)
    youngest, oldest = limits
    # aged `youngest` or more today: born on or before today `youngest` years ago; at most `oldest`: born after
    # today `oldest + 1` years ago
    latest = _years_before(today, youngest)
    earliest = _years_before(today, oldest + 1)
    return and_(C.c.birth_date <= latest, C.c.birth_date > earliest)


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one: the 28th
        return day.replace(year=day.year - years, day=28)


def rfm_scores(*, now: datetime, zone: ZoneInfo):
    """(customer_id, r, f, m): each 1-5 among the customers who bought within RFM_DAYS (5 is the best).

    A score is the fifth of the customers the measure puts this customer in, counting everyone tied with
    them as at or below them: ceil(5 x share at or below), in integers. Equal histories get equal scores
    (a shop's many one-time buyers all score the same frequency), and the same history the same scores.
    """
    today = now.astimezone(zone).date()
    since = _day_start(today - timedelta(days=RFM_DAYS - 1), zone)
    last, count, spend = func.max(P.c.occurred_at), func.count(), func.sum(P.c.total - P.c.refunded_total)
    everyone = func.count().over()

    def score(measure):
        at_or_below = func.count().over(order_by=measure)  # the default frame takes in the ties (RANGE)
        return (RFM_BANDS * at_or_below + everyone - 1) // everyone  # integer division: the ceiling

    return (
        select(P.c.customer_id, score(last).label("r"), score(count).label("f"), score(spend).label("m"))
        .where(P.c.occurred_at >= since, _kept())
        .group_by(P.c.customer_id)
    )


def size(*, uow: UnitOfWork, rules: dict, zone: ZoneInfo) -> int:
    """How many customers the rules match now."""
    query = audience(check_rules(rules), now=uow.now(), zone=zone).subquery()
    return uow.session.execute(select(func.count()).select_from(query)).scalar_one()


def sample(*, uow: UnitOfWork, rules: dict, zone: ZoneInfo, limit: int = 10) -> list[Member]:
    """Up to `limit` of the matching customers, most recent buyers first (the marketer's sanity check)."""
    ids = audience(check_rules(rules), now=uow.now(), zone=zone).subquery()
    last = select(P.c.customer_id, func.max(P.c.occurred_at).label("at")).group_by(P.c.customer_id).subquery()
    rows = uow.session.execute(
        select(C.c.id, C.c.member_number, C.c.name, C.c.tier, last.c.at)
        .select_from(C.join(ids, ids.c.id == C.c.id).outerjoin(last, last.c.customer_id == C.c.id))
        .order_by(case((last.c.at.is_(None), 1), else_=0), last.c.at.desc(), C.c.id)
        .limit(limit)
    ).all()
    return [Member(row.id, row.member_number, row.name, row.tier, row.at) for row in rows]


def customer_ids(*, uow: UnitOfWork, segment_id: int, zone: ZoneInfo) -> list[int]:
    """The ids of a saved segment's customers now, in id order."""
    segment = get_segment(uow=uow, segment_id=segment_id)
    query = audience(check_rules(segment.rules), now=uow.now(), zone=zone).order_by(C.c.id)
    return list(uow.session.execute(query).scalars())


def save_segment(
    *, uow: UnitOfWork, name: str, rules: dict, segment_id: int | None = None, staff_user_id: int | None = None
) -> Segment:
    """Create (or, with `segment_id`, update) a segment; InvalidFields for a bad name or rule, Conflict for a
    name another segment has."""
    errors: dict[str, InvalidInput] = {}
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > 100:
        errors["name"] = InvalidInput(N_("A segment needs a name of at most 100 characters."))
    try:
        rules = check_rules(rules)
    except InvalidFields as wrong:
        errors.update(wrong.errors)
    if errors:
        raise InvalidFields(errors)
    now = uow.now()
    segment = None if segment_id is None else get_segment(uow=uow, segment_id=segment_id)
    try:
        with uow.session.begin_nested():  # a refused name leaves the session as it was
            if segment is None:
                segment = Segment(name=name, rules=rules, created_at=now, updated_at=now, updated_by=staff_user_id)
                uow.session.add(segment)
            else:
                segment.name, segment.rules, segment.updated_at, segment.updated_by = name, rules, now, staff_user_id
    except IntegrityError:
        raise Conflict(N_("Another segment already has this name.")) from None
    return segment


def get_segment(*, uow: UnitOfWork, segment_id: int) -> Segment:
    segment = uow.session.get(Segment, segment_id)
    if segment is None:
        raise NotFound(N_("No such segment."))
    return segment


def list_segments(*, uow: UnitOfWork) -> list[Segment]:
    return list(uow.session.execute(select(Segment).order_by(Segment.name)).scalars())


def tag_customer(*, uow: UnitOfWork, customer_id: int, tag: str) -> bool:
    """Give a customer a tag (trimmed, lowercase); False when they had it already."""
    tag = tag.strip().lower() if isinstance(tag, str) else ""
    if not tag or len(tag) > 50:
        raise InvalidInput(N_("A tag is a text of at most 50 characters."))
    if uow.session.get(CustomerTag, (customer_id, tag)) is not None:
        return False
    uow.session.add(CustomerTag(customer_id=customer_id, tag=tag, created_at=uow.now()))
    uow.session.flush()
    return True


def untag_customer(*, uow: UnitOfWork, customer_id: int, tag: str) -> bool:
    found = uow.session.get(CustomerTag, (customer_id, tag.strip().lower()))
    if found is None:
        return False
    uow.session.delete(found)
    uow.session.flush()
    return True


def tags_of(*, uow: UnitOfWork, customer_id: int) -> list[str]:
    return list(uow.session.execute(select(T.c.tag).where(T.c.customer_id == customer_id).order_by(T.c.tag)).scalars())
