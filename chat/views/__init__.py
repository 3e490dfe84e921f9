"""The REST API, version 1: thin views, one per resource and operation, that validate, call, serialize."""

from chat.views.me import MeApi, ProposalAcceptApi, ProposalDeclineApi
from chat.views.messages import SessionMessagesApi, SessionRegenerateApi
from chat.views.recommendations import RecommendationFeedbackApi
from chat.views.sessions import (
    SessionConstraintsApi,
    SessionDetailApi,
    SessionEndApi,
    SessionListCreateApi,
    SessionMoodApi,
)

__all__ = [
    "MeApi",
    "ProposalAcceptApi",
    "ProposalDeclineApi",
    "RecommendationFeedbackApi",
    "SessionConstraintsApi",
    "SessionDetailApi",
    "SessionEndApi",
    "SessionListCreateApi",
    "SessionMessagesApi",
    "SessionMoodApi",
    "SessionRegenerateApi",
]
