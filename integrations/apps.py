from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Provider sync"

    def ready(self) -> None:
        from . import queue, signals, tasks  # noqa: F401  (signals connects the receivers)

        queue.push_tasks_use(push_link=tasks.push_link, push_links=tasks.push_links)
