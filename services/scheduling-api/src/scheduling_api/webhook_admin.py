"""Webhook endpoints as the API manages them: created with a secret shown once, seeded
from the clinic YAML with secrets from the environment, and their deliveries."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime

from scheduling_api.clinic_loader import ClinicConfigError
from scheduling_api.dispatch.safety import OutboundPolicy, url_refusal
from scheduling_api.domain.clinic import Clinic
from scheduling_api.domain.webhooks import (
    Delivery,
    DeliveryStatus,
    Endpoint,
    EndpointCreated,
    EndpointIn,
    new_secret,
    valid_secret,
)
from scheduling_api.errors import ServiceError, invalid_fields, not_found
from scheduling_api.store.webhook_store import StoredEndpoint, WebhookStore

logger = logging.getLogger(__name__)


def seeded_secrets(clinics: Mapping[str, Clinic], env: Mapping[str, str]) -> dict[str, str]:
    """Each YAML-seeded endpoint's secret from the environment, by `clinic/endpoint`.

    Fails (before the server takes traffic) naming the variable, never its value.
    """
    found: dict[str, str] = {}
    for clinic in clinics.values():
        for webhook in clinic.webhooks:
            secret = env.get(webhook.secret_env, "")
            if not valid_secret(secret):
                raise ClinicConfigError(
                    f"clinic {clinic.clinic_id!r} webhook {webhook.endpoint_id!r}: set "
                    f"{webhook.secret_env} to a Standard Webhooks secret (whsec_ + base64 of "
                    "24+ random bytes)"
                )
            found[f"{clinic.clinic_id}/{webhook.endpoint_id}"] = secret
    return found


class WebhookAdmin:
    def __init__(
        self,
        store: WebhookStore,
        *,
        clock: Callable[[], datetime],
        policy: OutboundPolicy,
    ) -> None:
        self._store = store
        self._clock = clock
        self._policy = policy

    async def seed(self, clinics: Mapping[str, Clinic], secrets_by_id: Mapping[str, str]) -> None:
        """Create or update the endpoints the clinic YAMLs declare."""
        for clinic in clinics.values():
            for webhook in clinic.webhooks:
                endpoint = Endpoint(
                    endpoint_id=webhook.endpoint_id,
                    clinic_id=clinic.clinic_id,
                    url=str(webhook.url),
                    events=webhook.events,
                    description=webhook.description,
                    seeded=True,
                    created_at=self._clock(),
                )
                secret = secrets_by_id[f"{clinic.clinic_id}/{webhook.endpoint_id}"]
                await self._store.save_endpoint(endpoint, secret)
                logger.info(
                    "webhook seeded",
                    extra={"clinic_id": clinic.clinic_id, "endpoint_id": webhook.endpoint_id},
                )

    def _checked_url(self, url: str) -> str:
        refusal = url_refusal(url, self._policy)
        if refusal:
            raise invalid_fields(("url", f"refused: {refusal}"))
        return url

    async def create(self, clinic: Clinic, body: EndpointIn) -> EndpointCreated:
        endpoint = Endpoint(
            endpoint_id=f"ep_{secrets.token_hex(8)}",
            clinic_id=clinic.clinic_id,
            url=self._checked_url(str(body.url)),
            events=sorted(set(body.events)),
            description=body.description,
            created_at=self._clock(),
        )
        secret = new_secret()
        await self._store.save_endpoint(endpoint, secret)
        logger.info(
            "webhook created",
            extra={"clinic_id": clinic.clinic_id, "endpoint_id": endpoint.endpoint_id},
        )
        return EndpointCreated(**endpoint.model_dump(), secret=secret)

    async def update(self, clinic: Clinic, endpoint_id: str, body: EndpointIn) -> Endpoint:
        stored = await self._get(clinic, endpoint_id)
        _not_seeded(stored)
        endpoint = stored.endpoint.model_copy(
            update={
                "url": self._checked_url(str(body.url)),
                "events": sorted(set(body.events)),
                "description": body.description,
            }
        )
        await self._store.save_endpoint(endpoint, stored.secret)
        return endpoint

    async def get(self, clinic: Clinic, endpoint_id: str) -> Endpoint:
        return (await self._get(clinic, endpoint_id)).endpoint

    async def endpoints(self, clinic: Clinic) -> list[Endpoint]:
        return [stored.endpoint for stored in await self._store.list_endpoints(clinic.clinic_id)]

    async def delete(self, clinic: Clinic, endpoint_id: str) -> None:
        _not_seeded(await self._get(clinic, endpoint_id))
        await self._store.delete_endpoint(clinic.clinic_id, endpoint_id)
        logger.info(
            "webhook deleted", extra={"clinic_id": clinic.clinic_id, "endpoint_id": endpoint_id}
        )

    async def deliveries(
        self, clinic: Clinic, *, status: DeliveryStatus, limit: int
    ) -> list[Delivery]:
        return await self._store.list_deliveries(clinic.clinic_id, status=status, limit=limit)

    async def redeliver(self, clinic: Clinic, delivery_id: str) -> Delivery:
        delivery = await self._store.get_delivery(clinic.clinic_id, delivery_id)
        if delivery is None:
            raise not_found("delivery", delivery_id)
        await self._get(clinic, delivery.endpoint_id)
        if delivery.status is DeliveryStatus.PENDING:
            raise ServiceError(
                409,
                "delivery_pending",
                f"Delivery {delivery_id} is still being retried; redeliver it once it has "
                "failed or was delivered.",
            )
        await self._store.ask_redelivery(clinic.clinic_id, delivery_id, self._clock())
        redelivered = await self._store.get_delivery(clinic.clinic_id, delivery_id)
        assert redelivered is not None
        return redelivered

    async def _get(self, clinic: Clinic, endpoint_id: str) -> StoredEndpoint:
        stored = await self._store.get_endpoint(clinic.clinic_id, endpoint_id)
        if stored is None:
            raise not_found("webhook", endpoint_id)
        return stored


def _not_seeded(stored: StoredEndpoint) -> None:
    if stored.endpoint.seeded:
        raise ServiceError(
            409,
            "webhook_seeded",
            f"Webhook {stored.endpoint.endpoint_id} is declared in the clinic YAML; change it "
            "there.",
        )


def environment() -> Mapping[str, str]:
    return os.environ
