"""The REST API, version 1 (mounted at /api/v1/ by config.urls). No trailing slashes, as in the reference."""

from django.urls import path, re_path

from chat import errors, views

app_name = "chat"

urlpatterns = [
    path("me", views.MeApi.as_view(), name="me"),
    path("me/proposals/<uuid:proposal_id>/accept", views.ProposalAcceptApi.as_view(), name="proposal-accept"),
    path("me/proposals/<uuid:proposal_id>/decline", views.ProposalDeclineApi.as_view(), name="proposal-decline"),
    path("sessions", views.SessionListCreateApi.as_view(), name="sessions"),
    path("sessions/<uuid:session_id>", views.SessionDetailApi.as_view(), name="session"),
    path("sessions/<uuid:session_id>/messages", views.SessionMessagesApi.as_view(), name="session-messages"),
    path("sessions/<uuid:session_id>/regenerate", views.SessionRegenerateApi.as_view(), name="session-regenerate"),
    path("sessions/<uuid:session_id>/mood", views.SessionMoodApi.as_view(), name="session-mood"),
    path(
        "sessions/<uuid:session_id>/constraints",
        views.SessionConstraintsApi.as_view(),
        name="session-constraints",
    ),
    path("sessions/<uuid:session_id>/end", views.SessionEndApi.as_view(), name="session-end"),
    path(
        "recommendations/<uuid:recommendation_id>/feedback",
        views.RecommendationFeedbackApi.as_view(),
        name="recommendation-feedback",
    ),
    re_path(r"^", errors.api_not_found),
]
