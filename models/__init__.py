"""The model registry (OpenCV dnn_superres zoo), verified fetching, and the EDSR builder.

Public entry points:

* ``resolve_model(ref)``: a path or registry name -> a verified local file.
* ``fetch_model(name)``: download / mirror-copy a registry model into the cache.
* ``load_registry()`` / ``get_model(name)``: the typed manifest entries.
* ``sropt.models.synth.build_edsr_graph`` / ``write_synthetic_edsr``: EDSR
  graphs in the released layout with random weights (imports TensorFlow, so
  it is not imported here).
"""

from sropt.models.fetch import (
    DEFAULT_TIMEOUT,
    Mirror,
    cached_model,
    configured_mirror,
    fetch_model,
    model_cache_dir,
)
from sropt.models.registry import ModelEntry, ModelSource, find_model, get_model, load_registry
from sropt.models.resolve import resolve_model
from sropt.models.verify import Verification, git_blob_id, verify_file

__all__ = [
    "DEFAULT_TIMEOUT",
    "Mirror",
    "ModelEntry",
    "ModelSource",
    "Verification",
    "cached_model",
    "configured_mirror",
    "fetch_model",
    "find_model",
    "get_model",
    "git_blob_id",
    "load_registry",
    "model_cache_dir",
    "resolve_model",
    "verify_file",
]
