"""What a test configures on the embedded endpoint: guardrails, inference profiles."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_ANSWER", "DEFAULT_BLOCKED_MESSAGE", "GuardrailSpec", "InferenceProfileSpec"]

#: The answer every model gives unless the server is configured otherwise.
DEFAULT_ANSWER = "This is a canned answer from the embedded Bedrock endpoint."
DEFAULT_BLOCKED_MESSAGE = "Sorry, the model cannot answer this question."


@dataclass(frozen=True, kw_only=True)
class GuardrailSpec:
    """A guardrail configured on the embedded endpoint.

    It intervenes on a call only when the call names this guardrail (its
    ``identifier`` or its ARN) *and* its ``version``, and the call's text
    contains one of ``blocked_words`` (case-insensitive; for input) or the
    model's answer does (for output).
    """

    identifier: str
    version: str = "1"
    blocked_words: tuple[str, ...] = ()
    blocked_input_message: str = DEFAULT_BLOCKED_MESSAGE
    blocked_output_message: str = DEFAULT_BLOCKED_MESSAGE
    name: str = ""

    def arn(self, region: str, account_id: str) -> str:
        """The guardrail's ARN in ``region`` and ``account_id``."""
        return f"arn:aws:bedrock:{region}:{account_id}:guardrail/{self.identifier}"

    def blocked_in(self, text: str) -> tuple[str, ...]:
        """The blocked words found in ``text``."""
        lowered = text.lower()
        return tuple(word for word in self.blocked_words if word.lower() in lowered)


@dataclass(frozen=True, kw_only=True)
class InferenceProfileSpec:
    """An inference profile served by ``GetInferenceProfile``."""

    identifier: str
    arn: str
    models: tuple[str, ...]
    type: str = "APPLICATION"
    name: str = ""
