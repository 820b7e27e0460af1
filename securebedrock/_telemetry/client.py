"""A secured client's telemetry: its tracer, instruments, digest key and connection facts.

Connection facts (the negotiated TLS version and the peer's address class of
the connection an attempt used) come from whoever builds the :class:`Telemetry`:
the adapter passes the transport's ``last_connection``/``reset_last_connection``
as a :class:`ConnectionFacts`; telemetry never imports the transport.

When nothing would keep what a call record records (the tracer is a no-op, the
metric instruments are no-ops and the audit log drops INFO records),
:meth:`Telemetry.start` hands out a :class:`~.quiet.QuietRecord`, which does no
per-call record work on the common path and still audits every violation the
way a full record does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import metrics, trace

from .. import _bounded
from .. import _telemetry_semconv as sc
from .._constants import INSTRUMENTATION_NAME
from .._version import __version__
from .audit_log import audit_logger
from .failopen import log
from .instruments import instruments
from .names import ATTR_MODE, ATTR_POLICY_DIGEST, ATTR_POLICY_RELEASE, ATTR_POLICY_SERIAL
from .quiet import QuietRecord
from .spans import CallRecord

__all__ = ["ConnectionFacts", "Telemetry"]

#: Global tracer providers that record nothing: the API's proxy before an SDK
#: provider is installed, and the explicit no-op one.
_SILENT_TRACER_PROVIDERS = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
_NOOP_INSTRUMENTS = (metrics.NoOpHistogram, metrics.NoOpCounter)
_SHOWN_MODELS_LIMIT = 64


class ConnectionFacts:
    """Where a call record reads the connection an attempt used.

    ``last``: the connection facts (``tls_version``, ``address_class``,
    ``violations``) of the request sent last on this thread or task, or ``None``;
    ``forget``: clears them before an attempt, so a failed attempt never reports a
    stale connection. The transport provides both; telemetry only calls them.
    """

    __slots__ = ("forget", "last")

    def __init__(self, *, last: Callable[[], Any], forget: Callable[[], Any]) -> None:
        self.last = last
        self.forget = forget


def _instrument_silent(instrument: object) -> bool:
    """Whether ``instrument`` records nothing now.

    A no-op instrument never does. A proxy instrument of the API's global meter
    provider does nothing until an SDK provider is installed, which gives it a
    real instrument (``_real_instrument``); anything else, or a proxy whose shape
    is not the one known here, counts as recording.
    """
    if isinstance(instrument, _NOOP_INSTRUMENTS):
        return True
    return getattr(instrument, "_real_instrument", True) is None


class Telemetry:
    """A secured client's tracer, instruments and digest key: built once, at construction."""

    def __init__(
        self,
        *,
        mode: str,
        policy_digest: str | None,
        region: str,
        server_address: str,
        server_port: int,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        hmac_key: bytes | None = None,
        policy_release: str | None = None,
        policy_serial: int | None = None,
        connection: ConnectionFacts | None = None,
    ) -> None:
        self.mode = mode
        self.policy_digest = policy_digest
        self.policy_release = policy_release
        self.policy_serial = policy_serial
        self.connection = connection
        # The org release beside the digest, computed once here: a fleet dashboard
        # sees which release each host runs.
        self.policy_attributes: dict[str, Any] = {}
        if policy_digest:
            self.policy_attributes[ATTR_POLICY_DIGEST] = policy_digest
        if policy_release:
            self.policy_attributes[ATTR_POLICY_RELEASE] = policy_release
        if policy_serial is not None:
            self.policy_attributes[ATTR_POLICY_SERIAL] = policy_serial
        self.region = region
        self.hmac_key = hmac_key
        # ``None`` means the global providers; the API's proxies follow a global
        # provider set after this client was built.
        self.tracer = trace.get_tracer(
            INSTRUMENTATION_NAME, __version__, tracer_provider=tracer_provider
        )
        self.duration, self.token_usage, self.violations = instruments(meter_provider)
        self.base_attributes: dict[str, Any] = {
            sc.GEN_AI_PROVIDER_NAME: sc.PROVIDER_AWS_BEDROCK,
            sc.SERVER_ADDRESS: server_address,
            sc.SERVER_PORT: server_port,
            ATTR_MODE: mode,
        }
        if region:
            self.base_attributes[sc.CLOUD_REGION] = region
        #: What every span of this client starts with: nothing in it changes per call.
        self.start_attributes: dict[str, Any] = {
            **self.base_attributes,
            **self.policy_attributes,
        }
        #: The metric attributes every call shares.
        self.metric_attributes: dict[str, Any] = {
            sc.GEN_AI_PROVIDER_NAME: sc.PROVIDER_AWS_BEDROCK,
            sc.SERVER_ADDRESS: server_address,
            sc.SERVER_PORT: server_port,
        }
        self._shown_models: dict[str, str] = {}
        self._tracer_noop = isinstance(self.tracer, trace.NoOpTracer)
        self._tracer_proxy = isinstance(self.tracer, trace.ProxyTracer)
        self._instrument_set = (self.duration, self.token_usage, self.violations)
        #: False when the instruments can never record (explicit no-op meter provider).
        self.metrics_enabled = not all(
            isinstance(i, _NOOP_INSTRUMENTS) for i in self._instrument_set
        )

    def shown_model(self, value: str | None) -> str | None:
        """:func:`securebedrock._bounded.model` of ``value``, remembered: a client sends
        the same few model ids and profiles on every call."""
        if value is None:
            return None
        shown = self._shown_models.get(value)
        if shown is None:
            shown = _bounded.model(value)
            if shown is not None and len(self._shown_models) < _SHOWN_MODELS_LIMIT:
                self._shown_models[value] = shown
        return shown

    def records_nothing(self) -> bool:
        """Whether no span, no metric and no INFO audit record of a call would be kept now.

        Read per call: a global SDK provider installed after this client was built
        is seen at once, and so is a change of the audit logger's level. WARNING
        records (violations) are not part of this: a quiet record writes them.
        """
        if not self._tracer_noop:
            if not self._tracer_proxy:
                return False
            if not isinstance(trace.get_tracer_provider(), _SILENT_TRACER_PROVIDERS):
                return False
        if self.metrics_enabled and not all(map(_instrument_silent, self._instrument_set)):
            return False
        return not audit_logger.isEnabledFor(logging.INFO)

    def start(self, operation: str, params: Mapping[str, Any]) -> CallRecord:
        """Open the span for one call (never raises: a failure gives a no-op record)."""
        try:
            if self.records_nothing():
                return QuietRecord(self, operation, params)
            return CallRecord(self, operation, params)
        except Exception as exc:
            log.debug("securebedrock telemetry error in start: %s", type(exc).__name__)
            return CallRecord(self, operation, {}, span=trace.INVALID_SPAN)
