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


class DatabaseUnavailable(CustomersError):
    """The database could not be reached; nothing was written."""

    code = "service_unavailable"


class InvalidInput(CustomersError, ValueError):
    """A service got an unknown field or an invalid value; nothing was written."""

    code = "invalid_request"
