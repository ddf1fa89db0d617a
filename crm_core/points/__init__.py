"""Points: the ledger (`ledger`), reading balances (`balances`), and grants for imports (`bulk`)."""

from crm_core.points.balances import Balance, balance_of, balances_of, details, entries_of, ledger_balance
from crm_core.points.bulk import GrantSpec, grant_many
from crm_core.points.ledger import (
    ADDING,
    adjust,
    expire_due,
    get_entry_by_key,
    grant,
    lock_account,
    return_spent,
    reverse,
    spend,
    take_back,
    usable_lots,
)

__all__ = [
    "ADDING",
    "Balance",
    "GrantSpec",
    "usable_lots",
    "adjust",
    "balance_of",
    "balances_of",
    "details",
    "entries_of",
    "expire_due",
    "get_entry_by_key",
    "grant",
    "grant_many",
    "ledger_balance",
    "lock_account",
    "return_spent",
    "reverse",
    "spend",
    "take_back",
]
