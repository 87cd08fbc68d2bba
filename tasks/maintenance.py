"""Housekeeping: stored idempotent responses, published outbox messages and expired OAuth2 tokens do
not outlive their use."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="tasks.maintenance.idempotency_keys_purge")
def idempotency_keys_purge() -> int:
    from clinic.services.idempotency import idempotency_keys_purge as purge

    deleted = purge()
    logger.info("idempotency_keys_purge: deleted %d keys", deleted)
    return deleted


@shared_task(name="tasks.maintenance.oauth_tokens_clear_expired")
def oauth_tokens_clear_expired() -> None:
    from oauth2_provider.models import clear_expired

    clear_expired()


@shared_task(name="tasks.maintenance.outbox_purge")
def outbox_purge() -> int:
    from aftercare.services.outbox import outbox_purge as purge

    deleted = purge()
    logger.info("outbox_purge: deleted %d published messages", deleted)
    return deleted
