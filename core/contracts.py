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


    @property
    def normalization(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(mean, std) per input channel: tensor value = (pixel - mean) / std, on 0..255 pixels."""
        if self.input_channels == 3:
            return tuple(DIV2K_MEAN_BGR), (1.0, 1.0, 1.0)
        return (0.0,), (255.0,)

    def describe(self, scale: int) -> dict:
        """The exact pre/post-processing as data, for sidecars, TFLite metadata and hand-off READMEs.

        Every string here restates what ``preprocess``/``postprocess`` do; an
        app that follows it reproduces ``sropt upscale`` to the byte.
        """
        mean, std = self.normalization
        low = [round((0.0 - m) / s, 6) for m, s in zip(mean, std)]
        high = [round((255.0 - m) / s, 6) for m, s in zip(mean, std)]
        common = {"name": self.name, "scale": int(scale), "layout": "NHWC", "mean": list(mean), "std": list(std),
                  "input_range": [low, high], "rounding": "round half to even, then clip to 0..255 (cvRound)"}
        if self.input_channels == 3:
            return {**common,
                    "input": f"[1,H,W,3]: the image's B,G,R channels in that order (OpenCV order, not RGB), "
                             f"each on 0..255 minus the DIV2K mean {[round(m, 4) for m in mean]} (BGR)",
                    "output": f"[1,{scale}H,{scale}W,3]: B,G,R minus the same mean",
                    "postprocess": "add the mean per channel, round half to even, clip to 0..255, uint8 BGR",
                    "chroma": None}
        return {**common,
                "input": "[1,H,W,1]: Y of cv2.cvtColor(bgr, COLOR_BGR2YCrCb) (BT.601 full range, "
                         "Y = 0.299R + 0.587G + 0.114B, 8-bit) divided by 255, so 0..1",
                "output": f"[1,{scale}H,{scale}W,1]: the upscaled Y on 0..1",
                "postprocess": "merged = cv2.resize(YCrCb(lr)/255 as float32, (sW, sH), INTER_LINEAR); "
                               "merged[..., 0] = output Y; uint8 = clip(rint(merged * 255)); cv2.COLOR_YCrCb2BGR",
                "chroma": "Cr and Cb are not modelled: the LR image's YCrCb/255 (float32, all three channels) is "
                          "resized bilinearly (OpenCV INTER_LINEAR, half-pixel centres) to the output size and its "
                          "Y replaced by the model's; resizing uint8 instead differs by up to 2 levels"}


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
