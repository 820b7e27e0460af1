"""The package version, in a module of its own so that any module can read it without
importing the package root (imports run one way: the root imports everything else)."""

__version__ = "0.1.0"
