from django.apps import AppConfig


class TasksConfig(AppConfig):
    """Loads the Celery app in every Django process (web included), so work the domain leaves in
    the outbox is published by this app's tasks right after it commits."""

    name = "tasks"
    label = "tasks"
    verbose_name = "Background work"

    def ready(self) -> None:
        from tasks.outbox import outbox_publishers_register

        outbox_publishers_register()
