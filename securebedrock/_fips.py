"""FIPS: which regions have a FIPS endpoint, and whether the local OpenSSL runs in FIPS mode.

The region list is derived from botocore's own endpoint data (``endpoints.json``),
never from a hand-written copy: when AWS adds a FIPS endpoint and botocore ships
it, securebedrock follows. The endpoint *ruleset* is no help here: it builds a
``<service>-fips.<region>`` host name for any region, whether or not it exists.
"""

from __future__ import annotations

import ctypes
import functools

__all__ = ["fips_regions", "openssl_fips_mode"]


@functools.lru_cache(maxsize=8)
def fips_regions(service: str) -> frozenset[str]:
    """Regions with a FIPS endpoint for ``service`` (``bedrock-runtime`` or ``bedrock``).

    botocore lists them as ``<service>-fips-<region>`` entries with a
    ``<service>-fips.<region>.<dnsSuffix>`` hostname under the ``bedrock``
    service of each partition (today: us-east-1, us-east-2, us-west-2,
    ca-central-1, us-gov-east-1, us-gov-west-1).
    """
    from botocore.loaders import create_loader

    data = create_loader().load_data("endpoints")
    prefix = f"{service}-fips-"
    regions: set[str] = set()
    for partition in data["partitions"]:
        suffix = partition["dnsSuffix"]
        for svc in partition["services"].values():
            for key, entry in svc.get("endpoints", {}).items():
                if not key.startswith(prefix):
                    continue
                region = key[len(prefix) :]
                hostname = entry.get("hostname", "")
                scope = entry.get("credentialScope", {}).get("region", region)
                if hostname == f"{service}-fips.{region}.{suffix}" and scope == region:
                    regions.add(region)
    return frozenset(regions)


def openssl_fips_mode() -> bool | None:
    """Whether the OpenSSL that Python's ``ssl`` module uses runs in FIPS mode.

    Asks that very libcrypto (through the ``_ssl`` extension's symbols):
    ``EVP_default_properties_is_fips_enabled`` on OpenSSL 3, ``FIPS_mode`` on
    1.x. ``None`` when it cannot be determined (another TLS library, no
    ``ctypes``, symbols hidden).
    """
    try:
        import _ssl

        library = ctypes.CDLL(_ssl.__file__)
    except (ImportError, OSError, AttributeError, TypeError):
        return None
    try:
        is_enabled = library.EVP_default_properties_is_fips_enabled
    except AttributeError:
        pass
    else:
        is_enabled.argtypes = [ctypes.c_void_p]
        is_enabled.restype = ctypes.c_int
        return bool(is_enabled(None))
    try:
        legacy = library.FIPS_mode
    except AttributeError:
        return None
    legacy.argtypes = []
    legacy.restype = ctypes.c_int
    return bool(legacy())
