"""Domain errors of `customers`. Each carries a stable code; `chat` renders them as problem details."""


class CustomersError(Exception):
    code = "customers_error"


class CustomerNotFound(CustomersError):
    code = "not_found"


class SessionNotFound(CustomersError):
    """No such session, or it belongs to another customer: callers cannot tell the two apart."""

    code = "not_found"


class SessionEnded(CustomersError):
    code = "session_ended"


class TooManyOpenSessions(CustomersError):
    """The customer has as many open sessions as allowed."""

    code = "too_many_open_sessions"


class NotCached(LookupError):
    """A read that answers from the cache alone found nothing there: only the database can tell. Not a failure (no
    client ever sees it): the caller asks the read that may use the database."""


class DatabaseUnavailable(CustomersError):
    """The database could not be reached; nothing was written."""

    code = "service_unavailable"


class InvalidInput(CustomersError, ValueError):
    """A service got an unknown field or an invalid value; nothing was written. `field` names it when known."""

    code = "invalid_request"

    def __init__(self, message: str = "", *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class RecommendationNotFound(CustomersError):
    """No such recommendation, or it was shown to another customer: callers cannot tell the two apart."""

    code = "not_found"


class FileRowError(CustomersError, ValueError):
    """An import file that breaks its contract; nothing was imported. `row` is 1-based (0: the file itself)."""

    code = "invalid_request"

    def __init__(self, row: int, field: str, message: str) -> None:
        where = f"row {row}: {field}" if row else field
        super().__init__(f"{where}: {message}")
        self.row = row
        self.field = field
        self.message = message


class CatalogImportError(FileRowError):
    """A catalog file that breaks the contract (docs/architecture.md, "Catalog file")."""


class SpendingImportError(FileRowError):
    """A spending file that breaks the contract (customers/spending_import.py)."""


class ProposalNotFound(CustomersError):
    """No such profile proposal, or another customer's: callers cannot tell the two apart."""

    code = "not_found"


class ProposalDecided(CustomersError):
    """The profile proposal was accepted or declined already; nothing was changed."""

    code = "already_decided"
