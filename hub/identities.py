"""Real-time identity resolution in the running hub: one incoming record, matched as it arrives.

`link_incoming` is the one function incoming paths call with a source's record — its id at the source
and the personal attributes it carries, never a hub id:

- a webhook (`POST /webhooks/<connector>`, Standard Webhooks) whose payload is
  `{"type": "identity.record", "data": {"externalId": ..., "givenName": ..., "familyName": ...,
  "dateOfBirth": ..., "postcode": ..., "addressLine": ..., "verified": {"nino": ...}}}` (`receive_identity`);
- a connector's fetch result for an external id not linked yet (`schema.identity.matching.link_fetched`,
  behind the steward's `matchExternalRecord`: the record's fields given_name / givenName … are the attributes).

The resolver decides with the model in use and the thresholds (bits of evidence) of config/linkage.yaml:
at or above the upper one the identity is linked (method `probabilistic`, the model version on the link), between them
it goes to the steward review queue, below nothing is written. An identity already linked stays as it
is (the hub person id never changes under it); a malformed record is refused and writes nothing.

The model is loaded once at start-up (`IdentityLinker.load`); with no model trained yet, real-time
linking is off and says so (`LinkingUnavailable`), and the rest of the hub runs as before.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import JSONResponse, Response

from graph.driver import Graph
from graph.errors import GraphBusy, GraphUnavailable
from graph.linkage.decision import Decision, Outcome
from graph.linkage.errors import InvalidRecord, LinkingUnavailable
from graph.linkage.model import LinkageModel
from graph.linkage.resolver import ExternalRecord, Resolver
from hub.errors import Refusal
from hub.linkage import LinkageConfig, LinkageSetupError, load_current_model
from schema.events import link_accepted, publish

log = logging.getLogger(__name__)

IDENTITY_RECORD = "identity.record"
ACTOR = "realtime"


class IdentityLinker:
    """The resolver the running hub matches incoming records with (one per process)."""

    def __init__(self, graph: Graph, config: LinkageConfig, model: LinkageModel | None) -> None:
        self.config = config
        self.model = model
        self.resolver = Resolver(graph, model, config.thresholds, actor=ACTOR) if model is not None else None

    @classmethod
    def load(cls, graph: Graph, config: LinkageConfig) -> IdentityLinker:
        try:
            model: LinkageModel | None = load_current_model(config.models_dir)
        except LinkageSetupError as exc:
            log.info("real-time identity linking is off: %s", exc)
            model = None
        else:
            log.info("real-time identity linking with model %s", model.version)
        return cls(graph, config, model)

    async def link(
        self, source: str, external_id: str, attributes: Mapping[str, Any], verified: Mapping[str, str] | None = None
    ) -> Decision:
        if self.resolver is None:
            raise LinkingUnavailable(f"no linkage model in {self.config.models_dir}: train one (hub identities train)")
        decision = await self.resolver.resolve(ExternalRecord(source, external_id, attributes, verified or {}))
        if decision.outcome is Outcome.AUTO_LINK and not decision.existing:
            # No personal data in the log: the source, the method and the model, not who.
            log.info(
                "identity linked in real time: source %s, method %s, model %s",
                source,
                decision.method,
                decision.model_version,
            )
        return decision


async def link_incoming(
    linker: IdentityLinker,
    source: str,
    external_id: str,
    attributes: Mapping[str, Any],
    verified: Mapping[str, str] | None = None,
) -> Decision:
    """Match one incoming record and act on the decision (link, queue, or nothing); see the module docstring.

    Raises `InvalidRecord` (every problem named, nothing written) or `LinkingUnavailable`.
    """
    return await linker.link(source, external_id, attributes, verified)


def is_identity_event(body: bytes) -> bool:
    """Whether a (verified) webhook body is an `identity.record` event."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return isinstance(payload, dict) and payload.get("type") == IDENTITY_RECORD


def _invalid(message: str) -> Refusal:
    return Refusal(message, "WEBHOOK_BODY_INVALID", 422)


OUTCOMES = {Outcome.AUTO_LINK: "linked", Outcome.REVIEW: "queued", Outcome.NO_LINK: "unmatched"}


async def receive_identity(resources: Any, connector: str, webhook_id: str, body: bytes) -> Response:
    """Apply an `identity.record` delivery: match it and answer with the outcome (never the hub's person id).

    A repeated delivery decides the same way and writes nothing new (the resolver is idempotent).
    """
    data = orjson.loads(body).get("data")
    if not isinstance(data, dict):
        raise _invalid("data must be an object")
    external_id = data.get("externalId")
    if not isinstance(external_id, str) or not external_id.strip() or len(external_id) > 200:
        raise _invalid("data.externalId must be 1 to 200 characters")
    verified = data.get("verified") or {}
    attributes = {k: v for k, v in data.items() if k not in ("externalId", "verified")}
    linker: IdentityLinker | None = getattr(resources, "linker", None)
    if linker is None:
        raise Refusal("identity linking is not set up", LinkingUnavailable.code, 503)
    try:
        decision = await link_incoming(linker, connector, external_id, attributes, verified)
    except InvalidRecord as exc:
        raise _invalid(str(exc)) from None
    except LinkingUnavailable as exc:
        raise Refusal(str(exc), exc.code, 503, {"Retry-After": "60"}) from None
    except (GraphUnavailable, GraphBusy) as exc:
        raise Refusal(str(exc), exc.code, 503, {"Retry-After": "5"}) from None
    if decision.outcome is Outcome.AUTO_LINK and not decision.existing and decision.person_id is not None:
        best = decision.candidates[0].score.match_probability if decision.candidates else None
        await publish(
            getattr(resources, "events", None), link_accepted(decision.person_id, connector, decision.method, best)
        )
    status = "already linked" if decision.existing else OUTCOMES[decision.outcome]
    return JSONResponse(
        {
            "status": status,
            "webhookId": webhook_id,
            "method": decision.method if decision.outcome is Outcome.AUTO_LINK else None,
            "modelVersion": decision.model_version,
        }
    )
