"""Housekeeping: stored idempotent responses, published outbox messages and expired OAuth2 tokens do
not outlive their use; the access log has its months made ahead and its expired months archived."""

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


@shared_task(name="tasks.maintenance.access_log_partitions")
def access_log_partitions() -> dict[str, int]:
    """The access log's months: partitions made ahead, a closed month's indexes rebuilt full, then
    months past retention archived and dropped (clinic/services/access_partitions.py). Idempotent; a
    run that fails is redone by the next."""
    from clinic.services.access_partitions import (
        access_partitions_compact,
        access_partitions_ensure,
        access_partitions_expire,
    )

    made = access_partitions_ensure()
    compacted = access_partitions_compact()
    archived = access_partitions_expire()
    logger.info(
        "access_log_partitions: made %d partitions, compacted %d, archived %d", len(made), len(compacted), len(archived)
    )
    return {"made": len(made), "compacted": len(compacted), "archived": len(archived)}
