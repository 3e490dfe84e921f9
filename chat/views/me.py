from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from chat.openapi import AUTH_PROBLEMS, RETRY_AFTER, problem_responses
from chat.serializers import ProfileOut, rendered
from chat.views.base import CustomerApi
from customers import services as customers


class MeApi(CustomerApi):
    @extend_schema(
        operation_id="me_retrieve",
        summary="The caller's profile",
        tags=["me"],
        parameters=[RETRY_AFTER],
        responses={200: ProfileOut, **problem_responses(*AUTH_PROBLEMS, "service_unavailable", "throttled")},
    )
    def get(self, request: Request) -> Response:
        return Response(rendered(ProfileOut, customers.customer_profile_get(customer_id=self.customer_id)))
