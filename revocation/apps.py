from django.apps import AppConfig


class RevocationConfig(AppConfig):
    name = "revocation"
    verbose_name = "Revocation"

    def ready(self):
        # Declare the default queue and one per connector kind (revocation.routing)
        # before any worker reads its queues, so `celery worker` without -Q serves all.
        from kombu import Exchange, Queue

        from config.celery import app
        from revocation.routing import queue_names

        # Each queue its own exchange and key: a plain Queue(name) would bind every
        # kind's queue to the default key, and each message would land in all of them.
        app.conf.task_queues = [
            Queue(name, Exchange(name), routing_key=name)
            for name in queue_names(app.conf.task_default_queue)
        ]
