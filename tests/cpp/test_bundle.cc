#include <arrow/api.h>
#include <gtest/gtest.h>

#include "test_util.h"

using namespace octavo;
using namespace octavo::testing;

TEST(Bundle, CreateAppendReadRoundTrip) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(dir.Sub("b"), OpenMode::kAppend));
  ASSERT_OK(b->CreateGroup("/data"));
  TableOptions opts;
  opts.row_group_size = 100;
  ASSERT_OK_AND_ASSIGN(auto t, b->CreateTable("/data/readout",
                                              std::make_shared<arrow::TableBatchReader>(MakeRows(0, 1000)), opts));
  ASSERT_OK(t->Append(MakeRows(1000, 500)));
  ASSERT_OK_AND_ASSIGN(auto info, t->Info());
  EXPECT_EQ(info.num_rows, 1500);
  EXPECT_EQ(info.num_parts, 2);
  ReadOptions ro;
  ro.start = 950;
  ro.stop = 1050;
  ro.columns = {"id"};
  ASSERT_OK_AND_ASSIGN(auto got, t->Read(ro));
  ASSERT_EQ(got->num_rows(), 100);
  ASSERT_EQ(got->num_columns(), 1);
  auto ids = std::static_pointer_cast<arrow::Int64Array>(*arrow::Concatenate(got->column(0)->chunks()));
  for (int64_t i = 0; i < 100; ++i) ASSERT_EQ(ids->Value(i), 950 + i);
  ASSERT_OK(b->Close());

  ASSERT_OK_AND_ASSIGN(auto r, Bundle::Open(dir.Sub("b"), OpenMode::kRead));
  ASSERT_OK_AND_ASSIGN(auto t2, r->OpenTable("/data/readout"));
  ASSERT_OK_AND_ASSIGN(auto all, t2->Read({}));
  EXPECT_TRUE(all->Equals(*arrow::ConcatenateTables({MakeRows(0, 1000), MakeRows(1000, 500)}).ValueOrDie()));
}

TEST(Bundle, NamedSnapshotsOpenTheirCommitAndSurviveLaterChanges) {
  TempDir dir;
  const std::string path = dir.Sub("b");
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(path, OpenMode::kAppend));
  ASSERT_OK(b->CreateTable("/t", ReaderOf(MakeRows(0, 10))));
  ASSERT_OK_AND_ASSIGN(auto s, b->CreateSnapshot("v1", "ten rows"));
  EXPECT_EQ(s.commit, b->commit().id);
  const int64_t commits_before = b->commit().id;
  ASSERT_OK_AND_ASSIGN(auto t, b->OpenTable("/t"));
  ASSERT_OK(t->Append(MakeRows(10, 5)));
  ASSERT_OK(b->RemoveNode("/t"));
  EXPECT_STATUS_CODE(b->CreateSnapshot("v1"), StatusCode::kAlreadyExists);
  EXPECT_STATUS_CODE(b->CreateSnapshot("../etc"), StatusCode::kInvalid);
  EXPECT_STATUS_CODE(b->CreateSnapshot("x", "", 999), StatusCode::kNotFound);
  ASSERT_OK(b->Close());

  OpenOptions o;
  o.snapshot = "v1";
  ASSERT_OK_AND_ASSIGN(auto r, Bundle::Open(path, OpenMode::kRead, o));
  EXPECT_EQ(r->commit().id, commits_before);
  EXPECT_FALSE(r->writable());
  ASSERT_OK_AND_ASSIGN(auto got, ReadTable(*r, "/t"));
  EXPECT_TRUE(TablesEqual(*got, *MakeRows(0, 10)));
  ASSERT_OK_AND_ASSIGN(auto snaps, r->ListSnapshots());
  ASSERT_EQ(snaps.size(), 1u);
  EXPECT_EQ(snaps[0].message, "ten rows");
  o.snapshot = "missing";
  EXPECT_STATUS_CODE(Bundle::Open(path, OpenMode::kRead, o), StatusCode::kNotFound);
  // A crash while writing a snapshot leaves a temporary that is ignored.
  WriteBytes(path + "/snapshots/v2.json.tmp", "{\"comm");
  ASSERT_OK_AND_ASSIGN(auto r2, Bundle::Open(path, OpenMode::kRead));
  ASSERT_OK_AND_ASSIGN(snaps, r2->ListSnapshots());
  EXPECT_EQ(snaps.size(), 1u);
  // A damaged snapshot file is reported, naming it.
  WriteBytes(path + "/snapshots/v1.json", "{\"commit\": \"x\"}");
  o.snapshot = "v1";
  auto bad = Bundle::Open(path, OpenMode::kRead, o);
  EXPECT_STATUS_CODE(bad, StatusCode::kCorruption);
}

// Creating a node with its attributes, and setting several attributes, are one commit each
// (the engine owns these, not the bindings): all of it or, on a bad argument, nothing.
TEST(Bundle, NodesWithAttributesAndSetAttrsAreOneCommitOrNothing) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(dir.Sub("b"), OpenMode::kAppend));
  int64_t c = b->commit().id;
  ASSERT_OK(CreateGroup(*b, "/g/h", CreateNodeOptions{true, false, R"({"TITLE": "run 7", "n": [1, 2]})"}));
  EXPECT_EQ(b->commit().id, c + 1);
  ASSERT_OK_AND_ASSIGN(auto attrs, b->GetAttrs("/g/h"));
  EXPECT_EQ(nlohmann::json::parse(attrs), nlohmann::json::parse(R"({"TITLE": "run 7", "n": [1, 2]})"));
  EXPECT_TRUE(b->Exists("/g"));

  std::vector<float> v = {1, 2, 3, 4};
  ASSERT_OK(CreateArray(*b, "/g/a", {4}, "float32", {}, v.data(), 16, CreateNodeOptions{true, false, R"({"unit": "m"})"})
                .status());
  EXPECT_EQ(b->commit().id, c + 2);
  ASSERT_OK_AND_ASSIGN(attrs, b->GetAttrs("/g/a"));
  EXPECT_EQ(nlohmann::json::parse(attrs), nlohmann::json::parse(R"({"unit": "m"})"));

  ASSERT_OK(SetAttrs(*b, "/g/a", R"({"unit": "km", "scale": 2})"));
  EXPECT_EQ(b->commit().id, c + 3);
  ASSERT_OK_AND_ASSIGN(attrs, b->GetAttrs("/g/a"));
  EXPECT_EQ(nlohmann::json::parse(attrs), nlohmann::json::parse(R"({"unit": "km", "scale": 2})"));

  // Bad attributes: nothing is created or changed, no commit.
  for (const std::string bad : {"[1]", "{\"\": 1}", "{\"a\\u0001\": 1}", "{\"x\": ", "\"text\""}) {
    SCOPED_TRACE(bad);
    EXPECT_STATUS_CODE(CreateGroup(*b, "/bad", CreateNodeOptions{true, false, bad}), StatusCode::kInvalid);
    EXPECT_STATUS_CODE(CreateArray(*b, "/bad", {4}, "float32", {}, v.data(), 16, CreateNodeOptions{true, false, bad}),
                       StatusCode::kInvalid);
    EXPECT_STATUS_CODE(SetAttrs(*b, "/g/a", bad), StatusCode::kInvalid);
  }
  EXPECT_FALSE(b->Exists("/bad"));
  EXPECT_EQ(b->commit().id, c + 3);
  ASSERT_OK_AND_ASSIGN(attrs, b->GetAttrs("/g/a"));
  EXPECT_EQ(nlohmann::json::parse(attrs), nlohmann::json::parse(R"({"unit": "km", "scale": 2})"));
  EXPECT_STATUS_CODE(SetAttrs(*b, "/missing", "{}"), StatusCode::kNotFound);

  // overwrite replaces the node (and what is below it) in the commit that adds the new one.
  EXPECT_STATUS_CODE(CreateGroup(*b, "/g", CreateNodeOptions{}), StatusCode::kAlreadyExists);
  ASSERT_OK(CreateGroup(*b, "/g", CreateNodeOptions{true, true, R"({"TITLE": "fresh"})"}));
  EXPECT_EQ(b->commit().id, c + 4);
  EXPECT_FALSE(b->Exists("/g/a"));
  ASSERT_OK(CreateArray(*b, "/g", {4}, "float32", {}, v.data(), 16, CreateNodeOptions{true, true, ""}).status());
  ASSERT_OK_AND_ASSIGN(auto node, b->GetNode("/g"));
  EXPECT_EQ(node.kind, NodeKind::kArray);
  EXPECT_EQ(b->commit().id, c + 5);
}

// One codec for TableOptions (manifest, bindings, CLI): round trip, strict on caller input.
TEST(Bundle, TableOptionsJsonRoundTripAndStrictDecoding) {
  TableOptions o;
  o.compression = "lz4";
  o.row_group_size = 777;
  o.dictionary = false;
  ASSERT_OK_AND_ASSIGN(TableOptions back, TableOptionsFromJson(TableOptionsToJson(o)));
  EXPECT_EQ(back.compression, "lz4");
  EXPECT_EQ(back.row_group_size, 777);
  EXPECT_FALSE(back.dictionary);
  ASSERT_OK_AND_ASSIGN(back, TableOptionsFromJson(R"({"compression_level": 5})"));
  EXPECT_EQ(back.compression_level, 5);
  EXPECT_EQ(back.compression, TableOptions{}.compression);  // missing keys keep defaults
  for (const std::string bad : {R"({"row_group_sise": 5})", R"({"row_group_size": "5"})", R"({"dictionary": 1})",
                                R"({"compression_level": 1.5})", "[]", "{"}) {
    SCOPED_TRACE(bad);
    EXPECT_STATUS_CODE(TableOptionsFromJson(bad), StatusCode::kInvalid);
  }
  EXPECT_TRUE(Contains(TableOptionsFromJson(R"({"row_group_sise": 5})").status().message(), "row_group_sise"));
}
