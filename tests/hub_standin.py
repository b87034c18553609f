"""A local stand-in for the Qualcomm AI Hub REST service, for tests of ``edgeface.hub``.

The real ``qai-hub`` client talks to it unchanged: point ``api_url`` / ``web_url`` of a
``client.ini`` (see :meth:`HubStandIn.write_client_ini`) at it and set
``$QAIHUB_CLIENT_INI``. Requests and responses have the shapes of the service's: protobuf
messages of ``qai_hub.public_api_pb2`` with ``Content-Type: application/x-protobuf`` under
``/api/v1/``, JSON ``{"detail": ...}`` bodies for errors, and "pre-signed" storage URLs
(no auth) on the same server for the file transfers the client makes outside the API.

Endpoints (all under ``/api/v1/``, trailing slash; ``projects/<id>/`` prefixes accepted):

    GET   users/auth/user/                         User (the token's owner; edgeface's probe)
    GET   devices/?name=&os=&attributes=&select=   DeviceList (exact name, all attributes)
    POST  models/                                  Model -> CreateUpdateResponse
    GET   models/<id>/                             Model
    GET   models/<id>/multipart_upload/            FileUploadResponse.multipart_url (PUT URLs)
    POST  models/<id>/multipart_upload/            FileMultipartUploadComplete -> CreateUpdateResponse
    GET   models/<id>/download/                    FileDownloadResponse.url
    POST  datasets/                                Dataset -> CreateUpdateResponse
    GET   datasets/<id>/                           Dataset
    GET   datasets/<id>/upload_url/                FileUploadResponse.url (multipart POST form)
    PATCH datasets/<id>/                           Dataset(file_upload_complete) -> CreateUpdateResponse
    GET   datasets/<id>/download_data/             FileDownloadResponse.url
    POST  jobs/                                    Job (compile_job | inference_job) -> CreateUpdateResponse
    GET   jobs/<id>/                               Job, with its current state
    GET   jobs/<id>/result/                        JobResult (inference: output dataset, ProfileDetail)
    GET   jobs/<id>/download_compiled_model/       FileDownloadResponse.url
    GET   jobs/<id>/device_runs/<n>/artifact_list/<type>/   NamedArtifactDownloadURLList (empty)

    PUT   /storage/<key>      a model part (answers an ETag, like S3)
    POST  /storage/<key>      a dataset, as a multipart form (answers 204, like S3)
    GET   /storage/<key>      a stored file

Jobs move CREATED -> running -> DONE over ``job_seconds`` of wall time. A compile job
"compiles" by passing the ONNX through (target onnx) or writing a placeholder artifact
(tflite, QNN context binary, DLC) that remembers its source; an inference job runs the
source model here with LiteRT / onnxruntime on the uploaded dataset (``output_transform``
can perturb the outputs), and a profiling job returns a ProfileDetail with per-run times,
memory ranges and per-layer compute units (``profile_layers``).

Failure modes: ``unauthorized`` (every API call answers 401), ``fail_jobs`` (kind ->
failure reason: "compile" / "inference" / "profile" jobs end FAILED with it),
``never_finish`` (jobs stay running), ``break_storage`` (storage answers 403, an expired
pre-signed URL).
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import io
import itertools
import json
import re
import shlex
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import parse_qs, urlparse

import numpy as np
from qai_hub import public_api_pb2 as pb

TOKEN = "standin-token-0123456789abcdef"
PB = "application/x-protobuf"

# (name, os, chipset, hexagon, vendor, format, frameworks, os family) as AI Hub lists them
DEVICES = [
    ("Samsung Galaxy S23 (Family)", "13", "qualcomm-snapdragon-8gen2", "v73", "samsung", "phone",
     ("onnx", "qnn", "tflite"), "android"),
    ("Samsung Galaxy S24 (Family)", "14", "qualcomm-snapdragon-8gen3", "v75", "samsung", "phone",
     ("onnx", "qnn", "tflite"), "android"),
    ("Samsung Galaxy S24", "14", "qualcomm-snapdragon-8gen3", "v75", "samsung", "phone",
     ("onnx", "qnn", "tflite"), "android"),
    ("Snapdragon 7 Gen 4 QRD", "15", "qualcomm-snapdragon-7gen4", "v73", "qualcomm", "phone",
     ("onnx", "qnn", "tflite"), "android"),
    ("Samsung Galaxy S25 (Family)", "15", "qualcomm-snapdragon-8-elite-for-galaxy", "v79", "samsung", "phone",
     ("onnx", "qnn", "tflite"), "android"),
    ("QCS6490 (Proxy)", "12", "qualcomm-qcs6490", "v68", "qualcomm", "iot", ("onnx", "qnn", "tflite"),
     "android"),
    ("Snapdragon X Elite CRD", "11", "qualcomm-snapdragon-x-elite", "v73", "qualcomm", "compute",
     ("onnx", "qnn"), "windows"),
]

# compile target runtime -> (model type, file extension)
TARGETS = {
    "tflite": (pb.ModelType.MODEL_TYPE_TFLITE, "tflite"),
    "onnx": (pb.ModelType.MODEL_TYPE_ONNX, "onnx"),
    "qnn_context_binary": (pb.ModelType.MODEL_TYPE_QNN_CONTEXT_BINARY, "bin"),
    "qnn_dlc": (pb.ModelType.MODEL_TYPE_QNN_DLC, "dlc"),
}
_RUNNABLE = {pb.ModelType.MODEL_TYPE_TFLITE: "tflite", pb.ModelType.MODEL_TYPE_ONNX: "onnx"}
_DTYPES = {np.dtype(np.float32): pb.TensorDtype.TENSOR_DTYPE_FLOAT32,
           np.dtype(np.float16): pb.TensorDtype.TENSOR_DTYPE_FLOAT16,
           np.dtype(np.int8): pb.TensorDtype.TENSOR_DTYPE_INT8,
           np.dtype(np.uint8): pb.TensorDtype.TENSOR_DTYPE_UINT8,
           np.dtype(np.int32): pb.TensorDtype.TENSOR_DTYPE_INT32,
           np.dtype(np.int64): pb.TensorDtype.TENSOR_DTYPE_INT64}


def _device_pb(row) -> pb.Device:
    name, os_version, chipset, hexagon, vendor, fmt, frameworks, os_family = row
    attributes = sorted([f"chipset:{chipset}", f"hexagon:{hexagon}", f"vendor:{vendor}", f"format:{fmt}",
                         f"os:{os_family}", *(f"framework:{f}" for f in frameworks)])
    return pb.Device(name=name, os=os_version, attributes=attributes, soc_description=chipset)


@dataclass
class StoredModel:
    model_id: str
    name: str
    model_type: int
    created: float
    data: Optional[bytes] = None
    parts: dict[int, bytes] = field(default_factory=dict)
    upload_id: str = ""
    filename: str = ""
    producer_id: str = ""
    source_id: str = ""                 # a compiled model's source model
    inputs: list[tuple[str, tuple[int, ...], np.dtype]] = field(default_factory=list)


@dataclass
class StoredDataset:
    dataset_id: str
    name: str
    created: float
    data: Optional[bytes] = None
    complete: bool = False


@dataclass
class StoredJob:
    job_id: str
    kind: str                           # compile | inference
    created: float
    created_mono: float
    model_id: str
    device: pb.Device
    name: str
    options: str
    profiling: bool = False
    dataset_id: str = ""
    target_model_id: str = ""
    state: int = pb.JobState.JOB_STATE_CREATED
    failure_reason: str = ""
    output_dataset_id: str = ""
    profile: Optional[pb.ProfileDetail] = None
    done: bool = False


class StandInError(Exception):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


class HubStandIn:
    """The stand-in service; ``start()`` binds 127.0.0.1 on a free port."""

    def __init__(self, token: str = TOKEN, job_seconds: float = 0.3):
        self.token = token
        self.job_seconds = job_seconds
        self.unauthorized = False
        self.never_finish = False
        self.break_storage = False
        self.fail_jobs: dict[str, str] = {}
        self.profile_layers = {"NPU": 28, "GPU": 0, "CPU": 2}
        self.base_latency_us = 850
        self.output_transform: Optional[Callable[[str, np.ndarray], np.ndarray]] = None
        self.devices = [_device_pb(row) for row in DEVICES]
        self.models: dict[str, StoredModel] = {}
        self.datasets: dict[str, StoredDataset] = {}
        self.jobs: dict[str, StoredJob] = {}
        self.storage: dict[str, bytes] = {}
        self.calls: list[tuple[str, str]] = []        # (method, path) of every request
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> "HubStandIn":
        standin = self

        class Handler(_Handler):
            owner = standin

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="aihub-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "HubStandIn":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the stand-in first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def write_client_ini(self, path: str | Path, token: Optional[str] = None, with_token: bool = True) -> Path:
        """A client.ini like ``qai-hub configure`` writes, pointing at this stand-in."""
        path = Path(path)
        lines = ["[api]"]
        if with_token:
            lines.append(f"api_token = {token if token is not None else self.token}")
        lines += [f"api_url = {self.url}", f"web_url = {self.url}", "verbose = False", ""]
        path.write_text("\n".join(lines))
        return path

    def paths(self, method: Optional[str] = None) -> list[str]:
        return [p for m, p in self.calls if method is None or m == method]

    # ------------------------------------------------------------ helpers

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):07d}"

    @staticmethod
    def _ts(seconds: float):
        from google.protobuf.timestamp_pb2 import Timestamp

        stamp = Timestamp()
        stamp.seconds = int(seconds)
        return stamp

    def _storage_url(self, key: str) -> str:
        return f"{self.url}/storage/{key}?X-Amz-Signature=standin"

    def _model_pb(self, model: StoredModel) -> pb.Model:
        message = pb.Model(model_id=model.model_id, name=model.name, model_type=model.model_type,
                           file_upload_complete=model.data is not None, producer_id=model.producer_id,
                           creation_time=self._ts(model.created))
        for name, shape, dtype in model.inputs:
            message.input_spec.types.append(self._named_tensor(name, shape, dtype))
        return message

    @staticmethod
    def _named_tensor(name: str, shape, dtype) -> pb.NamedTensorType:
        dtype_pb = _DTYPES.get(np.dtype(dtype), pb.TensorDtype.TENSOR_DTYPE_FLOAT32)
        return pb.NamedTensorType(name=name, tensor_type=pb.TensorType(
            shape=[max(int(d), 1) for d in shape], dtype=dtype_pb))

    def _dataset_pb(self, dataset: StoredDataset) -> pb.Dataset:
        return pb.Dataset(dataset_id=dataset.dataset_id, name=dataset.name, creation_time=self._ts(dataset.created),
                          expiration_time=self._ts(dataset.created + 30 * 86400),
                          file_upload_complete=dataset.complete)

    def _cur(self, obj_id: str, created: float) -> pb.CreateUpdateResponse:
        return pb.CreateUpdateResponse(id=obj_id, creation_time=self._ts(created),
                                       expiration_time=self._ts(created + 30 * 86400))

    def _get(self, table: dict, obj_id: str):
        if obj_id not in table:
            raise StandInError(404, "Not found.")
        return table[obj_id]

    # ------------------------------------------------------------ API routes

    def api(self, method: str, parts: list[str], query: dict[str, list[str]], body: bytes):
        if len(parts) >= 2 and parts[0] == "projects":
            parts = parts[2:]
        route = (method, parts[0] if parts else "", len(parts))
        with self._lock:
            if parts == ["users", "auth", "user"] and method == "GET":
                return pb.User(id=1, first_name="Stand", last_name="In", email="standin@example.com",
                               org_id=1, default_project_id="p0000001")
            if parts == ["devices"] and method == "GET":
                return self._devices(query)
            if route == ("POST", "models", 1):
                return self._create_model(pb.Model.FromString(body))
            if parts[:1] == ["models"] and len(parts) >= 2:
                return self._model_route(method, parts[1], parts[2:], query, body)
            if route == ("POST", "datasets", 1):
                request = pb.Dataset.FromString(body)
                dataset = StoredDataset(self._new_id("d"), request.name or "dataset", time.time())
                self.datasets[dataset.dataset_id] = dataset
                return self._cur(dataset.dataset_id, dataset.created)
            if parts[:1] == ["datasets"] and len(parts) >= 2:
                return self._dataset_route(method, parts[1], parts[2:], body)
            if route == ("POST", "jobs", 1):
                return self._create_job(pb.Job.FromString(body))
            if parts[:1] == ["jobs"] and len(parts) >= 2:
                return self._job_route(method, parts[1], parts[2:])
        raise StandInError(404, f"no route for {method} /api/v1/{'/'.join(parts)}/")

    def _devices(self, query) -> pb.DeviceList:
        name = (query.get("name") or [""])[0]
        os_version = (query.get("os") or [""])[0]
        attributes = query.get("attributes") or []
        select = (query.get("select") or ["False"])[0].lower() == "true"
        found = [d for d in self.devices
                 if (not name or d.name == name) and (not os_version or d.os == os_version)
                 and all(a in d.attributes for a in attributes)]
        if select:
            found = found[:1]
        return pb.DeviceList(devices=found, total_query_count=len(found))

    def _create_model(self, request: pb.Model) -> pb.CreateUpdateResponse:
        model = StoredModel(self._new_id("m"), request.name or "model", request.model_type, time.time(),
                            filename=request.name or "model")
        self.models[model.model_id] = model
        return self._cur(model.model_id, model.created)

    def _model_route(self, method, model_id, rest, query, body):
        model = self._get(self.models, model_id)
        if method == "GET" and not rest:
            return self._model_pb(model)
        if rest == ["multipart_upload"] and method == "GET":
            size = int((query.get("file_size") or ["0"])[0])
            part = 1 << 20
            count = max(1, -(-size // part))
            model.upload_id = f"upload-{model_id}"
            return pb.FileUploadResponse(multipart_url=pb.FileMultipartUploadURL(
                urls=[self._storage_url(f"models/{model_id}/part{i}") for i in range(count)],
                upload_id=model.upload_id, max_part_size=part))
        if rest == ["multipart_upload"] and method == "POST":
            done = pb.FileMultipartUploadComplete.FromString(body)
            if done.upload_id != model.upload_id:
                raise StandInError(400, "Unknown upload id.")
            keys = [f"models/{model_id}/part{i}" for i in range(len(done.etags))]
            if any(k not in self.storage for k in keys):
                raise StandInError(400, "Upload incomplete: a part is missing.")
            model.data = b"".join(self.storage.pop(k) for k in keys)
            model.inputs = _model_inputs(model)
            return self._cur(model_id, model.created)
        if rest == ["download"] and method == "GET":
            if model.data is None:
                raise StandInError(404, "The model has no file (yet).")
            key = f"models/{model_id}/{model.filename}"
            self.storage[key] = model.data
            return pb.FileDownloadResponse(url=pb.FileDownloadURL(url=self._storage_url(key),
                                                                  filename=model.filename))
        raise StandInError(404, "Not found.")

    def _dataset_route(self, method, dataset_id, rest, body):
        dataset = self._get(self.datasets, dataset_id)
        if method == "GET" and not rest:
            return self._dataset_pb(dataset)
        if rest == ["upload_url"] and method == "GET":
            return pb.FileUploadResponse(url=pb.FileUploadURL(
                url=f"{self.url}/storage/datasets/{dataset_id}/upload", file_field_name="file",
                fields={"key": f"datasets/{dataset_id}/data.h5", "x-amz-signature": "standin"}))
        if method == "PATCH" and not rest:
            if pb.Dataset.FromString(body).file_upload_complete:
                key = f"datasets/{dataset_id}/data.h5"
                if key not in self.storage:
                    raise StandInError(400, "The dataset file was not uploaded.")
                dataset.data = self.storage.pop(key)
                dataset.complete = True
            return self._cur(dataset_id, dataset.created)
        if rest == ["download_data"] and method == "GET":
            if dataset.data is None:
                raise StandInError(404, "The dataset has no file (yet).")
            key = f"datasets/{dataset_id}/{dataset.name}.h5"
            self.storage[key] = dataset.data
            return pb.FileDownloadResponse(url=pb.FileDownloadURL(url=self._storage_url(key),
                                                                  filename=f"{dataset.name}.h5"))
        raise StandInError(404, "Not found.")

    def _create_job(self, request: pb.Job) -> pb.CreateUpdateResponse:
        kind = request.WhichOneof("job")
        now = time.time()
        if kind == "compile_job":
            spec = request.compile_job
            model = self._get(self.models, spec.model.model_id)
            devices = list(spec.devices.devices) or [pb.Device()]
            device = self._select(devices[0])
            job = StoredJob(self._new_id("j"), "compile", now, time.monotonic(), model.model_id, device,
                            spec.name, spec.options)
            runtime = _target_runtime(spec.options) or "tflite"
            model_type, ext = TARGETS.get(runtime, TARGETS["tflite"])
            target = StoredModel(self._new_id("m"), f"{spec.name or model.name}", model_type, now,
                                 producer_id=job.job_id, source_id=model.model_id)
            target.filename = f"job_{job.job_id}_optimized_{ext}_{target.model_id}.{ext}"
            target.inputs = list(model.inputs)
            self.models[target.model_id] = target
            job.target_model_id = target.model_id
        elif kind == "inference_job":
            spec = request.inference_job
            model = self._get(self.models, spec.model.model_id)
            device = self._select(spec.device)
            job = StoredJob(self._new_id("j"), "inference", now, time.monotonic(), model.model_id, device,
                            spec.name, spec.options, profiling=spec.is_profiling_on,
                            dataset_id=spec.dataset.dataset_id)
            if job.dataset_id:
                self._get(self.datasets, job.dataset_id)
        else:
            raise StandInError(400, f"Unsupported job type {kind}.")
        self.jobs[job.job_id] = job
        return pb.CreateUpdateResponse(id=job.job_id, creation_time=self._ts(now))

    def _select(self, wanted: pb.Device) -> pb.Device:
        for device in self.devices:
            if ((not wanted.name or device.name == wanted.name) and (not wanted.os or device.os == wanted.os)
                    and all(a in device.attributes for a in wanted.attributes)):
                return device
        raise StandInError(400, f"Device {wanted.name or list(wanted.attributes)} is not available.")

    def _job_route(self, method, job_id, rest):
        job = self._get(self.jobs, job_id)
        self._advance(job)
        if method == "GET" and not rest:
            return self._job_pb(job)
        if rest == ["result"] and method == "GET":
            if not job.done:
                raise StandInError(404, "Job results are not available yet.")
            if job.kind == "compile":
                return pb.JobResult(compile_job_result=pb.CompileJobResult(compile_job_id=job_id))
            result = pb.InferenceJobResult(inference_job_id=job_id, output_dataset_id=job.output_dataset_id)
            if job.profile is not None:
                result.detail.CopyFrom(job.profile)
            return pb.JobResult(inference_job_result=result)
        if rest == ["download_compiled_model"] and method == "GET":
            target = self.models.get(job.target_model_id)
            if target is None or target.data is None:
                raise StandInError(404, "The job has no compiled model.")
            key = f"models/{target.model_id}/{target.filename}"
            self.storage[key] = target.data
            return pb.FileDownloadResponse(url=pb.FileDownloadURL(url=self._storage_url(key),
                                                                  filename=target.filename))
        if len(rest) == 4 and rest[0] == "device_runs" and rest[2] == "artifact_list":
            return pb.NamedArtifactDownloadURLList()
        raise StandInError(404, "Not found.")

    # ------------------------------------------------------------ job progress

    def _running_state(self, job: StoredJob) -> int:
        if job.kind == "compile":
            return pb.JobState.JOB_STATE_OPTIMIZING_MODEL
        return (pb.JobState.JOB_STATE_MEASURING_PERFORMANCE if job.profiling
                else pb.JobState.JOB_STATE_RUNNING_INFERENCE)

    def _advance(self, job: StoredJob) -> None:
        if job.done:
            return
        elapsed = time.monotonic() - job.created_mono
        if self.never_finish:
            job.state = self._running_state(job) if elapsed > 0.05 else pb.JobState.JOB_STATE_CREATED
            return
        if elapsed < self.job_seconds / 3:
            job.state = pb.JobState.JOB_STATE_CREATED
        elif elapsed < self.job_seconds:
            job.state = self._running_state(job)
        else:
            self._finish(job)

    def _fail(self, job: StoredJob, reason: str) -> None:
        job.state, job.failure_reason, job.done = pb.JobState.JOB_STATE_FAILED, reason, True

    def _finish(self, job: StoredJob) -> None:
        kind = "profile" if job.kind == "inference" and job.profiling and not job.dataset_id else job.kind
        if kind in self.fail_jobs or job.kind in self.fail_jobs:
            return self._fail(job, self.fail_jobs.get(kind) or self.fail_jobs[job.kind])
        try:
            if job.kind == "compile":
                self._finish_compile(job)
            else:
                self._finish_inference(job)
        except StandInError as exc:
            return self._fail(job, exc.detail)
        except Exception as exc:  # the model failed here: a failed job, as on a device
            return self._fail(job, f"Failed to run the model on the device: {type(exc).__name__}: {exc}")
        job.state, job.done = pb.JobState.JOB_STATE_DONE, True

    def _finish_compile(self, job: StoredJob) -> None:
        try:
            flags = shlex.split(job.options)
        except ValueError as exc:
            raise StandInError(400, f"Failed to parse options: {exc}") from None
        known = {"--target_runtime", "--compute_unit", "--quantize_full_type", "--quantize_io",
                 "--force_channel_last_input", "--force_channel_last_output"}
        for flag in flags:
            if flag.startswith("--") and flag.split("=", 1)[0] not in known:
                raise StandInError(400, f"Failed to compile: unrecognized option {flag}")
        runtime = _target_runtime(job.options) or "tflite"
        if runtime not in TARGETS:
            raise StandInError(400, f"Failed to compile: unsupported target runtime '{runtime}'")
        source = self.models[job.model_id]
        target = self.models[job.target_model_id]
        if source.data is None:
            raise StandInError(400, "The source model was never uploaded.")
        if runtime == "onnx" and source.model_type == pb.ModelType.MODEL_TYPE_ONNX:
            target.data = source.data
        else:  # a placeholder artifact that names its source; inference runs the source
            digest = hashlib.sha256(source.data).hexdigest()
            target.data = f"AIHUB-STANDIN {runtime} artifact of model {source.model_id} sha256 {digest}\n".encode()

    def _runnable(self, model: StoredModel) -> tuple[str, bytes]:
        seen = set()
        while model.model_type not in _RUNNABLE or model.data is None or model.data.startswith(b"AIHUB-STANDIN"):
            if not model.source_id or model.model_id in seen:
                raise StandInError(400, f"The stand-in cannot run model type {model.model_type}.")
            seen.add(model.model_id)
            model = self.models[model.source_id]
        return _RUNNABLE[model.model_type], model.data

    def _finish_inference(self, job: StoredJob) -> None:
        model = self.models[job.model_id]
        fmt, data = self._runnable(model)
        if job.dataset_id:
            from edgeface.runtime import open_backend

            backend = open_backend(fmt, data, f"model {model.model_id}")
            entries = _read_h5(self.datasets[job.dataset_id].data)
            names = list(entries)
            counts = {len(v) for v in entries.values()}
            if len(counts) != 1:
                raise StandInError(400, "Dataset entries have different sample counts.")
            if len(names) != len(backend.inputs):
                raise StandInError(400, f"The model takes {len(backend.inputs)} inputs, "
                                        f"the dataset has {len(names)}.")
            order = [names.index(i.name) if i.name in names else k for k, i in enumerate(backend.inputs)]
            outputs: dict[str, list[np.ndarray]] = {o.name: [] for o in backend.outputs}
            for s in range(counts.pop()):
                result = backend.run([np.asarray(entries[names[k]][s]) for k in order])
                for info, array in zip(backend.outputs, result):
                    if self.output_transform is not None:
                        array = self.output_transform(info.name, np.array(array))
                    outputs[info.name].append(np.array(array))
            out = StoredDataset(self._new_id("d"), f"job_{job.job_id}_output", time.time(),
                                data=_write_h5(outputs), complete=True)
            self.datasets[out.dataset_id] = out
            job.output_dataset_id = out.dataset_id
        if job.profiling:
            job.profile = self._profile(job)

    def _profile(self, job: StoredJob) -> pb.ProfileDetail:
        rng = np.random.default_rng(int(job.job_id[1:]))
        runs = (self.base_latency_us * (1.0 + np.abs(rng.normal(0.0, 0.08, 100)))).astype(int)
        detail = pb.ProfileDetail(major_version=1, minor_version=8)
        detail.execution_time = int(runs.min())
        detail.after_execution_peak_memory = 12_582_912
        detail.cold_load_time = 1_374_293
        detail.after_cold_load_peak_memory = 25_165_824
        detail.warm_load_time = 277_823
        detail.after_warm_load_peak_memory = 20_971_520
        detail.compile_memory.increase.lower = detail.compile_memory.increase.upper = 0
        detail.compile_memory.peak.lower = detail.compile_memory.peak.upper = 0
        detail.cold_load_memory.increase.lower, detail.cold_load_memory.increase.upper = 7_225_886, 8_203_184
        detail.cold_load_memory.peak.lower, detail.cold_load_memory.peak.upper = 9_823_027, 10_800_324
        detail.warm_load_memory.increase.lower, detail.warm_load_memory.increase.upper = 0, 0
        detail.warm_load_memory.peak.lower, detail.warm_load_memory.peak.upper = 118_784, 4_322_571
        detail.execution_memory.increase.lower, detail.execution_memory.increase.upper = 0, 265_849
        detail.execution_memory.peak.lower, detail.execution_memory.peak.upper = 2_654_208, 3_940_675
        detail.all_compile_times.append(0)
        detail.all_cold_load_times.append(1_374_293)
        detail.all_warm_load_times.append(277_823)
        detail.all_execution_times.extend(int(t) for t in runs)
        units = {"NPU": pb.COMPUTE_UNIT_NPU, "GPU": pb.COMPUTE_UNIT_GPU, "CPU": pb.COMPUTE_UNIT_CPU}
        index = 0
        for unit, count in self.profile_layers.items():
            for _ in range(count):
                detail.layer_details.append(pb.LayerDetail(
                    name=f"layer_{index}", compute_unit=units[unit], layer_type_name="CONV_2D",
                    id=f":0:{index}", delegate_name="QNN" if unit == "NPU" else "XNNPACK",
                    execution_time=int(self.base_latency_us / max(1, sum(self.profile_layers.values())))))
                index += 1
        return detail

    def _job_pb(self, job: StoredJob) -> pb.Job:
        source = self.models[job.model_id]
        if job.kind == "compile":
            target = self.models[job.target_model_id]
            spec = pb.CompileJob(compile_job_id=job.job_id, model=self._model_pb(source), job_state=job.state,
                                 device=job.device, devices=pb.DeviceList(devices=[job.device], total_query_count=1),
                                 name=job.name, options=job.options, failure_reason=job.failure_reason,
                                 target_model=self._model_pb(target), creation_time=self._ts(job.created),
                                 project_id="p0000001")
            for name, shape, dtype in source.inputs:
                spec.tensor_type_list.types.append(self._named_tensor(name, shape, dtype))
                if job.done and job.state == pb.JobState.JOB_STATE_DONE:
                    spec.target_tensor_type_list.types.append(self._named_tensor(name, shape, dtype))
            return pb.Job(compile_job=spec, hub_version="aihub-standin-0.56")
        spec = pb.InferenceJob(inference_job_id=job.job_id, model=self._model_pb(source), device=job.device,
                               job_state=job.state, name=job.name, failure_reason=job.failure_reason,
                               options=job.options, is_profiling_on=job.profiling,
                               creation_time=self._ts(job.created), project_id="p0000001")
        if job.dataset_id:
            spec.dataset.CopyFrom(self._dataset_pb(self.datasets[job.dataset_id]))
        if job.done and source.inputs:
            for name, shape, dtype in source.inputs:
                spec.tensor_type_list.types.append(self._named_tensor(name, shape, dtype))
        return pb.Job(inference_job=spec, hub_version="aihub-standin-0.56")

    # ------------------------------------------------------------ storage

    def put_storage(self, key: str, body: bytes) -> str:
        with self._lock:
            self.storage[key] = body
        return '"' + hashlib.md5(body).hexdigest() + '"'


def _target_runtime(options: str) -> Optional[str]:
    match = re.search(r"--target_runtime[ =]+(\S+)", options or "")
    return match.group(1) if match else None


def _model_inputs(model: StoredModel) -> list[tuple[str, tuple[int, ...], np.dtype]]:
    fmt = _RUNNABLE.get(model.model_type)
    if fmt is None or model.data is None:
        return []
    try:
        from edgeface.runtime import open_backend

        backend = open_backend(fmt, model.data, model.name)
    except Exception:  # an unreadable model: the job will fail when it runs
        return []
    return [(i.name, tuple(max(int(d), 1) for d in i.shape), i.dtype) for i in backend.inputs]


def _read_h5(data: Optional[bytes]) -> dict[str, list[np.ndarray]]:
    import h5py
    from qai_hub.util.dataset_entries_converters import h5_to_dataset_entries

    if data is None:
        raise StandInError(400, "The dataset was never uploaded.")
    with h5py.File(io.BytesIO(data), "r") as h5f:
        return dict(h5_to_dataset_entries(h5f))


def _write_h5(entries: dict[str, list[np.ndarray]]) -> bytes:
    import h5py
    from qai_hub.util.dataset_entries_converters import dataset_entries_to_h5

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5f:
        dataset_entries_to_h5(entries, h5f)
    return buffer.getvalue()


def _multipart_file(content_type: str, body: bytes) -> tuple[dict[str, str], Optional[bytes]]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    fields, data = {}, None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if part.get_filename() is not None:
            data = payload
        elif name:
            fields[name] = payload.decode()
    return fields, data


class _Handler(BaseHTTPRequestHandler):
    owner: HubStandIn
    protocol_version = "HTTP/1.1"
    server_version = "AIHubStandIn/0.56"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes = b"", content_type: str = "application/json",
              headers: Optional[dict[str, str]] = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, detail: str) -> None:
        self._send(status, json.dumps({"detail": detail}).encode())

    def _handle(self) -> None:
        owner = self.owner
        url = urlparse(self.path)
        body = self._body()
        with owner._lock:
            owner.calls.append((self.command, url.path))
        try:
            if url.path.startswith("/api/v1/"):
                if owner.unauthorized or self.headers.get("Authorization") != f"token {owner.token}":
                    return self._error(401, "Invalid token.")
                parts = [p for p in url.path[len("/api/v1/"):].split("/") if p]
                message = owner.api(self.command, parts, parse_qs(url.query), body)
                return self._send(200, message.SerializeToString(), PB)
            if url.path.startswith("/storage/"):
                return self._storage(url.path[len("/storage/"):], body)
            return self._error(404, "Not found.")
        except StandInError as exc:
            return self._error(exc.status, exc.detail)
        except Exception as exc:  # a bug in the stand-in: a 500 the client reports
            return self._error(500, f"stand-in error: {type(exc).__name__}: {exc}")

    def _storage(self, key: str, body: bytes) -> None:
        owner = self.owner
        if owner.break_storage:  # an expired pre-signed URL, as S3 answers it
            return self._send(403, b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message>"
                                   b"</Error>", "application/xml")
        if self.command == "PUT":
            return self._send(200, b"", "text/plain", {"ETag": owner.put_storage(key, body)})
        if self.command == "POST":
            fields, data = _multipart_file(self.headers.get("Content-Type") or "", body)
            if data is None or "key" not in fields:
                return self._send(400, b"<Error><Code>MalformedPOSTRequest</Code></Error>", "application/xml")
            owner.put_storage(fields["key"], data)
            return self._send(204, b"", "text/plain")
        if self.command == "GET":
            with owner._lock:
                data = owner.storage.get(key)
            if data is None:
                return self._send(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
            return self._send(200, data, "application/octet-stream")
        return self._send(405, b"", "text/plain")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle
