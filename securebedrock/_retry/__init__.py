"""One retry layer, ours, around each secured call.

botocore retries inside ``_make_api_call`` (the ``needs-retry`` event), below
the point where securebedrock sees the call. Two layers that both retry
multiply their attempts (4 x 4 = 16 requests for one throttled call) and hide
attempts from the audit span. So a secured client runs botocore with a single
attempt and retries here, once per call, with exponential backoff and full
jitter (``tenacity``), bounded in attempts *and* in total time, and records
every attempt as a span event.

How botocore's retries are switched off (docs/telemetry.md, "Retries"):

- clients securebedrock constructs get ``Config(retries={"total_max_attempts": 1})``
  merged over the caller's ``config`` (the caller's ``max_attempts`` /
  ``total_max_attempts`` becomes *our* bound);
- every secured client, including one handed to ``secure()``, has its
  ``needs-retry.bedrock-runtime`` handler (botocore registers it with
  ``unique_id="retry-config-bedrock-runtime"`` in every retry mode) replaced by
  one that never asks for a retry, registered under the same ``unique_id`` so a
  later botocore registration under that id is a no-op.

What is retried: throttling (HTTP 429 and botocore's throttling codes),
``ModelNotReadyException``, 5xx responses other than 501, and connection
failures botocore would itself retry (connect failure/timeout, connection
closed, read timeout). Never retried: anything that is or wraps a
:class:`~securebedrock.SecureBedrockError` (policy violations, transport
security failures), TLS errors, proxy errors, and any other client error.
Streaming calls are retried only until the response (with its stream) is
returned; an error while the caller iterates is the caller's.

The package's modules: ``_config`` (bounds, botocore's retries off), ``_classify``
(what may be retried) and ``_retrier`` (the attempts of one call).
"""

from ._classify import is_retryable
from ._config import RetryConfig, disable_botocore_retries, merge_boto_config, retry_config_of
from ._retrier import AttemptObserver, Retrier

# Private names the retry tests and docs/performance.md refer to.
from ._retrier import _idempotency_token_members as _idempotency_token_members

__all__ = [
    "AttemptObserver",
    "RetryConfig",
    "Retrier",
    "disable_botocore_retries",
    "is_retryable",
    "merge_boto_config",
    "retry_config_of",
]
