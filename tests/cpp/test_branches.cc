// Branches (docs/format.md 5.2): named lines of commits beside main, merges, gc keeping them,
// and typed commit references (a snapshot whose name is all digits).
#include <arrow/api.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "test_util.h"

using namespace octavo;
using namespace octavo::testing;

namespace {

std::shared_ptr<Bundle> OpenBranch(const std::string& path, const std::string& branch,
                                   OpenMode mode = OpenMode::kAppend) {
  OpenOptions o;
  o.branch = branch;
  auto b = Bundle::Open(path, mode, o);
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  return b.ok() ? *b : nullptr;
}

int64_t Rows(const Bundle& b, const std::string& table) {
  auto t = ReadTable(b, table);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? (*t)->num_rows() : -1;
}

// The ids in column "id" of a table, sorted.
std::vector<int64_t> Ids(const Bundle& b, const std::string& table) {
  std::vector<int64_t> out;
  auto t = ReadTable(b, table);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  if (!t.ok()) return out;
  auto col = (*t)->GetColumnByName("id");
  for (const auto& chunk : col->chunks()) {
    auto a = std::static_pointer_cast<arrow::Int64Array>(chunk);
    for (int64_t i = 0; i < a->length(); ++i) out.push_back(a->Value(i));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<int64_t> Range(int64_t first, int64_t n) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(first + i);
  return out;
}

}  // namespace

TEST(Branches, CommitsOnABranchLeaveMainUnchangedAndBack) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  ASSERT_OK_AND_ASSIGN(auto main, Bundle::Open(path, OpenMode::kAppend));
  ASSERT_OK_AND_ASSIGN(auto t, main->CreateTable("/t", ReaderOf(MakeRows(0, 10))));
  const int64_t fork = main->commit().id;
  ASSERT_OK_AND_ASSIGN(auto info, main->CreateBranch("dev"));
  EXPECT_EQ(info.head, fork);
  EXPECT_EQ(info.from, fork);
  EXPECT_EQ(main->branch(), "main");

  auto dev = OpenBranch(path, "dev");
  ASSERT_TRUE(dev);
  EXPECT_EQ(dev->branch(), "dev");
  EXPECT_EQ(dev->commit().id, fork);
  ASSERT_OK_AND_ASSIGN(auto dt, dev->OpenTable("/t"));
  ASSERT_OK(dt->Append(MakeRows(10, 5)));
  ASSERT_OK(dev->CreateGroup("/only_dev"));
  const int64_t dev_head = dev->commit().id;

  // main did not move: a fresh reader, and the writer after a refresh, see it as it was.
  ASSERT_OK(main->Refresh());
  EXPECT_EQ(main->commit().id, fork);
  ASSERT_OK_AND_ASSIGN(auto r, Bundle::Open(path, OpenMode::kRead));
  EXPECT_EQ(r->commit().id, fork);
  EXPECT_EQ(Rows(*r, "/t"), 10);
  EXPECT_FALSE(r->Exists("/only_dev"));

  // A commit on main takes the next id of the one sequence and leaves dev alone.
  ASSERT_OK(t->Append(MakeRows(100, 3)));
  EXPECT_GT(main->commit().id, dev_head);
  EXPECT_EQ(main->commit().parent, fork);
  EXPECT_EQ(Rows(*main, "/t"), 13);
  ASSERT_OK(dev->Refresh());
  EXPECT_EQ(dev->commit().id, dev_head);
  EXPECT_EQ(Rows(*dev, "/t"), 15);
  auto dev_r = OpenBranch(path, "dev", OpenMode::kRead);
  ASSERT_TRUE(dev_r);
  EXPECT_EQ(dev_r->commit().id, dev_head);
  EXPECT_TRUE(dev_r->Exists("/only_dev"));

  // Each branch's log is its own line of parents.
  ASSERT_OK_AND_ASSIGN(auto main_log, main->ListCommits());
  for (const auto& c : main_log) EXPECT_FALSE(c.id > fork && c.id <= dev_head) << c.id;
  ASSERT_OK_AND_ASSIGN(auto dev_log, dev->ListCommits());
  ASSERT_EQ(dev_log.back().id, dev_head);
  for (const auto& c : dev_log) EXPECT_NE(c.id, main->commit().id);

  ASSERT_OK_AND_ASSIGN(auto list, main->ListBranches());
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].name, "dev");
  EXPECT_EQ(list[0].head, dev_head);
  EXPECT_EQ(list[0].from, fork);

  // Older octavos must refuse the bundle now (they would number commits over dev's).
  const std::string marker = ReadBytes(path + "/OCTAVO");
  EXPECT_TRUE(Contains(marker, "\"format_version\": 3")) << marker;
  EXPECT_TRUE(Contains(marker, "branches")) << marker;
}

TEST(Branches, OpenUnknownOrInvalidBranch) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  ASSERT_OK_AND_ASSIGN(auto main, Bundle::Open(path, OpenMode::kAppend));
  OpenOptions o;
  o.branch = "nope";
  auto missing = Bundle::Open(path, OpenMode::kAppend, o);
  EXPECT_STATUS_CODE(missing, StatusCode::kNotFound);
  EXPECT_TRUE(Contains(missing.status().message(), "no branch 'nope'")) << missing.status().ToString();
  // Nothing was created for it.
  EXPECT_FALSE(std::filesystem::exists(path + "/branches"));
  o.branch = "main";
  ASSERT_OK(Bundle::Open(path, OpenMode::kRead, o).status());
  for (const std::string& bad :
       std::vector<std::string>{"../x", "", std::string("a\0b", 3), std::string(200, 'x'), ".hidden", "a/b"}) {
    EXPECT_STATUS_CODE(main->CreateBranch(bad), StatusCode::kInvalid);
    o.branch = bad;
    if (!bad.empty()) EXPECT_STATUS_CODE(Bundle::Open(path, OpenMode::kRead, o), StatusCode::kInvalid);
    EXPECT_STATUS_CODE(main->DeleteBranch(bad), StatusCode::kInvalid);
    EXPECT_STATUS_CODE(main->Merge(bad), StatusCode::kInvalid);
  }
  EXPECT_FALSE(std::filesystem::exists(tmp.Sub("x.json")));
  EXPECT_STATUS_CODE(main->CreateBranch("main"), StatusCode::kAlreadyExists);
  ASSERT_OK(main->CreateBranch("dev").status());
  EXPECT_STATUS_CODE(main->CreateBranch("dev"), StatusCode::kAlreadyExists);
  EXPECT_STATUS_CODE(main->DeleteBranch("main"), StatusCode::kInvalid);
  EXPECT_STATUS_CODE(main->DeleteBranch("other"), StatusCode::kNotFound);
  o.branch = "dev";
  o.commit = 0;
  EXPECT_STATUS_CODE(Bundle::Open(path, OpenMode::kRead, o), StatusCode::kInvalid);
  ASSERT_OK_AND_ASSIGN(auto r, Bundle::Open(path, OpenMode::kRead));
  EXPECT_STATUS_CODE(r->CreateBranch("x"), StatusCode::kReadOnly);
}

TEST(Branches, MergeOfAppendsHasRowsFromBothExactlyOnce) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  ASSERT_OK_AND_ASSIGN(auto main, Bundle::Open(path, OpenMode::kAppend));
  ASSERT_OK_AND_ASSIGN(auto t, main->CreateTable("/t", ReaderOf(MakeRows(0, 10))));
  ASSERT_OK(main->CreateBranch("dev").status());
  auto dev = OpenBranch(path, "dev");
  ASSERT_OK_AND_ASSIGN(auto dt, dev->OpenTable("/t"));
  ASSERT_OK(dt->Append(MakeRows(10, 5)));
  ASSERT_OK(t->Append(MakeRows(15, 7)));
  ASSERT_OK_AND_ASSIGN(auto m, main->Merge("dev"));
  EXPECT_TRUE(m.committed);
  EXPECT_EQ(main->commit().id, m.commit.id);
  EXPECT_EQ(Ids(*main, "/t"), Range(0, 22));
  // dev itself is unchanged by the merge.
  ASSERT_OK(dev->Refresh());
  EXPECT_EQ(Ids(*dev, "/t"), Range(0, 15));
  // Merging again without new changes commits nothing; new appends on dev come once more only.
  ASSERT_OK_AND_ASSIGN(auto again, main->Merge("dev"));
  EXPECT_FALSE(again.committed);
  EXPECT_EQ(main->commit().id, m.commit.id);
  ASSERT_OK(dt->Append(MakeRows(22, 3)));
  ASSERT_OK_AND_ASSIGN(auto third, main->Merge("dev"));
  EXPECT_TRUE(third.committed);
  EXPECT_EQ(Ids(*main, "/t"), Range(0, 25));
  // And main into dev: dev gets main's rows, each once.
  ASSERT_OK_AND_ASSIGN(auto back, dev->Merge("main"));
  EXPECT_TRUE(back.committed);
  EXPECT_EQ(Ids(*dev, "/t"), Range(0, 25));
  ASSERT_OK_AND_ASSIGN(auto r, Bundle::Open(path, OpenMode::kRead));
  EXPECT_EQ(Ids(*r, "/t"), Range(0, 25));
}

TEST(Branches, MergeOfNewNodes) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  ASSERT_OK_AND_ASSIGN(auto main, Bundle::Open(path, OpenMode::kAppend));
  ASSERT_OK(main->CreateGroup("/g"));
  ASSERT_OK(main->CreateBranch("dev").status());
  auto dev = OpenBranch(path, "dev");
  ASSERT_OK(dev->CreateTable("/g/from_dev", ReaderOf(MakeRows(0, 4))).status());
  ASSERT_OK(dev->SetAttr("/g", "dev_key", "1"));
  ASSERT_OK(main->CreateGroup("/from_main"));
  ASSERT_OK(main->SetAttr("/g", "main_key", "2"));
  ASSERT_OK_AND_ASSIGN(auto m, main->Merge("dev"));
  EXPECT_TRUE(m.committed);
  EXPECT_TRUE(main->Exists("/from_main"));
  EXPECT_EQ(Rows(*main, "/g/from_dev"), 4);
  ASSERT_OK_AND_ASSIGN(auto attrs, main->GetAttrs("/g"));
  EXPECT_TRUE(Contains(attrs, "dev_key") && Contains(attrs, "main_key")) << attrs;
  // The merge is a commit on main whose parent is main's previous head.
  ASSERT_OK_AND_ASSIGN(auto log, main->ListCommits());
  EXPECT_TRUE(Contains(log.back().message, "merge branch dev into main")) << log.back().message;
}

TEST(Branches, ConflictingMergeCommitsNothing) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  ASSERT_OK_AND_ASSIGN(auto main, Bundle::Open(path, OpenMode::kAppend));
  ASSERT_OK(main->CreateGroup("/g"));
  ASSERT_OK(main->CreateBranch("dev").status());
  auto dev = OpenBranch(path, "dev");
  ASSERT_OK(dev->SetAttr("/g", "k", "1"));
  ASSERT_OK(main->SetAttr("/g", "k", "2"));
  const int64_t before = main->commit().id;
  const auto manifests_before = ListFiles(path + "/manifests");
  auto m = main->Merge("dev");
  EXPECT_STATUS_CODE(m, StatusCode::kConflict);
  EXPECT_TRUE(Contains(m.status().message(), "'/g'")) << m.status().ToString();
  EXPECT_TRUE(Contains(m.status().message(), "both branches")) << m.status().ToString();
  EXPECT_EQ(main->commit().id, before);
  EXPECT_EQ(ListFiles(path + "/manifests"), manifests_before);
  ASSERT_OK_AND_ASSIGN(auto r, Bundle::Open(path, OpenMode::kRead));
  EXPECT_EQ(r->commit().id, before);
  ASSERT_OK_AND_ASSIGN(auto attrs, r->GetAttrs("/g"));
  EXPECT_EQ(attrs, "{\"k\":2}");
  // A table one side rewrote and the other removed conflicts too, naming it.
  ASSERT_OK(main->CreateTable("/t", ReaderOf(MakeRows(0, 3))).status());
  ASSERT_OK(main->CreateBranch("dev2").status());
  auto dev2 = OpenBranch(path, "dev2");
  ASSERT_OK_AND_ASSIGN(auto dt, dev2->OpenTable("/t"));
  ASSERT_OK(dt->Repack(RepackOptions{}));
  ASSERT_OK(main->RemoveNode("/t"));
  auto m2 = main->Merge("dev2");
  EXPECT_STATUS_CODE(m2, StatusCode::kConflict);
  EXPECT_TRUE(Contains(m2.status().message(), "'/t'")) << m2.status().ToString();
  EXPECT_FALSE(main->Exists("/t"));
}

TEST(Branches, GcKeepsEveryBranch) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  ASSERT_OK_AND_ASSIGN(auto main, Bundle::Open(path, OpenMode::kAppend));
  ASSERT_OK_AND_ASSIGN(auto t, main->CreateTable("/t", ReaderOf(MakeRows(0, 10))));
  ASSERT_OK(main->CreateBranch("dev").status());
  auto dev = OpenBranch(path, "dev");
  ASSERT_OK_AND_ASSIGN(auto dt, dev->OpenTable("/t"));
  for (int i = 0; i < 3; ++i) ASSERT_OK(dt->Append(MakeRows(10 + i, 1)));
  ASSERT_OK(dev->CreateTable("/dev_only", ReaderOf(MakeRows(0, 2))).status());
  // main rewrites /t: the original part is referenced by dev only.
  ASSERT_OK(t->Repack(RepackOptions{}));
  for (int i = 0; i < 3; ++i) ASSERT_OK(main->CreateGroup("/m" + std::to_string(i)));
  const int64_t dev_head = dev->commit().id;
  dt.reset();
  dev.reset();

  ASSERT_OK(main->CollectGarbage(GcOptions{}).status());
  auto d1 = OpenBranch(path, "dev", OpenMode::kRead);
  ASSERT_TRUE(d1);
  EXPECT_EQ(Ids(*d1, "/t"), Range(0, 13));
  EXPECT_EQ(Rows(*d1, "/dev_only"), 2);

  // keep_last 1: main keeps its head, dev its head, and what joins dev to main.
  GcOptions keep_one;
  keep_one.keep_last = 1;
  ASSERT_OK_AND_ASSIGN(auto rep, main->CollectGarbage(keep_one));
  EXPECT_GT(rep.commits_removed, 0);
  auto d2 = OpenBranch(path, "dev", OpenMode::kRead);
  ASSERT_TRUE(d2);
  EXPECT_EQ(d2->commit().id, dev_head);
  EXPECT_EQ(Ids(*d2, "/t"), Range(0, 13));
  EXPECT_EQ(Rows(*d2, "/dev_only"), 2);
  EXPECT_EQ(Rows(*main, "/t"), 10);
  // dev's history still lists, back to where gc cut it.
  ASSERT_OK_AND_ASSIGN(auto dev_log, d2->ListCommits());
  EXPECT_EQ(dev_log.back().id, dev_head);
  ASSERT_OK_AND_ASSIGN(auto main_log, main->ListCommits());
  EXPECT_EQ(main_log.back().id, main->commit().id);
  // Still mergeable after gc.
  ASSERT_OK_AND_ASSIGN(auto m, main->Merge("dev"));
  EXPECT_TRUE(m.committed);
  EXPECT_EQ(Rows(*main, "/dev_only"), 2);
  // Diff and restore across branches after gc.
  ASSERT_OK_AND_ASSIGN(auto diff, main->Diff(CommitRef::Branch("dev"), CommitRef::Branch("main")));
  for (const auto& c : diff) EXPECT_NE(c.path, "/dev_only");
}

TEST(Branches, DeletedBranchIsCollected) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  ASSERT_OK_AND_ASSIGN(auto main, Bundle::Open(path, OpenMode::kAppend));
  ASSERT_OK(main->CreateGroup("/g"));
  ASSERT_OK(main->CreateBranch("tmp").status());
  auto br = OpenBranch(path, "tmp");
  ASSERT_OK(br->CreateTable("/big", ReaderOf(MakeRows(0, 100))).status());
  const int64_t br_head = br->commit().id;
  br.reset();
  auto parts = [&] {
    int n = 0;
    for (const auto& f : ListFiles(path + "/data"))
      if (Contains(f, ".parquet") && !Contains(f, "_delta_log")) ++n;
    return n;
  };
  ASSERT_OK(main->CollectGarbage(GcOptions{}).status());
  EXPECT_EQ(parts(), 1);  // the branch keeps its table
  ASSERT_OK(main->DeleteBranch("tmp"));
  ASSERT_OK_AND_ASSIGN(auto rep, main->CollectGarbage(GcOptions{}));
  EXPECT_EQ(parts(), 0);
  EXPECT_EQ(rep.commits_removed, 1);
  EXPECT_FALSE(std::filesystem::exists(path + "/manifests/" + std::string(12 - std::to_string(br_head).size(), '0') +
                                       std::to_string(br_head) + ".json"));
  // main's history is whole, and the next commit is numbered after the collected one.
  ASSERT_OK_AND_ASSIGN(auto log, main->ListCommits());
  EXPECT_EQ(log.size(), 2u);
  ASSERT_OK(main->CreateGroup("/after"));
  ASSERT_OK_AND_ASSIGN(auto log2, main->ListCommits());
  EXPECT_EQ(log2.size(), 3u);
  ASSERT_OK_AND_ASSIGN(auto r, Bundle::Open(path, OpenMode::kRead));
  EXPECT_TRUE(r->Exists("/after"));
}

TEST(Branches, RestoreAndDiffAcrossBranches) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  ASSERT_OK_AND_ASSIGN(auto main, Bundle::Open(path, OpenMode::kAppend));
  ASSERT_OK(main->CreateTable("/t", ReaderOf(MakeRows(0, 10))).status());
  ASSERT_OK(main->CreateBranch("dev").status());
  auto dev = OpenBranch(path, "dev");
  ASSERT_OK(dev->CreateGroup("/new"));
  ASSERT_OK_AND_ASSIGN(auto diff, main->Diff(CommitRef::Branch("main"), CommitRef::Branch("dev")));
  ASSERT_EQ(diff.size(), 1u);
  EXPECT_EQ(diff[0].path, "/new");
  EXPECT_EQ(diff[0].change, NodeChange::Change::kAdded);
  // The text form names branches too.
  ASSERT_OK_AND_ASSIGN(auto diff2, dev->Diff("branch:main"));
  ASSERT_EQ(diff2.size(), 1u);
  // Restore dev's tree onto main: a new commit on main.
  ASSERT_OK_AND_ASSIGN(auto c, main->Restore(CommitRef::Branch("dev")));
  EXPECT_TRUE(main->Exists("/new"));
  EXPECT_TRUE(Contains(c.message, "restore branch dev")) << c.message;
  // Restore on the branch leaves main.
  ASSERT_OK(dev->Restore(CommitRef::Id(0)).status());
  EXPECT_FALSE(dev->Exists("/t"));
  ASSERT_OK(main->Refresh());
  EXPECT_TRUE(main->Exists("/t"));
  EXPECT_STATUS_CODE(main->Diff(CommitRef::Branch("nope")), StatusCode::kNotFound);
}

TEST(Branches, AllDigitSnapshotNameIsReachable) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(path, OpenMode::kAppend));
  ASSERT_OK(b->CreateGroup("/a"));  // commit 1
  ASSERT_OK(b->CreateSnapshot("2024"));
  ASSERT_OK(b->CreateGroup("/b"));  // commit 2
  ASSERT_OK(b->CreateGroup("/c"));  // commit 3
  // "2024" as a snapshot, 2 as a commit id: neither is mistaken for the other.
  ASSERT_OK_AND_ASSIGN(int64_t snap, b->ResolveCommit(CommitRef::Snapshot("2024")));
  EXPECT_EQ(snap, 1);
  ASSERT_OK_AND_ASSIGN(int64_t by_text, b->ResolveCommit("snapshot:2024"));
  EXPECT_EQ(by_text, 1);
  EXPECT_STATUS_CODE(b->Restore(CommitRef::Id(2024)), StatusCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(auto diff, b->Diff(CommitRef::Snapshot("2024"), CommitRef::Id(2)));
  ASSERT_EQ(diff.size(), 1u);
  EXPECT_EQ(diff[0].path, "/b");
  ASSERT_OK_AND_ASSIGN(auto c, b->Restore(CommitRef::Snapshot("2024")));
  EXPECT_TRUE(Contains(c.message, "snapshot 2024")) << c.message;
  EXPECT_FALSE(b->Exists("/b"));
  EXPECT_EQ(CommitRef::Snapshot("2024").ToString(), "snapshot:2024");
  EXPECT_EQ(CommitRef::Parse("12").kind, CommitRef::Kind::kCommit);
  EXPECT_EQ(CommitRef::Parse("v1").kind, CommitRef::Kind::kSnapshot);
  EXPECT_EQ(CommitRef::Parse("branch:x").kind, CommitRef::Kind::kBranch);
}

TEST(Branches, ConcurrentWritersOnTwoBranches) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  {
    ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(path, OpenMode::kAppend));
    ASSERT_OK(b->CreateTable("/t", ReaderOf(MakeRows(0, 1))).status());
    ASSERT_OK(b->CreateBranch("dev").status());
  }
  constexpr int kCommits = 15;
  auto writer = [&](const std::string& branch, int64_t first, Status* out) {
    OpenOptions o;
    o.branch = branch;
    auto b = Bundle::Open(path, OpenMode::kAppend, o);
    if (!b.ok()) {
      *out = b.status();
      return;
    }
    auto t = (*b)->OpenTable("/t");
    if (!t.ok()) {
      *out = t.status();
      return;
    }
    for (int i = 0; i < kCommits; ++i) {
      Status s = (*t)->Append(MakeRows(first + i, 1));
      if (!s.ok()) {
        *out = s;
        return;
      }
    }
  };
  Status s_main, s_dev;
  std::thread a(writer, "main", 1000, &s_main);
  std::thread d(writer, "dev", 2000, &s_dev);
  a.join();
  d.join();
  ASSERT_OK(s_main);
  ASSERT_OK(s_dev);
  std::vector<int64_t> want_main{0}, want_dev{0};
  for (int i = 0; i < kCommits; ++i) {
    want_main.push_back(1000 + i);
    want_dev.push_back(2000 + i);
  }
  ASSERT_OK_AND_ASSIGN(auto r, Bundle::Open(path, OpenMode::kRead));
  EXPECT_EQ(Ids(*r, "/t"), want_main);
  auto rd = OpenBranch(path, "dev", OpenMode::kRead);
  EXPECT_EQ(Ids(*rd, "/t"), want_dev);
  // Every commit got its own id: 2 + 2 * kCommits manifests, histories of 2 + kCommits each.
  int manifests = 0;
  for (const auto& f : ListFiles(path + "/manifests")) manifests += f != "dropped.json";
  EXPECT_EQ(manifests, 2 + 2 * kCommits);
  ASSERT_OK_AND_ASSIGN(auto log_main, r->ListCommits());
  ASSERT_OK_AND_ASSIGN(auto log_dev, rd->ListCommits());
  EXPECT_EQ(log_main.size(), 2u + kCommits);
  EXPECT_EQ(log_dev.size(), 2u + kCommits);
}
