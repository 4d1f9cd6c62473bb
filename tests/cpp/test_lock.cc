// Concurrency and history: writers share the bundle (gc is told who else holds the lock),
// readers never block and keep their snapshot, bad node names are refused, and every
// commit stays readable by number.
#include <arrow/api.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "test_util.h"

using namespace octavo;
using namespace octavo::testing;

// --- the writer lock ------------------------------------------------------------------

TEST(Lock, WritersShareTheBundleAndGcIsToldWhoElseWrites) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  ASSERT_OK_AND_ASSIGN(auto w1, Bundle::Open(path, OpenMode::kAppend));
  EXPECT_TRUE(w1->writable());
  // A second writer gets in (docs/format.md 5.1); gc, which needs the bundle to itself, does not.
  ASSERT_OK_AND_ASSIGN(auto w2, Bundle::Open(path, OpenMode::kAppend));
  auto gc = w1->CollectGarbage();
  EXPECT_STATUS_CODE(gc, StatusCode::kLocked);
  EXPECT_TRUE(Contains(gc.status().message(), "pid " + std::to_string(getpid()))) << gc.status().ToString();
  // The refused gc changed nothing.
  EXPECT_EQ(w1->commit().id, 0);
  ASSERT_OK(w1->CreateGroup("/a"));
  ASSERT_OK(w2->CreateGroup("/c"));

  ASSERT_OK(w2->Close());
  ASSERT_OK(w1->Close());
  ASSERT_OK(w1->Close());  // idempotent
  EXPECT_FALSE(w1->writable());
  ASSERT_OK_AND_ASSIGN(auto w3, Bundle::Open(path, OpenMode::kAppend));
  EXPECT_TRUE(w3->Exists("/a"));
  EXPECT_TRUE(w3->Exists("/c"));
  ASSERT_OK(w3->CreateGroup("/b"));
  ASSERT_OK(w3->CollectGarbage().status());
}

TEST(Lock, DroppingTheHandleReleasesTheLock) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  {
    ASSERT_OK_AND_ASSIGN(auto w1, Bundle::Open(path, OpenMode::kAppend));
  }
  ASSERT_OK_AND_ASSIGN(auto w2, Bundle::Open(path, OpenMode::kAppend));
  EXPECT_TRUE(w2->writable());
}

TEST(Lock, ReadersOpenWhileAWriterHoldsTheLock) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  ASSERT_OK_AND_ASSIGN(auto w, Bundle::Open(path, OpenMode::kAppend));
  ASSERT_OK(w->CreateTable("/t", ReaderOf(MakeRows(0, 10))));
  ASSERT_OK_AND_ASSIGN(auto r1, Bundle::Open(path, OpenMode::kRead));
  ASSERT_OK_AND_ASSIGN(auto r2, Bundle::Open(path, OpenMode::kRead));
  EXPECT_FALSE(r1->writable());
  ASSERT_OK_AND_ASSIGN(auto rows, ReadTable(*r2, "/t"));
  EXPECT_EQ(rows->num_rows(), 10);
  // Readers hold no lock: the writer still commits.
  ASSERT_OK(w->CreateGroup("/g"));
}

TEST(Lock, ReaderKeepsItsSnapshotUntilRefresh) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  ASSERT_OK_AND_ASSIGN(auto w, Bundle::Open(path, OpenMode::kAppend));
  TableOptions small;
  small.row_group_size = 10;
  ASSERT_OK_AND_ASSIGN(auto wt, w->CreateTable("/t", ReaderOf(MakeRows(0, 100)), small));

  ASSERT_OK_AND_ASSIGN(auto r, Bundle::Open(path, OpenMode::kRead));
  const int64_t seen = r->commit().id;
  ASSERT_OK_AND_ASSIGN(auto rt, r->OpenTable("/t"));
  // A scan started now streams this snapshot whatever the writer does meanwhile.
  ASSERT_OK_AND_ASSIGN(auto scan, rt->Scan({}, 7));

  ASSERT_OK(wt->Append(MakeRows(100, 50)));
  ASSERT_OK(w->CreateGroup("/new"));
  ASSERT_OK(w->SetAttr("/", "k", "\"v\""));

  EXPECT_EQ(r->commit().id, seen);
  ASSERT_OK_AND_ASSIGN(auto old_rows, rt->Read({}));
  EXPECT_TRUE(TablesEqual(*old_rows, *MakeRows(0, 100)));
  EXPECT_FALSE(r->Exists("/new"));
  ASSERT_OK_AND_ASSIGN(auto attrs, r->GetAttrs("/"));
  EXPECT_EQ(attrs, "{}");
  ASSERT_OK_AND_ASSIGN(auto streamed, scan->ToTable());
  EXPECT_TRUE(TablesEqual(*streamed, *MakeRows(0, 100)));

  ASSERT_OK(r->Refresh());
  EXPECT_EQ(r->commit().id, w->commit().id);
  // The same table handle now reads the new snapshot.
  ASSERT_OK_AND_ASSIGN(auto new_rows, rt->Read({}));
  EXPECT_TRUE(TablesEqual(*new_rows, *MakeRows(0, 150)));
  EXPECT_TRUE(r->Exists("/new"));
  ASSERT_OK_AND_ASSIGN(auto attrs2, r->GetAttrs("/"));
  EXPECT_EQ(attrs2, R"({"k":"v"})");
}

// --- names ------------------------------------------------------------------------------

TEST(NodeNames, BadNodeNamesAreInvalidAndChangeNothing) {
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(tmp.Sub("b"), OpenMode::kAppend));
  ASSERT_OK(b->CreateGroup("/a"));
  const int64_t commit = b->commit().id;
  const std::vector<std::string> bad = {
      "/a/../b", "..",       "/a/..",    "/.",        "/a/./b",  "/a//b",         "//a",
      "",        "/a/\x01x", "/a\tb",    "/a/b\x7f",  "/a\nb",   std::string("/a\0b", 4)};
  for (const auto& name : bad) {
    SCOPED_TRACE("name '" + name + "'");
    EXPECT_STATUS_CODE(b->CreateGroup(name), StatusCode::kInvalid);
    EXPECT_STATUS_CODE(b->CreateTable(name, ReaderOf(MakeRows(0, 3))), StatusCode::kInvalid);
    EXPECT_STATUS_CODE(b->CreateTable(name, MakeRows(0, 1)->schema()), StatusCode::kInvalid);
  }
  EXPECT_STATUS_CODE(b->CreateGroup(std::string(300, 'n')), StatusCode::kInvalid);
  EXPECT_STATUS_CODE(b->SetAttr("/a", "", "1"), StatusCode::kInvalid);
  EXPECT_STATUS_CODE(b->SetAttr("/a", "k\x01", "1"), StatusCode::kInvalid);
  // A bad value is the caller's mistake, not a damaged bundle.
  EXPECT_STATUS_CODE(b->SetAttr("/a", "k", "{not json"), StatusCode::kInvalid);
  EXPECT_STATUS_CODE(b->SetAttr("/a/../x", "k", "1"), StatusCode::kInvalid);
  // Nothing was committed, nothing stray appeared in the tree.
  EXPECT_EQ(b->commit().id, commit);
  ASSERT_OK_AND_ASSIGN(auto nodes, b->Walk("/"));
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[1].path, "/a");
  // Odd but legal names work.
  ASSERT_OK(b->CreateGroup("/a/with space"));
  ASSERT_OK(b->CreateGroup("/a/\xc3\xa9t\xc3\xa9"));
  ASSERT_OK(b->CreateGroup("/a/...x"));
}

TEST(NodeNames, RemoveNodeRules) {
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(tmp.Sub("b"), OpenMode::kAppend));
  ASSERT_OK(b->CreateTable("/g/sub/t", ReaderOf(MakeRows(0, 5))));
  const int64_t commit = b->commit().id;

  Status st = b->RemoveNode("/g");  // non-recursive on a non-empty group
  EXPECT_STATUS_CODE(st, StatusCode::kInvalid);
  EXPECT_TRUE(Contains(st.message(), "recursive")) << st.ToString();
  EXPECT_EQ(b->commit().id, commit);
  EXPECT_TRUE(b->Exists("/g/sub/t"));

  EXPECT_STATUS_CODE(b->RemoveNode("/"), StatusCode::kInvalid);
  EXPECT_STATUS_CODE(b->RemoveNode("/g/missing"), StatusCode::kNotFound);
  EXPECT_STATUS_CODE(b->RemoveNode("/g/../g"), StatusCode::kInvalid);

  ASSERT_OK(b->RemoveNode("/g/sub/t"));  // a table is a leaf
  ASSERT_OK(b->RemoveNode("/g/sub"));    // now empty
  ASSERT_OK(b->CreateGroup("/g/x/y"));
  ASSERT_OK(b->RemoveNode("/g", /*recursive=*/true));
  EXPECT_FALSE(b->Exists("/g"));
  EXPECT_FALSE(b->Exists("/g/x/y"));
  ASSERT_OK_AND_ASSIGN(auto nodes, b->Walk("/"));
  EXPECT_EQ(nodes.size(), 1u);
}

// --- history ----------------------------------------------------------------------------

TEST(History, ListCommitsAndOpenAnOlderCommit) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  ASSERT_OK_AND_ASSIGN(auto w, Bundle::Open(path, OpenMode::kAppend));
  ASSERT_OK_AND_ASSIGN(auto t, w->CreateTable("/t", ReaderOf(MakeRows(0, 100))));  // commit 1
  ASSERT_OK(t->Append(MakeRows(100, 20)));                                       // commit 2
  ASSERT_OK(w->SetAttr("/t", "unit", "\"m\""));                                  // commit 3
  ASSERT_OK(w->RemoveNode("/t"));                                                // commit 4

  ASSERT_OK_AND_ASSIGN(auto commits, w->ListCommits());
  ASSERT_EQ(commits.size(), 5u);
  for (size_t i = 0; i < commits.size(); ++i) {
    EXPECT_EQ(commits[i].id, static_cast<int64_t>(i));
    EXPECT_EQ(commits[i].parent, static_cast<int64_t>(i) - 1);
    EXPECT_FALSE(commits[i].created_at.empty());
  }
  EXPECT_TRUE(Contains(commits[1].message, "create table /t")) << commits[1].message;
  EXPECT_TRUE(Contains(commits[2].message, "append 20 rows")) << commits[2].message;
  EXPECT_TRUE(Contains(commits[4].message, "remove /t")) << commits[4].message;
  EXPECT_EQ(w->commit().id, 4);
  ASSERT_OK(w->Close());

  // Each commit opens as it was, read-only, whatever the requested mode.
  for (auto mode : {OpenMode::kRead, OpenMode::kAppend}) {
    OpenOptions at;
    at.commit = 1;
    ASSERT_OK_AND_ASSIGN(auto old, Bundle::Open(path, mode, at));
    EXPECT_EQ(old->commit().id, 1);
    EXPECT_FALSE(old->writable());
    ASSERT_OK_AND_ASSIGN(auto rows, ReadTable(*old, "/t"));
    EXPECT_TRUE(TablesEqual(*rows, *MakeRows(0, 100)));
    ASSERT_OK_AND_ASSIGN(auto ot, old->OpenTable("/t"));
    EXPECT_STATUS_CODE(ot->Append(MakeRows(0, 1)), StatusCode::kReadOnly);
    ASSERT_OK_AND_ASSIGN(auto hist, old->ListCommits());  // history up to the opened commit
    EXPECT_EQ(hist.size(), 2u);
  }
  OpenOptions at3;
  at3.commit = 3;
  ASSERT_OK_AND_ASSIGN(auto c3, Bundle::Open(path, OpenMode::kRead, at3));
  ASSERT_OK_AND_ASSIGN(auto rows3, ReadTable(*c3, "/t"));
  EXPECT_TRUE(TablesEqual(*rows3, *MakeRows(0, 120)));
  ASSERT_OK_AND_ASSIGN(auto attrs, c3->GetAttrs("/t"));
  EXPECT_EQ(attrs, R"({"unit":"m"})");
  // The newest commit removed it.
  ASSERT_OK_AND_ASSIGN(auto now, Bundle::Open(path, OpenMode::kRead));
  EXPECT_FALSE(now->Exists("/t"));
  EXPECT_STATUS_CODE(now->OpenTable("/t"), StatusCode::kNotFound);
  // Commits that never happened.
  OpenOptions future;
  future.commit = 5;
  EXPECT_STATUS_CODE(Bundle::Open(path, OpenMode::kRead, future), StatusCode::kNotFound);
  future.commit = 999;
  EXPECT_STATUS_CODE(Bundle::Open(path, OpenMode::kRead, future), StatusCode::kNotFound);
}

TEST(History, ModeCreateStartsAnEmptyTreeButKeepsHistory) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  {
    ASSERT_OK_AND_ASSIGN(auto w, Bundle::Open(path, OpenMode::kAppend));
    ASSERT_OK(w->CreateTable("/t", ReaderOf(MakeRows(0, 10))));
  }
  ASSERT_OK_AND_ASSIGN(auto w, Bundle::Open(path, OpenMode::kCreate));
  EXPECT_EQ(w->commit().id, 2);
  EXPECT_FALSE(w->Exists("/t"));
  OpenOptions at;
  at.commit = 1;
  ASSERT_OK_AND_ASSIGN(auto old, Bundle::Open(path, OpenMode::kRead, at));
  ASSERT_OK_AND_ASSIGN(auto rows, ReadTable(*old, "/t"));
  EXPECT_EQ(rows->num_rows(), 10);
}
