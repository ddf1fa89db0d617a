"""CSV imports of customers and purchases (`kizuna import customers|purchases FILE`).

Every row is checked first (the whole file, plus one read of the database per chunk of references);
then the valid rows are written in batches, one transaction each, so a batch lands whole or not at
all. External ids make a second run of the same file add nothing. The columns are documented in
docs/imports.md.
"""

from crm_core.imports.customers import import_customers
from crm_core.imports.purchases import import_purchases
from crm_core.imports.reading import BATCH_SIZE, ImportFileError, ImportReport, Problem

__all__ = ["BATCH_SIZE", "ImportFileError", "ImportReport", "Problem", "import_customers", "import_purchases"]
