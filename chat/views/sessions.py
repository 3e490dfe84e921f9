from uuid import UUID

from django.urls import reverse
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from chat import lifecycle
from chat.openapi import MODEL_PROBLEMS, body_endpoint_schema, endpoint_schema, request_example
from chat.serializers import (
    EmptyInput,
    MoodOut,
    SessionDetailOut,
    SessionOut,
    SessionPageOut,
    StrictCharField,
    StrictInputSerializer,
    rendered,
)
from chat.views.base import CustomerApi
from customers.services import ALLERGEN_CODES, DIET_CODES, ITEM_KINDS, SESSION_STATUSES
from llm.services import MOODS, Constraints


class SessionListCreateApi(CustomerApi):
    class SessionFilterInput(serializers.Serializer):
        status = serializers.ChoiceField(SESSION_STATUSES, required=False, help_text="Only open or only ended.")
        limit = serializers.IntegerField(min_value=1, max_value=100, default=20)
        # Bounded by the database's bigint OFFSET: a larger one failed in SQL as a 500.
        offset = serializers.IntegerField(min_value=0, max_value=2**63 - 1, default=0)

    @request_example("with a title", {"title": "Dinner ideas"})
    class SessionCreateInput(StrictInputSerializer):
        title = StrictCharField(max_length=200, required=False, allow_blank=True, default="")

    @endpoint_schema(
        "sessions_list", parameters=[SessionFilterInput], ok={200: SessionPageOut}, also=["invalid_request"]
    )
    def get(self, request: Request) -> Response:
        """The caller's sessions, newest first."""
        # A plain dict, not the QueryDict: DRF reads a QueryDict as an HTML form, where `?status=` (empty) means
        # "not given"; here an empty value is outside the declared enum and answers 400 like any other.
        query = self.SessionFilterInput(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        offset, limit = query.validated_data["offset"], query.validated_data["limit"]
        count, sessions = lifecycle.session_page_get(
            customer_id=self.customer_id, status=query.validated_data.get("status"), offset=offset, limit=limit
        )
        page = {
            "count": count,
            "next": _page_link(request, offset + limit, limit) if offset + limit < count else None,
            "previous": _page_link(request, max(0, offset - limit), limit) if offset > 0 else None,
            "results": sessions,
        }
        return Response(rendered(SessionPageOut, page))

    @body_endpoint_schema(
        "sessions_create", body=SessionCreateInput, ok={201: SessionOut}, also=["too_many_open_sessions"]
    )
    def post(self, request: Request) -> Response:
        """Open a session."""
        data = self.validated_body(self.SessionCreateInput)
        session = lifecycle.session_open(customer_id=self.customer_id, title=data["title"])
        location = reverse("chat:session", kwargs={"session_id": session.info.session_id})
        return Response(rendered(SessionOut, session), status=201, headers={"Location": location})


class SessionDetailApi(CustomerApi):
    @endpoint_schema("sessions_retrieve", ok={200: SessionDetailOut})
    def get(self, request: Request, session_id: UUID) -> Response:
        """One session: its live messages while open, its summary once ended."""
        session = lifecycle.session_view_get(customer_id=self.customer_id, session_id=session_id)
        return Response(rendered(SessionDetailOut, session))

    @endpoint_schema("sessions_destroy", ok={204: None})
    def delete(self, request: Request, session_id: UUID) -> Response:
        """Erase the session everywhere (conversation state and record)."""
        lifecycle.session_delete(customer_id=self.customer_id, session_id=session_id)
        return Response(status=204)


class SessionMoodApi(CustomerApi):
    @request_example("tired", {"mood": "tired"})
    class MoodInput(StrictInputSerializer):
        mood = serializers.ChoiceField(MOODS)

    @body_endpoint_schema("sessions_mood_update", body=MoodInput, ok={200: MoodOut}, also=["session_ended"])
    def put(self, request: Request, session_id: UUID) -> Response:
        """Set the session's mood (it steers the next replies)."""
        data = self.validated_body(self.MoodInput)
        mood = lifecycle.session_mood_set(customer_id=self.customer_id, session_id=session_id, mood=data["mood"])
        return Response(rendered(MoodOut, mood))


class SessionConstraintsApi(CustomerApi):
    @request_example(
        "peanuts and a cap",
        {"allergens": ["peanut"], "diets": [], "max_price": 15000, "exclude_tags": [], "kinds": []},
    )
    class ConstraintsInput(StrictInputSerializer):
        allergens = serializers.ListField(
            child=serializers.ChoiceField(ALLERGEN_CODES), required=False, default=list, max_length=len(ALLERGEN_CODES)
        )
        diets = serializers.ListField(
            child=serializers.ChoiceField(DIET_CODES), required=False, default=list, max_length=len(DIET_CODES)
        )
        max_price = serializers.IntegerField(min_value=0, max_value=10**15, allow_null=True, required=False)
        exclude_tags = serializers.ListField(
            child=StrictCharField(max_length=40), required=False, default=list, max_length=20
        )
        kinds = serializers.ListField(
            child=serializers.ChoiceField(ITEM_KINDS), required=False, default=list, max_length=len(ITEM_KINDS)
        )

    @body_endpoint_schema(
        "sessions_constraints_update", body=ConstraintsInput, ok={200: SessionDetailOut}, also=["session_ended"]
    )
    def put(self, request: Request, session_id: UUID) -> Response:
        """Replace what the customer stated in the session (the one way to loosen a stated rule)."""
        data = self.validated_body(self.ConstraintsInput)
        tags = (" ".join(tag.split()).casefold() for tag in data["exclude_tags"])
        constraints = Constraints(
            allergens=tuple(dict.fromkeys(data["allergens"])),
            diets=tuple(dict.fromkeys(data["diets"])),
            max_price=data.get("max_price"),
            exclude_tags=tuple(dict.fromkeys(tag for tag in tags if tag)),
            kinds=tuple(dict.fromkeys(data["kinds"])),
        )
        session = lifecycle.session_constraints_set(
            customer_id=self.customer_id, session_id=session_id, constraints=constraints
        )
        return Response(rendered(SessionDetailOut, session))


class SessionEndApi(CustomerApi):
    @body_endpoint_schema(
        "sessions_end", body=None, ok={200: SessionDetailOut}, also=["session_ended", *MODEL_PROBLEMS]
    )
    def post(self, request: Request, session_id: UUID) -> Response:
        """Summarize the session, store the summary, close it."""
        self.validated_body(EmptyInput)
        session = lifecycle.session_end(customer_id=self.customer_id, session_id=session_id)
        return Response(rendered(SessionDetailOut, session))


def _page_link(request: Request, offset: int, limit: int) -> str:
    url = replace_query_param(request.build_absolute_uri(), "limit", limit)
    return replace_query_param(url, "offset", offset) if offset else remove_query_param(url, "offset")
