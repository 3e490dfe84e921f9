"""What every customer endpoint shares: token or session authentication, a customer caller, the request throttle,
strict input."""

from rest_framework.permissions import IsAuthenticated
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from chat.permissions import IsCustomer
from chat.throttling import CustomerRequestThrottle


class CustomerApi(APIView):
    permission_classes = [IsAuthenticated, IsCustomer]
    throttle_classes = [CustomerRequestThrottle]
    # The methods that are turns: admitted by llm.turn_admit in chat.turns, not by the request throttle.
    turn_methods: frozenset[str] = frozenset()

    @property
    def customer_id(self) -> int:
        return self.request.user.customer_id

    def validated_body(self, serializer_class: type[Serializer]) -> dict:
        """The request body validated by `serializer_class` (a ValidationError becomes 400 invalid_request)."""
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data
