// Commits on an object store (docs/format.md 5.2) without a server: a test double Env that
// behaves as one (no locks, no rename needed, CreateIfAbsent as the commit point) over a
// temporary directory. The S3 Env itself is tested against a real S3 server in
// tests/python/test_s3.py; its configuration parsing is tested here.
#include <arrow/api.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <functional>
#include <set>
#include <string>

#include "objstore/s3_env.h"
#include "test_util.h"

using namespace octavo;
using namespace octavo::testing;
namespace fs = std::filesystem;

namespace {

// An object store over a directory: objects appear whole (written, then visible), writes
// overwrite, folders are implicit, there are no locks, and CreateIfAbsent is atomic (O_EXCL).
// `before_create` runs before each conditional create: a racing writer commits there.
// `before_list` runs before one listing of a folder whose path contains `list_hook_on`.
// `clock_offset_ns` moves the clock gc's minimum age is measured on.
class ObjectStoreDouble final : public Env {
 public:
  std::function<void(const std::string&)> before_create;
  std::function<void()> before_list;
  std::string list_hook_on = "manifests";
  int64_t clock_offset_ns = 0;
  int creates = 0, lost = 0;

  int64_t NowNanos() override { return Env::NowNanos() + clock_offset_ns; }

  bool IsObjectStore() const override { return true; }
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
    if (base_->FileExists(path)) OCTAVO_RETURN_NOT_OK(base_->RemoveFile(path));
    return base_->NewWritableFile(path);
  }
  Status RenameFile(const std::string& from, const std::string& to) override { return base_->RenameFile(from, to); }
  Status SyncDir(const std::string&) override { return Status::OK(); }
  Status CreateDir(const std::string&) override { return Status::OK(); }
  Status RemoveFile(const std::string& path) override { return base_->RemoveFile(path); }
  Result<std::string> ReadFile(const std::string& path) override { return base_->ReadFile(path); }
  bool FileExists(const std::string& path) override { return base_->FileExists(path); }
  Result<int64_t> FileSize(const std::string& path) override { return base_->FileSize(path); }
  Result<std::vector<std::string>> ListDir(const std::string& dir) override {
    if (before_list && Contains(dir, list_hook_on)) {
      auto hook = std::move(before_list);  // once
      before_list = nullptr;
      hook();
    }
    return base_->ListDir(dir);
  }
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path, const std::string&) override {
    locks_asked_.insert(path);
    return std::unique_ptr<FileLock>(new FileLock());
  }
  Status CreateIfAbsent(const std::string& path, std::string_view data) override {
    ++creates;
    if (before_create) {
      auto hook = std::move(before_create);  // once, and not for the racing writer's own create
      before_create = nullptr;
      hook(path);
    }
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
    auto f = base_->NewWritableFile(path);  // O_EXCL
    if (!f.ok()) {
      if (f.status().code() == StatusCode::kAlreadyExists) ++lost;
      return f.status();
    }
    OCTAVO_RETURN_NOT_OK((*f)->Append(data));
    return (*f)->Close();
  }
  Result<std::vector<std::string>> ListFilesUnder(const std::string& dir) override {
    std::vector<std::string> out;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec))
      if (it->is_regular_file()) out.push_back(fs::relative(it->path(), dir).generic_string());
    return out;
  }
  const std::set<std::string>& locks_asked() const { return locks_asked_; }

 private:
  Env* base_ = Env::Default();
  std::set<std::string> locks_asked_;
};

std::shared_ptr<Bundle> Open(const std::string& path, OpenMode mode, Env* env) {
  OpenOptions o;
  o.env = env;
  return Bundle::Open(path, mode, o).ValueOrDie();
}

int64_t Rows(const std::string& path, Env* env, const std::string& table = "/t") {
  auto r = Open(path, OpenMode::kRead, env);
  return ReadTable(*r, table).ValueOrDie()->num_rows();
}

}  // namespace

TEST(ObjectStore, CommitsAreConditionalCreatesWithoutLockFilesOrTempFiles) {
  TempDir tmp;
  ObjectStoreDouble env;
  const std::string path = tmp.Sub("b");
  {
    auto b = Open(path, OpenMode::kAppend, &env);
    ASSERT_OK_AND_ASSIGN(auto t, b->CreateTable("/t", ReaderOf(MakeRows(0, 10))));
    ASSERT_OK(t->Append(MakeRows(10, 5)));
    EXPECT_EQ(b->commit().id, 2);
  }
  EXPECT_EQ(env.creates, 3);  // one conditional create per commit (0, 1, 2)
  for (const auto& f : ListFiles(path)) {
    EXPECT_NE(f, "LOCK");
    EXPECT_NE(f, "LOCK.commit");
    EXPECT_FALSE(Contains(f, ".tmp")) << f;
  }
  EXPECT_EQ(Rows(path, &env), 15);
}

TEST(ObjectStore, WriterThatLosesTheRaceRebasesOntoTheWinner) {
  TempDir tmp;
  ObjectStoreDouble env;
  const std::string path = tmp.Sub("b");
  auto a = Open(path, OpenMode::kAppend, &env);
  ASSERT_OK_AND_ASSIGN(auto ta, a->CreateTable("/t", ReaderOf(MakeRows(0, 10))));
  auto b = Open(path, OpenMode::kAppend, &env);
  ASSERT_OK_AND_ASSIGN(auto tb, b->OpenTable("/t"));
  // A reads commit 1 as newest, then B creates manifest 2 before A's conditional create.
  env.before_create = [&](const std::string&) { ASSERT_OK(tb->Append(MakeRows(100, 3))); };
  ASSERT_OK(ta->Append(MakeRows(200, 4)));
  EXPECT_EQ(env.lost, 1);           // A's create of commit 2 failed ...
  EXPECT_EQ(a->commit().id, 3);     // ... so A rebased and committed 3
  EXPECT_EQ(b->commit().id, 2);
  EXPECT_EQ(Rows(path, &env), 17);  // both batches, once each
  ASSERT_OK_AND_ASSIGN(auto commits, a->ListCommits());
  ASSERT_EQ(commits.size(), 4u);
  for (size_t i = 0; i < commits.size(); ++i) EXPECT_EQ(commits[i].id, static_cast<int64_t>(i));
}

TEST(ObjectStore, LostRaceOnTheSameNodeIsAConflict) {
  TempDir tmp;
  ObjectStoreDouble env;
  const std::string path = tmp.Sub("b");
  auto a = Open(path, OpenMode::kAppend, &env);
  ASSERT_OK(a->CreateGroup("/g", false));
  auto b = Open(path, OpenMode::kAppend, &env);
  env.before_create = [&](const std::string&) { ASSERT_OK(b->SetAttr("/g", "k", "1")); };
  Status st = a->SetAttr("/g", "k", "2");
  EXPECT_EQ(st.code(), StatusCode::kConflict) << st.ToString();
  EXPECT_EQ(a->commit().id, 2);  // A now sees B's commit
  ASSERT_OK_AND_ASSIGN(auto attrs, a->GetAttrs("/g"));
  EXPECT_TRUE(Contains(attrs, R"("k":1)")) << attrs;
}

TEST(ObjectStore, NewestManifestIsTheTruthCurrentOnlyAHint) {
  TempDir tmp;
  ObjectStoreDouble env;
  const std::string path = tmp.Sub("b");
  std::string current_at_1;
  {
    auto b = Open(path, OpenMode::kAppend, &env);
    ASSERT_OK_AND_ASSIGN(auto t, b->CreateTable("/t", ReaderOf(MakeRows(0, 10))));
    current_at_1 = ReadBytes(path + "/CURRENT");
    ASSERT_OK(t->Append(MakeRows(10, 5)));
    ASSERT_OK(t->Append(MakeRows(15, 5)));
  }
  // A writer that died after creating its manifest but before updating CURRENT.
  WriteBytes(path + "/CURRENT", current_at_1);
  EXPECT_EQ(Open(path, OpenMode::kRead, &env)->commit().id, 3);
  EXPECT_EQ(Rows(path, &env), 20);
  // No CURRENT at all: the listing decides.
  fs::remove(path + "/CURRENT");
  EXPECT_EQ(Open(path, OpenMode::kRead, &env)->commit().id, 3);
  // A writer commits on top of the newest manifest, not on CURRENT's stale commit.
  {
    auto b = Open(path, OpenMode::kAppend, &env);
    ASSERT_OK_AND_ASSIGN(auto t, b->OpenTable("/t"));
    ASSERT_OK(t->Append(MakeRows(20, 1)));
    EXPECT_EQ(b->commit().id, 4);
  }
  EXPECT_EQ(Rows(path, &env), 21);
  // Older commits stay readable.
  OpenOptions o;
  o.env = &env;
  o.commit = 1;
  ASSERT_OK_AND_ASSIGN(auto old, Bundle::Open(path, OpenMode::kRead, o));
  EXPECT_EQ(ReadTable(*old, "/t").ValueOrDie()->num_rows(), 10);
}

TEST(ObjectStore, GcRemovesUnreferencedObjects) {
  TempDir tmp;
  ObjectStoreDouble env;
  const std::string path = tmp.Sub("b");
  auto b = Open(path, OpenMode::kAppend, &env);
  ASSERT_OK(b->CreateTable("/t", ReaderOf(MakeRows(0, 10))).status());
  ASSERT_OK(b->CreateTable("/u", ReaderOf(MakeRows(0, 10))).status());
  ASSERT_OK(b->RemoveNode("/u", false));
  GcOptions o;
  o.keep_last = 1;
  // Everything is younger than the default minimum age (an hour on an object store): kept.
  ASSERT_OK_AND_ASSIGN(auto young, b->CollectGarbage(o));
  EXPECT_EQ(young.files_removed, 0);
  EXPECT_GE(young.recent_kept, 3);  // /u's part and the two older manifests
  env.clock_offset_ns = int64_t{2} * 3600 * 1000000000;  // two hours later
  ASSERT_OK_AND_ASSIGN(auto report, b->CollectGarbage(o));
  EXPECT_GE(report.files_removed, 2);  // /u's part and the dropped manifests
  EXPECT_EQ(report.recent_kept, 0);
  EXPECT_EQ(Rows(path, &env), 10);
}

// No LOCK keeps writers out on an object store: a writer's uploaded parts are unreferenced
// until its conditional create. gc run at that instant must leave them.
TEST(ObjectStore, GcLeavesARunningWritersUploads) {
  TempDir tmp;
  ObjectStoreDouble env;
  const std::string path = tmp.Sub("b");
  auto a = Open(path, OpenMode::kAppend, &env);
  ASSERT_OK_AND_ASSIGN(auto ta, a->CreateTable("/t", ReaderOf(MakeRows(0, 10))));
  auto collector = Open(path, OpenMode::kAppend, &env);
  GcReport during;
  env.before_create = [&](const std::string&) {  // A's part is uploaded, its manifest not yet created
    auto r = collector->CollectGarbage(GcOptions{});
    ASSERT_OK(r.status());
    during = *r;
  };
  ASSERT_OK(ta->Append(MakeRows(10, 5)));
  EXPECT_EQ(during.files_removed, 0);
  EXPECT_GE(during.recent_kept, 1);  // A's new part
  EXPECT_EQ(Rows(path, &env), 15);
}

// A commit that lands between gc reading the heads and listing the manifests is history, not
// a failed commit: its manifest and its parts stay, whatever the minimum age.
TEST(ObjectStore, GcKeepsACommitThatLandsWhileItRuns) {
  TempDir tmp;
  ObjectStoreDouble env;
  const std::string path = tmp.Sub("b");
  auto a = Open(path, OpenMode::kAppend, &env);
  ASSERT_OK(a->CreateTable("/t", ReaderOf(MakeRows(0, 10))).status());
  auto w = Open(path, OpenMode::kAppend, &env);
  ASSERT_OK_AND_ASSIGN(auto tw, w->OpenTable("/t"));
  env.before_list = [&] { ASSERT_OK(tw->Append(MakeRows(10, 5))); };
  GcOptions o;
  o.keep_last = 1;
  o.min_age_seconds = 0;
  ASSERT_OK_AND_ASSIGN(auto report, a->CollectGarbage(o));
  EXPECT_EQ(w->commit().id, 2);
  EXPECT_EQ(report.commits_removed, 1);  // commit 0 only
  EXPECT_EQ(Rows(path, &env), 15);
}

TEST(S3Config, OptionsEnvironmentAndRefusals) {
  ::setenv("AWS_ACCESS_KEY_ID", "env-key", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
  ::setenv("AWS_REGION", "eu-west-3", 1);
  ::unsetenv("AWS_ENDPOINT_URL");
  ASSERT_OK_AND_ASSIGN(S3Config c, S3Config::FromOptions({}));
  EXPECT_EQ(c.access_key_id, "env-key");
  EXPECT_EQ(c.region, "eu-west-3");
  ASSERT_OK_AND_ASSIGN(c, S3Config::FromOptions({{"region", "us-west-2"}, {"access_key_id", "k"},
                                                  {"secret_access_key", "s"}, {"endpoint_url", "https://h:9000"}}));
  EXPECT_EQ(c.region, "us-west-2");
  EXPECT_EQ(c.access_key_id, "k");
  EXPECT_EQ(c.endpoint_url, "https://h:9000");
  auto bad = S3Config::FromOptions({{"endpoint", "x"}});
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalid);
  EXPECT_TRUE(Contains(bad.status().message(), "unknown storage option 'endpoint'")) << bad.status().ToString();
  auto http = S3Config::FromOptions({{"endpoint_url", "http://127.0.0.1:9"}});
  EXPECT_TRUE(Contains(http.status().message(), "allow_http")) << http.status().ToString();
  EXPECT_OK(S3Config::FromOptions({{"endpoint_url", "http://127.0.0.1:9"}, {"allow_http", "true"}}).status());
  EXPECT_EQ(S3Config::FromOptions({{"allow_http", "maybe"}}).status().code(), StatusCode::kInvalid);
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  ::unsetenv("AWS_REGION");
  EXPECT_TRUE(IsS3Address("s3://b/k"));
  EXPECT_FALSE(IsS3Address("/tmp/s3://x"));
  EXPECT_EQ(Bundle::Open("gs://b/x.octavo", OpenMode::kRead).status().code(), StatusCode::kNotImplemented);
}

TEST(EnvRegistry, AddressesFindTheirBundlesEnvLocalPathsTheDefault) {
  ObjectStoreDouble a, b;
  RegisterEnvForPrefix("s3://reg-bucket/x.octavo", &a);
  RegisterEnvForPrefix("s3://reg-bucket/x.octavo/sub", &b);
  EXPECT_EQ(EnvForPath("s3://reg-bucket/x.octavo/data/p.parquet"), &a);
  EXPECT_EQ(EnvForPath("s3://reg-bucket/x.octavo/sub/data/p.parquet"), &b);  // the longest prefix
  EXPECT_EQ(EnvForPath("s3://reg-bucket/x.octavo2/data/p.parquet"), Env::Default());  // whole components only
  EXPECT_EQ(EnvForPath("/tmp/x.octavo/data/p.parquet"), Env::Default());
  RegisterEnvForPrefix("s3://reg-bucket/x.octavo", nullptr);  // forgotten (a and b go out of scope)
  RegisterEnvForPrefix("s3://reg-bucket/x.octavo/sub", nullptr);
  EXPECT_EQ(EnvForPath("s3://reg-bucket/x.octavo/data/p.parquet"), Env::Default());
}
