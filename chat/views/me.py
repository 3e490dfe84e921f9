import dataclasses
from uuid import UUID

from drf_spectacular.utils import extend_schema_view
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from chat.openapi import AUTH_PROBLEMS, body_endpoint_schema, endpoint_schema, request_example
from chat.serializers import READ_ONLY_NAMES, EmptyInput, MeOut, StrictCharField, StrictInputSerializer, rendered
from chat.views.base import CustomerApi
from customers import services as customers
from customers.services import MAX_TAG_LENGTH, MAX_TAGS, CustomerProfile, InvalidInput

# The profile is the caller's own: there is nothing to find, so no not_found.
_ME_PROBLEMS = (*AUTH_PROBLEMS, "service_unavailable", "throttled")


def _entries(help_text: str) -> serializers.ListField:
    return serializers.ListField(
        child=StrictCharField(max_length=MAX_TAG_LENGTH),
        max_length=MAX_TAGS,
        required=False,
        help_text=help_text,
    )


class MeApi(CustomerApi):
    @request_example("an edit", {"allergies": ["peanut", "새우"], "diets": ["채식"]})
    class ProfileEditInput(StrictInputSerializer):
        allergies = _entries(
            "Replaces your allergies: allergen codes or words (`땅콩`, `peanuts`, `shellfish`); a word that maps to "
            "no code is kept as an unverified dietary note."
        )
        diets = _entries("Replaces your diets: diet codes or words (`채식`, `vegan`); the rest as above.")
        dietary_notes = _entries("Replaces your dietary notes (unverified: no rule can check them).")
        preferences = _entries("Replaces your preferences (tags such as `spicy`, `jazz`).")

        def to_internal_value(self, data):
            if isinstance(data, dict) and (refused := [name for name in data if name in _STAFF_ONLY]):
                raise serializers.ValidationError({name: ["Customers cannot change this field."] for name in refused})
            return super().to_internal_value(data)

    @endpoint_schema("me_retrieve", ok={200: MeOut}, problems=_ME_PROBLEMS)
    def get(self, request: Request) -> Response:
        """The caller's profile, with the profile proposals awaiting their decision."""
        return Response(rendered(MeOut, customers.customer_me_get(customer_id=self.customer_id)))

    @body_endpoint_schema("me_partial_update", body=ProfileEditInput, ok={200: MeOut}, problems=_ME_PROBLEMS)
    def patch(self, request: Request) -> Response:
        """Edit your allergies, diets, dietary notes and preferences (never the limit or the spending)."""
        body = self.validated_body(self.ProfileEditInput)
        try:
            me = customers.customer_profile_edit(customer_id=self.customer_id, changes=body, by_user_id=request.user.pk)
        except InvalidInput as exc:  # named by the field, as the input's own errors are
            raise serializers.ValidationError({exc.field or "non_field_errors": [str(exc)]}) from exc
        return Response(rendered(MeOut, me))


# What a customer sees of their profile but only staff change: refused by name, never ignored (the fields the server
# sets are refused as read-only).
_STAFF_ONLY = frozenset(
    {*(field.name for field in dataclasses.fields(CustomerProfile)), "proposals"}
    - set(MeApi.ProfileEditInput().fields)
    - READ_ONLY_NAMES
)


class ProposalDecisionApi(CustomerApi):
    """Accept or decline one of the caller's pending profile proposals; another customer's answers 404."""

    accept = True

    def post(self, request: Request, proposal_id: UUID) -> Response:
        self.validated_body(EmptyInput)
        decide = customers.profile_proposal_accept if self.accept else customers.profile_proposal_decline
        me = decide(customer_id=self.customer_id, proposal_id=proposal_id, by_user_id=request.user.pk)
        return Response(rendered(MeOut, me))


def _decision_schema(operation_id: str, summary: str):
    return extend_schema_view(
        post=body_endpoint_schema(operation_id, body=None, ok={200: MeOut}, also=["already_decided"], summary=summary)
    )


@_decision_schema("me_proposal_accept", "Accept a profile proposal: its code joins your profile")
class ProposalAcceptApi(ProposalDecisionApi):
    accept = True


@_decision_schema(
    "me_proposal_decline",
    "Decline a profile proposal: it stops binding (except where a session's own constraints hold it)",
)
class ProposalDeclineApi(ProposalDecisionApi):
    accept = False
