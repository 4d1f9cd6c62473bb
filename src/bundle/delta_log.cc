// The Delta Lake log of each table (docs/format.md section 12). Every version is derived from
// octavo manifests: the log records, for each commit that changed a table's parts or schema,
// the parts added and removed. Written only by the holder of the bundle's writer lock, after
// the commit point, each version file created exclusively (never overwritten).
#include "bundle/delta_log.h"

#include <arrow/api.h>
#include <arrow/io/memory.h>
#include <arrow/json/from_string.h>
#include <parquet/arrow/writer.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "bundle/bundle_impl.h"
#include "octavo/arrow_status.h"
#include "octavo/delta.h"
#include "octavo/version.h"
#include "util/crc32.h"
#include "util/names.h"
#include "util/time_util.h"

namespace octavo {
namespace {

constexpr int64_t kCheckpointInterval = 10;

std::string VersionName(int64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%020lld", static_cast<long long>(v));
  return buf;
}

// "00000000000000000042.json" -> 42; -1 for any other name.
int64_t ParseVersionName(const std::string& name, const std::string& suffix) {
  if (name.size() != 20 + suffix.size() || name.compare(20, std::string::npos, suffix) != 0) return -1;
  int64_t v = 0;
  for (int i = 0; i < 20; ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    v = v * 10 + (name[i] - '0');
  }
  return v;
}

// Milliseconds since the epoch of an octavo timestamp (2026-11-21T16:40:00.123456Z); now if it does not parse.
int64_t IsoToMillis(const std::string& iso) {
  std::tm tm{};
  int frac_us = 0;
  char fbuf[16] = {0};
  if (std::sscanf(iso.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%9[0-9]", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, fbuf) < 6)
    return static_cast<int64_t>(std::time(nullptr)) * 1000;
  std::string f = fbuf;
  f.resize(6, '0');
  frac_us = std::atoi(f.c_str());
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm)) * 1000 + frac_us / 1000;
}

// --- schema: Arrow -> Delta schemaString ---------------------------------------------------------

Result<Json> DeltaType(const arrow::DataType& t);

Result<Json> DeltaField(const arrow::Field& f) {
  OCTAVO_ASSIGN_OR_RETURN(Json type, DeltaType(*f.type()));
  return Json{{"name", f.name()}, {"type", std::move(type)}, {"nullable", f.nullable()}, {"metadata", Json::object()}};
}

Result<Json> DeltaType(const arrow::DataType& t) {
  using arrow::Type;
  switch (t.id()) {
    case Type::BOOL: return Json("boolean");
    case Type::INT8: return Json("byte");
    case Type::INT16: case Type::UINT8: return Json("short");
    case Type::INT32: case Type::UINT16: return Json("integer");
    case Type::INT64: case Type::UINT32: return Json("long");
    case Type::FLOAT: return Json("float");
    case Type::DOUBLE: return Json("double");
    case Type::STRING: case Type::LARGE_STRING: case Type::STRING_VIEW: return Json("string");
    case Type::BINARY: case Type::LARGE_BINARY: case Type::BINARY_VIEW: case Type::FIXED_SIZE_BINARY:
      return Json("binary");
    case Type::DATE32: return Json("date");
    // Protocol 1/2 has only "timestamp" (instants); readers take a zone-less one as UTC.
    case Type::TIMESTAMP: return Json("timestamp");
    case Type::DECIMAL128: {
      const auto& d = static_cast<const arrow::Decimal128Type&>(t);
      if (d.precision() > 38) break;
      return Json("decimal(" + std::to_string(d.precision()) + "," + std::to_string(d.scale()) + ")");
    }
    case Type::DICTIONARY: return DeltaType(*static_cast<const arrow::DictionaryType&>(t).value_type());
    case Type::LIST: case Type::LARGE_LIST: case Type::FIXED_SIZE_LIST: {
      const auto& v = *static_cast<const arrow::BaseListType&>(t).value_field();
      OCTAVO_ASSIGN_OR_RETURN(Json e, DeltaType(*v.type()));
      return Json{{"type", "array"}, {"elementType", std::move(e)}, {"containsNull", v.nullable()}};
    }
    case Type::STRUCT: {
      Json fields = Json::array();
      for (const auto& f : t.fields()) {
        OCTAVO_ASSIGN_OR_RETURN(Json jf, DeltaField(*f));
        fields.push_back(std::move(jf));
      }
      return Json{{"type", "struct"}, {"fields", std::move(fields)}};
    }
    case Type::MAP: {
      const auto& m = static_cast<const arrow::MapType&>(t);
      OCTAVO_ASSIGN_OR_RETURN(Json k, DeltaType(*m.key_type()));
      OCTAVO_ASSIGN_OR_RETURN(Json v, DeltaType(*m.item_type()));
      return Json{{"type", "map"}, {"keyType", std::move(k)}, {"valueType", std::move(v)},
                  {"valueContainsNull", m.item_field()->nullable()}};
    }
    default: break;
  }
  return Status::NotImplemented("Arrow type ", t.ToString(), " has no Delta Lake (protocol 1/2) equivalent");
}

Result<std::string> SchemaString(const arrow::Schema& s) {
  Json fields = Json::array();
  for (const auto& f : s.fields()) {
    OCTAVO_ASSIGN_OR_RETURN(Json jf, DeltaField(*f));
    fields.push_back(std::move(jf));
  }
  return Json{{"type", "struct"}, {"fields", std::move(fields)}}.dump();
}

// --- actions -------------------------------------------------------------------------------------

// A stable UUID-shaped id per table (the same on every replay of its history).
std::string TableId(const std::string& uid) {
  std::string h;
  char buf[9];
  for (uint32_t i = 0; h.size() < 32; ++i) {
    std::snprintf(buf, sizeof(buf), "%08x", Crc32(std::to_string(i) + ":" + uid));
    h += buf;
  }
  h[12] = '4';
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20, 12);
}

// The part's path relative to the table directory data/<uid>/ (a copied table shares its
// source's parts, which live in the source's folder).
std::string RelativePath(const std::string& uid, const std::string& file) {
  const std::string own = std::string(kDataDir) + "/" + uid + "/";
  if (file.rfind(own, 0) == 0) return file.substr(own.size());
  const std::string data = std::string(kDataDir) + "/";
  return "../" + (file.rfind(data, 0) == 0 ? file.substr(data.size()) : file);
}

Json Stats(const arrow::Schema& schema, const PartEntry& p) {
  Json mins = Json::object(), maxs = Json::object(), nulls = Json::object();
  for (const auto& f : schema.fields()) {
    if (!p.stats.is_object() || !p.stats.contains(f->name())) continue;
    const Json& s = p.stats[f->name()];
    if (!s.is_object()) continue;
    if (s.contains("null_count") && s["null_count"].is_number_integer()) nulls[f->name()] = s["null_count"];
    if (!s.contains("min") || !s.contains("max")) continue;
    const auto id = f->type()->id();
    const bool numeric = arrow::is_integer(id) || arrow::is_floating(id);
    const bool text = id == arrow::Type::STRING || id == arrow::Type::LARGE_STRING;
    if ((numeric && s["min"].is_number() && s["max"].is_number()) ||
        (text && s["min"].is_string() && s["max"].is_string())) {
      mins[f->name()] = s["min"];
      maxs[f->name()] = s["max"];
    }
  }
  return Json{{"numRecords", p.num_rows}, {"minValues", mins}, {"maxValues", maxs}, {"nullCount", nulls}};
}

Json AddAction(const std::string& uid, const arrow::Schema& schema, const PartEntry& p) {
  return Json{{"path", RelativePath(uid, p.file)},
              {"partitionValues", Json::object()},
              {"size", p.size_bytes},
              {"modificationTime", IsoToMillis(p.created_at)},
              {"dataChange", true},
              {"stats", Stats(schema, p).dump()}};
}

Result<Json> MetaData(const std::string& uid, const arrow::Schema& schema, int64_t created_ms) {
  OCTAVO_ASSIGN_OR_RETURN(std::string ss, SchemaString(schema));
  return Json{{"id", TableId(uid)},
              {"format", {{"provider", "parquet"}, {"options", Json::object()}}},
              {"schemaString", ss},
              {"partitionColumns", Json::array()},
              {"configuration", Json::object()},
              {"createdTime", created_ms}};
}

Json Protocol() { return Json{{"minReaderVersion", 1}, {"minWriterVersion", 2}}; }

// What a log version records about the table's state, so the next commit can tell whether
// the log already holds the parent's state without reading old manifests.
std::string Fingerprint(const TableEntry& t) {
  auto schema = SerializeSchema(*t.schema);
  uint32_t crc = Crc32(schema.ok() ? *schema : std::string());
  for (const auto& p : t.parts) {
    crc = Crc32(crc, "\n", 1);
    crc = Crc32(crc, p.file.data(), p.file.size());
  }
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%08x", crc);
  return std::string(buf) + ":" + std::to_string(t.parts.size());
}

// --- files ---------------------------------------------------------------------------------------

// Writes `name` in `dir` only if no file of that name exists: a temporary, synced, then
// renamed. The rename cannot replace a version another writer made: only the holder of the
// bundle's writer lock writes logs, and it checks under that lock.
Status WriteExclusive(Env* env, const std::string& dir, const std::string& name, std::string_view data) {
  const std::string final_path = dir + "/" + name;
  if (env->FileExists(final_path)) return Status::AlreadyExists("Delta log file ", final_path, " already exists");
  const std::string tmp = dir + "/." + name + ".tmp";
  if (env->FileExists(tmp)) OCTAVO_RETURN_NOT_OK(env->RemoveFile(tmp));
  {
    OCTAVO_ASSIGN_OR_RETURN(auto f, env->NewWritableFile(tmp));
    Status st = f->Append(data);
    if (st.ok()) st = f->Sync();
    Status cl = f->Close();
    if (st.ok()) st = cl;
    if (!st.ok()) {
      (void)env->RemoveFile(tmp);
      return st;
    }
  }
  if (env->FileExists(final_path)) {
    (void)env->RemoveFile(tmp);
    return Status::AlreadyExists("Delta log file ", final_path, " already exists");
  }
  OCTAVO_RETURN_NOT_OK(env->RenameFile(tmp, final_path));
  return env->SyncDir(dir);
}

struct LogTail {
  int64_t version = -1;      // newest version; -1: no log
  int64_t commit = -1;       // its octavo commit
  std::string fingerprint;   // its table state
};

std::string LogDir(const BundleImpl& b, const std::string& uid) {
  return b.AbsPath(std::string(kDataDir) + "/" + uid + "/" + kDeltaLogDir);
}

// The version files present (json), sorted.
Result<std::vector<int64_t>> ListVersions(BundleImpl& b, const std::string& dir) {
  std::vector<int64_t> out;
  if (!b.env()->FileExists(dir)) return out;
  OCTAVO_ASSIGN_OR_RETURN(auto names, b.env()->ListDir(dir));
  for (const auto& n : names)
    if (int64_t v = ParseVersionName(n, ".json"); v >= 0) out.push_back(v);
  std::sort(out.begin(), out.end());
  return out;
}

// The commitInfo of one version file.
Result<Json> ReadCommitInfo(BundleImpl& b, const std::string& dir, int64_t v) {
  const std::string path = dir + "/" + VersionName(v) + ".json";
  OCTAVO_ASSIGN_OR_RETURN(std::string text, b.env()->ReadFile(path));
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    auto j = ParseJson(std::string_view(text).substr(start, end - start), path);
    if (j.ok() && j->is_object() && j->contains("commitInfo") && (*j)["commitInfo"].is_object())
      return (*j)["commitInfo"];
    start = end + 1;
  }
  return Status::Corruption("Delta log file ", path, " has no commitInfo");
}

Result<LogTail> ReadTail(BundleImpl& b, const std::string& dir) {
  LogTail t;
  OCTAVO_ASSIGN_OR_RETURN(auto versions, ListVersions(b, dir));
  if (versions.empty()) return t;
  t.version = versions.back();
  OCTAVO_ASSIGN_OR_RETURN(Json ci, ReadCommitInfo(b, dir, t.version));
  if (!ci.contains("octavoCommit") || !ci["octavoCommit"].is_number_integer())
    return Status::Corruption("Delta log ", dir, ": version ", t.version, " names no octavo commit");
  t.commit = ci["octavoCommit"].get<int64_t>();
  t.fingerprint = ci.value("octavoState", "");
  return t;
}

// Appends `j` (an action's JSON) to a builder of the checkpoint's Arrow type.
// An action's JSON in the form arrow::json::ArrayFromJSONString reads for `type`: maps as
// lists of [key, value] pairs, struct fields by name (absent ones null).
Json ArrowJson(const Json& j, const arrow::DataType& type) {
  if (j.is_null()) return j;
  switch (type.id()) {
    case arrow::Type::MAP: {
      const auto& m = static_cast<const arrow::MapType&>(type);
      Json pairs = Json::array();
      for (const auto& [k, v] : j.items()) pairs.push_back(Json::array({k, ArrowJson(v, *m.item_type())}));
      return pairs;
    }
    case arrow::Type::STRUCT: {
      Json out = Json::object();
      for (const auto& f : type.fields())
        out[f->name()] = j.contains(f->name()) ? ArrowJson(j[f->name()], *f->type()) : Json();
      return out;
    }
    case arrow::Type::LIST: {
      Json out = Json::array();
      for (const auto& e : j) out.push_back(ArrowJson(e, *static_cast<const arrow::ListType&>(type).value_type()));
      return out;
    }
    default: return j;
  }
}

std::shared_ptr<arrow::Schema> CheckpointSchema() {
  using namespace arrow;
  auto smap = map(utf8(), utf8());
  auto add = struct_({field("path", utf8()), field("partitionValues", smap), field("size", int64()),
                      field("modificationTime", int64()), field("dataChange", boolean()), field("stats", utf8())});
  auto remove = struct_({field("path", utf8()), field("deletionTimestamp", int64()), field("dataChange", boolean())});
  auto meta = struct_({field("id", utf8()), field("name", utf8()), field("description", utf8()),
                       field("format", struct_({field("provider", utf8()), field("options", smap)})),
                       field("schemaString", utf8()), field("partitionColumns", list(utf8())),
                       field("configuration", smap), field("createdTime", int64())});
  auto protocol = struct_({field("minReaderVersion", int32()), field("minWriterVersion", int32())});
  return schema({field("txn", struct_({field("appId", utf8()), field("version", int64()),
                                       field("lastUpdated", int64())})),
                 field("add", add), field("remove", remove), field("metaData", meta), field("protocol", protocol)});
}

// A checkpoint of version `v`: the table's whole state (protocol, metaData, one add per part).
Status WriteCheckpoint(BundleImpl& b, const std::string& uid, const TableEntry& t, int64_t v, int64_t created_ms) {
  const std::string dir = LogDir(b, uid);
  const std::string name = VersionName(v) + ".checkpoint.parquet";
  if (b.env()->FileExists(dir + "/" + name)) return Status::OK();
  std::vector<std::pair<std::string, Json>> rows;
  rows.emplace_back("protocol", Protocol());
  OCTAVO_ASSIGN_OR_RETURN(Json meta, MetaData(uid, *t.schema, created_ms));
  rows.emplace_back("metaData", std::move(meta));
  for (const auto& p : t.parts) rows.emplace_back("add", AddAction(uid, *t.schema, p));
  auto schema = CheckpointSchema();
  std::vector<std::shared_ptr<arrow::Array>> columns;
  for (const auto& f : schema->fields()) {
    Json values = Json::array();
    for (const auto& [kind, action] : rows) values.push_back(kind == f->name() ? ArrowJson(action, *f->type()) : Json());
    OCTAVO_ARROW_ASSIGN_OR_RETURN(auto arr, arrow::json::ArrayFromJSONString(f->type(), values.dump()));
    columns.push_back(std::move(arr));
  }
  auto table = arrow::Table::Make(schema, columns, static_cast<int64_t>(rows.size()));
  OCTAVO_ARROW_ASSIGN_OR_RETURN(auto sink, arrow::io::BufferOutputStream::Create());
  OCTAVO_RETURN_NOT_ARROW_OK(parquet::arrow::WriteTable(*table, arrow::default_memory_pool(), sink, 1 << 20));
  OCTAVO_ARROW_ASSIGN_OR_RETURN(auto buf, sink->Finish());
  OCTAVO_RETURN_NOT_OK(WriteExclusive(b.env(), dir, name, buf->ToString()));
  // A hint for readers (they also list the directory): replaced, never needed for correctness.
  auto last = b.env()->ReadFile(dir + "/_last_checkpoint");
  if (last.ok()) {
    auto j = ParseJson(*last, "_last_checkpoint");
    if (j.ok() && j->is_object() && (*j).value("version", int64_t{-1}) >= v) return Status::OK();
  }
  return WriteFileAtomic(b.env(), dir + "/_last_checkpoint",
                         Json{{"version", v}, {"size", static_cast<int64_t>(rows.size())}}.dump());
}

// Writes version `v` of the table's log: the change from `prev` (null: none) to `cur` at octavo commit `m`.
Status WriteVersion(BundleImpl& b, const std::string& uid, const TableEntry* prev, const TableEntry& cur,
                    const Manifest& m, int64_t v) {
  const std::string dir = LogDir(b, uid);
  OCTAVO_RETURN_NOT_OK(b.env()->CreateDir(b.AbsPath(std::string(kDataDir) + "/" + uid)));
  OCTAVO_RETURN_NOT_OK(b.env()->CreateDir(dir));
  const int64_t ts = IsoToMillis(m.created_at);
  std::set<std::string> before, after;
  if (prev)
    for (const auto& p : prev->parts) before.insert(p.file);
  for (const auto& p : cur.parts) after.insert(p.file);
  int64_t added = 0, removed = 0;
  std::string body;
  auto line = [&](const char* kind, Json action) { body += Json{{kind, std::move(action)}}.dump() + "\n"; };
  const bool new_schema = !prev || v == 0 || !prev->schema->Equals(*cur.schema, /*check_metadata=*/true);
  if (v == 0) line("protocol", Protocol());
  if (new_schema) {
    OCTAVO_ASSIGN_OR_RETURN(Json meta, MetaData(uid, *cur.schema, ts));
    line("metaData", std::move(meta));
  }
  if (prev)
    for (const auto& p : prev->parts)
      if (!after.count(p.file)) {
        ++removed;
        line("remove", Json{{"path", RelativePath(uid, p.file)},
                            {"deletionTimestamp", ts},
                            {"dataChange", true},
                            {"extendedFileMetadata", true},
                            {"partitionValues", Json::object()},
                            {"size", p.size_bytes}});
      }
  for (const auto& p : cur.parts)
    if (!before.count(p.file)) {
      ++added;
      line("add", AddAction(uid, *cur.schema, p));
    }
  const std::string operation = v == 0 ? "CREATE TABLE" : removed ? "WRITE" : "WRITE";
  Json info{{"timestamp", ts},
            {"operation", operation},
            {"operationParameters", {{"mode", removed ? "Overwrite" : "Append"}}},
            {"isBlindAppend", removed == 0},
            {"engineInfo", std::string("octavo ") + kVersion},
            {"octavoCommit", m.commit},
            {"octavoMessage", m.message},
            {"octavoState", Fingerprint(cur)}};
  body = Json{{"commitInfo", std::move(info)}}.dump() + "\n" + body;
  OCTAVO_RETURN_NOT_OK(WriteExclusive(b.env(), dir, VersionName(v) + ".json", body));
  if (v > 0 && v % kCheckpointInterval == 0) {
    // A failed checkpoint costs readers speed only: the versions before it are all there.
    (void)WriteCheckpoint(b, uid, cur, v, ts);
  }
  return Status::OK();
}

bool SameState(const TableEntry& a, const TableEntry& b) {
  if (&a == &b) return true;
  if (a.parts.size() != b.parts.size() || !a.schema->Equals(*b.schema, true)) return false;
  for (size_t i = 0; i < a.parts.size(); ++i)
    if (a.parts[i].file != b.parts[i].file) return false;
  return true;
}

const TableEntry* FindByUid(const Manifest& m, const std::string& uid) {
  for (const auto& [path, n] : m.nodes)
    if (n.kind == NodeKind::kTable && n.table && n.table->uid == uid) return n.table.get();
  return nullptr;
}

Result<std::shared_ptr<const Manifest>> ReadManifest(BundleImpl& b, int64_t commit) {
  const std::string path = b.AbsPath(ManifestFileName(commit));
  OCTAVO_ASSIGN_OR_RETURN(std::string text, b.env()->ReadFile(path));
  OCTAVO_ASSIGN_OR_RETURN(Manifest m, ParseManifest(text, path));
  return std::make_shared<const Manifest>(std::move(m));
}

// Brings one table's log up to commit `next.commit`.
Status CatchUpTable(BundleImpl& b, const TableEntry& cur, const Manifest* parent, const Manifest& next,
                    int64_t* written) {
  const std::string dir = LogDir(b, cur.uid);
  OCTAVO_ASSIGN_OR_RETURN(LogTail tail, ReadTail(b, dir));
  if (tail.version < 0) {
    // No log yet: it starts with the table's whole state at this commit.
    OCTAVO_RETURN_NOT_OK(WriteVersion(b, cur.uid, nullptr, cur, next, 0));
    ++*written;
    return Status::OK();
  }
  if (tail.commit >= next.commit) return Status::OK();
  int64_t v = tail.version + 1;
  if (tail.fingerprint == Fingerprint(cur)) return Status::OK();
  const TableEntry* before = parent ? FindByUid(*parent, cur.uid) : nullptr;
  if (before && tail.fingerprint == Fingerprint(*before)) {
    // The log holds the parent's state: one version for this commit.
    OCTAVO_RETURN_NOT_OK(WriteVersion(b, cur.uid, before, cur, next, v));
    ++*written;
    return Status::OK();
  }
  // The log misses commits (a failure after an earlier commit point, or the log was off):
  // replay them from their manifests, one version per commit that changed the table.
  OCTAVO_ASSIGN_OR_RETURN(auto base, ReadManifest(b, tail.commit));
  std::shared_ptr<const Manifest> prev_m = base;
  const TableEntry* prev = FindByUid(*base, cur.uid);
  if (!prev || Fingerprint(*prev) != tail.fingerprint)
    return Status::Corruption("Delta log ", dir, ": version ", tail.version, " does not match commit ", tail.commit,
                              " of the bundle");
  for (int64_t c = tail.commit + 1; c <= next.commit; ++c) {
    std::shared_ptr<const Manifest> m;
    if (c == next.commit) {
      m = std::shared_ptr<const Manifest>(&next, [](const Manifest*) {});
    } else if (parent && c == parent->commit) {
      m = std::shared_ptr<const Manifest>(parent, [](const Manifest*) {});
    } else {
      auto r = ReadManifest(b, c);
      if (!r.ok()) continue;  // removed by gc: its change shows in the next commit's version
      m = *r;
    }
    const TableEntry* t = FindByUid(*m, cur.uid);
    if (!t || SameState(*prev, *t)) continue;
    OCTAVO_RETURN_NOT_OK(WriteVersion(b, cur.uid, prev, *t, *m, v++));
    ++*written;
    prev = t;
    prev_m = m;  // keeps `prev` alive
  }
  return Status::OK();
}

}  // namespace

bool IsDeltaLogFile(const std::string& rel) {
  return rel.find(std::string("/") + kDeltaLogDir + "/") != std::string::npos;
}

Status UpdateDeltaLogs(BundleImpl& b, const Manifest* parent, const Manifest& next, int64_t* versions_written,
                       std::vector<std::string>* errors) {
  if (!next.delta_log) return Status::OK();
  int64_t written = 0;
  Status first;
  for (const auto& [path, n] : next.nodes) {
    if (n.kind != NodeKind::kTable || !n.table) continue;
    if (parent) {
      const TableEntry* before = FindByUid(*parent, n.table->uid);
      if (before && SameState(*before, *n.table)) continue;  // unchanged by this commit
    }
    Status st = CatchUpTable(b, *n.table, parent, next, &written);
    if (!st.ok()) {
      if (errors) errors->push_back(path + ": " + st.ToString());
      if (first.ok()) first = st;
    }
  }
  if (versions_written) *versions_written += written;
  return first;
}

Status TruncateDeltaLogs(BundleImpl& b, const Manifest& current, int64_t oldest_kept,
                         const std::map<int64_t, std::shared_ptr<const Manifest>>& manifests,
                         std::vector<std::string>* removed) {
  const std::string data = b.AbsPath(kDataDir);
  OCTAVO_ASSIGN_OR_RETURN(auto uids, b.env()->ListDir(data));
  auto kept = manifests.find(oldest_kept);
  for (const auto& uid : uids) {
    const std::string dir = data + "/" + uid + "/" + kDeltaLogDir;
    if (!b.env()->FileExists(dir)) continue;
    OCTAVO_ASSIGN_OR_RETURN(auto names, b.env()->ListDir(dir));
    const std::string rel_dir = std::string(kDataDir) + "/" + uid + "/" + kDeltaLogDir + "/";
    auto drop = [&](const std::string& name) -> Status {
      removed->push_back(rel_dir + name);
      return b.env()->RemoveFile(dir + "/" + name);
    };
    const TableEntry* live = FindByUid(current, uid);
    if (!live) {
      // The table is gone from the newest commit: so is its Delta table.
      for (const auto& n : names) OCTAVO_RETURN_NOT_OK(drop(n));
      continue;
    }
    if (kept == manifests.end()) continue;
    const TableEntry* at_oldest = FindByUid(*kept->second, uid);
    if (!at_oldest) continue;  // created later: every version is within the kept commits
    // The newest version at or before the oldest kept commit holds that commit's state.
    OCTAVO_ASSIGN_OR_RETURN(auto versions, ListVersions(b, dir));
    int64_t v0 = -1;
    for (int64_t v : versions) {
      OCTAVO_ASSIGN_OR_RETURN(Json ci, ReadCommitInfo(b, dir, v));
      if (ci.value("octavoCommit", int64_t{-1}) > oldest_kept) break;
      if (ci.value("octavoState", "") != Fingerprint(*at_oldest)) {
        v0 = -1;
        continue;
      }
      v0 = v;
    }
    if (v0 <= 0) continue;  // nothing older, or the log does not match (repair first)
    OCTAVO_RETURN_NOT_OK(WriteCheckpoint(b, uid, *at_oldest, v0, IsoToMillis(kept->second->created_at)));
    for (const auto& n : names) {
      int64_t v = ParseVersionName(n, ".json");
      if (v < 0) v = ParseVersionName(n, ".checkpoint.parquet");
      if (v >= 0 && v < v0) OCTAVO_RETURN_NOT_OK(drop(n));
    }
    OCTAVO_RETURN_NOT_OK(b.env()->SyncDir(dir));
  }
  return Status::OK();
}

// --- public API ----------------------------------------------------------------------------------

namespace {

BundleImpl* Impl(const Bundle& bundle) { return dynamic_cast<BundleImpl*>(const_cast<Bundle*>(&bundle)); }

Result<const TableEntry*> TableAt(const Manifest& m, const std::string& table_path) {
  OCTAVO_ASSIGN_OR_RETURN(std::string p, NormalizePath(table_path));
  OCTAVO_ASSIGN_OR_RETURN(std::string r, ResolveLinks(m, p));
  OCTAVO_ASSIGN_OR_RETURN(const NodeEntry* n, FindNode(m, r));
  if (n->kind != NodeKind::kTable || !n->table) return Status::Invalid("node ", r, " is not a table");
  return n->table.get();
}

}  // namespace

Status SetDeltaLog(Bundle& bundle, bool enabled) {
  BundleImpl* b = Impl(bundle);
  if (!b) return Status::Invalid("not an octavo bundle handle");
  OCTAVO_RETURN_NOT_OK(b->Commit(enabled ? "turn the Delta log on" : "turn the Delta log off", [&](Manifest& m) {
    m.delta_log = enabled;
    return Status::OK();
  }));
  if (enabled && !b->InTransaction()) {
    auto r = RepairDeltaLogs(bundle);  // derived data: a failure here leaves it for the next commit
    (void)r;
  }
  return Status::OK();
}

bool DeltaLogEnabled(const Bundle& bundle) {
  BundleImpl* b = Impl(bundle);
  return b && b->snapshot()->delta_log;
}

Result<std::string> GetDeltaPath(const Bundle& bundle, const std::string& table_path) {
  BundleImpl* b = Impl(bundle);
  if (!b) return Status::Invalid("not an octavo bundle handle");
  OCTAVO_ASSIGN_OR_RETURN(const TableEntry* t, TableAt(*b->snapshot(), table_path));
  return b->AbsPath(std::string(kDataDir) + "/" + t->uid);
}

Result<int64_t> DeltaVersion(const Bundle& bundle, const std::string& table_path, int64_t commit) {
  BundleImpl* b = Impl(bundle);
  if (!b) return Status::Invalid("not an octavo bundle handle");
  auto snap = b->snapshot();
  if (commit < 0) commit = snap->commit;
  OCTAVO_ASSIGN_OR_RETURN(const TableEntry* t, TableAt(*snap, table_path));
  const std::string dir = LogDir(*b, t->uid);
  OCTAVO_ASSIGN_OR_RETURN(auto versions, ListVersions(*b, dir));
  int64_t found = -1;
  for (int64_t v : versions) {
    OCTAVO_ASSIGN_OR_RETURN(Json ci, ReadCommitInfo(*b, dir, v));
    if (ci.value("octavoCommit", int64_t{-1}) > commit) break;
    found = v;
  }
  if (found < 0)
    return Status::NotFound("table ", table_path, " has no Delta log version for commit ", commit,
                            versions.empty() ? " (it has no Delta log: is settings.delta_log off?)"
                                             : " (the table is newer, or gc truncated its log)");
  return found;
}

Result<DeltaRepairReport> RepairDeltaLogs(Bundle& bundle) {
  BundleImpl* b = Impl(bundle);
  if (!b) return Status::Invalid("not an octavo bundle handle");
  std::lock_guard<std::mutex> g(b->writer_mutex());
  OCTAVO_RETURN_NOT_OK(b->CheckWritable("repair the Delta logs"));
  // Writers in other processes add log versions under LOCK.commit: repair takes it too.
  Env::LockOptions lo;
  lo.wait_seconds = -1;
  OCTAVO_ASSIGN_OR_RETURN(auto commit_lock,
                          b->env()->LockFileWith(b->AbsPath(kCommitLockFile), "octavo: repairing Delta logs", lo));
  DeltaRepairReport report;
  auto snap = b->snapshot();
  (void)UpdateDeltaLogs(*b, nullptr, *snap, &report.versions_written, &report.errors);
  return report;
}

}  // namespace octavo
