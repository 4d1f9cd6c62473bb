// Many writers on one bundle (docs/format.md 5.1): writers share LOCK, serialise only at the
// commit point (LOCK.commit), and a writer whose base moved rebases its change onto the newer
// commit, or fails with kConflict when both changed the same node. Nothing committed is lost.
// Two handles in one process stand for two processes: flock locks belong to the open file.
#include <arrow/api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <thread>

#include "octavo/delta.h"
#include "test_util.h"

using namespace octavo;
using namespace octavo::testing;

namespace {

std::shared_ptr<Bundle> Writer(const std::string& path) { return Bundle::Open(path, OpenMode::kAppend).ValueOrDie(); }

// Every id of table /t, sorted, from a fresh reader.
std::vector<int64_t> Ids(const std::string& path, const std::string& table = "/t") {
  auto r = Bundle::Open(path, OpenMode::kRead).ValueOrDie();
  auto t = ReadTable(*r, table).ValueOrDie();
  std::vector<int64_t> out;
  for (const auto& chunk : t->GetColumnByName("id")->chunks()) {
    auto a = std::static_pointer_cast<arrow::Int64Array>(chunk);
    for (int64_t i = 0; i < a->length(); ++i) out.push_back(a->Value(i));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<int64_t> Range(int64_t first, int64_t n) {
  std::vector<int64_t> v;
  for (int64_t i = 0; i < n; ++i) v.push_back(first + i);
  return v;
}

}  // namespace

TEST(Concurrent, TwoWritersOpenAtOnceAndInterleaveAppends) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  auto a = Writer(path);
  ASSERT_OK_AND_ASSIGN(auto ta, a->CreateTable("/t", ReaderOf(MakeRows(0, 10))));
  auto b = Writer(path);  // no LockedError: writers share the bundle
  ASSERT_OK_AND_ASSIGN(auto tb, b->OpenTable("/t"));
  for (int round = 0; round < 5; ++round) {
    ASSERT_OK(ta->Append(MakeRows(100 + round * 10, 10)));
    ASSERT_OK(tb->Append(MakeRows(1000 + round * 10, 10)));  // built on a commit A has moved past
  }
  std::vector<int64_t> want = Range(0, 10);
  for (int64_t i : Range(100, 50)) want.push_back(i);
  for (int64_t i : Range(1000, 50)) want.push_back(i);
  std::sort(want.begin(), want.end());
  EXPECT_EQ(Ids(path), want);  // every acknowledged batch, exactly once
  EXPECT_EQ(a->commit().id, 10);
  EXPECT_EQ(b->commit().id, 11);  // the rebased handle sees the merged tree
  ASSERT_OK_AND_ASSIGN(auto rows, ReadTable(*b, "/t"));
  EXPECT_EQ(rows->num_rows(), 110);
}

TEST(Concurrent, ChangesToDifferentNodesCombine) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  auto a = Writer(path);
  ASSERT_OK(a->CreateTable("/t", ReaderOf(MakeRows(0, 10))).status());
  auto b = Writer(path);
  ASSERT_OK(a->CreateGroup("/ga/sub"));
  ASSERT_OK(a->SetAttr("/t", "unit", "\"mV\""));
  ASSERT_OK(b->CreateTable("/gb/u", ReaderOf(MakeRows(0, 3))).status());
  ASSERT_OK(b->SetAttr("/t", "gain", "2"));  // another key of the same node
  ASSERT_OK(b->CreateGroup("/ga/other"));    // under a group A created meanwhile
  for (auto* h : {a.get(), b.get()}) ASSERT_OK(h->Refresh());
  for (const char* p : {"/ga/sub", "/gb/u", "/ga/other", "/t"}) EXPECT_TRUE(a->Exists(p)) << p;
  ASSERT_OK_AND_ASSIGN(auto attrs, a->GetAttrs("/t"));
  EXPECT_TRUE(Contains(attrs, R"("gain":2)") && Contains(attrs, R"("unit":"mV")")) << attrs;
}

TEST(Concurrent, ConflictingRewritesFailWithConflictAndLoseNothing) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  auto a = Writer(path);
  ASSERT_OK_AND_ASSIGN(auto ta, a->CreateTable("/t", ReaderOf(MakeRows(0, 100))));
  auto b = Writer(path);
  ASSERT_OK_AND_ASSIGN(auto tb, b->OpenTable("/t"));
  RepackOptions sort;
  sort.sort_by = {"name"};
  ASSERT_OK(ta->Repack(sort));
  const int64_t after_a = a->commit().id;
  // B's removal was computed from the parts A just replaced: it must not commit over them.
  auto removed = tb->RemoveRows(0, 10, 1);
  EXPECT_STATUS_CODE(removed, StatusCode::kConflict);
  EXPECT_TRUE(Contains(removed.status().message(), "'/t'")) << removed.status().ToString();
  EXPECT_TRUE(Contains(removed.status().message(), "redo the change")) << removed.status().ToString();
  EXPECT_EQ(b->commit().id, after_a);  // B now sees A's commit...
  EXPECT_EQ(Ids(path), Range(0, 100));  // ...and nothing was lost or removed
  ASSERT_OK_AND_ASSIGN(auto n, tb->RemoveRows(0, 10, 1));  // redone on A's commit it works
  EXPECT_EQ(n, 10);
  ASSERT_OK_AND_ASSIGN(auto rows, ReadTable(*b, "/t"));
  EXPECT_EQ(rows->num_rows(), 90);
}

TEST(Concurrent, AppendRebasesOntoAnotherWritersRewrite) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  auto a = Writer(path);
  ASSERT_OK_AND_ASSIGN(auto ta, a->CreateTable("/t", ReaderOf(MakeRows(0, 50))));
  auto b = Writer(path);
  ASSERT_OK_AND_ASSIGN(auto tb, b->OpenTable("/t"));
  ASSERT_OK(ta->Repack(RepackOptions{}));     // new part files for the same rows
  ASSERT_OK(tb->Append(MakeRows(50, 25)));    // appended after them
  EXPECT_EQ(Ids(path), Range(0, 75));
}

TEST(Concurrent, RemovedOrReplacedNodesConflict) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  auto a = Writer(path);
  ASSERT_OK(a->CreateTable("/t", ReaderOf(MakeRows(0, 10))).status());
  ASSERT_OK(a->CreateGroup("/g"));
  auto b = Writer(path);
  ASSERT_OK_AND_ASSIGN(auto tb, b->OpenTable("/t"));
  ASSERT_OK(a->RemoveNode("/t"));
  Status st = tb->Append(MakeRows(10, 5));
  EXPECT_STATUS_CODE(st, StatusCode::kConflict);
  EXPECT_TRUE(Contains(st.message(), "removed it")) << st.ToString();
  // A group removed by one writer while the other adds under it.
  ASSERT_OK(a->RemoveNode("/g", true));
  auto c = Writer(path);
  ASSERT_OK(c->CreateGroup("/g2"));
  ASSERT_OK(a->CreateGroup("/g2/x"));  // A had no /g2 (stale): creates it itself; both made the group
  // The same attribute set by both.
  ASSERT_OK(c->SetAttr("/g2", "k", "1"));
  Status same_key = a->SetAttr("/g2", "k", "2");
  EXPECT_STATUS_CODE(same_key, StatusCode::kConflict);
  EXPECT_TRUE(Contains(same_key.message(), "attribute 'k'")) << same_key.ToString();
  // Both created a table at one path.
  ASSERT_OK(c->CreateTable("/new", ReaderOf(MakeRows(0, 1))).status());
  ASSERT_OK(a->Refresh());
  auto d = Writer(path);
  ASSERT_OK(c->RemoveNode("/new"));
  ASSERT_OK(c->CreateTable("/new", ReaderOf(MakeRows(0, 2))).status());
  Status both = d->RemoveNode("/new");  // D's /new is the one C replaced
  EXPECT_STATUS_CODE(both, StatusCode::kConflict);
  ASSERT_OK_AND_ASSIGN(auto r, Bundle::Open(path, OpenMode::kRead));
  ASSERT_OK_AND_ASSIGN(auto rows, ReadTable(*r, "/new"));
  EXPECT_EQ(rows->num_rows(), 2);
  EXPECT_TRUE(r->Exists("/g2/x"));
  EXPECT_FALSE(r->Exists("/t"));
}

TEST(Concurrent, AddingUnderAGroupAnotherWriterRemovedConflicts) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  auto a = Writer(path);
  ASSERT_OK(a->CreateGroup("/g"));
  auto b = Writer(path);
  ASSERT_OK(a->RemoveNode("/g"));
  Status st = b->CreateGroup("/g/child", false);
  EXPECT_STATUS_CODE(st, StatusCode::kConflict);
  EXPECT_TRUE(Contains(st.message(), "'/g'")) << st.ToString();
  ASSERT_OK_AND_ASSIGN(auto r, Bundle::Open(path, OpenMode::kRead));
  EXPECT_FALSE(r->Exists("/g"));
  EXPECT_FALSE(r->Exists("/g/child"));
}

TEST(Concurrent, TransactionRebasesAsOneCommit) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  auto a = Writer(path);
  ASSERT_OK_AND_ASSIGN(auto ta, a->CreateTable("/t", ReaderOf(MakeRows(0, 10))));
  auto b = Writer(path);
  ASSERT_OK_AND_ASSIGN(auto tb, b->OpenTable("/t"));
  ASSERT_OK(a->BeginTransaction());
  ASSERT_OK(ta->Append(MakeRows(10, 10)));
  ASSERT_OK(a->CreateGroup("/from_txn"));
  ASSERT_OK(tb->Append(MakeRows(100, 5)));  // B commits while A's transaction is open
  const int64_t before = b->commit().id;
  ASSERT_OK(a->CommitTransaction("both"));
  EXPECT_EQ(a->commit().id, before + 1);
  std::vector<int64_t> want = Range(0, 20);
  for (int64_t i : Range(100, 5)) want.push_back(i);
  std::sort(want.begin(), want.end());
  EXPECT_EQ(Ids(path), want);
}

TEST(Concurrent, ThreadsOfManyHandlesLoseNoAppend) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  ASSERT_OK(Writer(path)->CreateTable("/t", MakeRows(0, 0)->schema()).status());
  constexpr int kWriters = 4, kAppends = 15;
  std::vector<std::thread> threads;
  std::vector<Status> errors(kWriters);
  for (int w = 0; w < kWriters; ++w)
    threads.emplace_back([&, w] {
      auto h = Bundle::Open(path, OpenMode::kAppend);
      if (!h.ok()) return void(errors[w] = h.status());
      auto t = (*h)->OpenTable("/t");
      if (!t.ok()) return void(errors[w] = t.status());
      for (int i = 0; i < kAppends; ++i) {
        Status st = (*t)->Append(MakeRows((w * kAppends + i) * 3, 3));
        if (!st.ok()) return void(errors[w] = st);
      }
    });
  for (auto& t : threads) t.join();
  for (const auto& e : errors) ASSERT_OK(e);
  EXPECT_EQ(Ids(path), Range(0, kWriters * kAppends * 3));
  ASSERT_OK_AND_ASSIGN(auto r, Bundle::Open(path, OpenMode::kRead));
  EXPECT_EQ(r->commit().id, 1 + kWriters * kAppends);
}

TEST(Concurrent, GarbageCollectionNeedsTheBundleToItself) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  auto a = Writer(path);
  ASSERT_OK(a->CreateGroup("/g"));
  auto b = Writer(path);
  auto gc = a->CollectGarbage();
  EXPECT_STATUS_CODE(gc, StatusCode::kLocked);
  EXPECT_TRUE(Contains(gc.status().message(), "close the other writers")) << gc.status().ToString();
  ASSERT_OK(a->CreateGroup("/still-a-writer"));  // A keeps its shared lock after the refusal
  ASSERT_OK(b->Close());
  ASSERT_OK(a->CollectGarbage().status());
  ASSERT_OK(a->CreateGroup("/after-gc"));  // and again after gc
  auto c = Writer(path);                   // gc gave the lock back to sharing
  EXPECT_TRUE(c->Exists("/after-gc"));
}

TEST(Concurrent, OpenWaitsForAnExclusiveHolder) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  ASSERT_OK(Writer(path)->Close());
  ASSERT_OK_AND_ASSIGN(auto held, Env::Default()->LockFile(path + "/LOCK", "the-gc-of-this-test"));
  auto refused = Bundle::Open(path, OpenMode::kAppend);
  EXPECT_STATUS_CODE(refused, StatusCode::kLocked);
  EXPECT_TRUE(Contains(refused.status().message(), "the-gc-of-this-test")) << refused.status().ToString();
  EXPECT_TRUE(Contains(refused.status().message(), "wait=")) << refused.status().ToString();
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    held.reset();
  });
  OpenOptions o;
  o.lock_wait_seconds = 60;
  auto waited = Bundle::Open(path, OpenMode::kAppend, o);
  release.join();
  ASSERT_OK(waited.status());
  EXPECT_TRUE((*waited)->writable());
  ASSERT_OK_AND_ASSIGN(auto r, Bundle::Open(path, OpenMode::kRead));  // readers never wait
}

// Bundle settings are part of a change too: a rebase keeps ours (it used to take theirs).
TEST(Concurrent, SettingChangeSurvivesRebase) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  auto a = Writer(path);
  ASSERT_OK_AND_ASSIGN(auto ta, a->CreateTable("/t", ReaderOf(MakeRows(0, 10))));
  auto b = Writer(path);
  ASSERT_OK(ta->Append(MakeRows(10, 5)));          // A moves on
  ASSERT_OK(SetDeltaLog(*b, false));               // B's commit is rebased onto A's
  auto r = Bundle::Open(path, OpenMode::kRead).ValueOrDie();
  EXPECT_FALSE(DeltaLogEnabled(*r));
  ASSERT_OK_AND_ASSIGN(auto rows, ReadTable(*r, "/t"));
  EXPECT_EQ(rows->num_rows(), 15);
}
