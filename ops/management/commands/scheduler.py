from crontask import scheduler
from crontask.management.commands.crontask import Command as CrontaskCommand
from django.core.management import call_command
from django.core.management.base import BaseCommand

from ops.schedule import jobs_schedule


class Command(BaseCommand):
    help = (
        "Run the scheduler (the 'scheduler' process): queue the upkeep tasks on OPS_SCHEDULES "
        "and the worker heartbeat, and evaluate alerts every minute. Run exactly one."
    )

    def handle(self, *args, **options):
        for name in jobs_schedule(scheduler):
            self.stdout.write(f"Scheduled {name}.")
        # django-crontask runs the scheduler (signal handling, its lock when configured). Its
        # command is called here rather than installed as an app, so the web and worker
        # processes never import the scheduler library.
        call_command(CrontaskCommand(), no_task_loading=True, no_heartbeat=True)
