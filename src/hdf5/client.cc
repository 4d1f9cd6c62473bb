// The public HDF5 functions of include/octavo/hdf5.h, on the parent side: each one runs the
// worker process (worker_protocol.h) and turns its stream into the result (a listing, an
// Arrow table, bundle nodes). No libhdf5 in this process.
#include <arrow/api.h>

#include <algorithm>

#include "hdf5/worker_protocol.h"
#include "octavo/array.h"
#include "octavo/bundle.h"
#include "octavo/file.h"
#include "octavo/hdf5.h"
#include "octavo/arrow_status.h"
#include "util/names.h"

namespace octavo::hdf5 {

using wire::Json;
using wire::WorkerProcess;

int ImportReport::num_unsupported() const {
  int n = 0;
  for (const auto& i : items) n += i.supported ? 0 : 1;
  return n;
}

namespace {

// Runs the worker for a request that answers with one message: {"op":"ok",...} or an error.
Result<Json> RunForMessage(const WorkerOptions& wo, const std::vector<std::string>& args, const std::string& file) {
  OCTAVO_ASSIGN_OR_RETURN(auto w, WorkerProcess::Start(wo, args, file));
  OCTAVO_ASSIGN_OR_RETURN(Json j, w->NextMessage());
  if (j["op"] == "error") return w->ErrorFrom(j);
  if (j["op"] != "ok") return w->Died("it wrote an unexpected message");
  OCTAVO_RETURN_NOT_OK(w->Wait());
  return j;
}

// Malformed content in a well-formed frame (a bug, or a worker that is not ours).
template <typename F>
auto Parse(WorkerProcess* w, F f) -> Result<decltype(f())> {
  try {
    return f();
  } catch (const std::exception& e) {
    return w ? w->Died(std::string("malformed message: ") + e.what())
             : Status::Corruption("malformed message from the HDF5 worker: ", e.what());
  }
}

}  // namespace

Result<std::vector<H5Object>> ListObjects(const std::string& path, const WorkerOptions& worker) {
  OCTAVO_ASSIGN_OR_RETURN(Json j, RunForMessage(worker, {"list", path}, path));
  return Parse(nullptr, [&] {
    std::vector<H5Object> out;
    for (const auto& o : j.at("objects")) out.push_back(wire::ObjectFromJson(o));
    return out;
  });
}

Result<ImportReport> InspectFile(const std::string& path, const WorkerOptions& worker) {
  OCTAVO_ASSIGN_OR_RETURN(Json j, RunForMessage(worker, {"inspect", path}, path));
  return Parse(nullptr, [&] {
    ImportReport r;
    r.file = path;
    for (const auto& it : j.at("items")) r.items.push_back(wire::ItemFromJson(it));
    return r;
  });
}

Result<std::shared_ptr<::arrow::Table>> ReadPandas(const std::string& path, const std::string& key,
                                                   const WorkerOptions& worker) {
  OCTAVO_ASSIGN_OR_RETURN(auto w, WorkerProcess::Start(worker, {"pandas", path, key}, path));
  OCTAVO_ASSIGN_OR_RETURN(Json j, w->NextMessage());
  if (j["op"] == "error") return w->ErrorFrom(j);
  if (j["op"] != "table") return w->Died("it wrote an unexpected message");
  OCTAVO_ASSIGN_OR_RETURN(auto reader, w->OpenTableStream());
  auto table = reader->ToTable();
  if (!table.ok()) return w->stream_error().ok() ? Status::Corruption(path, ": ", table.status().message()) : w->stream_error();
  OCTAVO_ASSIGN_OR_RETURN(Json end, w->NextMessage());
  if (end["op"] != "ok") return end["op"] == "error" ? w->ErrorFrom(end) : w->Died("it wrote an unexpected message");
  OCTAVO_RETURN_NOT_OK(w->Wait());
  return *table;
}

namespace {

// Replays an import stream into `bundle` (inside the caller's transaction).
class Replayer {
 public:
  Replayer(WorkerProcess* w, Bundle* bundle, const ImportOptions& opt) : w_(w), bundle_(bundle), opt_(opt) {}

  Result<ImportReport> Run() {
    for (;;) {
      OCTAVO_ASSIGN_OR_RETURN(Json j, w_->NextMessage());
      const std::string op = j["op"].get<std::string>();
      if (op == "error") return w_->ErrorFrom(j);
      if (op == "ok") {
        OCTAVO_RETURN_NOT_OK(w_->Wait());  // a worker that fails on its way out is not trusted either
        return Parse(w_, [&] {
          ImportReport r;
          r.file = w_->file();
          r.rows = j.at("rows").get<int64_t>();
          r.bytes = j.at("bytes").get<int64_t>();
          for (const auto& it : j.at("items")) r.items.push_back(wire::ItemFromJson(it));
          return r;
        });
      }
      std::string dest;
      if (!j.contains("dest") || !j["dest"].is_string()) return w_->Died("a message without a destination");
      dest = j["dest"].get<std::string>();
      Status st = Apply(op, dest, j);
      if (!st.ok()) {
        // the worker's death explains a broken stream better than what the bundle made of it
        if (!w_->stream_error().ok()) return w_->stream_error();
        return st.WithContext(w_->file() + ": " + dest);
      }
      if (opt_.progress && op != "attr") opt_.progress({"objects", ++done_, 0, dest});
    }
  }

 private:
  Status Apply(const std::string& op, const std::string& dest, const Json& j) {
    if (op == "group") {
      if (!bundle_->Exists(dest)) OCTAVO_RETURN_NOT_OK(bundle_->CreateGroup(dest, true));
      return Status::OK();
    }
    if (op == "attr") {
      OCTAVO_ASSIGN_OR_RETURN(auto kv, Parse(w_, [&] {
                                return std::make_pair(j.at("key").get<std::string>(), j.at("value").get<std::string>());
                              }));
      return bundle_->SetAttr(dest, kv.first, kv.second);
    }
    if (op == "link") {
      OCTAVO_ASSIGN_OR_RETURN(auto target, Parse(w_, [&] { return j.at("target").get<std::string>(); }));
      return bundle_->CreateSoftLink(dest, target, true);
    }
    if (op == "table") {
      OCTAVO_ASSIGN_OR_RETURN(auto reader, w_->OpenTableStream());
      TableOptions to;
      to.compression = opt_.table_compression;
      return bundle_->CreateTable(dest, reader, to, true).status();
    }
    if (op == "array") return Array(dest, j);
    if (op == "file") {
      FileWriteOptions fo;
      OCTAVO_ASSIGN_OR_RETURN(auto fw, bundle_->CreateFile(dest, fo));
      std::string data;
      for (;;) {
        OCTAVO_ASSIGN_OR_RETURN(bool more, w_->NextData(&data));
        if (!more) break;
        OCTAVO_RETURN_NOT_OK(fw->Write(data.data(), static_cast<int64_t>(data.size())));
      }
      return fw->Close().status();
    }
    return w_->Died("it wrote an unknown operation '" + op + "'");
  }

  // Rows arrive in the worker's slabs; they are written in slabs aligned to the array's
  // chunks along axis 0, so that every chunk is written once.
  Status Array(const std::string& dest, const Json& j) {
    std::vector<int64_t> shape;
    std::string dtype;
    OCTAVO_RETURN_NOT_OK(Parse(w_, [&] {
                           shape = j.at("shape").get<std::vector<int64_t>>();
                           dtype = j.at("dtype").get<std::string>();
                           return 0;
                         }).status());
    if (shape.empty()) return w_->Died("an array without a shape");
    OCTAVO_ASSIGN_OR_RETURN(auto arr, bundle_->CreateArray(dest, shape, dtype, ArrayOptions{}, nullptr, 0, true));
    OCTAVO_ASSIGN_OR_RETURN(auto info, arr->Info());
    const int64_t itemsize = ArrayItemSize(dtype);
    int64_t inner = 1;
    for (size_t k = 1; k < shape.size(); ++k) inner *= shape[k];
    const int64_t row_bytes = inner * itemsize;
    const int64_t c0 = info.chunks.empty() ? 1 : std::max<int64_t>(1, info.chunks[0]);
    int64_t slab = row_bytes > 0 ? std::max<int64_t>(1, opt_.array_slab_bytes / row_bytes) : 1;
    slab = std::max<int64_t>(c0, slab / c0 * c0);
    std::string pending, data;
    int64_t row = 0;  // first row of `pending`
    auto flush = [&](int64_t rows) -> Status {
      std::vector<ArrayRange> sel;
      sel.push_back({row, row + rows, 1});
      for (size_t k = 1; k < shape.size(); ++k) sel.push_back({0, shape[k], 1});
      const size_t n = static_cast<size_t>(rows * row_bytes);
      OCTAVO_RETURN_NOT_OK(arr->Write(sel, pending.data(), static_cast<int64_t>(n)));
      pending.erase(0, n);
      row += rows;
      return Status::OK();
    };
    for (;;) {
      OCTAVO_ASSIGN_OR_RETURN(bool more, w_->NextData(&data));
      if (!more) break;
      if (row_bytes <= 0 || data.size() % static_cast<size_t>(row_bytes) != 0)
        return w_->Died("array data that is not whole rows");
      pending += data;
      if (row + static_cast<int64_t>(pending.size()) / row_bytes > shape[0]) return w_->Died("more array rows than its shape");
      while (static_cast<int64_t>(pending.size()) >= slab * row_bytes) OCTAVO_RETURN_NOT_OK(flush(slab));
    }
    if (!pending.empty()) OCTAVO_RETURN_NOT_OK(flush(static_cast<int64_t>(pending.size()) / row_bytes));
    if (row_bytes > 0 && row != shape[0]) return w_->Died("fewer array rows than its shape");
    return Status::OK();
  }

  WorkerProcess* w_;
  Bundle* bundle_;
  const ImportOptions& opt_;
  int64_t done_ = 0;  // objects imported (progress)
};

}  // namespace

Result<ImportReport> ImportFile(const std::string& path, Bundle& bundle, const std::string& dest_in,
                                const ImportOptions& options) {
  OCTAVO_ASSIGN_OR_RETURN(std::string dest, NormalizePath(dest_in.empty() ? "/" : dest_in));
  if (options.dry_run) {
    OCTAVO_ASSIGN_OR_RETURN(ImportReport r, InspectFile(path, options.worker));
    // the plan as an import under `dest` would place it
    for (auto& it : r.items)
      if (!it.dest.empty()) it.dest = it.h5_path == "/" ? dest : (dest == "/" ? it.dest : dest + it.dest);
    return r;
  }
  if (bundle.Exists(dest)) {
    OCTAVO_ASSIGN_OR_RETURN(auto node, bundle.GetNode(dest));
    if (node.kind != NodeKind::kGroup)
      return Status::AlreadyExists("cannot import ", path, " into ", dest, ": it is ", NodeKindWithArticle(node.kind),
                                   ", not a group");
  }
  OCTAVO_ASSIGN_OR_RETURN(auto w, WorkerProcess::Start(options.worker,
                                                       {"import", path, dest, std::to_string(options.array_slab_bytes)},
                                                       path));
  Replayer rp(w.get(), &bundle, options);
  ImportReport report;
  auto run = [&]() -> Status {
    auto r = rp.Run();
    if (!r.ok()) {
      w.reset();  // a worker still running is stopped
      return r.status();
    }
    report = std::move(*r);
    return Status::OK();
  };
  OCTAVO_RETURN_NOT_OK(bundle.RunAsOneCommit(run, "import " + path).status());
  return report;
}

}  // namespace octavo::hdf5
