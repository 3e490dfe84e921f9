"""Domain errors of `customers`. Each carries a stable code; `chat` renders them as problem details."""


class CustomersError(Exception):
    """The base of the app's errors. A subclass declares its code in its header: `class X(CustomersError,
    code="not_found")`; one that declares none keeps its base's."""

    code = "customers_error"

    def __init_subclass__(cls, code: str = "", **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if code:
            cls.code = code


class CustomerNotFound(CustomersError, code="not_found"):
    """No customer profile with this id."""


class SessionNotFound(CustomersError, code="not_found"):
    """No such session, or it belongs to another customer: callers cannot tell the two apart."""


class SessionEnded(CustomersError, code="session_ended"):
    """The session has ended: it takes no more messages."""


class TooManyOpenSessions(CustomersError, code="too_many_open_sessions"):
    """The customer has as many open sessions as allowed."""


class NotCached(LookupError):
    """A read that answers from the cache alone found nothing there: only the database can tell. Not a failure (no
    client ever sees it): the caller asks the read that may use the database."""


class DatabaseUnavailable(CustomersError, code="service_unavailable"):
    """The database could not be reached; nothing was written."""


class InvalidInput(CustomersError, ValueError, code="invalid_request"):
    """A service got an unknown field or an invalid value; nothing was written. `field` names it when known."""

    def __init__(self, message: str = "", *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class RecommendationNotFound(CustomersError, code="not_found"):
    """No such recommendation, or it was shown to another customer: callers cannot tell the two apart."""


class FileRowError(CustomersError, ValueError, code="invalid_request"):
    """An import file that breaks its contract; nothing was imported. `row` is 1-based (0: the file itself)."""

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


class ProposalNotFound(CustomersError, code="not_found"):
    """No such profile proposal, or another customer's: callers cannot tell the two apart."""


class ProposalDecided(CustomersError, code="already_decided"):
    """The profile proposal was accepted or declined already; nothing was changed."""
