"""sropt: super-resolution model optimization toolchain."""

__version__ = "0.1.0"
