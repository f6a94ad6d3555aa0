"""Reading and writing wengert checkpoints from Python (h5py + numpy).

The format is documented in docs/checkpoint-format.md; this module is the
Python side of it, shared by tools/torch2h5.py and tools/h52torch.py.
"""
import json
import os
import struct
import zlib

import h5py
import numpy as np

FORMAT = "wengert-checkpoint"
VERSION = 1
USERBLOCK = 512
MAGIC = b"WGCKPT\r\n"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

# Parameter names and how each kind's sizes are read off the tensors.
KINDS = {
    "mlp": ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"],
    "lenet5": ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight",
               "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"],
    "autoencoder": ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight",
                    "fc3.bias", "fc4.weight", "fc4.bias"],
    "softmax": ["fc.weight", "fc.bias"],
}


def architecture(kind, state, activation="sigmoid"):
    """The architecture dict of `kind`, sizes taken from the tensors' shapes."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
    missing = [n for n in KINDS[kind] if n not in state]
    extra = [n for n in state if n not in KINDS[kind]]
    if missing or extra:
        raise ValueError(f"state_dict does not fit {kind}: missing {missing}, unexpected {extra}")
    s = {n: tuple(state[n].shape) for n in state}
    if kind == "mlp":
        arch = {"in": s["fc1.weight"][1], "hidden": s["fc1.weight"][0],
                "out": s["fc2.weight"][0], "activation": activation}
    elif kind == "lenet5":
        if s["conv1.weight"] != (6, 1, 5, 5) or s["fc1.weight"] != (120, 400):
            raise ValueError(f"not LeNet-5's shapes: conv1.weight {s['conv1.weight']}, "
                             f"fc1.weight {s['fc1.weight']}")
        arch = {"classes": s["fc3.weight"][0]}
    elif kind == "autoencoder":
        arch = {"in": s["fc1.weight"][1], "h1": s["fc1.weight"][0], "h2": s["fc2.weight"][0],
                "h3": s["fc3.weight"][0]}
    else:
        arch = {"in": s["fc.weight"][1], "classes": s["fc.weight"][0]}
    arch = {"kind": kind, **{k: (int(v) if not isinstance(v, str) else v) for k, v in arch.items()}}
    arch["init"] = "default"
    return arch


def _str_attr(obj, name, value):
    # fixed-length, null-terminated: the type C readers handle most simply
    obj.attrs.create(name, np.bytes_(value.encode()))


def seal(path):
    """Writes the CRC header into the user block of a closed HDF5 file."""
    with open(path, "r+b") as f:
        f.seek(USERBLOCK)
        crc, n = 0, 0
        while True:
            chunk = f.read(1 << 16)
            if not chunk:
                break
            crc = zlib.crc32(chunk, crc)
            n += len(chunk)
        f.seek(0)
        f.write(MAGIC + struct.pack("<IIQ", 1, crc & 0xFFFFFFFF, n))
        f.flush()
        os.fsync(f.fileno())


def verify(path):
    """Checks the CRC header if there is one; raises ValueError if corrupt."""
    with open(path, "rb") as f:
        head = f.read(24)
        if head[:8] == HDF5_SIGNATURE:
            return False
        if head[:8] != MAGIC:
            raise ValueError(f"{path}: not a wengert checkpoint or HDF5 file")
        version, want, length = struct.unpack("<IIQ", head[8:24])
        if version != 1:
            raise ValueError(f"{path}: checksum header version {version} is not supported")
        f.seek(USERBLOCK)
        crc, n = 0, 0
        while True:
            chunk = f.read(1 << 16)
            if not chunk:
                break
            crc = zlib.crc32(chunk, crc)
            n += len(chunk)
        if n != length or (crc & 0xFFFFFFFF) != want:
            raise ValueError(f"{path}: checksum mismatch: the file is corrupt or truncated")
    return True


def write(path, arch, state, producer, dtype="float32"):
    """Writes a checkpoint of named numpy arrays, crash-safe (temp + rename)."""
    tmp = f"{path}.tmp-{os.getpid()}-py"
    np_dtype = np.float32 if dtype == "float32" else np.float64
    with h5py.File(tmp, "w", userblock_size=USERBLOCK, libver=("v110", "latest")) as f:
        _str_attr(f, "format", FORMAT)
        f.attrs.create("format_version", np.int64(VERSION))
        _str_attr(f, "dtype", dtype)
        _str_attr(f, "layout", "pytorch")
        _str_attr(f, "producer", producer)
        _str_attr(f, "architecture", json.dumps(arch, separators=(",", ":")))
        model = f.create_group("model")
        names = list(state)
        for name in names:
            a = np.ascontiguousarray(state[name], dtype=np_dtype)
            if not np.all(np.isfinite(a)):
                raise ValueError(f"{name} has non-finite values")
            model.create_dataset(name.replace(".", "/"), data=a, chunks=a.shape or None,
                                 fletcher32=a.ndim > 0)
        width = max(len(n) for n in names) + 1
        model.attrs.create("state_dict_order", np.array([n.encode() for n in names],
                                                        dtype=f"S{width}"))
    seal(tmp)
    os.replace(tmp, path)


def read(path):
    """Returns (architecture dict, {name: numpy array} in state_dict order)."""
    verify(path)
    with h5py.File(path, "r") as f:
        fmt = f.attrs.get("format")
        fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
        if fmt != FORMAT:
            raise ValueError(f"{path}: not a wengert checkpoint (format {fmt!r})")
        if int(f.attrs["format_version"]) > VERSION:
            raise ValueError(f"{path}: format version {int(f.attrs['format_version'])} is newer "
                             f"than this tool reads ({VERSION})")
        arch = f.attrs["architecture"]
        arch = json.loads(arch.decode() if isinstance(arch, bytes) else arch)
        order = [n.decode() for n in f["model"].attrs["state_dict_order"]]
        state = {n: np.array(f["model/" + n.replace(".", "/")]) for n in order}
    return arch, state
