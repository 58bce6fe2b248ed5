"""FastAPI application factory: the three provider stand-ins plus health, metrics, control."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from provider_sim import cartesia_compat, deepgram_compat, openai_compat
from provider_sim.config import Settings
from provider_sim.runtime import SimRuntime, read_scenario_file
from provider_sim.scenario import Scenario, ScenarioError, parse_scenario

_MAX_SCENARIO_BYTES = 1_000_000


def create_app(settings: Settings | None = None, scenario: Scenario | None = None) -> FastAPI:
    """Build the app. The scenario comes from `scenario`, else from SIM_SCENARIO."""
    settings = settings or Settings()
    if scenario is None and settings.sim_scenario is not None:
        scenario = read_scenario_file(settings.sim_scenario)
    runtime = SimRuntime(settings, scenario)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(runtime.load_engines)  # before /healthz answers
        yield

    app = FastAPI(title="provider-sim", version="0.1.0", lifespan=lifespan)
    app.state.runtime = runtime
    app.include_router(openai_compat.router)
    app.include_router(deepgram_compat.router)
    app.include_router(cartesia_compat.router)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/sim/state")
    async def state() -> dict[str, Any]:
        return runtime.describe()

    @app.post("/sim/scenario", response_model=None)
    async def load_scenario(request: Request) -> JSONResponse:
        """Replace the scenario with the YAML (or JSON) document in the body."""
        body = await request.body()
        if len(body) > _MAX_SCENARIO_BYTES:
            return JSONResponse({"detail": "scenario is larger than 1 MB"}, status_code=413)
        try:
            loaded = parse_scenario(body.decode("utf-8"), source="request body")
        except UnicodeDecodeError:
            return JSONResponse({"detail": "scenario must be UTF-8 text"}, status_code=400)
        except ScenarioError as error:
            return JSONResponse({"detail": str(error)}, status_code=400)
        runtime.set_scenario(loaded)
        return JSONResponse(
            {
                "name": loaded.name,
                "greeting_responses": len(loaded.greeting),
                "caller_turns": len(loaded.turns),
            }
        )

    @app.post("/sim/reset")
    async def reset() -> dict[str, str]:
        runtime.reset()
        return {"status": "reset"}

    return app
