"""Authorization beyond "authenticated": customer endpoints need a caller who is a customer."""

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView


class IsCustomer(BasePermission):
    """The caller has a customer profile. A staff user without one gets 403 permission_denied: they are known,
    only not allowed here (there is no other customer's data they could learn about from the answer)."""

    message = "This account has no customer profile; customer endpoints are not available to it."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return getattr(request.user, "customer_id", None) is not None
