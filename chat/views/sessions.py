from uuid import UUID

from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from chat import lifecycle
from chat.openapi import RETRY_AFTER, SESSION_PROBLEMS, problem_responses
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

    class SessionCreateInput(StrictInputSerializer):
        title = StrictCharField(max_length=200, required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="sessions_list",
        summary="The caller's sessions, newest first",
        tags=["sessions"],
        parameters=[SessionFilterInput, RETRY_AFTER],
        responses={200: SessionPageOut, **problem_responses(*SESSION_PROBLEMS, "invalid_request")},
    )
    def get(self, request: Request) -> Response:
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

    @extend_schema(
        operation_id="sessions_create",
        summary="Open a session",
        tags=["sessions"],
        parameters=[RETRY_AFTER],
        request=SessionCreateInput,
        responses={
            201: SessionOut,
            **problem_responses(
                *SESSION_PROBLEMS, "invalid_request", "too_many_open_sessions", "unsupported_media_type"
            ),
        },
        examples=[OpenApiExample("with a title", value={"title": "Dinner ideas"}, request_only=True)],
    )
    def post(self, request: Request) -> Response:
        data = self.validated_body(self.SessionCreateInput)
        session = lifecycle.session_open(customer_id=self.customer_id, title=data["title"])
        location = reverse("chat:session", kwargs={"session_id": session.info.session_id})
        return Response(rendered(SessionOut, session), status=201, headers={"Location": location})


class SessionDetailApi(CustomerApi):
    @extend_schema(
        operation_id="sessions_retrieve",
        summary="One session: its live messages while open, its summary once ended",
        tags=["sessions"],
        parameters=[RETRY_AFTER],
        responses={200: SessionDetailOut, **problem_responses(*SESSION_PROBLEMS)},
    )
    def get(self, request: Request, session_id: UUID) -> Response:
        session = lifecycle.session_view_get(customer_id=self.customer_id, session_id=session_id)
        return Response(rendered(SessionDetailOut, session))

    @extend_schema(
        operation_id="sessions_destroy",
        summary="Erase the session everywhere (conversation state and record)",
        tags=["sessions"],
        parameters=[RETRY_AFTER],
        responses={204: None, **problem_responses(*SESSION_PROBLEMS)},
    )
    def delete(self, request: Request, session_id: UUID) -> Response:
        lifecycle.session_delete(customer_id=self.customer_id, session_id=session_id)
        return Response(status=204)


class SessionMoodApi(CustomerApi):
    class MoodInput(StrictInputSerializer):
        mood = serializers.ChoiceField(MOODS)

    @extend_schema(
        operation_id="sessions_mood_update",
        summary="Set the session's mood (it steers the next replies)",
        tags=["sessions"],
        parameters=[RETRY_AFTER],
        request=MoodInput,
        responses={
            200: MoodOut,
            **problem_responses(*SESSION_PROBLEMS, "invalid_request", "session_ended", "unsupported_media_type"),
        },
        examples=[OpenApiExample("tired", value={"mood": "tired"}, request_only=True)],
    )
    def put(self, request: Request, session_id: UUID) -> Response:
        data = self.validated_body(self.MoodInput)
        mood = lifecycle.session_mood_set(customer_id=self.customer_id, session_id=session_id, mood=data["mood"])
        return Response(rendered(MoodOut, mood))


class SessionConstraintsApi(CustomerApi):
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

    @extend_schema(
        operation_id="sessions_constraints_update",
        summary="Replace what the customer stated in the session (the one way to loosen a stated rule)",
        tags=["sessions"],
        parameters=[RETRY_AFTER],
        request=ConstraintsInput,
        responses={
            200: SessionDetailOut,
            **problem_responses(*SESSION_PROBLEMS, "invalid_request", "session_ended", "unsupported_media_type"),
        },
        examples=[
            OpenApiExample(
                "peanuts and a cap",
                value={"allergens": ["peanut"], "diets": [], "max_price": 15000, "exclude_tags": [], "kinds": []},
                request_only=True,
            )
        ],
    )
    def put(self, request: Request, session_id: UUID) -> Response:
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
    @extend_schema(
        operation_id="sessions_end",
        summary="Summarize the session, store the summary, close it",
        tags=["sessions"],
        parameters=[RETRY_AFTER],
        request=None,
        responses={
            200: SessionDetailOut,
            **problem_responses(
                *SESSION_PROBLEMS,
                "invalid_request",
                "session_ended",
                "unsupported_media_type",
                "llm_bad_response",
                "llm_rejected",
                "llm_unavailable",
                "llm_timeout",
            ),
        },
    )
    def post(self, request: Request, session_id: UUID) -> Response:
        self.validated_body(EmptyInput)
        session = lifecycle.session_end(customer_id=self.customer_id, session_id=session_id)
        return Response(rendered(SessionDetailOut, session))


def _page_link(request: Request, offset: int, limit: int) -> str:
    url = replace_query_param(request.build_absolute_uri(), "limit", limit)
    return replace_query_param(url, "offset", offset) if offset else remove_query_param(url, "offset")
