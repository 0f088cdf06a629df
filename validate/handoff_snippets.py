"""Usage snippets written into a hand-off package: Python (exact) and Android Kotlin (LiteRT Interpreter).

The Python snippet repeats ``sropt.core.contracts`` and
``sropt.convert.tflite_tensors`` operation for operation (same dtypes, same
OpenCV calls), so its output equals ``sropt upscale``'s byte for byte; a test
runs it. The Kotlin snippet does the same arithmetic without OpenCV: the
colour conversions are OpenCV's own 14-bit fixed-point formulas (equal to
cv2.cvtColor on all 2^24 inputs), the chroma resize is bilinear with
half-pixel centres in float, which can round one level differently from
cv2.resize on a few pixels.
"""

from __future__ import annotations

from typing import Any

_PY_HEADER = '''"""Upscale images with {model} x{scale}, exactly as `sropt upscale {model} IMAGE -o OUT` does.

Needs numpy, opencv-python and {runtime_pkg}. Usage: python upscale.py IN.png OUT.png
Contract: {contract_name}; see README.md.
"""

import sys

import cv2
import numpy as np
{runtime_import}
MODEL = "{model}"
'''

_PY_BGR = '''MEAN_BGR = np.asarray({mean}, np.float32)  # DIV2K mean, B,G,R order


def preprocess(bgr):
    """uint8 BGR [H,W,3] -> float32 [1,H,W,3]: B,G,R minus the mean."""
    return (bgr.astype(np.float32) - MEAN_BGR)[None]


def postprocess(out, lr_bgr):
    """float32 [1,sH,sW,3] -> uint8 BGR: add the mean, round half to even, clip."""
    return np.clip(np.rint(out[0] + MEAN_BGR), 0, 255).astype(np.uint8)
'''

_PY_Y = '''def preprocess(bgr):
    """uint8 BGR [H,W,3] -> float32 [1,H,W,1]: Y of YCrCb / 255."""
    y = cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb)[..., 0].astype(np.float32) / 255.0
    return y[None, :, :, None]


def postprocess(out, lr_bgr):
    """float32 [1,sH,sW,1] Y + the LR image -> uint8 BGR (chroma resized bilinearly as float YCrCb/255)."""
    h, w = out.shape[1:3]
    ycrcb = cv2.cvtColor(lr_bgr, cv2.COLOR_BGR2YCrCb).astype(np.float32) / np.float32(255.0)
    merged = cv2.resize(ycrcb, (w, h), interpolation=cv2.INTER_LINEAR)
    merged[..., 0] = out[0, :, :, 0]
    merged = np.clip(np.rint(merged * np.float32(255.0)), 0, 255).astype(np.uint8)
    return cv2.cvtColor(merged, cv2.COLOR_YCrCb2BGR)
'''

_PY_TFLITE = '''

def to_tensor(x, detail):
    """float -> the tensor's dtype with its (scale, zero_point): q = round(x / scale + zero_point), clipped."""
    dtype = np.dtype(detail["dtype"])
    if dtype.kind == "f":
        return x.astype(dtype)
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.rint(x / scale + zero), info.min, info.max).astype(dtype)


def from_tensor(q, detail):
    """The tensor's values as float32: (q - zero_point) * scale for integer tensors."""
    if np.dtype(detail["dtype"]).kind == "f":
        return q.astype(np.float32)
    scale, zero = detail["quantization"]
    return ((q.astype(np.float32) - zero) * scale).astype(np.float32)


def run_model(x):
    """One [1,H,W,C] float32 input through LiteRT (the input is resized to the image)."""
    interp = Interpreter(model_path=MODEL)
    inp = interp.get_input_details()[0]
    if list(inp["shape"]) != list(x.shape):
        interp.resize_tensor_input(inp["index"], list(x.shape), strict=False)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    interp.set_tensor(inp["index"], to_tensor(x, inp))
    interp.invoke()
    return from_tensor(interp.get_tensor(out["index"]), out)
'''

_PY_ONNX = '''

def run_model(x):
    """One [1,H,W,C] float32 input through ONNX Runtime; NCHW files get a transposed input and output."""
    session = ort.InferenceSession(MODEL, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    nchw = inp.shape[1] == x.shape[3] and inp.shape[3] != x.shape[3]
    feed = np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if nchw else x
    y = np.asarray(session.run(None, {inp.name: feed})[0], np.float32)
    return np.ascontiguousarray(y.transpose(0, 2, 3, 1)) if nchw else y
'''

_PY_MAIN = '''

if __name__ == "__main__":
    lr = cv2.imread(sys.argv[1], cv2.IMREAD_COLOR)  # 8-bit BGR
    sr = postprocess(run_model(np.ascontiguousarray(preprocess(lr), dtype=np.float32)), lr)
    ok, png = cv2.imencode(".png", sr)
    with open(sys.argv[2], "wb") as f:
        f.write(png.tobytes())
'''


def python_snippet(model_file: str, kind: str, contract: dict[str, Any]) -> str:
    """A runnable upscale.py for ``model_file`` (.tflite via ai-edge-litert, .onnx via onnxruntime)."""
    tflite = kind == "tflite"
    header = _PY_HEADER.format(
        model=model_file, scale=contract["scale"], contract_name=contract["name"],
        runtime_pkg="ai-edge-litert" if tflite else "onnxruntime",
        runtime_import="from ai_edge_litert.interpreter import Interpreter\n" if tflite else "import onnxruntime as ort\n",
    )
    body = _PY_BGR.format(mean=list(contract["mean"])) if len(contract["mean"]) == 3 else _PY_Y
    return header + "\n" + body + (_PY_TFLITE if tflite else _PY_ONNX) + _PY_MAIN


def kotlin_snippet(model_file: str, contract: dict[str, Any]) -> str:
    """SuperResolution.kt: Bitmap in, Bitmap out, with the LiteRT Interpreter and the contract's arithmetic."""
    io_in, io_out = contract["io"]["input"], contract["io"]["output"]
    y_model = len(contract["mean"]) == 1
    channels = 1 if y_model else 3
    return _KOTLIN.format(
        model=model_file, scale=contract["scale"], channels=channels,
        in_type=_KT_TYPES[io_in["dtype"]], out_type=_KT_TYPES[io_out["dtype"]],
        in_scale=_kt_float(io_in.get("scale", 1.0)), in_zero=io_in.get("zero_point", 0),
        out_scale=_kt_float(io_out.get("scale", 1.0)), out_zero=io_out.get("zero_point", 0),
        mean=", ".join(_kt_float(m) for m in contract["mean"]),
        pre=_KT_PRE_Y if y_model else _KT_PRE_BGR, post=_KT_POST_Y if y_model else _KT_POST_BGR,
    )


def _kt_float(v: float) -> str:
    return f"{float(v):.9g}f"


_KT_TYPES = {"float32": "FLOAT32", "int8": "INT8", "uint8": "UINT8"}

_KOTLIN = '''// {model}: x{scale} super-resolution with the LiteRT Interpreter.
// Generated by `sropt package`; the contract is in README.md and metadata.json.
// Gradle: implementation("com.google.ai.edge.litert:litert:1.4.0")  (the org.tensorflow.lite API)
package example.superres

import android.graphics.Bitmap
import org.tensorflow.lite.Interpreter
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import kotlin.math.floor
import kotlin.math.round

class SuperResolution(modelFile: File, threads: Int = 4) : AutoCloseable {{
    private val interpreter = Interpreter(modelFile, Interpreter.Options().setNumThreads(threads))
    private val scale = {scale}
    private val channels = {channels}
    // I/O tensor types as written: FLOAT32, INT8 or UINT8 with q = round(v / S + Z).
    private val inType = "{in_type}"; private val inScale = {in_scale}; private val inZero = {in_zero}
    private val outType = "{out_type}"; private val outScale = {out_scale}; private val outZero = {out_zero}
    private val mean = floatArrayOf({mean})  // B,G,R (or 0 for Y), subtracted before / added after

    /** Upscale an ARGB_8888 bitmap; the input tensor is resized to it (dynamic-shape models). */
    fun upscale(lr: Bitmap): Bitmap {{
        val w = lr.width
        val h = lr.height
        val argb = IntArray(w * h).also {{ lr.getPixels(it, 0, w, 0, 0, w, h) }}
        val input = preprocess(argb)
        interpreter.resizeInput(0, intArrayOf(1, h, w, channels))
        interpreter.allocateTensors()
        val out = ByteBuffer.allocateDirect(w * scale * h * scale * channels * bytes(outType)).order(ByteOrder.nativeOrder())
        interpreter.runSignature(mapOf("lr_image" to toTensor(input)), mapOf("sr_image" to out))
        out.rewind()
        val sr = FloatArray(w * scale * h * scale * channels) {{ fromTensor(out) }}
        return postprocess(sr, argb, w, h)
    }}

    private fun bytes(type: String) = if (type == "FLOAT32") 4 else 1

    private fun toTensor(values: FloatArray): ByteBuffer {{
        val buf = ByteBuffer.allocateDirect(values.size * bytes(inType)).order(ByteOrder.nativeOrder())
        for (v in values) when (inType) {{
            "FLOAT32" -> buf.putFloat(v)
            "INT8" -> buf.put(round(v / inScale + inZero).coerceIn(-128f, 127f).toInt().toByte())
            else -> buf.put(round(v / inScale + inZero).coerceIn(0f, 255f).toInt().toByte())
        }}
        return buf.rewind() as ByteBuffer
    }}

    private fun fromTensor(buf: ByteBuffer): Float = when (outType) {{
        "FLOAT32" -> buf.getFloat()
        "INT8" -> (buf.get().toInt() - outZero) * outScale
        else -> ((buf.get().toInt() and 0xFF) - outZero) * outScale
    }}

    private fun toByte(v: Float): Int = round(v).coerceIn(0f, 255f).toInt()  // round half to even, clip
{pre}{post}
    override fun close() = interpreter.close()
}}
'''

_KT_PRE_BGR = '''
    // B,G,R on 0..255 minus the DIV2K mean, in that channel order (not RGB).
    private fun preprocess(argb: IntArray): FloatArray {
        val x = FloatArray(argb.size * 3)
        for (i in argb.indices) {
            val p = argb[i]
            x[3 * i] = (p and 0xFF) - mean[0]
            x[3 * i + 1] = ((p shr 8) and 0xFF) - mean[1]
            x[3 * i + 2] = ((p shr 16) and 0xFF) - mean[2]
        }
        return x
    }
'''

_KT_POST_BGR = '''
    private fun postprocess(sr: FloatArray, argb: IntArray, w: Int, h: Int): Bitmap {
        val px = IntArray(sr.size / 3) { i ->
            val b = toByte(sr[3 * i] + mean[0]); val g = toByte(sr[3 * i + 1] + mean[1]); val r = toByte(sr[3 * i + 2] + mean[2])
            (0xFF shl 24) or (r shl 16) or (g shl 8) or b
        }
        return Bitmap.createBitmap(px, w * scale, h * scale, Bitmap.Config.ARGB_8888)
    }
'''

_KT_PRE_Y = '''
    // OpenCV's COLOR_BGR2YCrCb for 8-bit images (14-bit fixed point, BT.601 full range).
    private fun ycrcb(p: Int): IntArray {
        val r = (p shr 16) and 0xFF; val g = (p shr 8) and 0xFF; val b = p and 0xFF
        val y = (r * 4899 + g * 9617 + b * 1868 + 8192) shr 14
        val cr = (((r - y) * 11682 + (128 shl 14) + 8192) shr 14).coerceIn(0, 255)
        val cb = (((b - y) * 9241 + (128 shl 14) + 8192) shr 14).coerceIn(0, 255)
        return intArrayOf(y, cr, cb)
    }

    // Y / 255: the model sees luma only.
    private fun preprocess(argb: IntArray) = FloatArray(argb.size) { ycrcb(argb[it])[0] / 255f }
'''

_KT_POST_Y = '''
    // Chroma is not modelled: the LR image's Cr, Cb (/255) are resized bilinearly with half-pixel
    // centres (as cv2.resize INTER_LINEAR) and merged with the model's Y, then YCrCb -> RGB.
    private fun postprocess(sr: FloatArray, argb: IntArray, w: Int, h: Int): Bitmap {
        val cr = FloatArray(argb.size); val cb = FloatArray(argb.size)
        for (i in argb.indices) { val c = ycrcb(argb[i]); cr[i] = c[1] / 255f; cb[i] = c[2] / 255f }
        val sw = w * scale; val sh = h * scale
        val px = IntArray(sw * sh)
        for (oy in 0 until sh) {
            val fy = ((oy + 0.5f) / scale - 0.5f).coerceAtLeast(0f)
            val y0 = floor(fy).toInt().coerceAtMost(h - 1); val y1 = (y0 + 1).coerceAtMost(h - 1); val ay = fy - y0
            for (ox in 0 until sw) {
                val fx = ((ox + 0.5f) / scale - 0.5f).coerceAtLeast(0f)
                val x0 = floor(fx).toInt().coerceAtMost(w - 1); val x1 = (x0 + 1).coerceAtMost(w - 1); val ax = fx - x0
                fun lerp(c: FloatArray) = (c[y0 * w + x0] * (1 - ax) + c[y0 * w + x1] * ax) * (1 - ay) +
                    (c[y1 * w + x0] * (1 - ax) + c[y1 * w + x1] * ax) * ay
                val yy = toByte(sr[oy * sw + ox] * 255f); val crr = toByte(lerp(cr) * 255f) - 128; val cbb = toByte(lerp(cb) * 255f) - 128
                // OpenCV's COLOR_YCrCb2BGR for 8-bit images.
                val r = (yy + ((crr * 22987 + 8192) shr 14)).coerceIn(0, 255)
                val g = (yy + ((cbb * -5636 + crr * -11698 + 8192) shr 14)).coerceIn(0, 255)
                val b = (yy + ((cbb * 29049 + 8192) shr 14)).coerceIn(0, 255)
                px[oy * sw + ox] = (0xFF shl 24) or (r shl 16) or (g shl 8) or b
            }
        }
        return Bitmap.createBitmap(px, sw, sh, Bitmap.Config.ARGB_8888)
    }
'''
