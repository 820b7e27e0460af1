"""Developer and CI sessions:
``nox -s tests lint typecheck docs examples bench bench_smoke litellm``."""

from __future__ import annotations

import re
from pathlib import Path

import nox

nox.options.sessions = ["tests", "llamaindex", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = None  # the interpreter nox runs on; CI pins nothing else


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The test suite (real TLS on loopback; no network beyond 127.0.0.1)."""
    session.install("-e", ".[test]")
    session.run("pytest", "-n", "2", "--dist", "loadfile", *session.posargs)


def _lowest(package: str) -> str:
    """The floor pyproject.toml declares for ``package`` (``"botocore>=X"`` -> ``X``)."""
    text = Path(__file__).with_name("pyproject.toml").read_text()
    match = re.search(rf'"{package}>=([0-9.]+)"', text)
    if match is None:
        raise RuntimeError(f"no {package}>= floor in pyproject.toml")
    return match.group(1)


@nox.session(python=PYTHON)
def tests_lowest(session: nox.Session) -> None:
    """The test suite on the lowest boto3/botocore pyproject.toml claims, with the
    ``aio`` extra (``tests`` runs on the newest botocore, without it)."""
    floor = [f"boto3=={_lowest('boto3')}", f"botocore=={_lowest('botocore')}"]
    # aioboto3 too, for its test: pip can only pick aioboto3 7.0.0 (its later releases
    # pin aiobotocore 2.x, whose botocore pins are below securebedrock's floor).
    session.install("-e", ".[test,aio]", "aioboto3", *floor)
    session.run("python", "-c", "import botocore; print('botocore', botocore.__version__)")
    session.run("pytest", "-n", "2", "--dist", "loadfile", "-q", *session.posargs)


@nox.session(python=PYTHON)
def deps(session: nox.Session) -> None:
    """The published requirements resolve (pip's resolver, nothing installed): with
    and without the ``aio`` extra, and next to aioboto3."""
    for requirements in ([".[aio]"], ["."], [".[aio]", "aioboto3"]):
        session.run(
            "python",
            "-m",
            "pip",
            "install",
            "--quiet",
            "--dry-run",
            "--ignore-installed",
            *requirements,
        )


@nox.session(python=PYTHON)
def litellm(session: nox.Session) -> None:
    """litellm through securebedrock.HTTPTransport (litellm is too large for ``test``)."""
    session.install("-e", ".[test,litellm]")
    session.run(
        "pytest",
        "tests/test_httpx_litellm.py",
        *session.posargs,
        env={"SECUREBEDROCK_REQUIRE_LITELLM": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    )


@nox.session(python=PYTHON)
def llamaindex(session: nox.Session) -> None:
    """The llama-index recipe's tests (a heavy dependency tree, kept out of ``tests``), with
    aioboto3, whose presence switches llama-index's async methods to an aioboto3 client.
    pip can only pick aioboto3 7.0.0 next to the ``aio`` extra (later releases pin
    aiobotocore 2.x, whose botocore is below securebedrock's floor)."""
    session.install("-e", ".[test,llamaindex,aio]", "aioboto3")
    session.run(
        "pytest",
        "-n",
        "2",
        "--dist",
        "loadfile",
        "tests/test_frameworks_llamaindex.py",
        env={"SECUREBEDROCK_REQUIRE_AIOBOTO3": "1"},
    )


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "securebedrock", "tests", "examples", "benchmarks", "noxfile.py")
    session.run(
        "ruff",
        "format",
        "--check",
        "securebedrock",
        "tests",
        "examples",
        "benchmarks",
        "noxfile.py",
    )


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package and the examples (with the optional extras the
    package's modules import: aio for securebedrock.aio)."""
    session.install("-e", ".[test,aio]", "mypy>=1.11", "boto3-stubs[bedrock-runtime,bedrock]>=1.34")
    session.run("mypy", "--strict")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation strictly (broken links or snippets fail)."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", "--site-dir", "build/site")


@nox.session(python=PYTHON)
def examples(session: nox.Session) -> None:
    """Run every example against the embedded endpoint."""
    session.install("-e", ".[test]")
    session.run("pytest", "tests/test_examples.py", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Overhead of securebedrock over raw boto3, aiobotocore and httpx (not in the tests)."""
    session.install("-e", ".[bench]")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(python=PYTHON)
def bench_smoke(session: nox.Session) -> None:
    """The benchmark harness end to end (``--quick``, ``--profile``); slow, so not in tests."""
    session.install("-e", ".[bench]")
    session.run(
        "pytest",
        "tests/test_benchmarks_end_to_end.py",
        *session.posargs,
        env={"SECUREBEDROCK_BENCH_SMOKE": "1"},
    )


@nox.session(python=PYTHON)
def mutation(session: nox.Session) -> None:
    """Mutation testing of the pure engine and the model-id classifier (not in CI's test run).

    mutmut mutates the ``_rules`` package and ``_modelid.py`` (configured in ``[tool.mutmut]``)
    and runs the pure tests that exercise them against each mutant; a surviving
    mutant is a change no test notices. ``nox -s mutation -- results`` lists them,
    ``nox -s mutation -- show <name>`` shows one. Artefacts go to ``mutants/``.
    """
    session.install("-e", ".[test]", "mutmut>=3.8")
    args = session.posargs or ["run", "--max-children", "2"]
    session.run("mutmut", *args)
    if not session.posargs:
        session.run("mutmut", "results")
