"""``edgeface doctor``: what is installed and what each capability still needs.

Versions come from package metadata, so diagnosing never imports TensorFlow & co.
"""

from __future__ import annotations

import platform
from importlib import metadata

from edgeface import __version__
from edgeface.cli.toolchain import INSTALL_HINT

# distribution names -> the first one installed provides the package
PACKAGES = {
    "numpy": ["numpy"],
    "ai-edge-litert": ["ai-edge-litert"],
    "pillow": ["pillow"],
    "onnxruntime": ["onnxruntime"],
    "opencv": ["opencv-python-headless", "opencv-python", "opencv-contrib-python"],
    "faiss": ["faiss-cpu", "faiss-gpu"],
    "tensorflow": ["tensorflow-cpu", "tensorflow"],
    "onnx": ["onnx"],
    "tf2onnx": ["tf2onnx"],
    "onnx2tf": ["onnx2tf"],
    "onnxruntime-qnn": ["onnxruntime-qnn"],
    "qai-hub": ["qai-hub"],
    "pymilvus": ["pymilvus"],
}

CAPABILITIES = [
    ("run TFLite bundles (SDK)", ["numpy", "ai-edge-litert"], "pip install edgeface"),
    ("read image files", ["pillow"], "pip install pillow"),
    ("run ONNX bundles", ["onnxruntime"], "pip install 'edgeface[onnx]'"),
    ("fast resize and alignment warp", ["opencv"], "pip install 'edgeface[fast]'"),
    ("FAISS gallery search", ["faiss"], "pip install 'edgeface[fast]'"),
    ("galleries in Milvus (milvus://...)", ["pymilvus"], "pip install 'edgeface[milvus]'"),
    ("train, quantize, convert to TFLite", ["tensorflow"], "pip install 'edgeface[toolchain]'"),
    ("convert TF models to ONNX", ["tensorflow", "tf2onnx", "onnx"], "pip install 'edgeface[toolchain]'"),
    ("convert ONNX models to TFLite", ["tensorflow", "onnx2tf", "onnx"], INSTALL_HINT),
    ("Qualcomm Hexagon compile (offline)", ["onnxruntime-qnn", "onnx"], "pip install 'edgeface[qnn]'"),
    ("Qualcomm AI Hub jobs", ["qai-hub"], "pip install 'edgeface[hub]'"),
]

def installed_version(names: list[str]) -> str | None:
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def cpu_info() -> dict:
    from edgeface.hostcpu import host_cpu

    cpu = host_cpu()
    return {"model": cpu.model, "cores": cpu.cores, "features": list(cpu.features)}


def diagnose() -> dict:
    packages = {name: installed_version(dists) for name, dists in PACKAGES.items()}
    capabilities = [{"name": name, "ready": all(packages[n] for n in needs), "needs": needs,
                     "install": install} for name, needs, install in CAPABILITIES]
    return {"edgeface": __version__, "python": platform.python_version(),
            "platform": f"{platform.system()} {platform.machine()}", "cpu": cpu_info(),
            "packages": packages, "capabilities": capabilities}
