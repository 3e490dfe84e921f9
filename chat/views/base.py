"""What every customer endpoint shares: token or session authentication, a customer caller, strict input."""

from rest_framework.permissions import IsAuthenticated
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from chat.permissions import IsCustomer


class CustomerApi(APIView):
    permission_classes = [IsAuthenticated, IsCustomer]

    @property
    def customer_id(self) -> int:
        return self.request.user.customer_id

    def validated_body(self, serializer_class: type[Serializer]) -> dict:
        """The request body validated by `serializer_class` (a ValidationError becomes 400 invalid_request)."""
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data
