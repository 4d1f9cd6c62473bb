// octavo-h5worker: the only octavo program that runs libhdf5 (see worker_protocol.h). Its
// parent starts it for one request and reads the answer from fd 3:
//   octavo-h5worker [--memory-limit BYTES] list FILE
//   octavo-h5worker [--memory-limit BYTES] inspect FILE
//   octavo-h5worker [--memory-limit BYTES] pandas FILE KEY
//   octavo-h5worker [--memory-limit BYTES] import FILE DEST SLAB_BYTES
//   octavo-h5worker [--memory-limit BYTES] migrate OPTIONS_JSON   (tasks on stdin, see migrate.cc)
#include <arrow/api.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "hdf5/h5util.h"
#include "hdf5/worker_protocol.h"

namespace octavo::hdf5 {
namespace {

using wire::Json;

int Usage() {
  std::fprintf(stderr,
               "octavo-h5worker: reads HDF5 files for octavo (the octavo CLI and Python package start it);\n"
               "it writes to fd 3 and is not meant to be run by hand\n");
  return 2;
}

Status Serve(const std::vector<std::string>& a, wire::FrameWriter& out) {
  const std::string& cmd = a[0];
  if (cmd == "list" && a.size() == 2) {
    OCTAVO_ASSIGN_OR_RETURN(auto objs, ListObjectsLocal(a[1]));
    Json list = Json::array();
    for (const auto& o : objs) list.push_back(wire::ObjectToJson(o));
    return out.Message({{"op", "ok"}, {"objects", list}});
  }
  if (cmd == "inspect" && a.size() == 2) {
    OCTAVO_ASSIGN_OR_RETURN(auto rep, InspectFileLocal(a[1]));
    Json items = Json::array();
    for (const auto& it : rep.items) items.push_back(wire::ItemToJson(it));
    return out.Message({{"op", "ok"}, {"items", items}});
  }
  if (cmd == "pandas" && a.size() == 3) {
    OCTAVO_ASSIGN_OR_RETURN(auto table, ReadPandasLocal(a[1], a[2]));
    arrow::TableBatchReader reader(table);
    OCTAVO_RETURN_NOT_OK(out.Table({{"op", "table"}}, reader));
    return out.Message({{"op", "ok"}});
  }
  if (cmd == "import" && a.size() == 4) {
    ImportOptions o;
    o.array_slab_bytes = std::max<int64_t>(1, std::atoll(a[3].c_str()));
    OCTAVO_ASSIGN_OR_RETURN(auto rep, ImportFileLocal(a[1], a[2], o, out));
    Json items = Json::array();
    for (const auto& it : rep.items) items.push_back(wire::ItemToJson(it));
    return out.Message({{"op", "ok"}, {"rows", rep.rows}, {"bytes", rep.bytes}, {"items", items}});
  }
  return Status::Invalid("octavo-h5worker: bad request");
}

int Main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  int64_t cpu_seconds = 0;
  while (a.size() >= 2 && (a[0] == "--memory-limit" || a[0] == "--cpu-limit")) {
    const auto value = static_cast<int64_t>(std::strtoll(a[1].c_str(), nullptr, 10));
    if (a[0] == "--memory-limit" && value > 0) {
      struct rlimit rl {static_cast<rlim_t>(value), static_cast<rlim_t>(value)};
      ::setrlimit(RLIMIT_AS, &rl);
    } else if (a[0] == "--cpu-limit") {
      cpu_seconds = value;
    }
    a.erase(a.begin(), a.begin() + 2);
  }
  if (a.empty()) return Usage();
  if (a[0] != "migrate") LimitCpuFromNow(cpu_seconds);  // one request: one budget
  if (a[0] == "migrate" && a.size() == 2) {
    Json j = Json::parse(a[1], nullptr, false);
    if (j.is_discarded()) return Usage();
    MigrateOptions o;
    try {
      o = wire::MigrateOptionsFromJson(j);
    } catch (const std::exception&) {
      return Usage();
    }
    MigrateWorkerMain(o, 0, wire::kChannelFd, cpu_seconds);
  }
  wire::FrameWriter out(wire::kChannelFd);
  Status st;
  try {
    st = Serve(a, out);
  } catch (const std::exception& e) {
    st = Status::IOError("octavo-h5worker: ", e.what());
  }
  if (!st.ok()) {
    Json err = wire::StatusToJson(st);
    err["op"] = "error";
    if (!out.Message(err).ok()) return 3;
  }
  return 0;
}

}  // namespace
}  // namespace octavo::hdf5

int main(int argc, char** argv) {
  if (::fcntl(octavo::hdf5::wire::kChannelFd, F_GETFD) < 0) return octavo::hdf5::Usage();
  return octavo::hdf5::Main(argc, argv);
}
