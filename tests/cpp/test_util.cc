#include "test_util.h"

#include "format/sealed_json.h"
#include "util/crc32.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace octavo::testing {

TempDir::TempDir() {
  char tmpl[] = "/tmp/octavo-test-XXXXXX";
  path_ = mkdtemp(tmpl);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::shared_ptr<arrow::Table> MakeRows(int64_t first, int64_t n) {
  arrow::Int64Builder ids;
  arrow::DoubleBuilder xs;
  arrow::StringBuilder names;
  for (int64_t i = first; i < first + n; ++i) {
    (void)ids.Append(i);
    (void)xs.Append(static_cast<double>(i) * 0.5);
    (void)names.Append("r" + std::to_string(i));
  }
  auto schema = arrow::schema({arrow::field("id", arrow::int64()), arrow::field("x", arrow::float64()),
                               arrow::field("name", arrow::utf8())});
  return arrow::Table::Make(schema, {*ids.Finish(), *xs.Finish(), *names.Finish()});
}

std::shared_ptr<arrow::RecordBatchReader> ReaderOf(const std::shared_ptr<arrow::Table>& t) {
  return std::make_shared<arrow::TableBatchReader>(t);
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "cannot read " << path;
    return "";
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteBytes(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  if (!out) ADD_FAILURE() << "cannot write " << path;
}

std::vector<std::string> ListFiles(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file()) out.push_back(std::filesystem::relative(it->path(), dir).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::shared_ptr<arrow::Table>> ReadTable(const Bundle& b, const std::string& path,
                                                const ReadOptions& options) {
  OCTAVO_ASSIGN_OR_RETURN(auto t, b.OpenTable(path));
  return t->Read(options);
}

::testing::AssertionResult TablesEqual(const arrow::Table& got, const arrow::Table& want) {
  if (got.Equals(want, /*check_metadata=*/false)) return ::testing::AssertionSuccess();
  auto show = [](const arrow::Table& t) {
    std::string s = t.ToString();
    return s.size() > 4000 ? s.substr(0, 4000) + "\n...(cut)" : s;
  };
  return ::testing::AssertionFailure() << "tables differ\n--- got (" << got.num_rows() << " rows):\n"
                                       << show(got) << "\n--- want (" << want.num_rows() << " rows):\n"
                                       << show(want);
}

std::string ForgeManifest(const std::string& root, const std::function<void(nlohmann::ordered_json&)>& edit) {
  using Json = nlohmann::ordered_json;
  Json cur = Json::parse(ReadBytes(root + "/CURRENT"));
  const std::string rel = cur.at("manifest").get<std::string>();
  Json m = Json::parse(ReadBytes(root + "/" + rel));
  m.erase("checksum");
  edit(m);
  const std::string text = SealJson(m.dump(1));
  WriteBytes(root + "/" + rel, text);
  cur.erase("checksum");
  cur["size"] = text.size();
  cur["crc32"] = Crc32(text);
  WriteBytes(root + "/CURRENT", SealJson(cur.dump()));
  return rel;
}

}  // namespace octavo::testing
