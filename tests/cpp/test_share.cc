// Shared tables (octavo/share.h): publish / attach round trips without copies, atomic publishing
// on a full disk (fault injection), the lifetime of segments (owner pid, stale collection, forked
// children), and hostile handles and segments.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "fault_env.h"
#include "octavo/share.h"
#include "test_util.h"
#include "util/crc32.h"

namespace octavo::testing {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// Three chunks, with nulls and strings.
std::shared_ptr<arrow::Table> Sample() {
  auto a = MakeRows(0, 1000), b = MakeRows(1000, 10), c = MakeRows(1010, 3000);
  auto t = arrow::ConcatenateTables({a, b, c}).ValueOrDie();
  arrow::Int32Builder nb;
  for (int i = 0; i < t->num_rows(); ++i) (void)(i % 7 == 0 ? nb.AppendNull() : nb.Append(i));
  return t->AddColumn(3, arrow::field("n", arrow::int32()), std::make_shared<arrow::ChunkedArray>(*nb.Finish()))
      .ValueOrDie();
}

ShareOptions In(const TempDir& tmp) {
  ShareOptions o;
  o.directory = tmp.path();
  return o;
}

// The handle with its identity fields (size, inode, times, footer CRC) updated to the file as it
// now is: what someone who can rewrite the segment could also hand out.
std::string Forge(const std::string& handle) {
  Json h = Json::parse(handle);
  std::string path = h["path"];
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0);
  h["size"] = st.st_size;
  h["ino"] = st.st_ino;
  h["dev"] = st.st_dev;
  h["mtime_ns"] = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  h["ctime_ns"] = static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
  h["mode"] = st.st_mode & 07777;
  std::string bytes = ReadBytes(path);
  if (bytes.size() >= 10) {
    int32_t len;
    std::memcpy(&len, bytes.data() + bytes.size() - 10, 4);
    if (len > 0 && static_cast<size_t>(len) + 10 <= bytes.size())
      h["footer_crc32"] = Crc32(bytes.substr(bytes.size() - 10 - len));
  }
  return h.dump();
}

// Whether `p` lies in a memory mapping of file `path` (/proc/self/maps).
bool InMappingOf(const void* p, const std::string& path) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  auto addr = reinterpret_cast<uintptr_t>(p);
  while (std::getline(maps, line)) {
    if (line.size() < path.size() || line.compare(line.size() - path.size(), path.size(), path) != 0) continue;
    uintptr_t lo = std::stoull(line.substr(0, line.find('-')), nullptr, 16);
    uintptr_t hi = std::stoull(line.substr(line.find('-') + 1), nullptr, 16);
    if (addr >= lo && addr < hi) return true;
  }
  return false;
}

void Overwrite(const std::string& path, const std::string& bytes) {
  ::chmod(path.c_str(), 0600);
  fs::remove(path);
  WriteBytes(path, bytes);
}

TEST(SharedTable, PublishAttachRoundTripWithoutCopies) {
  TempDir tmp;
  auto t = Sample();
  ShareOptions o = In(tmp);
  o.source_bundle = "/data/exp.octavo";
  o.source_table = "/headers";
  o.source_commit = 7;
  auto shared = SharedTable::Publish(*t, o).ValueOrDie();
  EXPECT_EQ(ListFiles(tmp.path()).size(), 1u);  // no temporary left
  Json h = Json::parse(shared->handle());
  EXPECT_EQ(h["format"], "octavo-shared-table");
  EXPECT_EQ(h["version"], 1);
  EXPECT_EQ(h["owner_pid"], static_cast<long>(::getpid()));
  EXPECT_EQ(h["source"]["commit"], 7);
  EXPECT_EQ(h["source"]["table"], "/headers");
  EXPECT_LT(shared->handle().size(), 1024u);

  auto got = SharedTable::Attach(shared->handle()).ValueOrDie();
  EXPECT_TRUE(TablesEqual(*got, *t));
  // One chunk per column, every buffer 8-byte aligned and inside the mapping of the segment.
  for (const auto& col : got->columns()) {
    ASSERT_EQ(col->num_chunks(), 1);
    for (const auto& buf : col->chunk(0)->data()->buffers) {
      if (!buf || buf->size() == 0) continue;
      EXPECT_EQ(reinterpret_cast<uintptr_t>(buf->data()) % 8, 0u);
      EXPECT_TRUE(InMappingOf(buf->data(), shared->path()));
    }
  }
  EXPECT_TRUE(SharedTable::Attach(shared->handle(), AttachOptions{.verify_data = true}).ok());
  auto populated = SharedTable::Attach(shared->handle(), AttachOptions{.populate = true});
  ASSERT_TRUE(populated.ok());
  EXPECT_TRUE(TablesEqual(**populated, *t));

  std::string handle = shared->handle();
  ASSERT_TRUE(shared->Close().ok());
  EXPECT_TRUE(ListFiles(tmp.path()).empty());
  // The attached table keeps its mapping: still readable after the segment is removed.
  EXPECT_TRUE(TablesEqual(*got, *t));
  auto gone = SharedTable::Attach(handle);
  EXPECT_EQ(gone.status().code(), StatusCode::kNotFound) << gone.status().ToString();
  EXPECT_TRUE(Contains(gone.status().message(), "no longer exists"));
}

TEST(SharedTable, EmptyTableAndDestructorRemoves) {
  TempDir tmp;
  auto t = MakeRows(0, 0);
  {
    auto shared = SharedTable::Publish(*t, In(tmp)).ValueOrDie();
    auto got = SharedTable::Attach(shared->handle()).ValueOrDie();
    EXPECT_EQ(got->num_rows(), 0);
    EXPECT_TRUE(got->schema()->Equals(*t->schema()));
  }
  EXPECT_TRUE(ListFiles(tmp.path()).empty());
}

// A full /dev/shm at every write, close and rename in turn: an IOError naming the directory,
// and no file at all left behind (neither the temporary nor a half segment).
TEST(SharedTable, FullDirectoryNeverLeavesAHalfSegment) {
  TempDir tmp;
  auto t = Sample();
  FaultInjectionEnv env;
  ShareOptions o = In(tmp);
  o.env = &env;
  int failures = 0;
  for (int64_t n = 0;; ++n) {
    env.ResetCounter();
    env.FailAt(n);  // once: removing the temporary must still work, as on a full tmpfs
    auto r = SharedTable::Publish(*t, o);
    if (r.ok()) {
      EXPECT_FALSE(env.fault_injected());
      env.Disarm();
      EXPECT_TRUE(SharedTable::Attach((*r)->handle()).ok());
      break;
    }
    ++failures;
    EXPECT_EQ(r.status().code(), StatusCode::kIOError) << r.status().ToString();
    EXPECT_TRUE(Contains(r.status().message(), tmp.path())) << r.status().message();
    EXPECT_TRUE(Contains(r.status().message(), "nothing was published")) << r.status().message();
    env.Disarm();
    EXPECT_TRUE(ListFiles(tmp.path()).empty()) << "after a fault at operation " << n;
    ASSERT_LT(n, 1000);
  }
  EXPECT_GT(failures, 3);
  EXPECT_TRUE(ListFiles(tmp.path()).empty());
}

// An Env whose files take `room` bytes and then fail as a full tmpfs does (write(2): ENOSPC).
class FullEnv final : public Env {
 public:
  explicit FullEnv(int64_t room) : room_(room) {}
  class File final : public WritableFile {
   public:
    File(std::unique_ptr<WritableFile> f, int64_t* room) : f_(std::move(f)), room_(room) {}
    Status Append(std::string_view data) override {
      if (static_cast<int64_t>(data.size()) > *room_)
        return Status::IOError("cannot write '", f_->path(), "': ", std::strerror(ENOSPC));
      *room_ -= static_cast<int64_t>(data.size());
      return f_->Append(data);
    }
    Status Sync() override { return f_->Sync(); }
    Status Close() override { return f_->Close(); }
    const std::string& path() const override { return f_->path(); }

   private:
    std::unique_ptr<WritableFile> f_;
    int64_t* room_;
  };
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    OCTAVO_ASSIGN_OR_RETURN(auto f, base_->NewWritableFile(path));
    return std::unique_ptr<WritableFile>(new File(std::move(f), &room_));
  }
  Status RenameFile(const std::string& a, const std::string& b) override { return base_->RenameFile(a, b); }
  Status SyncDir(const std::string& d) override { return base_->SyncDir(d); }
  Status CreateDir(const std::string& d) override { return base_->CreateDir(d); }
  Status RemoveFile(const std::string& p) override { return base_->RemoveFile(p); }
  Result<std::string> ReadFile(const std::string& p) override { return base_->ReadFile(p); }
  bool FileExists(const std::string& p) override { return base_->FileExists(p); }
  Result<int64_t> FileSize(const std::string& p) override { return base_->FileSize(p); }
  Result<std::vector<std::string>> ListDir(const std::string& d) override { return base_->ListDir(d); }
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& p, const std::string& h) override {
    return base_->LockFile(p, h);
  }

 private:
  Env* base_ = Env::Default();
  int64_t room_;
};

TEST(SharedTable, FullTmpfsSaysSoAndSuggestsAnotherDirectory) {
  TempDir tmp;
  FullEnv env(1000);
  ShareOptions o = In(tmp);
  o.env = &env;
  auto r = SharedTable::Publish(*Sample(), o);
  ASSERT_EQ(r.status().code(), StatusCode::kIOError);
  EXPECT_TRUE(Contains(r.status().message(), "it is full")) << r.status().message();
  EXPECT_TRUE(Contains(r.status().message(), "another directory")) << r.status().message();
  EXPECT_TRUE(ListFiles(tmp.path()).empty());
}

TEST(SharedTable, HandlesFromElsewhereAreClearErrors) {
  TempDir tmp;
  auto shared = SharedTable::Publish(*Sample(), In(tmp)).ValueOrDie();
  auto edit = [&](const std::function<void(Json&)>& f) {
    Json h = Json::parse(shared->handle());
    f(h);
    return SharedTable::Attach(h.dump()).status();
  };
  Status host = edit([](Json& h) { h["host"] = "node-17"; });
  EXPECT_EQ(host.code(), StatusCode::kInvalid);
  EXPECT_TRUE(Contains(host.message(), "node-17")) << host.message();
  EXPECT_EQ(edit([](Json& h) { h["boot_id"] = "00000000-0000"; }).code(), StatusCode::kInvalid);
  Status version = edit([](Json& h) { h["version"] = 2; });
  EXPECT_EQ(version.code(), StatusCode::kUnsupportedVersion) << version.ToString();
  EXPECT_EQ(edit([](Json& h) { h["path"] = "/etc/passwd"; }).code(), StatusCode::kInvalid);
  EXPECT_EQ(edit([](Json& h) { h.erase("size"); }).code(), StatusCode::kInvalid);
  EXPECT_EQ(edit([](Json& h) { h["size"] = "big"; }).code(), StatusCode::kInvalid);
  EXPECT_EQ(SharedTable::Attach("not json").status().code(), StatusCode::kInvalid);
  EXPECT_EQ(SharedTable::Attach("[1,2]").status().code(), StatusCode::kInvalid);
  EXPECT_EQ(SharedTable::Attach(std::string(100000, '{')).status().code(), StatusCode::kInvalid);
  EXPECT_EQ(SharedTable::Attach(std::string(30000, '[') + std::string(30000, ']')).status().code(),
            StatusCode::kInvalid);  // deep nesting within the size limit
  EXPECT_EQ(SharedTable::Attach(std::string(60000, '[')).status().code(), StatusCode::kInvalid);
}

TEST(SharedTable, ModifiedOrTruncatedSegmentIsCorruption) {
  TempDir tmp;
  auto shared = SharedTable::Publish(*Sample(), In(tmp)).ValueOrDie();
  const std::string path = shared->path(), bytes = ReadBytes(path);
  // Same bytes rewritten: a different file (inode, times), refused.
  Overwrite(path, bytes);
  Status st = SharedTable::Attach(shared->handle()).status();
  EXPECT_EQ(st.code(), StatusCode::kCorruption) << st.ToString();
  // Truncated, with a handle forged to match: the IPC structure is checked.
  for (size_t keep : {size_t{0}, size_t{5}, bytes.size() / 2, bytes.size() - 1}) {
    Overwrite(path, bytes.substr(0, keep));
    st = SharedTable::Attach(Forge(shared->handle())).status();
    EXPECT_EQ(st.code(), StatusCode::kCorruption) << keep << ": " << st.ToString();
  }
}

// Every byte of a small segment flipped in turn, with the handle forged to match the file:
// attaching never crashes; it fails, or gives a table that passed full validation. With
// verify_data the data checksum catches every flip.
TEST(SharedTable, FlippedBytesNeverCrash) {
  TempDir tmp;
  auto t = Sample()->Slice(0, 40);
  auto shared = SharedTable::Publish(*t, In(tmp)).ValueOrDie();
  const std::string path = shared->path(), bytes = ReadBytes(path);
  int errors = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string damaged = bytes;
    damaged[i] = static_cast<char>(damaged[i] ^ 0x5A);
    Overwrite(path, damaged);
    std::string forged = Forge(shared->handle());
    auto r = SharedTable::Attach(forged);
    if (!r.ok()) {
      ++errors;
      EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << i << ": " << r.status().ToString();
    } else {
      EXPECT_TRUE((*r)->ValidateFull().ok());
    }
    auto v = SharedTable::Attach(forged, AttachOptions{.verify_data = true});
    EXPECT_EQ(v.status().code(), StatusCode::kCorruption) << i;
  }
  EXPECT_GT(errors, 0);
  Overwrite(path, bytes);
}

// A segment whose publisher died (a pid reaped, or reused by a later process) is collected by
// the next Publish and by CollectStaleSharedTables; a live publisher's segment is kept.
TEST(SharedTable, StaleSegmentsAreCollected) {
  TempDir tmp;
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto s = SharedTable::Publish(*MakeRows(0, 10), In(tmp));
    ::_exit(s.ok() ? 0 : 1);  // as if killed: no destructor, the segment stays
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_EQ(ListFiles(tmp.path()).size(), 1u);
  auto listed = ListSharedTables(tmp.path()).ValueOrDie();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_FALSE(listed[0].owner_alive);
  EXPECT_EQ(listed[0].owner_pid, child);

  // Our own pid with a start time that is not ours: a pid reused by us, the owner is dead.
  WriteBytes(tmp.Sub("octavo-share-" + std::to_string(::getpid()) + "-1-0123456789abcdef.tmp"), "x");
  // Files that are not segments are never touched.
  WriteBytes(tmp.Sub("octavo-share-notes.txt"), "keep");
  WriteBytes(tmp.Sub("octavo-share-1-2-3.arrow"), "keep");

  auto live = SharedTable::Publish(*MakeRows(0, 5), In(tmp)).ValueOrDie();  // collects the dead ones
  auto files = ListFiles(tmp.path());
  EXPECT_EQ(files.size(), 3u);
  EXPECT_TRUE(std::find(files.begin(), files.end(), fs::path(live->path()).filename().string()) != files.end());
  auto removed = CollectStaleSharedTables(tmp.path()).ValueOrDie();
  EXPECT_TRUE(removed.empty());  // the live one stays
  EXPECT_TRUE(SharedTable::Attach(live->handle()).ok());
}

// A forked child inherits the publisher's object; its Close (or exit) must not remove the
// segment the parent still publishes.
TEST(SharedTable, ForkedChildDoesNotRemoveThePublishersSegment) {
  TempDir tmp;
  auto t = Sample();
  auto shared = SharedTable::Publish(*t, In(tmp)).ValueOrDie();
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto got = SharedTable::Attach(shared->handle());
    bool same = got.ok() && (*got)->Equals(*t);
    bool closed = shared->Close().ok();
    ::_exit(same && closed ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_TRUE(fs::exists(shared->path()));
  EXPECT_TRUE(SharedTable::Attach(shared->handle()).ok());
}

TEST(SharedTable, BadDirectory) {
  auto t = MakeRows(0, 3);
  ShareOptions o;
  o.directory = "relative/dir";
  EXPECT_EQ(SharedTable::Publish(*t, o).status().code(), StatusCode::kInvalid);
  o.directory = "/nonexistent/octavo-share-dir";
  EXPECT_EQ(SharedTable::Publish(*t, o).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace octavo::testing
