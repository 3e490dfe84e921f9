from uuid import UUID

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from chat import recommendations
from chat.openapi import body_endpoint_schema, request_example
from chat.serializers import FeedbackOut, StrictCharField, StrictInputSerializer, rendered
from chat.views.base import CustomerApi
from customers.services import RATINGS

MAX_NOTE_CHARS = 500


class RecommendationFeedbackApi(CustomerApi):
    @request_example("a rating", {"rating": "up", "note": "Loved it"})
    class FeedbackInput(StrictInputSerializer):
        rating = serializers.ChoiceField(RATINGS, help_text="`up` or `down`; a down-rated item never comes back.")
        note = StrictCharField(required=False, allow_blank=True, max_length=MAX_NOTE_CHARS)

    @body_endpoint_schema("recommendations_feedback", body=FeedbackInput, ok={200: FeedbackOut})
    def post(self, request: Request, recommendation_id: UUID) -> Response:
        """Rate a recommendation (rating again replaces it)."""
        body = self.validated_body(self.FeedbackInput)
        rated = recommendations.feedback_give(
            customer_id=self.customer_id,
            recommendation_id=recommendation_id,
            rating=body["rating"],
            note=body.get("note", ""),
        )
        return Response(rendered(FeedbackOut, rated))
