"""How much of each measurement to do: the full suite, or ``--quick`` for smoke tests."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Iteration counts for every figure (the full suite must stay under 2 minutes on 2 cores)."""

    #: Calls made on each client before anything is timed (pools, caches, lazy imports).
    warmup_calls: int = 200
    #: Converse round-trip: ABBA rounds, and calls per batch.
    roundtrip_rounds: int = 30
    roundtrip_batch: int = 100
    #: ConverseStream throughput: events per stream, rounds, streams per batch.
    stream_events: int = 500
    stream_rounds: int = 24
    stream_batch: int = 5
    #: Pure engine: loops per repeat and repeats.
    evaluate_loops: int = 20_000
    evaluate_repeats: int = 15
    #: Client construction: rounds and clients per batch.
    construct_rounds: int = 30
    construct_batch: int = 10
    #: Memory: total calls, how often one is an abandoned stream, sample interval.
    memory_calls: int = 10_000
    memory_stream_every: int = 10
    memory_samples: int = 10
    #: Concurrency: threads sharing one client, calls per thread per batch, rounds.
    threads: int = 8
    thread_calls: int = 40
    concurrency_rounds: int = 8
    #: Server-side cost: calls timed inside the server handler.
    server_calls: int = 300

    @classmethod
    def full(cls) -> Settings:
        """The figures the targets are judged on."""
        return cls()

    @classmethod
    def quick(cls) -> Settings:
        """Minimal iterations: proves the harness works; its figures mean nothing."""
        return cls(
            warmup_calls=3,
            roundtrip_rounds=2,
            roundtrip_batch=3,
            stream_events=20,
            stream_rounds=2,
            stream_batch=1,
            evaluate_loops=50,
            evaluate_repeats=3,
            construct_rounds=2,
            construct_batch=1,
            memory_calls=40,
            memory_stream_every=5,
            memory_samples=2,
            threads=2,
            thread_calls=2,
            concurrency_rounds=2,
            server_calls=5,
        )
