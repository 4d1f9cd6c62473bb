"""Load the system HDF5 library (and its libcurl / OpenSSL dependencies) before the C++
extension.

pyarrow's libparquet carries its own copy of OpenSSL and exports its symbols. When the
system libcrypto is first loaded as a dependency of `_octavo` (via libhdf5 -> libcurl),
the dynamic linker binds libcrypto's internal calls to libparquet's copy, and the next
`import hashlib` crashes. Loading libhdf5 here first, in its own (local) scope, makes
libcrypto bind to itself; `_octavo` then reuses the already loaded libraries.
"""
import ctypes
import ctypes.util


def _preload() -> None:
    for name in ("libhdf5_serial.so.103", ctypes.util.find_library("hdf5_serial"), ctypes.util.find_library("hdf5")):
        if not name:
            continue
        try:
            ctypes.CDLL(name, mode=ctypes.RTLD_LOCAL)
            return
        except OSError:
            continue


_preload()
