#include "format/manifest.h"

#include <algorithm>
#include <limits>
#include <cctype>
#include <iterator>
#include <string_view>

#include <arrow/buffer.h>
#include <arrow/io/memory.h>
#include <arrow/ipc/reader.h>
#include <arrow/ipc/writer.h>
#include <arrow/type.h>

#include <cstdio>

#include "format/filename.h"
#include "format/sealed_json.h"
#include "octavo/version.h"
#include "util/names.h"
#include "octavo/arrow_status.h"

namespace octavo {

int64_t TableEntry::num_rows() const {
  int64_t n = 0;
  for (const auto& p : parts) n += p.num_rows;
  return n;
}

size_t TableEntry::SortedPrefix() const {
  if (sorted_by.empty() || sorted_parts.empty() || sorted_parts.size() > parts.size()) return 0;
  for (size_t i = 0; i < sorted_parts.size(); ++i)
    if (parts[i].file != sorted_parts[i]) return 0;
  return sorted_parts.size();
}

int64_t TableEntry::size_bytes() const {
  int64_t n = 0;
  for (const auto& p : parts) n += p.size_bytes;
  return n;
}

std::string ManifestFileName(int64_t commit) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s/%012lld.json", kManifestDir, static_cast<long long>(commit));
  return buf;
}

bool ParseManifestFileName(const std::string& name, int64_t* commit) {
  if (name.size() != 17 || name.substr(12) != ".json") return false;
  for (int i = 0; i < 12; ++i)
    if (!std::isdigit(static_cast<unsigned char>(name[i]))) return false;
  *commit = std::stoll(name.substr(0, 12));
  return true;
}

// The manifest's names for node kinds (docs/format.md 4); the format layer owns both directions.
const char* NodeKindName(NodeKind kind) {
  switch (kind) {
    case NodeKind::kGroup: return "group";
    case NodeKind::kTable: return "table";
    case NodeKind::kArray: return "array";
    case NodeKind::kFile: return "file";
    case NodeKind::kLink: return "link";
  }
  return "unknown";
}

NodeKind NodeKindFromName(const std::string& name, bool* ok) {
  *ok = true;
  if (name == "group") return NodeKind::kGroup;
  if (name == "table") return NodeKind::kTable;
  if (name == "array") return NodeKind::kArray;
  if (name == "file") return NodeKind::kFile;
  if (name == "link") return NodeKind::kLink;
  *ok = false;
  return NodeKind::kGroup;
}

Result<std::string> SerializeSchema(const arrow::Schema& schema) {
  OCTAVO_ARROW_ASSIGN_OR_RETURN(auto buf, arrow::ipc::SerializeSchema(schema));
  return Base64Encode(std::string_view(reinterpret_cast<const char*>(buf->data()), buf->size()));
}

Result<std::shared_ptr<arrow::Schema>> DeserializeSchema(const std::string& b64) {
  OCTAVO_ASSIGN_OR_RETURN(std::string raw, Base64Decode(b64));
  auto buf = std::make_shared<arrow::Buffer>(reinterpret_cast<const uint8_t*>(raw.data()), raw.size());
  arrow::io::BufferReader reader(buf);
  arrow::ipc::DictionaryMemo memo;
  auto res = arrow::ipc::ReadSchema(&reader, &memo);
  if (!res.ok()) return Status::Corruption("stored Arrow schema cannot be decoded: ", res.status().message());
  // ReadSchema references `raw` through `buf`; copy-free is unsafe here, but the schema owns its data.
  return *res;
}

Json EncodeTableOptions(const TableOptions& o) {
  return Json{{"compression", o.compression},           {"compression_level", o.compression_level},
              {"row_group_size", o.row_group_size},     {"part_max_rows", o.part_max_rows},
              {"write_statistics", o.write_statistics}, {"write_page_index", o.write_page_index},
              {"data_page_size", o.data_page_size},     {"dictionary", o.dictionary},
              {"dictionary_page_limit", o.dictionary_page_limit}};
}

Result<TableOptions> DecodeTableOptions(const Json& j, StatusCode bad_code, bool strict) {
  if (!j.is_object()) return Status(bad_code, "table options must be a JSON object");
  TableOptions o;
  for (const auto& item : j.items()) {
    // Named references, not a structured binding: lambdas capture them (clang 14, the fuzz build).
    const std::string& key = item.key();
    const Json& v = item.value();
    auto bad = [&](const char* want) { return Status(bad_code, "table option '" + key + "' must be " + want); };
    // value() would convert a float (1e300) or an out-of-range integer by a cast: undefined.
    auto integer = [&](auto* field) -> Status {
      using T = std::remove_pointer_t<decltype(field)>;
      if (!v.is_number_integer() || (v.is_number_unsigned() && v.template get<uint64_t>() > INT64_MAX) ||
          v.template get<int64_t>() < std::numeric_limits<T>::min() ||
          v.template get<int64_t>() > std::numeric_limits<T>::max())
        return bad("an integer in range");
      *field = static_cast<T>(v.template get<int64_t>());
      return Status::OK();
    };
    auto boolean = [&](bool* field) -> Status {
      if (!v.is_boolean()) return bad("true or false");
      *field = v.template get<bool>();
      return Status::OK();
    };
    if (key == "compression") {
      if (!v.is_string()) return bad("a string");
      o.compression = v.get<std::string>();
    } else if (key == "compression_level") {
      OCTAVO_RETURN_NOT_OK(integer(&o.compression_level));
    } else if (key == "row_group_size") {
      OCTAVO_RETURN_NOT_OK(integer(&o.row_group_size));
    } else if (key == "part_max_rows") {
      OCTAVO_RETURN_NOT_OK(integer(&o.part_max_rows));
    } else if (key == "write_statistics") {
      OCTAVO_RETURN_NOT_OK(boolean(&o.write_statistics));
    } else if (key == "write_page_index") {
      OCTAVO_RETURN_NOT_OK(boolean(&o.write_page_index));
    } else if (key == "data_page_size") {
      OCTAVO_RETURN_NOT_OK(integer(&o.data_page_size));
    } else if (key == "dictionary") {
      OCTAVO_RETURN_NOT_OK(boolean(&o.dictionary));
    } else if (key == "dictionary_page_limit") {
      OCTAVO_RETURN_NOT_OK(integer(&o.dictionary_page_limit));
    } else if (strict) {
      return Status(bad_code, "unknown table option '" + key + "'");
    }
  }
  return o;
}

std::string TableOptionsToJson(const TableOptions& options) { return EncodeTableOptions(options).dump(); }

Result<TableOptions> TableOptionsFromJson(std::string_view json) {
  OCTAVO_ASSIGN_OR_RETURN(Json j, ParseJson(json, "table options", StatusCode::kInvalid));
  return DecodeTableOptions(j, StatusCode::kInvalid, /*strict=*/true);
}

static Result<Json> TableToJson(const TableEntry& t) {
  Json j;
  j["uid"] = t.uid;
  OCTAVO_ASSIGN_OR_RETURN(j["schema"], SerializeSchema(*t.schema));
  Json cols = Json::array();
  for (const auto& f : t.schema->fields()) cols.push_back({{"name", f->name()}, {"type", f->type()->ToString()}});
  j["columns"] = std::move(cols);  // human-readable copy; the schema blob is authoritative
  j["options"] = EncodeTableOptions(t.options);
  j["num_rows"] = t.num_rows();
  Json parts = Json::array();
  for (const auto& p : t.parts) {
    parts.push_back({{"file", p.file},
                     {"num_rows", p.num_rows},
                     {"size_bytes", p.size_bytes},
                     {"row_groups", p.row_group_rows},
                     {"stats", p.stats},
                     {"created_at", p.created_at}});
    if (p.footer_crc32 >= 0) parts.back()["footer"] = {{"size", p.footer_size}, {"crc32", p.footer_crc32}};
    if (!p.indexes.empty()) {
      Json idx = Json::object();
      for (const auto& [col, f] : p.indexes) {
        idx[col] = {{"file", f.file}, {"size_bytes", f.size_bytes}};
        if (f.footer_crc32 >= 0) idx[col]["footer"] = {{"size", f.footer_size}, {"crc32", f.footer_crc32}};
      }
      parts.back()["indexes"] = std::move(idx);
    }
  }
  j["parts"] = std::move(parts);
  if (!t.sorted_by.empty()) j["sorted"] = {{"columns", t.sorted_by}, {"parts", t.sorted_parts}};
  if (!t.indexed_columns.empty()) j["indexes"] = t.indexed_columns;
  return j;
}

static Json FileToJson(const FileEntry& f) {
  Json j{{"digest", f.digest}, {"size", f.size}, {"blob", BlobFileName(f.digest)}};
  if (f.block_size > 0) {
    j["block_size"] = f.block_size;
    j["block_crc32"] = f.block_crc32;
  }
  return j;
}

static Result<std::shared_ptr<const FileEntry>> FileFromJson(const Json& p, const std::string& where) {
  auto f = std::make_shared<FileEntry>();
  f->digest = p.at("digest").get<std::string>();
  f->size = IntegerOf<int64_t>(p.at("size"));
  if (!IsValidDigest(f->digest) || f->size < 0)
    return Status::Corruption(where, ": invalid digest or size");
  if (p.contains("block_crc32")) {
    f->block_size = IntegerOf<int64_t>(p.at("block_size"));
    if (f->block_size < 4096 || f->block_size > (int64_t{1} << 30))
      return Status::Corruption(where, ": invalid block_size ", f->block_size);
    const Json& list = p.at("block_crc32");
    if (!list.is_array() || static_cast<int64_t>(list.size()) != (f->size + f->block_size - 1) / f->block_size)
      return Status::Corruption(where, ": the block checksum list does not fit the content size");
    for (const auto& v : list) {
      if (!v.is_number_unsigned() || v.get<uint64_t>() > 0xffffffffu)
        return Status::Corruption(where, ": invalid block checksum");
      f->block_crc32.push_back(static_cast<uint32_t>(v.get<uint64_t>()));
    }
  }
  return std::shared_ptr<const FileEntry>(std::move(f));
}

static Json ArrayToJson(const ArrayEntry& a) {
  Json chunks = Json::object();
  for (const auto& [key, c] : a.chunks) {
    Json e{{"file", c.file}, {"size", c.size}};
    if (c.crc32) e["crc32"] = *c.crc32;
    chunks[key] = std::move(e);
  }
  return Json{{"uid", a.uid}, {"zarr", a.zarr}, {"chunks", std::move(chunks)}};
}

// A chunk key as written: "" (0-d) or decimal indices joined by '.'; the array code checks
// the count against the array's rank.
static bool IsChunkKey(const std::string& key) {
  if (key.empty()) return true;
  bool digit = false;
  for (char c : key) {
    if (c >= '0' && c <= '9') {
      digit = true;
    } else if (c == '.' && digit) {
      digit = false;
    } else {
      return false;
    }
  }
  return digit && key.size() <= 512;
}

static Result<std::shared_ptr<const ArrayEntry>> ArrayFromJson(const Json& p, const std::string& where) {
  if (!p.is_object() || !p.contains("zarr") || !p["zarr"].is_object() || !p.contains("uid") || !p["uid"].is_string())
    return Status::Corruption(where, ": the array entry has no zarr metadata or uid");
  auto a = std::make_shared<ArrayEntry>();
  a->uid = p["uid"].get<std::string>();
  OCTAVO_RETURN_NOT_OK(CheckUid(a->uid, where));
  a->zarr = p["zarr"];
  if (p.contains("chunks")) {
    const Json& chunks = p["chunks"];
    if (!chunks.is_object()) return Status::Corruption(where, ": 'chunks' is not an object");
    for (const auto& [key, v] : chunks.items()) {
      if (!IsChunkKey(key)) return Status::Corruption(where, ": '", key.substr(0, 80), "' is not a chunk key");
      if (!v.is_object() || !v.contains("file") || !v["file"].is_string() || !v.contains("size") ||
          !v["size"].is_number_integer() || v["size"].get<int64_t>() < 0)
        return Status::Corruption(where, ": chunk ", key, " entry is malformed");
      ChunkEntry c;
      c.file = v["file"].get<std::string>();
      OCTAVO_RETURN_NOT_OK(CheckDataFileName(c.file, where + " chunk " + key));
      if (c.file.rfind(DataDirName(a->uid) + "/", 0) != 0)  // chunks live in their array's folder
        return Status::Corruption(where, ": chunk ", key, " file ", c.file, " is outside ", DataDirName(a->uid));
      c.size = v["size"].get<int64_t>();
      if (v.contains("crc32")) {
        if (!v["crc32"].is_number_unsigned() || v["crc32"].get<uint64_t>() > 0xffffffffu)
          return Status::Corruption(where, ": chunk ", key, " has an invalid crc32");
        c.crc32 = static_cast<uint32_t>(v["crc32"].get<uint64_t>());
      }
      a->chunks.emplace(key, std::move(c));
    }
  }
  return std::shared_ptr<const ArrayEntry>(std::move(a));
}

Result<Json> NodeEntryToJson(const std::string& path, const NodeEntry& n) {
  Json jn;
  jn["kind"] = NodeKindName(n.kind);
  jn["attrs"] = n.attrs;
  jn["created_at"] = n.created_at;
  jn["modified_at"] = n.modified_at;
  if (n.kind == NodeKind::kTable) {
    if (!n.table) return Status::Invalid("table node ", path, " has no table entry");
    OCTAVO_ASSIGN_OR_RETURN(jn["table"], TableToJson(*n.table));
  }
  if (n.kind == NodeKind::kFile) {
    if (!n.file) return Status::Invalid("file node ", path, " has no file entry");
    jn["payload"] = FileToJson(*n.file);
  } else if (n.kind == NodeKind::kLink) {
    if (!n.link) return Status::Invalid("link ", path, " has no target");
    jn["payload"] = Json{{"target", n.link->target}};
  } else if (n.kind == NodeKind::kArray) {
    if (!n.array) return Status::Invalid("array ", path, " has no array entry");
    jn["payload"] = ArrayToJson(*n.array);
  }
  return jn;
}

Result<std::string> SerializeManifest(const Manifest& m) {
  Json j;
  j["format"] = "octavo-manifest";
  j["format_version"] = m.format_version;
  j["features"] = std::vector<std::string>(std::begin(kReaderFeatures), std::end(kReaderFeatures));
  j["commit"] = m.commit;
  j["parent"] = m.parent;
  if (m.merged >= 0) j["merged"] = m.merged;
  j["created_at"] = m.created_at;
  j["message"] = m.message;
  // Written only when not the default, so older manifests and older readers see no change.
  if (!m.delta_log) j["settings"] = Json{{"delta_log", false}};
  Json nodes = Json::object();
  for (const auto& [path, n] : m.nodes) {
    OCTAVO_ASSIGN_OR_RETURN(nodes[path], NodeEntryToJson(path, n));
  }
  j["nodes"] = std::move(nodes);
  std::string text;
  try {
    text = j.dump(1);
  } catch (const nlohmann::json::exception& e) {
    // Names and attributes are checked when they come in; this is the last line of defence.
    return Status::Invalid("cannot write commit ", m.commit, ": a node name, attribute or message is not valid UTF-8 (",
                           e.what(), ")");
  }
  return SealJson(std::move(text));
}

// Footer size and CRC of a part or index file (optional: absent before format version 2).
static Status FooterFromJson(const Json& jp, int64_t* size, int64_t* crc, const std::string& where) {
  if (!jp.contains("footer")) return Status::OK();
  const Json& f = jp.at("footer");
  *size = IntegerOf<int64_t>(f.at("size"));
  *crc = IntegerOf<int64_t>(f.at("crc32"));
  if (*size < 12 || *crc < 0 || *crc > 0xffffffffLL)
    return Status::Corruption(where, ": invalid footer size or checksum");
  return Status::OK();
}

static Result<std::shared_ptr<const TableEntry>> TableFromJson(const Json& j, const std::string& where) {
  auto t = std::make_shared<TableEntry>();
  t->uid = j.at("uid").get<std::string>();
  OCTAVO_RETURN_NOT_OK(CheckUid(t->uid, where));
  OCTAVO_ASSIGN_OR_RETURN(t->schema, DeserializeSchema(j.at("schema").get<std::string>()));
  if (j.contains("options")) {
    OCTAVO_ASSIGN_OR_RETURN(t->options, DecodeTableOptions(j.at("options"), StatusCode::kCorruption, false));
  }
  for (const auto& jp : j.at("parts")) {
    PartEntry p;
    p.file = jp.at("file").get<std::string>();
    OCTAVO_RETURN_NOT_OK(CheckDataFileName(p.file, where + " part"));
    OCTAVO_RETURN_NOT_OK(FooterFromJson(jp, &p.footer_size, &p.footer_crc32, where + " part " + p.file));
    p.num_rows = IntegerOf<int64_t>(jp.at("num_rows"));
    p.size_bytes = IntegerOf<int64_t>(jp.at("size_bytes"));
    if (!jp.at("row_groups").is_array()) return Status::Corruption(where, ": part ", p.file, " row_groups is not a list");
    for (const auto& r : jp.at("row_groups")) p.row_group_rows.push_back(IntegerOf<int64_t>(r));
    p.stats = jp.value("stats", Json::object());
    p.created_at = jp.value("created_at", "");
    int64_t sum = 0;
    bool bad = p.size_bytes < 0;
    for (auto r : p.row_group_rows) {
      bad = bad || r < 0 || __builtin_add_overflow(sum, r, &sum);
    }
    if (bad || sum != p.num_rows || p.num_rows < 0)
      return Status::Corruption(where, ": part ", p.file, " row-group row counts do not add up to ", p.num_rows);
    if (jp.contains("indexes")) {
      for (const auto& [col, jf] : jp.at("indexes").items()) {
        PartEntry::IndexFile f;
        f.file = jf.at("file").get<std::string>();
        f.size_bytes = IntegerOf<int64_t>(jf.at("size_bytes"));
        OCTAVO_RETURN_NOT_OK(CheckDataFileName(f.file, where + " index"));
        OCTAVO_RETURN_NOT_OK(FooterFromJson(jf, &f.footer_size, &f.footer_crc32, where + " index " + f.file));
        p.indexes[col] = std::move(f);
      }
    }
    t->parts.push_back(std::move(p));
  }
  if (j.contains("sorted")) {
    t->sorted_by = j.at("sorted").at("columns").get<std::vector<std::string>>();
    t->sorted_parts = j.at("sorted").at("parts").get<std::vector<std::string>>();
  }
  if (j.contains("indexes")) t->indexed_columns = j.at("indexes").get<std::vector<std::string>>();
  return std::shared_ptr<const TableEntry>(std::move(t));
}

Result<Manifest> ParseManifest(std::string_view text, const std::string& file) {
  // The checksum first: a damaged byte anywhere (even in format_version) is corruption.
  bool sealed = false;
  OCTAVO_RETURN_NOT_OK(VerifySealedJson(text, "manifest " + file, &sealed));
  OCTAVO_ASSIGN_OR_RETURN(Json j, ParseJson(text, "manifest " + file));
  Manifest m;
  try {
    if (j.value("format", "") != "octavo-manifest")
      return Status::Corruption("manifest ", file, " is not an octavo manifest");
    m.format_version = IntegerOf<int>(j.at("format_version"));
    if (m.format_version > kFormatVersion)
      return Status::UnsupportedVersion("manifest ", file, " has format version ", m.format_version,
                                        " but this octavo (", kVersion, ") reads up to version ", kFormatVersion,
                                        "; upgrade octavo to open this bundle");
    if (m.format_version >= 2 && !sealed)
      return Status::Corruption("manifest ", file, " has no checksum (format version ", m.format_version,
                                " requires one): the file is damaged; open an earlier commit with commit=N");
    // Features a reader must understand to read this commit correctly (docs/format.md 7).
    if (j.contains("features")) {
      for (const auto& f : j.at("features")) {
        const std::string name = f.get<std::string>();
        if (std::find(std::begin(kReaderFeatures), std::end(kReaderFeatures), name) == std::end(kReaderFeatures))
          return Status::UnsupportedVersion("manifest ", file, " uses feature '", name.substr(0, 60),
                                            "', which this octavo (", kVersion,
                                            ") does not know: the bundle was written by a newer octavo; upgrade to open it");
      }
    }
    // Integers only: a float such as 1e68 converted to int64 is undefined behaviour (fuzzer).
    if (!j.at("commit").is_number_integer() || !j.at("parent").is_number_integer())
      return Status::Corruption("manifest ", file, ": commit and parent must be integers");
    m.commit = j.at("commit").get<int64_t>();
    m.parent = j.at("parent").get<int64_t>();
    if (j.contains("merged")) {
      if (!j["merged"].is_number_integer() || j["merged"].get<int64_t>() < 0)
        return Status::Corruption("manifest ", file, ": merged must be a commit id");
      m.merged = j["merged"].get<int64_t>();
    }
    // Unknown settings are a newer writer's and ignored; a known one of the wrong type is damage.
    if (j.contains("settings") && j["settings"].is_object() && j["settings"].contains("delta_log")) {
      if (!j["settings"]["delta_log"].is_boolean())
        return Status::Corruption("manifest ", file, ": settings.delta_log must be true or false");
      m.delta_log = j["settings"]["delta_log"].get<bool>();
    }
    m.created_at = j.value("created_at", "");
    m.message = j.value("message", "");
    for (const auto& [path, jn] : j.at("nodes").items()) {
      auto normalized = NormalizePath(path);
      if (!normalized.ok() || *normalized != path)
        return Status::Corruption("manifest ", file, ": invalid node path '", path.substr(0, 200), "'");
      NodeEntry n;
      bool ok = false;
      n.kind = NodeKindFromName(jn.at("kind").get<std::string>(), &ok);
      if (!ok)
        return Status::UnsupportedVersion("manifest ", file, ": node ", path, " is of kind '",
                                          jn.at("kind").get<std::string>().substr(0, 40),
                                          "', which this octavo (", kVersion,
                                          ") does not know: the bundle was written by a newer octavo; upgrade to open it");
      n.attrs = jn.value("attrs", Json::object());
      n.created_at = jn.value("created_at", "");
      n.modified_at = jn.value("modified_at", "");
      const std::string where = "manifest " + file + " node " + path;
      if (n.kind == NodeKind::kTable) {
        OCTAVO_ASSIGN_OR_RETURN(n.table, TableFromJson(jn.at("table"), where));
      } else if (n.kind == NodeKind::kFile) {
        OCTAVO_ASSIGN_OR_RETURN(n.file, FileFromJson(jn.at("payload"), where));
      } else if (n.kind == NodeKind::kLink) {
        auto link = std::make_shared<LinkEntry>();
        link->target = jn.at("payload").at("target").get<std::string>();
        auto t = NormalizePath(link->target);
        if (!t.ok() || *t != link->target)
          return Status::Corruption(where, ": invalid link target '", link->target.substr(0, 200), "'");
        n.link = std::move(link);
      } else if (n.kind == NodeKind::kArray) {
        OCTAVO_ASSIGN_OR_RETURN(n.array, ArrayFromJson(jn.value("payload", Json::object()), where));
      }
      m.nodes.emplace(path, std::move(n));
    }
  } catch (const std::exception& e) {
    return Status::Corruption("manifest ", file, " is malformed: ", e.what());
  }
  if (!m.nodes.count("/")) return Status::Corruption("manifest ", file, " has no root group");
  return m;
}

}  // namespace octavo
