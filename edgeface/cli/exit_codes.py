"""What edgeface's exit codes mean: one meaning each, so that scripts and CI can tell a
result that is not good enough from a mistake in the command and from a bug (docs/cli.md
lists them for users)."""

OK = 0
GATE_FAILED = 1      # the command ran, but a fidelity gate or a device budget failed
USER_ERROR = 2       # bad input, a missing file or optional dependency, every feed failed: one line says the fix
INTERNAL_ERROR = 3   # a bug in edgeface: please report it (EDGEFACE_DEBUG=1 shows the traceback)
INTERRUPTED = 130    # Ctrl-C, as shells report SIGINT

# Top-level modules of the optional extras -> the install command that brings them.
_TOOLCHAIN = "pip install 'edgeface[toolchain]' && python -m edgeface.cli.toolchain install"
OPTIONAL_MODULES = {
    "tensorflow": _TOOLCHAIN, "keras": _TOOLCHAIN, "tf_keras": _TOOLCHAIN, "onnx2tf": _TOOLCHAIN,
    "tf2onnx": _TOOLCHAIN, "onnxslim": _TOOLCHAIN, "skimage": _TOOLCHAIN, "matplotlib": _TOOLCHAIN,
    "psutil": _TOOLCHAIN,
    "onnxruntime": "pip install 'edgeface[onnx]'", "onnx": "pip install 'edgeface[qnn]'",
    "cv2": "pip install 'edgeface[fast]'", "faiss": "pip install 'edgeface[fast]'",
    "qai_hub": "pip install 'edgeface[hub]'", "av": "pip install 'edgeface[video]'",
    "ray": "pip install 'edgeface[scale]'",
}


def install_hint(missing: ModuleNotFoundError) -> str | None:
    """The command that installs the optional module ``missing`` names, or None when it is
    not one of edgeface's optional dependencies (then it is a broken install: a bug)."""
    top = (missing.name or "").split(".")[0]
    return OPTIONAL_MODULES.get(top)
