"""The validation stage: trustworthy PSNR/SSIM, latency, size and memory across runtimes.

Public entry points::

    from sropt.validate import ValidationConfig, validate_artifacts, write_report
    from sropt.validate.metrics import calculate_psnr, calculate_ssim
    from sropt.validate.upscale import upscale_files

Heavy runtimes (TensorFlow, onnxruntime, LiteRT, cv2) are imported only by
the runner that needs them.
"""

from sropt.validate.config import ValidationConfig
from sropt.validate.evaluate import validate_artifacts
from sropt.validate.report import write_report
from sropt.validate.results import SCHEMA_VERSION, ValidationReport, ValidationResult

__all__ = ["SCHEMA_VERSION", "ValidationConfig", "ValidationReport", "ValidationResult", "validate_artifacts", "write_report"]
