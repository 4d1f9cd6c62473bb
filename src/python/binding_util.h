// Shared by the nanobind translation units of `octavo._octavo`: Status -> Python
// exceptions (classes chosen in octavo/errors.py), and the Arrow C stream and batch objects.
#pragma once

#include <arrow/c/abi.h>
#include <arrow/c/bridge.h>
#include <arrow/record_batch.h>
#include <nanobind/nanobind.h>

#include <exception>
#include <memory>
#include <string>

#include "octavo/options.h"
#include "octavo/status.h"
#include "octavo/arrow_status.h"

namespace octavo::py {

namespace nb = nanobind;

// Thrown by Check()/Unwrap(); the translator registered in module.cc turns it into the
// matching octavo.errors class.
struct StatusError : std::exception {
  explicit StatusError(Status s) : st(std::move(s)) {}
  const char* what() const noexcept override { return st.message().c_str(); }
  Status st;
};

inline void Check(const Status& st) {
  if (!st.ok()) throw StatusError(st);
}
template <typename T>
T Unwrap(Result<T> r) {
  if (!r.ok()) throw StatusError(r.status());
  return std::move(r).ValueOrDie();
}

// A Python callable(done, total, item) as a ProgressCallback (None: none). It runs with the
// GIL taken, on whichever thread does the work; an exception it raises is reported as
// unraisable, never thrown into the engine.
inline ProgressCallback ToProgress(nb::handle fn) {
  if (!fn || fn.is_none()) return {};
  std::shared_ptr<nb::object> holder(new nb::object(nb::borrow(fn)), [](nb::object* p) {
    nb::gil_scoped_acquire gil;
    delete p;
  });
  return [holder](const ProgressEvent& e) {
    nb::gil_scoped_acquire gil;
    try {
      // file names need not be UTF-8: decoded as os.fsdecode does
      nb::object item = nb::steal(PyUnicode_DecodeFSDefaultAndSize(e.item.data(), static_cast<Py_ssize_t>(e.item.size())));
      if (!item.is_valid()) throw nb::python_error();
      (*holder)(e.done, e.total, item);
    } catch (nb::python_error& err) {
      err.discard_as_unraisable("octavo progress callback");
    }
  };
}

// An object with __arrow_c_stream__ that hands out a RecordBatchReader once.
struct ArrowStream {
  std::shared_ptr<arrow::RecordBatchReader> reader;

  nb::capsule Export(nb::handle /*requested_schema*/) {
    if (!reader) throw std::runtime_error("this Arrow stream was already consumed");
    auto* stream = new ArrowArrayStream;
    auto st = arrow::ExportRecordBatchReader(reader, stream);
    if (!st.ok()) {
      delete stream;
      Check(FromArrow(st));
    }
    reader.reset();
    return nb::capsule(stream, "arrow_array_stream", [](void* p) noexcept {
      auto* s = static_cast<ArrowArrayStream*>(p);
      if (s->release) s->release(s);
      delete s;
    });
  }
};

// An object with __arrow_c_array__: one record batch, as a (schema, array) PyCapsule pair.
// A read that came out as one chunk per column crosses this way: pyarrow imports it without
// a stream reader's machinery, which was most of a 1,000-row read's time in Python.
struct ArrowBatch {
  std::shared_ptr<arrow::RecordBatch> batch;

  nb::tuple Export(nb::handle /*requested_schema*/) {
    auto* schema = new ArrowSchema;
    auto* array = new ArrowArray;
    auto st = arrow::ExportRecordBatch(*batch, array, schema);
    if (!st.ok()) {
      delete schema;
      delete array;
      Check(FromArrow(st));
    }
    nb::capsule schema_capsule(schema, "arrow_schema", [](void* p) noexcept {
      auto* s = static_cast<ArrowSchema*>(p);
      if (s->release) s->release(s);
      delete s;
    });
    nb::capsule array_capsule(array, "arrow_array", [](void* p) noexcept {
      auto* a = static_cast<ArrowArray*>(p);
      if (a->release) a->release(a);
      delete a;
    });
    return nb::make_tuple(schema_capsule, array_capsule);
  }
};

// The reader behind an 'arrow_array_stream' PyCapsule (moved out of the capsule, zero-copy).
inline std::shared_ptr<arrow::RecordBatchReader> ImportStream(nb::capsule cap) {
  if (std::string(cap.name()) != "arrow_array_stream") throw nb::type_error("expected an 'arrow_array_stream' PyCapsule");
  auto r = arrow::ImportRecordBatchReader(static_cast<ArrowArrayStream*>(cap.data()));
  if (!r.ok()) Check(FromArrow(r.status()));
  return *r;
}

}  // namespace octavo::py
