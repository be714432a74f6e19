"""Excel import of the member ledgers (template, preview, all-or-nothing commit)."""


class LedgerImportMixin:
    """Adds the import views to a ledger's ModelAdmin."""
