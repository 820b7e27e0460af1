"""StartAsyncInvoke, GetAsyncInvoke and ListAsyncInvokes: jobs that complete at once."""

from __future__ import annotations

import base64
import binascii
import datetime
import itertools
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from .responses import ApiError, Response, iso, json_response, parse_json_object

if TYPE_CHECKING:
    from .backend import Backend

__all__ = ["AsyncJobs", "get_async_invoke", "list_async_invokes", "start_async_invoke"]

_EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


@dataclass(kw_only=True)
class _AsyncInvoke:
    arn: str
    model_arn: str
    token: str | None
    status: str
    submit_time: datetime.datetime
    output_data_config: Any


class AsyncJobs:
    """The async invocations started on one endpoint, in submission order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: list[_AsyncInvoke] = []
        self._ids = itertools.count(1)

    def start(
        self, *, region: str, account_id: str, model_id: str, token: str | None, output: Any
    ) -> str:
        """Record a completed job (or find the one ``token`` started); its ARN."""
        with self._lock:
            for job in self._jobs:
                if token and job.token == token:
                    return job.arn
            number = next(self._ids)
            arn = f"arn:aws:bedrock:{region}:{account_id}:async-invoke/emb{number:09d}"
            model_arn = (
                model_id
                if model_id.startswith("arn:")
                else f"arn:aws:bedrock:{region}::foundation-model/{model_id}"
            )
            self._jobs.append(
                _AsyncInvoke(
                    arn=arn,
                    model_arn=model_arn,
                    token=token,
                    status="Completed",
                    # Distinct, increasing submit times keep list ordering deterministic.
                    submit_time=_EPOCH + datetime.timedelta(seconds=number),
                    output_data_config=output,
                )
            )
            return arn

    def all(self) -> list[_AsyncInvoke]:
        """A snapshot of every job."""
        with self._lock:
            return list(self._jobs)


def _summary(job: _AsyncInvoke) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "invocationArn": job.arn,
        "modelArn": job.model_arn,
        "status": job.status,
        "submitTime": iso(job.submit_time),
        "lastModifiedTime": iso(job.submit_time),
        "endTime": iso(job.submit_time),
        "outputDataConfig": job.output_data_config,
    }
    if job.token:
        summary["clientRequestToken"] = job.token
    return summary


def start_async_invoke(
    backend: Backend, labels: Mapping[str, str], query: str, headers: Mapping[str, str], body: bytes
) -> Response:
    """``StartAsyncInvoke``: a job that has already completed (idempotent per token)."""
    request = parse_json_object(body, "request body")
    model_id = request.get("modelId")
    if not isinstance(model_id, str):
        raise ApiError("ValidationException", "modelId is required")
    backend.check_model_id(model_id)
    output = request.get("outputDataConfig")
    if not isinstance(output, dict) or "modelInput" not in request:
        raise ApiError("ValidationException", "modelInput and outputDataConfig are required")
    token = request.get("clientRequestToken")
    arn = backend.async_jobs.start(
        region=backend.region,
        account_id=backend.account_id,
        model_id=model_id,
        token=token if isinstance(token, str) else None,
        output=output,
    )
    return json_response({"invocationArn": arn})


def get_async_invoke(
    backend: Backend, labels: Mapping[str, str], query: str, headers: Mapping[str, str], body: bytes
) -> Response:
    """``GetAsyncInvoke``: one job's summary."""
    arn = labels["invocationArn"]
    jobs = [job for job in backend.async_jobs.all() if job.arn == arn]
    if not jobs:
        # GetAsyncInvoke does not model ResourceNotFoundException.
        raise ApiError("ValidationException", "The invocation ARN does not exist.")
    return json_response(_summary(jobs[0]))


def list_async_invokes(
    backend: Backend, labels: Mapping[str, str], query: str, headers: Mapping[str, str], body: bytes
) -> Response:
    """``ListAsyncInvokes``: job summaries, filtered, sorted and paginated."""
    params = dict(parse_qsl(query, keep_blank_values=True))
    try:
        max_results = int(params.get("maxResults", "1000"))
        offset = (
            int(base64.urlsafe_b64decode(params["nextToken"]).decode())
            if ("nextToken" in params)
            else 0
        )
    except (ValueError, binascii.Error):
        raise ApiError("ValidationException", "Invalid maxResults or nextToken") from None
    if not 1 <= max_results <= 1000 or offset < 0:
        raise ApiError("ValidationException", "maxResults must be between 1 and 1000")
    jobs = backend.async_jobs.all()
    if "statusEquals" in params:
        jobs = [job for job in jobs if job.status == params["statusEquals"]]
    jobs.sort(
        key=lambda job: job.submit_time,
        reverse=params.get("sortOrder", "Descending") == "Descending",
    )
    page = jobs[offset : offset + max_results]
    response: dict[str, Any] = {"asyncInvokeSummaries": [_summary(j) for j in page]}
    if offset + max_results < len(jobs):
        response["nextToken"] = base64.urlsafe_b64encode(
            str(offset + max_results).encode()
        ).decode()
    return json_response(response)
