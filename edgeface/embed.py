"""Face embeddings: aligned chips in, L2-normalised vectors out."""

from __future__ import annotations

import numpy as np

from edgeface.bundle import EmbedderSpec
from edgeface.decoders import OutputInfo, resolve_output
from edgeface.errors import InferenceError, ModelLoadError
from edgeface.preprocess import Preprocessor, resize_bilinear
from edgeface.runtime.model import Model


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class Embedder:
    def __init__(self, model: Model, spec: EmbedderSpec, flip_average: bool = False):
        self.model = model
        self.spec = spec
        self.flip_average = flip_average
        self.preprocess = Preprocessor(spec.input)
        outputs = [OutputInfo(o.name, o.shape) for o in model.outputs]
        self.output_index = resolve_output(spec.output, outputs, "models.embedder.output") \
            if spec.output is not None else 0
        size = abs(int(np.prod(outputs[self.output_index].shape)))
        if size != spec.embedding_size:
            raise ModelLoadError(f"models.embedder: the model outputs {outputs[self.output_index].shape}, "
                                 f"the manifest says embedding_size {spec.embedding_size}")
        self._batches = True  # cleared if the backend cannot take a batch dimension

    @property
    def dim(self) -> int:
        return self.spec.embedding_size

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """(N, h, w, 3) uint8 aligned chips -> (N, D) float32 unit vectors."""
        if len(chips) == 0:
            return np.zeros((0, self.dim), np.float32)
        size = (self.spec.input.height, self.spec.input.width)
        if chips.shape[1:3] != size:
            chips = np.stack([resize_bilinear(c, size[1], size[0]) for c in chips])
        batch = self.preprocess.normalize(chips)
        vectors = self._run(batch)
        if self.flip_average:
            vectors = vectors + self._run(np.ascontiguousarray(np.flip(batch, axis=-2 if
                                          self.spec.input.layout == "NHWC" else -1)))
        return l2_normalize(vectors.reshape(len(chips), self.dim))

    def _run(self, batch: np.ndarray) -> np.ndarray:
        if self._batches and len(batch) > 1:
            try:
                return self.model.run(batch)[self.output_index]
            except InferenceError:  # a model with a fixed batch of 1: embed one chip at a time
                self._batches = False
        return np.concatenate([self.model.run(batch[i:i + 1])[self.output_index] for i in range(len(batch))])
