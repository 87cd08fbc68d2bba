"""The baseline of the reminder benchmark: a Celery task that does nothing, one per item."""

from celery import shared_task


@shared_task(name="bench.noop", ignore_result=True)
def noop(item: int) -> None:
    return None
