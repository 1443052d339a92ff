"""Translate protocol messages (JSON bodies, protobuf messages) to and from core types.

The only module that knows both the wire formats and ``InferInput``/``InferOutput``; both
servers and both clients go through it, so a tensor means the same thing everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ai_backends.core.errors import BadRequest
from ai_backends.oip.dataplane import InferInput, InferResult
from ai_backends.oip.generated import inference_pb2 as pb

# Protocol datatype -> (NumPy element type, field of InferTensorContents, JSON value kinds).
# FP16 has no typed field: the protocol sends it as raw bytes only.
DATATYPES: dict[str, tuple[Any, str | None, str]] = {
    "BOOL": (np.bool_, "bool_contents", "b"),
    "UINT8": (np.uint8, "uint_contents", "iu"),
    "UINT16": (np.uint16, "uint_contents", "iu"),
    "UINT32": (np.uint32, "uint_contents", "iu"),
    "UINT64": (np.uint64, "uint64_contents", "iu"),
    "INT8": (np.int8, "int_contents", "iu"),
    "INT16": (np.int16, "int_contents", "iu"),
    "INT32": (np.int32, "int_contents", "iu"),
    "INT64": (np.int64, "int64_contents", "iu"),
    "FP16": (np.float16, None, "iuf"),
    "FP32": (np.float32, "fp32_contents", "iuf"),
    "FP64": (np.float64, "fp64_contents", "iuf"),
}
SUPPORTED = ", ".join(DATATYPES)


def _element_type(name: str, datatype: Any) -> tuple[Any, str | None, str]:
    if datatype == "BYTES":
        raise BadRequest(f"input '{name}': BYTES tensors are not supported by this server")
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise BadRequest(f"input '{name}': unknown datatype {datatype!r}; use one of {SUPPORTED}")
    return DATATYPES[datatype]


def _shape(name: str, shape: Any) -> list[int]:
    if not isinstance(shape, list | tuple) or not all(
        isinstance(dim, int) and not isinstance(dim, bool) for dim in shape
    ):
        raise BadRequest(f"input '{name}': shape must be a list of integers, got {shape!r}")
    return [int(dim) for dim in shape]


# --- REST: JSON tensors ---------------------------------------------------------------------
# Besides JSON "data", the REST side accepts Triton's binary tensor data extension (what
# tritonclient.http sends by default): the body is a JSON header of
# Inference-Header-Content-Length bytes followed by raw tensors; an input with the parameter
# "binary_data_size" takes its bytes from there, and outputs can be asked for the same way.

BINARY_HEADER = "Inference-Header-Content-Length"


@dataclass(frozen=True)
class JsonInferRequest:
    """A decoded REST inference request."""

    inputs: list[InferInput]
    outputs: list[str] | None
    id: str
    binary_outputs: frozenset[str] | bool  # True: every output as binary data


def _parameters(holder: dict[str, Any], where: str) -> dict[str, Any]:
    parameters = holder.get("parameters", {})
    if not isinstance(parameters, dict):
        raise BadRequest(f"{where}: 'parameters' must be an object")
    return parameters


def request_from_json(body: Any, binary: bytes = b"") -> JsonInferRequest:
    """Decode a JSON inference request; ``binary`` is the tail after the JSON header."""
    if not isinstance(body, dict):
        raise BadRequest("the inference request must be a JSON object with an 'inputs' list")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise BadRequest("'inputs' must be a non-empty list of tensors")
    outputs = body.get("outputs")
    requested = None
    binary_outputs: frozenset[str] | bool = bool(
        _parameters(body, "request").get("binary_data_output", False))
    if outputs is not None:
        if not isinstance(outputs, list) or not all(
            isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
        ):
            raise BadRequest("'outputs' must be a list of objects with a 'name'")
        requested = [o["name"] for o in outputs]
        if binary_outputs is False:
            binary_outputs = frozenset(
                o["name"] for o in outputs
                if _parameters(o, f"output '{o['name']}'").get("binary_data", False))
    request_id = body.get("id", "")
    if not isinstance(request_id, str):
        raise BadRequest("'id' must be a string")
    decoded, offset = [], 0
    for tensor in inputs:
        decoded.append(input_from_json(tensor, binary, offset))
        offset += decoded[-1].data.nbytes if _binary_size(tensor) is not None else 0
    if offset != len(binary):
        raise BadRequest(f"{len(binary) - offset} bytes of binary data belong to no input")
    return JsonInferRequest(decoded, requested, request_id, binary_outputs)


def _binary_size(tensor: Any) -> int | None:
    if not isinstance(tensor, dict):
        return None
    size = _parameters(tensor, "input").get("binary_data_size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise BadRequest("'binary_data_size' must be a non-negative integer")
    return size


def input_from_json(tensor: Any, binary: bytes = b"", offset: int = 0) -> InferInput:
    """One JSON input tensor ``{"name", "shape", "datatype", "data"}`` as an ``InferInput``.

    With a ``binary_data_size`` parameter its elements are ``binary[offset:offset+size]``.
    """
    if not isinstance(tensor, dict):
        raise BadRequest("each input must be an object with name, shape, datatype and data")
    name = tensor.get("name")
    if not isinstance(name, str):
        raise BadRequest("each input needs a string 'name'")
    dtype, _, kinds = _element_type(name, tensor.get("datatype"))
    shape = _shape(name, tensor.get("shape"))
    size = _binary_size(tensor)
    if size is not None:
        if offset + size > len(binary):
            raise BadRequest(f"input '{name}': binary_data_size {size} is past the body's end")
        raw = _from_raw(name, binary[offset:offset + size], dtype)
        return InferInput(name, tensor["datatype"], shape, raw)
    data = tensor.get("data")
    if not isinstance(data, list):
        raise BadRequest(f"input '{name}': 'data' must be a list (flat or nested, row-major)")
    try:
        values = np.asarray(data)
    except ValueError as exc:  # ragged nesting
        raise BadRequest(f"input '{name}': data is not a regular nested list: {exc}") from exc
    if values.size and values.dtype.kind not in kinds:
        raise BadRequest(
            f"input '{name}': data must hold {tensor['datatype']} values, "
            f"got {values.dtype.kind!r}-kind values such as {values.reshape(-1)[0]!r}"
        )
    try:
        flat = values.astype(dtype).reshape(-1)
    except (OverflowError, ValueError) as exc:
        raise BadRequest(f"input '{name}': {exc}") from exc
    return InferInput(name, tensor["datatype"], shape, flat)


def result_to_json(
    result: InferResult, binary_outputs: frozenset[str] | bool = False
) -> tuple[dict[str, Any], bytes]:
    """A JSON inference response and the binary tail of outputs sent as binary data."""
    body: dict[str, Any] = {"model_name": result.model_name, "model_version": result.model_version}
    if result.id:
        body["id"] = result.id
    tail: list[bytes] = []
    body["outputs"] = []
    for output in result.outputs:
        tensor: dict[str, Any] = {"name": output.name, "datatype": output.datatype,
                                  "shape": output.shape}
        if binary_outputs is True or (
            not isinstance(binary_outputs, bool) and output.name in binary_outputs
        ):
            raw = raw_bytes(output.data)
            tensor["parameters"] = {"binary_data_size": len(raw)}
            tail.append(raw)
        else:
            tensor["data"] = output.data.reshape(-1).tolist()
        body["outputs"].append(tensor)
    return body, b"".join(tail)


def outputs_from_json(body: dict[str, Any]) -> dict[str, np.ndarray]:
    """Output arrays of a JSON inference response, by name, in their shapes (client side)."""
    arrays = {}
    for tensor in body["outputs"]:
        dtype = DATATYPES[tensor["datatype"]][0]
        arrays[tensor["name"]] = np.asarray(tensor["data"], dtype=dtype).reshape(tensor["shape"])
    return arrays


# --- gRPC: protobuf tensors ---------------------------------------------------------------


def request_from_proto(request: pb.ModelInferRequest) -> tuple[list[InferInput], list[str]]:
    """Inputs (typed ``contents`` or ``raw_input_contents``) and requested outputs."""
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise BadRequest(
            f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} inputs"
        )
    if raw and any(tensor.HasField("contents") for tensor in request.inputs):
        raise BadRequest("send each input's data in contents or in raw_input_contents, not both")
    inputs = []
    for position, tensor in enumerate(request.inputs):
        dtype, field, _ = _element_type(tensor.name, tensor.datatype)
        if raw:
            data = _from_raw(tensor.name, raw[position], dtype)
        elif field is None:
            raise BadRequest(f"input '{tensor.name}': {tensor.datatype} travels only as raw bytes")
        else:
            data = np.asarray(getattr(tensor.contents, field), dtype=dtype)
        inputs.append(InferInput(tensor.name, tensor.datatype, list(tensor.shape), data))
    return inputs, [output.name for output in request.outputs]


def _from_raw(name: str, content: bytes, dtype: Any) -> np.ndarray:
    little_endian = np.dtype(dtype).newbyteorder("<")
    if len(content) % little_endian.itemsize:
        raise BadRequest(
            f"input '{name}': {len(content)} raw bytes is not a whole number of "
            f"{little_endian.itemsize}-byte elements"
        )
    return np.frombuffer(content, dtype=little_endian)


def result_to_proto(result: InferResult, raw: bool) -> pb.ModelInferResponse:
    """A protobuf response; ``raw`` answers in ``raw_output_contents`` like the request."""
    response = pb.ModelInferResponse(
        model_name=result.model_name, model_version=result.model_version, id=result.id
    )
    for output in result.outputs:
        tensor = response.outputs.add(name=output.name, datatype=output.datatype,
                                      shape=output.shape)
        _put(output.data, output.datatype, tensor.contents, response.raw_output_contents, raw)
    return response


def request_to_proto(
    model_name: str, inputs: list[InferInput], raw: bool = True
) -> pb.ModelInferRequest:
    """A protobuf inference request for ``inputs`` (client side), raw by default."""
    request = pb.ModelInferRequest(model_name=model_name)
    for tensor in inputs:
        message = request.inputs.add(name=tensor.name, datatype=tensor.datatype,
                                     shape=tensor.shape)
        _put(tensor.data, tensor.datatype, message.contents, request.raw_input_contents, raw)
    return request


def raw_bytes(data: np.ndarray) -> bytes:
    """A tensor's elements as the protocol's raw form: flat, row-major, little-endian."""
    return bytes(data.astype(data.dtype.newbyteorder("<")).tobytes())


def _put(data: np.ndarray, datatype: str, contents: Any, raw_contents: Any, raw: bool) -> None:
    """Write a tensor's elements to the raw list, or to its typed field of ``contents``."""
    if raw:
        raw_contents.append(raw_bytes(data))
        return
    field = DATATYPES[datatype][1]
    if field is None:
        raise BadRequest(f"{datatype} tensors travel only as raw bytes")
    getattr(contents, field).extend(data.reshape(-1).tolist())


def outputs_from_proto(response: pb.ModelInferResponse) -> dict[str, np.ndarray]:
    """Output arrays of a protobuf response, by name, in their shapes (client side)."""
    raw = list(response.raw_output_contents)
    arrays = {}
    for position, tensor in enumerate(response.outputs):
        dtype, field, _ = DATATYPES[tensor.datatype]
        if raw:
            data = np.frombuffer(raw[position], dtype=np.dtype(dtype).newbyteorder("<"))
        elif field is not None:
            data = np.asarray(getattr(tensor.contents, field), dtype=dtype)
        else:
            raise BadRequest(f"output '{tensor.name}': {tensor.datatype} without raw contents")
        arrays[tensor.name] = data.reshape(list(tensor.shape))
    return arrays
