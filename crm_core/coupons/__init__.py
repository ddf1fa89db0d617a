"""Coupons: definitions (`definitions`), the discount and validity arithmetic (`benefits`), their codes
(`codes`), handing them out under stock and per-customer limits (`issuing`), using them once
(`redeeming`) and what became of them (`usage`)."""

from crm_core.coupons.benefits import KINDS, discount_for, expires_at
from crm_core.coupons.codes import ALPHABETS, display_code, normalize_code
from crm_core.coupons.definitions import (
    OBTAIN,
    CouponSpec,
    check_coupon,
    define_coupon,
    get_coupon,
    list_coupons,
    set_active,
    spec_of,
    store_codes_of,
    store_ids_of,
    update_coupon,
)
from crm_core.coupons.issuing import (
    Draw,
    Issued,
    claim_coupon,
    draw_lottery,
    exchange_points,
    get_by_code,
    get_by_key,
    issue_coupon,
)
from crm_core.coupons.redeeming import (
    Redemption,
    check_redeemable,
    code_of,
    held_coupons,
    offered_coupons,
    qr_code_for,
    redeem_coupon,
    restore_coupon,
)
from crm_core.coupons.usage import Usage, usage_of

__all__ = [
    "ALPHABETS",
    "KINDS",
    "OBTAIN",
    "CouponSpec",
    "Draw",
    "Issued",
    "Redemption",
    "Usage",
    "check_coupon",
    "check_redeemable",
    "claim_coupon",
    "code_of",
    "define_coupon",
    "discount_for",
    "display_code",
    "draw_lottery",
    "exchange_points",
    "expires_at",
    "get_by_code",
    "get_by_key",
    "get_coupon",
    "held_coupons",
    "issue_coupon",
    "list_coupons",
    "normalize_code",
    "offered_coupons",
    "qr_code_for",
    "redeem_coupon",
    "restore_coupon",
    "set_active",
    "spec_of",
    "store_codes_of",
    "store_ids_of",
    "update_coupon",
    "usage_of",
]
