"""Pre/post-processing contracts: image <-> model tensor, per model family.

Every runner (TF, OpenCV, ONNX Runtime, LiteRT) goes through the same
``Contract`` so that one model gives the same image in every runtime. The
contracts reproduce what OpenCV's dnn_superres does (FACTS.md §1-2):

* EDSR: BGR on 0..255 minus the DIV2K mean in, mean added back out.
* ESPCN / FSRCNN / LapSRN: BGR -> YCrCb, Y/255 in as [1,H,W,1]; the output Y
  is x255, chroma is upscaled with cv2.resize (bilinear) and merged back.

Model tensors are always NHWC float32 here; a runner whose artifact produces
NCHW transposes before calling ``postprocess``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# DIV2K RGB mean in BGR order, as the EDSR_Tensorflow export and OpenCV use it.
DIV2K_MEAN_BGR = (103.1545782, 111.561547, 114.35629928)


@dataclass(frozen=True)
class Contract:
    """How an image becomes a model input and a model output becomes an image."""

    name: str
    input_channels: int  # channels of the model's input tensor
    description: str

    def preprocess(self, lr_bgr: np.ndarray) -> np.ndarray:
        """uint8 BGR [H,W,3] -> float32 NHWC [1,H,W,C] model input."""
        _check_bgr(lr_bgr)
        if self.input_channels == 3:
            x = lr_bgr.astype(np.float32) - np.asarray(DIV2K_MEAN_BGR, np.float32)
            return x[None]
        y = _to_ycrcb(lr_bgr)[..., 0].astype(np.float32) / 255.0
        return y[None, :, :, None]

    def postprocess(self, output: np.ndarray, lr_bgr: np.ndarray) -> np.ndarray:
        """float32 NHWC [1,sH,sW,C] model output (+ the LR image) -> uint8 BGR."""
        out = np.asarray(output, dtype=np.float32)
        if out.ndim != 4 or out.shape[0] != 1 or out.shape[-1] != self.input_channels:
            raise ValueError(
                f"{self.name} contract expects a [1,H,W,{self.input_channels}] output, got {out.shape}"
            )
        if self.input_channels == 3:
            hr = out[0] + np.asarray(DIV2K_MEAN_BGR, np.float32)
            return _to_uint8(hr)
        import cv2

        h, w = out.shape[1:3]
        # As DnnSuperResImpl::reconstruct_YCrCb: chroma is resized as float32
        # YCrCb/255 (not as uint8, whose fixed-point bilinear differs by up to
        # 2 levels), merged with the model's Y, then x255 -> uint8 in one step.
        ycrcb = _to_ycrcb(lr_bgr).astype(np.float32) / np.float32(255.0)
        merged = cv2.resize(ycrcb, (w, h), interpolation=cv2.INTER_LINEAR)
        merged[..., 0] = out[0, :, :, 0]
        return cv2.cvtColor(_to_uint8(merged * np.float32(255.0)), cv2.COLOR_YCrCb2BGR)


def _check_bgr(img: np.ndarray) -> None:
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected a uint8 BGR image [H,W,3], got {img.dtype} {img.shape}")


def _to_ycrcb(bgr: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    # Round half to even then saturate: cv::Mat::convertTo(CV_8U) uses cvRound,
    # which is lrint under the default FP rounding mode, i.e. the same as np.rint.
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


BGR_MEAN_CONTRACT = Contract(
    name="bgr-div2k-mean",
    input_channels=3,
    description="BGR on 0..255 minus the DIV2K mean in; mean added back out",
)
Y_CHANNEL_CONTRACT = Contract(
    name="y-channel",
    input_channels=1,
    description="BT.601 Y (cv2 YCrCb)/255 in as [1,H,W,1]; x255 out, chroma bilinear",
)
