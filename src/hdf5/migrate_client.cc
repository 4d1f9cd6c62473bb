// Migration of pandas HDF5 files to Parquet files beside them (or into a bundle), parent
// side: file discovery and naming, the pool of worker processes that convert (the worker is
// migrate.cc, run by octavo-h5worker), and --into (ImportFile per file). See
// include/octavo/hdf5.h.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <iostream>
#include <mutex>

#include <nlohmann/json.hpp>

#include "hdf5/worker_protocol.h"
#include "octavo/bundle.h"
#include "octavo/hdf5.h"
#include "util/json_util.h"
#include "util/threads.h"

namespace octavo::hdf5 {

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

constexpr uint64_t kRedoBit = uint64_t(1) << 63;  // in a task: convert even if done (overwrite)

}  // namespace

bool IsHdf5Path(const std::string& path) {
  std::string ext = Lower(fs::path(path).extension().string());
  return ext == ".h5" || ext == ".hdf5" || ext == ".hdf";
}

std::string ParquetPathFor(const std::string& h5_path, const std::string& key, int num_keys) {
  fs::path p(h5_path);
  std::string stem = (p.parent_path() / p.stem()).string();
  if (num_keys <= 1) return stem + ".parquet";
  std::string k = key;
  while (!k.empty() && k.front() == '/') k.erase(k.begin());
  std::replace(k.begin(), k.end(), '/', '.');
  return stem + "." + k + ".parquet";
}

Result<std::vector<std::string>> FindHdf5Files(const std::string& root, bool recursive) {
  std::error_code ec;
  if (!fs::exists(root, ec)) return Status::NotFound("no such file or directory: ", root);
  std::vector<std::string> out;
  if (!fs::is_directory(root, ec)) {
    out.push_back(root);
    return out;
  }
  auto visit = [&](const fs::directory_entry& e) {
    std::error_code ec2;
    if (e.is_regular_file(ec2) && IsHdf5Path(e.path().string())) out.push_back(e.path().string());
  };
  if (recursive) {
    for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      visit(*it);
  } else {
    for (auto it = fs::directory_iterator(root, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) visit(*it);
  }
  if (ec) return Status::IOError("cannot list ", root, ": ", ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

std::string DestFor(const std::string& file, const std::string& root) {
  std::error_code ec;
  fs::path rel = fs::relative(fs::path(file), root.empty() ? fs::path(file).parent_path() : fs::path(root), ec);
  if (ec || rel.empty() || rel.string().rfind("..", 0) == 0) rel = fs::path(file).filename();
  rel.replace_extension();
  std::string s = "/" + rel.generic_string();
  return s;
}

MigrateFileResult ImportOne(const std::string& f, const MigrateOptions& options, Bundle* bundle, std::mutex* bundle_mu) {
  auto t1 = std::chrono::steady_clock::now();
  MigrateFileResult r;
  r.file = f;
  std::string dest = DestFor(f, options.root);
  r.outputs.push_back(options.into + ":" + dest);
  if (options.dry_run) {
    auto rep = InspectFile(f, options.worker);
    r.status = rep.ok() ? "planned" : "failed";
    if (!rep.ok()) r.message = rep.status().message();
  } else {
    std::lock_guard<std::mutex> lock(*bundle_mu);
    if (bundle->Exists(dest)) {
      r.status = "skipped";
      r.message = dest + " already exists in the bundle";
    } else {
      ImportOptions io;
      io.worker = options.worker;
      auto rep = ImportFile(f, *bundle, dest, io);
      if (!rep.ok()) {
        r.status = "failed";
        r.message = rep.status().message();
      } else {
        r.status = "converted";
        r.rows = rep->rows;
        if (rep->num_unsupported() > 0) {
          std::string why;
          for (auto& it : rep->items)
            if (!it.supported) why += (why.empty() ? "" : "; ") + it.h5_path + ": " + it.reason;
          r.message = "not imported: " + why;
        } else if (options.remove_h5) {
          std::error_code ec;
          r.removed = fs::remove(f, ec);
        }
      }
    }
  }
  r.seconds = Since(t1);
  return r;
}

// --- worker processes -------------------------------------------------------------------
//
// `jobs` octavo-h5worker processes (each with its own HDF5 library state: no global lock
// shared between them; the caller may be a Python process, so they are spawned, never
// forked) convert the files; protocol in migrate.cc (MigrateWorkerMain). A worker that
// dies (crash, OOM kill) fails the file it was converting, its half-written temp files are
// removed, files it had finished but not reported are handed out again, and a replacement
// worker is started.

struct Worker {
  pid_t pid = -1;
  int task_fd = -1;    // parent writes file indices
  int result_fd = -1;  // parent reads result lines
  std::string buf;
  std::vector<size_t> outstanding;  // handed out, no result yet
  size_t converting = SIZE_MAX;     // the last "start": the file a crash is blamed on
};

// Temp files a dead worker may have left beside `file`'s outputs.
void RemoveWorkerTemps(const std::string& file, pid_t pid) {
  std::error_code ec;
  fs::path dir = fs::path(file).parent_path();
  if (dir.empty()) dir = ".";
  const std::string stem = fs::path(file).stem().string();
  const std::string tag = ".octavo-tmp-" + std::to_string(pid) + "-";
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.rfind(stem, 0) == 0 && name.find(tag) != std::string::npos) {
      std::error_code ec2;
      fs::remove(it->path(), ec2);
    }
  }
}

Status MigrateInProcesses(const std::vector<std::string>& files, const MigrateOptions& options, int jobs,
                          const std::function<void(size_t, MigrateFileResult&&)>& emit) {
  std::deque<uint64_t> queue;  // file index, | kRedoBit for a file to convert again
  for (size_t i = 0; i < files.size(); ++i) queue.push_back(i);
  std::vector<Worker> workers;
  OCTAVO_ASSIGN_OR_RETURN(const std::string exe, wire::FindWorker(options.worker.executable));
  struct sigaction ign {}, old_pipe {};
  ign.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ign, &old_pipe);  // a dead worker's task pipe: EPIPE, not death
  const std::vector<std::string> args =
      wire::WorkerArgs(options.worker, {"migrate", wire::MigrateOptionsToJson(options).dump()});
  size_t spawned = 0;
  auto spawn = [&]() -> Status {
    int task[2], res[2];
    OCTAVO_RETURN_NOT_OK(wire::MakePipe(task));
    if (Status st = wire::MakePipe(res); !st.ok()) {
      ::close(task[0]);
      ::close(task[1]);
      return st;
    }
    // every pipe end is close-on-exec: a worker holds only its own two ends, so its death
    // is seen as EOF by the parent
    auto pid = wire::Spawn(exe, args, task[0], res[1]);
    ::close(task[0]);
    ::close(res[1]);
    if (!pid.ok()) {
      ::close(task[1]);
      ::close(res[0]);
      return pid.status();
    }
    Worker w;
    w.pid = *pid;
    w.task_fd = task[1];
    w.result_fd = res[0];
    workers.push_back(std::move(w));
    ++spawned;
    return Status::OK();
  };
  Status status;
  for (int j = 0; j < jobs && status.ok(); ++j) status = spawn();
  std::vector<char> chunk(1 << 16);
  while (!workers.empty()) {
    std::vector<pollfd> fds;
    for (const auto& w : workers) fds.push_back(pollfd{w.result_fd, POLLIN, 0});
    int n = ::poll(fds.data(), fds.size(), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      status = Status::IOError("poll failed: ", std::strerror(errno));
      break;
    }
    for (size_t k = fds.size(); k-- > 0;) {
      if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Worker& w = workers[k];
      ssize_t got = ::read(w.result_fd, chunk.data(), chunk.size());
      if (got < 0 && errno == EINTR) continue;
      if (got > 0) {
        w.buf.append(chunk.data(), static_cast<size_t>(got));
        size_t nl;
        while ((nl = w.buf.find('\n')) != std::string::npos) {
          std::string line = w.buf.substr(0, nl);
          w.buf.erase(0, nl + 1);
          auto parsed = ParseJson(line, "migrate worker message");  // bounded depth, errors as values
          if (!parsed.ok() || !parsed->is_object() || !parsed->contains("t")) continue;
          Json j(std::move(parsed).ValueOrDie());
          if (j["t"] == "next") {
            if (!queue.empty() && w.task_fd >= 0) {
              uint64_t task = queue.front();
              const std::string& file = files[static_cast<size_t>(task & ~kRedoBit)];
              const uint32_t len = static_cast<uint32_t>(file.size());
              if (wire::WriteAll(w.task_fd, &task, sizeof task) && wire::WriteAll(w.task_fd, &len, sizeof len) &&
                  wire::WriteAll(w.task_fd, file.data(), file.size())) {
                queue.pop_front();
                w.outstanding.push_back(static_cast<size_t>(task & ~kRedoBit));
              }
            } else if (w.task_fd >= 0) {
              ::close(w.task_fd);
              w.task_fd = -1;
            }
          } else if (j["t"] == "start") {
            w.converting = j.value("i", files.size());
          } else if (j["t"] == "done") {
            size_t idx = j.value("i", files.size());
            auto it = std::find(w.outstanding.begin(), w.outstanding.end(), idx);
            if (idx >= files.size() || it == w.outstanding.end()) continue;
            w.outstanding.erase(it);
            MigrateFileResult r;
            try {
              r = wire::MigrateResultFromJson(files[idx], j);
            } catch (const std::exception& e) {
              r.file = files[idx];
              r.status = "failed";
              r.message = std::string("bad result from worker: ") + e.what();
            }
            emit(idx, std::move(r));
          }
        }
        continue;
      }
      // EOF: the worker is gone
      int wstatus = 0;
      ::waitpid(w.pid, &wstatus, 0);
      auto conv = std::find(w.outstanding.begin(), w.outstanding.end(), w.converting);
      if (conv != w.outstanding.end()) {
        size_t culprit = *conv;
        w.outstanding.erase(conv);
        for (size_t idx : w.outstanding) {
          RemoveWorkerTemps(files[idx], w.pid);
          queue.push_front(idx | kRedoBit);  // maybe finished, unreported: convert again
        }
        RemoveWorkerTemps(files[culprit], w.pid);
        MigrateFileResult r;
        r.file = files[culprit];
        r.status = "failed";
        r.message = "the worker process converting " + files[culprit] + " " + wire::DescribeExit(wstatus) +
                    (WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGXCPU
                         ? " (it used up its CPU time limit, --h5-cpu-limit: a damaged file, or one needing a larger limit)"
                         : " (a bug in octavo or its libraries, or out of memory)") +
                    "; no output was written for it, the other files are not affected";
        emit(culprit, std::move(r));
      } else {  // died between files: nothing was being converted; hand out what it held
        for (size_t idx : w.outstanding) queue.push_front(idx | kRedoBit);
      }
      if (w.task_fd >= 0) ::close(w.task_fd);
      ::close(w.result_fd);
      workers.erase(workers.begin() + static_cast<std::ptrdiff_t>(k));
      if (!queue.empty() && static_cast<int>(workers.size()) < jobs && spawned < files.size() + static_cast<size_t>(jobs)) {
        Status st = spawn();
        if (!st.ok() && status.ok()) status = st;
      }
    }
    if (!status.ok() && workers.empty()) break;
  }
  ::sigaction(SIGPIPE, &old_pipe, nullptr);
  // anything never handed out (spawning failed): fail it with the reason
  for (uint64_t task : queue) {
    const size_t idx = static_cast<size_t>(task & ~kRedoBit);
    MigrateFileResult r;
    r.file = files[idx];
    r.status = "failed";
    r.message = status.ok() ? "not converted: no worker process left" : status.message();
    emit(idx, std::move(r));
  }
  return Status::OK();
}

}  // namespace

Result<MigrateSummary> Migrate(const std::vector<std::string>& files, const MigrateOptions& options) {
  auto t0 = std::chrono::steady_clock::now();
  MigrateSummary sum;
  sum.files.resize(files.size());
  std::mutex out_mu;
  int finished = 0;
  auto emit = [&](size_t i, MigrateFileResult&& r) {
    std::lock_guard<std::mutex> lock(out_mu);
    int k = ++finished;
    if (options.progress) {
      std::cerr << "[" << k << "/" << files.size() << "] " << r.status << " " << files[i];
      if (r.rows) std::cerr << " (" << r.rows << " rows)";
      if (!r.message.empty() && r.status == "failed") std::cerr << ": " << r.message;
      std::cerr << std::endl;
    }
    if (options.on_progress) options.on_progress({"files", k, static_cast<int64_t>(files.size()), files[i]});
    sum.files[i] = std::move(r);
  };
  int jobs = std::max(1, std::min<int>(options.jobs, static_cast<int>(std::max<size_t>(files.size(), 1))));
  if (options.into.empty()) {
    if (!files.empty()) OCTAVO_RETURN_NOT_OK(MigrateInProcesses(files, options, jobs, emit));
  } else {
    std::shared_ptr<Bundle> bundle;
    if (!options.dry_run) {
      OCTAVO_ASSIGN_OR_RETURN(bundle, Bundle::Open(options.into, OpenMode::kAppend));
    }
    std::mutex bundle_mu;
    // `jobs` files at a time on the shared pool (the caller's thread among them).
    OCTAVO_RETURN_NOT_OK(ParallelFor(files.size(), jobs, [&](size_t i, int) {
      emit(i, ImportOne(files[i], options, bundle.get(), &bundle_mu));
      return Status::OK();
    }));
    if (bundle) OCTAVO_RETURN_NOT_OK(bundle->Close());
  }
  for (const auto& r : sum.files) {
    if (r.status == "converted") ++sum.converted;
    else if (r.status == "skipped") ++sum.skipped;
    else if (r.status == "planned") ++sum.planned;
    else ++sum.failed;
  }
  sum.seconds = Since(t0);
  return sum;
}

}  // namespace octavo::hdf5
