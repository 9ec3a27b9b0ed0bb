"""gunicorn settings of the multiprocess metrics test, as the plugin's docs tell hosts to write them."""

from prometheus_client import multiprocess


def child_exit(server, worker):
    multiprocess.mark_process_dead(worker.pid)
