"""What tools/make_torch_refs.py and tools/make_optim_refs.py share when
they write their HDF5 reference files with h5py: strings the C readers
(tests/h5ref.c) can read, and dataset creation properties that keep the
files small and free of timestamps (the same inputs give the same bytes)."""
import ctypes
import os

import h5py
import numpy as np


def string_attr(obj, key, value):
    # h5py's fixed-length strings are null-padded: no terminator when the
    # text fills the length, so readers add their own
    data = value.encode("utf-8")
    tid = h5py.string_dtype("utf-8", max(len(data), 1))
    obj.attrs.create(key, np.array(data, dtype=tid), dtype=tid)


def _no_attrs_hint():
    """H5Pset_dset_no_attrs_hint (HDF5 >= 1.10.5) from the libhdf5 h5py has
    loaded, or None. h5py does not wrap it. It shrinks each dataset's object
    header from about 310 to 135 bytes (55 KB of torch_ref.h5, which without
    it outgrows its size limit)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "/libhdf5" in line}
        for path in sorted(paths):
            if "_hl" in os.path.basename(path):
                continue
            fn = getattr(ctypes.CDLL(path), "H5Pset_dset_no_attrs_hint", None)
            if fn is not None:
                fn.argtypes = [ctypes.c_int64, ctypes.c_uint]  # hid_t, hbool_t
                fn.restype = ctypes.c_int
                return fn
    except OSError:
        pass
    return None


NO_ATTRS_HINT = _no_attrs_hint()


def dataset_properties():
    """Creation properties without timestamps and with the small header."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_obj_track_times(False)
    if NO_ATTRS_HINT is not None and NO_ATTRS_HINT(dcpl.id, 1) < 0:
        raise SystemExit("H5Pset_dset_no_attrs_hint failed")
    return dcpl
