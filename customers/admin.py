"""Admin of customers and chat sessions, with the live transcript of open sessions through `customers.ports`."""

import json
import logging
from collections.abc import Callable
from uuid import UUID

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from customers import archive, memory, services
from customers.admin_catalog import CustomerCodesForm
from customers.models import (
    ChangeSource,
    ChatSession,
    Customer,
    ProfileChange,
    ProfileProposal,
    ProposalStatus,
    SessionStatus,
)
from customers.ports import LiveTranscript, SessionAdminActions, TranscriptLine, session_admin_actions

logger = logging.getLogger(__name__)

TRANSCRIPT_UNAVAILABLE = "live transcript unavailable"


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    form = CustomerCodesForm
    list_display = (
        "display_name",
        "username",
        "preferred_language",
        "home_area",
        "currency",
        "remaining_limit",
        "created_at",
    )
    list_select_related = ("user",)
    search_fields = ("display_name", "user__username")
    list_filter = ("preferred_language", "home_area", "created_at")
    raw_id_fields = ("user",)
    readonly_fields = ("remaining_limit", "created_at", "updated_at", "pending_proposals", "change_history")
    actions = ("drop_cache_entries",)

    def save_model(self, request: HttpRequest, obj: Customer, form: forms.ModelForm, change: bool) -> None:
        """Save, and record a change of the dietary profile as made by staff (who, when, before, after); a pending
        proposal whose code the edit added is accepted with it."""
        with transaction.atomic():
            stored = Customer.objects.select_for_update().filter(pk=obj.pk).first() if change else None
            super().save_model(request, obj, form, change)
            if stored is None:
                return
            changed = [name for name in memory.EDITABLE_FIELDS if getattr(stored, name) != getattr(obj, name)]
            if changed:
                memory.edit_record(
                    customer=obj,
                    by_user_id=request.user.pk,
                    source=ChangeSource.STAFF,
                    before={name: getattr(stored, name) for name in changed},
                    after={name: getattr(obj, name) for name in changed},
                )

    @admin.display(description="pending proposals")
    def pending_proposals(self, obj: Customer) -> str | SafeString:
        if obj.pk is None:
            return "none"
        pending = ProfileProposal.objects.filter(customer=obj, status=ProposalStatus.PENDING).order_by("stated_at")
        if not pending:
            return "none"
        rows = format_html_join(
            "",
            "<li>{} {} (stated {})</li>",
            ((p.get_kind_display(), p.code, f"{p.stated_at:%Y-%m-%d %H:%M}") for p in pending),
        )
        url = (
            reverse("admin:customers_profileproposal_changelist")
            + f"?customer__id__exact={obj.pk}&status__exact=pending"
        )
        return format_html('<ul>{}</ul><a href="{}">Accept or decline them</a> (recorded as staff).', rows, url)

    @admin.display(description="change history")
    def change_history(self, obj: Customer) -> str | SafeString:
        changes = ProfileChange.objects.filter(customer=obj).select_related("changed_by").order_by("-changed_at")[:50]
        if obj.pk is None or not changes:
            return "none"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    f"{c.changed_at:%Y-%m-%d %H:%M:%S}",
                    f"{c.get_source_display()} ({c.changed_by.get_username() if c.changed_by else 'unknown'})",
                    c.action,
                    json.dumps(c.before, ensure_ascii=False),
                    json.dumps(c.after, ensure_ascii=False),
                )
                for c in changes
            ),
        )
        return format_html(
            "<table><thead><tr><th>when</th><th>who</th><th>what</th><th>before</th><th>after</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            rows,
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Customer | None = None) -> tuple[str, ...]:
        # Cached lookups by user id assume a customer keeps its user.
        return (*self.readonly_fields, "user") if obj is not None else self.readonly_fields

    @admin.display(description="username", ordering="user__username")
    def username(self, obj: Customer) -> str:
        return obj.user.get_username()

    @admin.display(description="remaining limit (minor units)")
    def remaining_limit(self, obj: Customer) -> int:
        return obj.remaining_limit_minor

    @admin.action(description="Drop cache entries")
    def drop_cache_entries(self, request: HttpRequest, queryset: QuerySet[Customer]) -> None:
        customer_ids = list(queryset.values_list("pk", flat=True))
        for customer_id in customer_ids:
            services.customer_cache_drop(customer_id=customer_id)
        self.message_user(request, f"Dropped the cache entries of {len(customer_ids)} customer(s).", messages.SUCCESS)


@admin.register(ProfileProposal)
class ProfileProposalAdmin(admin.ModelAdmin):
    """Proposals are made by turns and decided by the customer or, here, by staff on their behalf (recorded so)."""

    list_display = ("customer", "kind", "code", "status", "stated_at", "decided_at", "decided_by")
    list_select_related = ("customer", "decided_by")
    list_filter = ("status", "kind")
    search_fields = ("customer__display_name", "customer__user__username", "code")
    ordering = ("-stated_at",)
    readonly_fields = ("customer", "kind", "code", "session", "stated_at", "status", "decided_at", "decided_by")
    actions = ("accept", "decline")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Accept (as staff): the code joins the profile", permissions=["change"])
    def accept(self, request: HttpRequest, queryset: QuerySet[ProfileProposal]) -> None:
        self._decide(request, queryset, services.profile_proposal_accept, "Accepted")

    @admin.action(description="Decline (as staff)", permissions=["change"])
    def decline(self, request: HttpRequest, queryset: QuerySet[ProfileProposal]) -> None:
        self._decide(request, queryset, services.profile_proposal_decline, "Declined")

    def _decide(
        self, request: HttpRequest, queryset: QuerySet[ProfileProposal], decide: Callable[..., object], done: str
    ) -> None:
        decided = skipped = 0
        for proposal_id in queryset.values_list("pk", flat=True):
            try:
                decide(customer_id=None, proposal_id=proposal_id, by_user_id=request.user.pk, staff=True)
            except (services.ProposalDecided, services.ProposalNotFound):
                skipped += 1
            else:
                decided += 1
        self.message_user(request, f"{done} {decided} proposal(s).", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} were decided already.", messages.WARNING)


@admin.register(ChatSession)
class ChatSessionAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "customer",
        "status",
        "last_activity_at",
        "message_count",
        "prompt_tokens",
        "completion_tokens",
    )
    list_select_related = ("customer",)
    list_filter = ("status",)
    search_fields = ("title", "customer__display_name", "customer__user__username")
    ordering = ("-last_activity_at",)
    fields = (
        "id",
        "customer",
        "title",
        "status",
        "created_at",
        "last_activity_at",
        "ended_at",
        "message_count",
        "prompt_tokens",
        "completion_tokens",
        "final_mood",
        "summary",
        "live_transcript",
    )
    readonly_fields = tuple(name for name in fields if name != "title")
    actions = ("end_and_summarize", "erase")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # sessions are opened through the API

    def save_model(self, request: HttpRequest, obj: ChatSession, form: forms.ModelForm, change: bool) -> None:
        # Only the edited fields: a full save would overwrite counters that turns increment meanwhile.
        obj.save(update_fields=form.changed_data)

    @admin.display(description="live transcript")
    def live_transcript(self, obj: ChatSession) -> str | SafeString:
        if obj.status == SessionStatus.ENDED:
            archived = archive.transcript(session_id=obj.pk)
            if not archived:
                return "The session has ended: its summary above is what remains of it."
            lines = tuple(
                TranscriptLine(seq=m.seq, role=m.role, content=m.content, tokens=m.tokens, created_at=m.created_at)
                for m in archived
            )
            return _render_transcript(LiveTranscript(lines, mood="", mood_source="", rolling_summary=""), archived=True)
        actions = session_admin_actions()
        if actions is None:
            return TRANSCRIPT_UNAVAILABLE
        try:
            transcript = actions.transcript(obj.pk)
        except Exception as exc:  # the adapter's errors are another app's; the page must render regardless
            logger.warning("live transcript failed", extra={"session_id": str(obj.pk), "error": type(exc).__name__})
            return TRANSCRIPT_UNAVAILABLE
        return _render_transcript(transcript)

    @admin.action(description="End and summarize", permissions=["change"])
    def end_and_summarize(self, request: HttpRequest, queryset: QuerySet[ChatSession]) -> None:
        open_ids = list(queryset.filter(status=SessionStatus.OPEN).values_list("pk", flat=True))
        self._run(request, open_ids, lambda actions: actions.session_end, "Ended and summarized")

    @admin.action(description="Erase (conversation and row)", permissions=["delete"])
    def erase(self, request: HttpRequest, queryset: QuerySet[ChatSession]) -> None:
        self._run(
            request, list(queryset.values_list("pk", flat=True)), lambda actions: actions.session_delete, "Erased"
        )

    def _run(
        self,
        request: HttpRequest,
        session_ids: list[UUID],
        pick: Callable[[SessionAdminActions], Callable[[UUID], None]],
        done: str,
    ) -> None:
        actions = session_admin_actions()
        if actions is None:
            self.message_user(request, "Conversation actions are unavailable: no adapter is installed.", messages.ERROR)
            return
        if not session_ids:
            self.message_user(request, "No session to act on.", messages.WARNING)
            return
        action, failed = pick(actions), 0
        for session_id in session_ids:
            try:
                action(session_id)
            except Exception as exc:  # one failing session must not stop the others; the count is reported
                failed += 1
                logger.warning(
                    "admin session action failed", extra={"session_id": str(session_id), "error": type(exc).__name__}
                )
        if failed < len(session_ids):
            self.message_user(request, f"{done} {len(session_ids) - failed} session(s).", messages.SUCCESS)
        if failed:
            self.message_user(request, f"{failed} session(s) failed; see the logs.", messages.ERROR)


def _render_transcript(transcript: LiveTranscript, *, archived: bool = False) -> SafeString:
    mood = f"{transcript.mood} ({transcript.mood_source})" if transcript.mood else "not set"
    rows = format_html_join(
        "",
        '<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td style="white-space: pre-wrap">{}</td>'
        '<td style="white-space: pre-wrap">{}</td></tr>',
        (
            (
                line.seq,
                line.role,
                line.created_at.isoformat(timespec="seconds"),
                line.tokens,
                line.content,
                "\n".join(line.recommendations),
            )
            for line in transcript.lines
        ),
    )
    if archived:
        heading = format_html("<p>{}</p>", "Archived transcript (CHAT_ARCHIVE_DAYS); the session has ended.")
    else:
        summary = transcript.rolling_summary or "none yet"
        heading = format_html("<p>Mood: {}</p><p>Rolling summary: {}</p>", mood, summary)
    return format_html(
        "{}<table><thead><tr><th>seq</th><th>role</th><th>time</th><th>tokens</th><th>content</th>"
        "<th>recommendations</th></tr></thead>"
        "<tbody>{}</tbody></table>",
        heading,
        rows or format_html('<tr><td colspan="6">{}</td></tr>', "no messages yet"),
    )
