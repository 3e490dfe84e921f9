"""Profile memory: what a customer states about themselves in a session becomes a proposal they confirm, and the
customer's own edits of their dietary profile. Every change of the profile made here, or by staff in the admin, is
recorded (`ProfileChange`: who, when, the fields before and after).

A proposal is written in the turn's activity transaction (`proposals_insert`, called by
`customers.sessions.session_record_activity`), one INSERT ... SELECT ... ON CONFLICT DO NOTHING: the partial unique
constraint on pending (customer, kind, code) makes two turns stating the same code at once, on any process, leave
one proposal. A code already in the profile, or declined from the same session, is not proposed; an edit that puts
a pending code into the profile accepts its proposal (`edit_record`).
While pending a proposal binds every session of the customer (customers/catalog/search.py `facts`).
"""

import operator
from collections.abc import Sequence
from functools import reduce
from uuid import UUID, uuid4

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from customers import cache, selectors
from customers.catalog import vocabulary
from customers.data import CustomerProfile, ProfileProposal
from customers.errors import CustomerNotFound, InvalidInput, ProposalDecided, ProposalNotFound
from customers.models import (
    ChangeSource,
    ChatSession,
    Customer,
    ProfileChange,
    ProposalKind,
    ProposalStatus,
)
from customers.models import ProfileProposal as ProposalRow

# What a customer may edit of their own profile (PATCH /api/v1/me); never the money fields.
EDITABLE_FIELDS = ("allergies", "diets", "dietary_notes", "preferences")
# Where each kind of proposal goes in the profile.
PROFILE_FIELD = {ProposalKind.ALLERGY: "allergies", ProposalKind.DIET: "diets"}


# --- proposals ------------------------------------------------------------------------------------------------


def proposals_insert(*, session_id: UUID, proposed: Sequence[tuple[str, str]]) -> int:
    """Propose each (kind, code) for the profile of the session's customer, unless it is in the profile already,
    pending already, or was declined from this session: one statement, to be run in the caller's transaction. How
    many were proposed; the customer's cached proposals are dropped on commit when any was."""
    proposed = [(kind, code) for kind, code in dict.fromkeys(proposed) if _known(kind, code)]
    if not proposed:
        return 0
    pk = ProposalRow._meta.pk
    values = ", ".join("(%s, %s, %s)" for _ in proposed)
    params: list[object] = []
    for kind, code in proposed:
        params += [pk.get_db_prep_value(uuid4(), connection), kind, code]
    session = ChatSession._meta.pk.get_db_prep_value(session_id, connection)
    if connection.vendor == "postgresql":
        in_profile = "(CASE WHEN v.kind = 'allergy' THEN c.allergies ELSE c.diets END) @> to_jsonb(v.code::text)"
    else:
        in_profile = (
            "EXISTS (SELECT 1 FROM json_each(CASE WHEN v.kind = 'allergy' THEN c.allergies ELSE c.diets END) j "
            "WHERE j.value = v.code)"
        )
    # Constant fragments only: every value is a bound parameter.
    sql = " ".join(
        (
            f"WITH v (id, kind, code) AS (VALUES {values})",
            "INSERT INTO customers_profileproposal (id, customer_id, kind, code, session_id, stated_at, status)",
            "SELECT v.id, s.customer_id, v.kind, v.code, s.id, %s, 'pending'",
            "FROM v CROSS JOIN customers_chatsession s JOIN customers_customer c ON c.id = s.customer_id",
            "WHERE s.id = %s AND NOT",
            in_profile,
            "AND NOT EXISTS (SELECT 1 FROM customers_profileproposal d WHERE d.session_id = s.id",
            "AND d.status = 'declined' AND d.kind = v.kind AND d.code = v.code)",
            "ON CONFLICT DO NOTHING RETURNING customer_id",
        )
    )
    stated_at = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, stated_at, session])
        rows = cursor.fetchall()
    if rows:
        cache.invalidate_on_commit([(cache.PROPOSALS, rows[0][0])])
    return len(rows)


def _known(kind: str, code: str) -> bool:
    codes = vocabulary.ALLERGENS if kind == ProposalKind.ALLERGY else vocabulary.DIETS
    return kind in ProposalKind.values and code in codes


def proposals_pending(*, customer_id: int) -> tuple[ProfileProposal, ...]:
    """The customer's pending proposals, oldest first (the loader behind the cached read)."""
    rows = ProposalRow.objects.filter(customer_id=customer_id, status=ProposalStatus.PENDING).order_by(
        "stated_at", "id"
    )
    return tuple(
        ProfileProposal(
            proposal_id=row["id"],
            kind=row["kind"],
            code=row["code"],
            session_id=row["session_id"],
            stated_at=row["stated_at"],
        )
        for row in rows.values("id", "kind", "code", "session_id", "stated_at")
    )


def proposal_decide(
    *, customer_id: int | None, proposal_id: UUID, accept: bool, by_user_id: int | None, source: str
) -> CustomerProfile:
    """Accept (the code joins the profile) or decline (it is dropped) a pending proposal of the customer
    (`customer_id` None: staff, whoever's it is); recorded as a profile change by `source`. The profile after it.
    Raises ProposalNotFound (absent or another customer's), ProposalDecided (decided already)."""
    with transaction.atomic():
        rows = ProposalRow.objects.select_for_update().filter(pk=proposal_id)
        if customer_id is not None:
            rows = rows.filter(customer_id=customer_id)
        proposal = rows.first()
        if proposal is None:
            raise ProposalNotFound(f"proposal {proposal_id} not found")
        if proposal.status != ProposalStatus.PENDING:
            raise ProposalDecided(f"This proposal was {proposal.status} already.")
        customer = Customer.objects.select_for_update().select_related("user").get(pk=proposal.customer_id)
        field = PROFILE_FIELD[ProposalKind(proposal.kind)]
        before = {field: list(getattr(customer, field))}
        if accept and proposal.code not in before[field]:
            setattr(customer, field, [*before[field], proposal.code])
            customer.save(update_fields=[field, "updated_at"])  # its post_save drops the cached profile on commit
        proposal.status = ProposalStatus.ACCEPTED if accept else ProposalStatus.DECLINED
        proposal.decided_at = timezone.now()
        proposal.decided_by_id = by_user_id
        proposal.save(update_fields=["status", "decided_at", "decided_by"])
        ProfileChange.objects.create(
            customer=customer,
            changed_by_id=by_user_id,
            source=source,
            action="accept" if accept else "decline",
            before={**before, "proposal": _proposal_json(proposal, ProposalStatus.PENDING)},
            after={field: list(getattr(customer, field)), "proposal": _proposal_json(proposal, proposal.status)},
        )
        cache.invalidate_on_commit([(cache.PROPOSALS, customer.pk)])
    return selectors.profile_of(customer)


def _proposal_json(proposal: ProposalRow, status: str) -> dict[str, str]:
    return {"id": str(proposal.pk), "kind": proposal.kind, "code": proposal.code, "status": status}


# --- the customer's own edits ---------------------------------------------------------------------------------


def profile_edit(
    *, customer_id: int, changes: dict[str, object], by_user_id: int | None, source: str = ChangeSource.CUSTOMER
) -> CustomerProfile:
    """Replace the given fields of EDITABLE_FIELDS (lists of strings). Allergies and diets are read through the
    vocabulary (codes or what people write: "땅콩", "shellfish", "채식"); an entry that maps to no code is kept as an
    unverified dietary note. Recorded as a profile change when anything changed. Raises InvalidInput naming the
    first field refused (any other field, the monthly limit and the spending included; nothing is written then),
    CustomerNotFound."""
    if refused := [name for name in changes if name not in EDITABLE_FIELDS]:
        raise InvalidInput(f"{refused[0]}: this field cannot be changed here", field=refused[0])
    for name, value in changes.items():
        if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
            raise InvalidInput(f"{name}: enter a list of strings", field=name)
    values, notes = _mapped(changes)
    with transaction.atomic():
        customer = Customer.objects.select_for_update().select_related("user").filter(pk=customer_id).first()
        if customer is None:
            raise CustomerNotFound(f"customer {customer_id} not found")
        if notes:  # added to the notes given, or to the stored ones
            kept = values.get("dietary_notes", list(customer.dietary_notes))
            values["dietary_notes"] = list(dict.fromkeys([*kept, *notes]))
        before = {name: list(getattr(customer, name)) for name in values}
        for name, value in values.items():
            setattr(customer, name, value)
        try:
            customer.full_clean(exclude=[f.name for f in Customer._meta.fields if f.name not in values])
        except ValidationError as exc:
            name, errors = sorted(exc.message_dict.items())[0]
            raise InvalidInput(f"{name}: {' '.join(errors)}", field=name) from None
        changed = [name for name in values if before[name] != values[name]]
        if changed:
            customer.save(update_fields=[*changed, "updated_at"])  # its post_save drops the cached profile on commit
            edit_record(
                customer=customer,
                by_user_id=by_user_id,
                source=source,
                before={name: before[name] for name in changed},
                after={name: values[name] for name in changed},
            )
    return selectors.profile_of(customer)


def edit_record(*, customer: Customer, by_user_id: int | None, source: str, before: dict, after: dict) -> None:
    """Record an edit of the customer's profile (theirs, or staff's in the admin), inside its transaction. A pending
    proposal whose code the edit put into the profile is accepted with it: the customer said yes by writing it, and
    a proposal left pending would keep asking for what the profile already holds."""
    added = [Q(kind=kind, code__in=after[field]) for kind, field in PROFILE_FIELD.items() if field in after]
    pending = ProposalRow.objects.filter(customer_id=customer.pk, status=ProposalStatus.PENDING)
    settled = list(pending.filter(reduce(operator.or_, added)).values_list("pk", flat=True)) if added else []
    if settled:
        pending.filter(pk__in=settled).update(
            status=ProposalStatus.ACCEPTED, decided_at=timezone.now(), decided_by_id=by_user_id
        )
        after = {**after, "proposals_accepted": sorted(str(pk) for pk in settled)}
        cache.invalidate_on_commit([(cache.PROPOSALS, customer.pk)])
    _change_record(
        customer_id=customer.pk, by_user_id=by_user_id, source=source, action="edit", before=before, after=after
    )


def _mapped(changes: dict[str, object]) -> tuple[dict[str, list[str]], list[str]]:
    """The fields to write, allergies and diets as codes; and the entries of those that map to no code (notes)."""
    values: dict[str, list[str]] = {}
    notes: list[str] = []
    for name in ("allergies", "diets"):
        if name not in changes:
            continue
        table = vocabulary.ALLERGEN_TERMS if name == "allergies" else vocabulary.DIET_TERMS
        codes: list[str] = []
        for text in changes[name]:
            found = table.get(vocabulary.normalize_term(text))
            if found:
                codes += found
            elif text.strip():
                notes.append(text.strip())
        values[name] = list(dict.fromkeys(codes))
    for name in ("dietary_notes", "preferences"):
        if name in changes:
            values[name] = list(dict.fromkeys(text.strip() for text in changes[name] if text.strip()))
    return values, notes


def _change_record(
    *, customer_id: int, by_user_id: int | None, source: str, action: str, before: dict, after: dict
) -> None:
    """Record one change of a customer's profile (the admin's edits come through here too)."""
    ProfileChange.objects.create(
        customer_id=customer_id,
        changed_by_id=by_user_id,
        source=source,
        action=action,
        before=before,
        after=after,
    )
