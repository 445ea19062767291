"""Operations functions: the platform's health probe and the timer that settles interrupted work."""

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from archive.cleanup import scheduled_cleanup
from shared.runner import run

from .health import health

blueprint = func.Blueprint()


@blueprint.route(route="health", methods=["GET"])
async def health_check(req: Request) -> Response:
    return await run(health, req)


# Settles what interrupted stores and deletes left behind (see archive/journal.py). Every 15 minutes.
@blueprint.timer_trigger(schedule="0 */15 * * * *", arg_name="timer", run_on_startup=False)
async def cleanup_timer(timer: func.TimerRequest) -> None:
    await scheduled_cleanup()
