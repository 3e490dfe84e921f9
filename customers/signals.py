"""Cache invalidation on row changes, whoever makes them (services, the admin, a shell), after the commit; and a
deleted session's conversation state erased (through `customers.ports`).

Queryset `update()` sends no signal: the services that use it (`session_end`) invalidate themselves, and
`session_record_activity` changes nothing that is cached.
"""

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from rest_framework.authtoken.models import Token

from customers import cache, ports, selectors
from customers.models import ChatSession, Customer


def _token_entries(user_id: int) -> list[tuple[cache.CacheSpec, object]]:
    return [(cache.API_USER, cache.token_digest(key)) for key in selectors.token_keys(user_id=user_id)]


@receiver(post_save, sender=Customer)
def _customer_saved(*, instance: Customer, created: bool, **kwargs: object) -> None:
    entries = [(cache.CUSTOMER, instance.pk), (cache.CUSTOMER_OF_USER, instance.user_id)]
    if created:  # the user's tokens now resolve to this customer
        entries += _token_entries(instance.user_id)
    cache.invalidate_on_commit(entries)


@receiver(post_delete, sender=Customer)
def _customer_deleted(*, instance: Customer, **kwargs: object) -> None:
    entries = [
        (cache.CUSTOMER, instance.pk),
        (cache.CUSTOMER_OF_USER, instance.user_id),
        (cache.PAST_SUMMARIES, instance.pk),
        (cache.PROPOSALS, instance.pk),
    ]
    cache.invalidate_on_commit(entries + _token_entries(instance.user_id))


@receiver(post_save, sender=ChatSession)
def _session_saved(*, instance: ChatSession, created: bool, **kwargs: object) -> None:
    if not created:  # a new session has nothing cached yet
        cache.invalidate_on_commit([(cache.SESSION_ACCESS, instance.pk), (cache.PAST_SUMMARIES, instance.customer_id)])


@receiver(post_delete, sender=ChatSession)
def _session_deleted(*, instance: ChatSession, **kwargs: object) -> None:
    cache.invalidate_on_commit([(cache.SESSION_ACCESS, instance.pk), (cache.PAST_SUMMARIES, instance.customer_id)])
    # However the row went (one, in bulk, or cascaded from its customer or user: each sends this signal), its
    # conversation state goes too, through the port chat fills (customers never imports llm).
    actions = ports.session_admin_actions()
    if actions is not None:
        session_id = instance.pk
        transaction.on_commit(lambda: actions.conversation_delete(session_id))


@receiver(post_save, sender=Token)
@receiver(post_delete, sender=Token)
def _token_changed(*, instance: Token, **kwargs: object) -> None:
    cache.invalidate_on_commit([(cache.API_USER, cache.token_digest(instance.key))])


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _user_saved(*, instance: object, update_fields: frozenset[str] | None, **kwargs: object) -> None:
    if update_fields == {"last_login"}:  # every login saves this; it is not cached
        return
    # The profile shows the username (`/me`): a rename must not wait for the entry's TTL.
    profiles = [
        (cache.CUSTOMER, pk) for pk in Customer.objects.filter(user_id=instance.pk).values_list("pk", flat=True)
    ]
    cache.invalidate_on_commit(_token_entries(instance.pk) + profiles)
