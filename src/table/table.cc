#include <arrow/api.h>
#include <parquet/arrow/reader.h>

#include <optional>
#include <set>

#include "table/block_cache.h"
#include "table/conform.h"
#include "table/parquet_io.h"
#include "table/progress_reader.h"
#include "table/table_impl.h"
#include "table/row_group_slice.h"
#include "table/row_range.h"
#include "table/index.h"
#include "table/sort_util.h"
#include "octavo/arrow_status.h"
#include "util/json_util.h"
#include "util/names.h"
#include "util/threads.h"
#include "util/time_util.h"

namespace octavo {

// --- creation (a Bundle operation, kept here with the Parquet code) ----------------

static Status ValidateSchema(const arrow::Schema& schema, const std::string& path) {
  if (schema.num_fields() == 0) return Status::Invalid("table ", path, " must have at least one column");
  std::set<std::string> seen;
  for (const auto& f : schema.fields()) {
    if (f->name().empty()) return Status::Invalid("table ", path, " has a column with an empty name");
    OCTAVO_RETURN_NOT_OK(CheckUtf8(f->name(), "table " + path + ": column name"));
    if (!seen.insert(f->name()).second)
      return Status::Invalid("table ", path, " has two columns named '", f->name(), "'");
  }
  return Status::OK();
}

Result<std::shared_ptr<Table>> CreateTableNode(BundleImpl* b, const std::string& path,
                                               const std::shared_ptr<arrow::Schema>& schema,
                                               const std::shared_ptr<arrow::RecordBatchReader>& data,
                                               const TableOptions& options, const CreateNodeOptions& node) {
  OCTAVO_ASSIGN_OR_RETURN(std::string p, NormalizePath(path));
  if (p == "/") return Status::Invalid("a table cannot be the root group");
  if (!schema) return Status::Invalid("table ", p, ": no schema given");
  OCTAVO_RETURN_NOT_OK(ValidateSchema(*schema, p));
  OCTAVO_ASSIGN_OR_RETURN(Json attrs, ParseNodeAttrs(node.attrs_json, "attributes of table " + p));
  auto stored_schema = NormalizeTableSchema(schema);
  std::lock_guard<std::mutex> g(b->writer_mutex());
  OCTAVO_RETURN_NOT_OK(b->CheckWritable("create table " + p));
  if (!node.overwrite) OCTAVO_RETURN_NOT_OK(CheckPathFree(*b->snapshot(), p, "use append to add rows or remove it first"));
  auto entry = std::make_shared<TableEntry>();
  entry->uid = RandomHex(8);
  entry->schema = stored_schema;
  entry->options = options;
  if (data) {
    OCTAVO_ASSIGN_OR_RETURN(auto conformed, ConformToSchema(data, stored_schema, p));
    auto parts = WriteParts(b->env(), b->path(), entry->uid, stored_schema, conformed.get(), options);
    if (!parts.ok()) return parts.status().WithContext("table " + p);
    entry->parts = std::move(parts).ValueOrDie();
  }
  const bool replaces = node.overwrite && b->snapshot()->nodes.count(p) > 0;
  OCTAVO_RETURN_NOT_OK(b->CommitLocked((replaces ? "overwrite table " : "create table ") + p,
                                       [&](Manifest& m) -> Status {
    std::string now = NowIso8601();
    if (node.overwrite) {
      // The old node and its subtree go in the same commit that adds the new table.
      EraseSubtree(m, p);
    } else {
      OCTAVO_RETURN_NOT_OK(CheckPathFree(m, p, "use append to add rows or remove it first"));
    }
    OCTAVO_RETURN_NOT_OK(EnsureParentGroups(m, p, node.create_parents, now));
    NodeEntry n;
    n.kind = NodeKind::kTable;
    n.created_at = n.modified_at = now;
    n.attrs = attrs;
    n.table = entry;
    m.nodes.emplace(p, std::move(n));
    return Status::OK();
  }));
  return b->OpenTable(p);
}

Result<std::string> ResolveTableNode(const BundleImpl& b, const std::string& path) {
  OCTAVO_ASSIGN_OR_RETURN(std::string p, b.ResolvePath(path));
  auto m = b.snapshot();
  OCTAVO_ASSIGN_OR_RETURN(const NodeEntry* n, FindNode(*m, p));
  if (n->kind != NodeKind::kTable)
    return Status::TypeError("'", p, "' is ", NodeKindWithArticle(n->kind), ", not a table");
  return p;
}

Result<std::shared_ptr<Table>> CreateTable(Bundle& bundle, const std::string& path,
                                           const std::shared_ptr<arrow::Schema>& schema,
                                           const std::shared_ptr<arrow::RecordBatchReader>& data,
                                           const TableOptions& options, const CreateNodeOptions& node_options) {
  auto* impl = dynamic_cast<BundleImpl*>(&bundle);
  if (!impl) return Status::NotImplemented("CreateTable with node options needs a bundle from Bundle::Open");
  return CreateTableNode(impl, path, data ? data->schema() : schema, data, options, node_options);
}

// --- TableImpl --------------------------------------------------------------------

Result<std::shared_ptr<const TableEntry>> TableImpl::entry() const {
  auto m = bundle_->snapshot();
  auto it = m->nodes.find(path_);
  if (it == m->nodes.end()) return Status::NotFound("table '", path_, "' no longer exists in this bundle");
  if (it->second.kind != NodeKind::kTable || !it->second.table)
    return Status::TypeError("'", path_, "' is no longer a table");
  return it->second.table;
}

Result<TableInfo> TableImpl::Info() const {
  auto m = bundle_->snapshot();
  OCTAVO_ASSIGN_OR_RETURN(const NodeEntry* n, FindNode(*m, path_));
  if (n->kind != NodeKind::kTable) return Status::TypeError("'", path_, "' is not a table");
  const TableEntry& t = *n->table;
  TableInfo info;
  info.path = path_;
  info.num_rows = t.num_rows();
  info.num_columns = t.schema->num_fields();
  info.size_bytes = t.size_bytes();
  info.num_parts = static_cast<int>(t.parts.size());
  for (const auto& f : t.schema->fields()) {
    info.column_names.push_back(f->name());
    info.column_types.push_back(f->type()->ToString());
  }
  info.schema = t.schema;
  info.created_at = n->created_at;
  info.modified_at = n->modified_at;
  for (const auto& p : t.parts) info.part_files.push_back(bundle_->AbsPath(p.file));
  info.options = t.options;
  if (size_t n = t.SortedPrefix(); n > 0) {
    info.sorted_by = t.sorted_by;
    for (size_t i = 0; i < n; ++i) info.sorted_rows += t.parts[i].num_rows;
  }
  info.indexes = t.indexed_columns;
  return info;
}

Result<std::shared_ptr<arrow::Schema>> TableImpl::schema() const {
  OCTAVO_ASSIGN_OR_RETURN(auto e, entry());
  return e->schema;
}

Result<int64_t> TableImpl::num_rows() const {
  OCTAVO_ASSIGN_OR_RETURN(auto e, entry());
  return e->num_rows();
}

Result<std::vector<int>> ResolveColumns(const arrow::Schema& schema, const std::vector<std::string>& columns,
                                        const std::string& table_path) {
  std::vector<int> out;
  if (columns.empty()) {
    for (int i = 0; i < schema.num_fields(); ++i) out.push_back(i);
    return out;
  }
  for (const auto& c : columns) {
    int i = schema.GetFieldIndex(c);
    if (i < 0) {
      std::string names;
      for (const auto& f : schema.fields()) names += (names.empty() ? "" : ", ") + f->name();
      return Status::NotFound("table ", table_path, " has no column '", c, "'; its columns are: ", names);
    }
    out.push_back(i);
  }
  return out;
}

std::shared_ptr<arrow::Schema> ProjectSchema(const arrow::Schema& schema, const std::vector<int>& fields) {
  arrow::FieldVector fv;
  for (int i : fields) fv.push_back(schema.field(i));
  return arrow::schema(std::move(fv), schema.metadata());
}

namespace {

// A run of consecutive row groups of one part, read as one task.
struct ReadUnit {
  size_t part = 0;
  std::vector<int> row_groups;
  int64_t skip = 0;  // rows to drop at the start of the first row group
  int64_t take = 0;  // rows to keep
  bool paged = false;  // one row group read only in part: only the pages holding the rows
};

// Row groups per task: at most 4 (per-task file opening stays negligible), fewer when that
// would leave threads without a task (at least two tasks per thread where the table allows).
size_t RowGroupsPerUnit(const std::vector<PartSlice>& slices, int threads) {
  size_t total = 0;
  for (const auto& s : slices) total += s.row_groups.size();
  const size_t want = 2 * static_cast<size_t>(std::max(1, threads));
  return std::clamp<size_t>((total + want - 1) / want, 1, 4);
}

std::vector<ReadUnit> SplitIntoUnits(const TableEntry& e, const std::vector<PartSlice>& slices, int threads) {
  const size_t kRowGroupsPerUnit = RowGroupsPerUnit(slices, threads);
  std::vector<ReadUnit> units;
  for (const auto& s : slices) {
    const auto& rg_rows = e.parts[s.part].row_group_rows;
    int64_t remaining = s.length;
    for (size_t i = 0; i < s.row_groups.size() && remaining > 0; ++i) {
      const int g = s.row_groups[i];
      const int64_t skip = i == 0 ? s.offset : 0;
      const int64_t take = std::min(rg_rows[g] - skip, remaining);
      remaining -= take;
      const bool partial = take < rg_rows[g];
      ReadUnit* u = units.empty() ? nullptr : &units.back();
      if (partial || !u || u->paged || u->part != s.part || u->row_groups.size() >= kRowGroupsPerUnit) {
        units.push_back(ReadUnit{s.part, {}, skip, 0, partial});
        u = &units.back();
      }
      u->row_groups.push_back(g);
      u->take += take;
    }
  }
  return units;
}

// Whether every column chunk of these row groups is small enough to decode into one array:
// a string column near 2 GiB would overflow the 32-bit offsets of the single array the page
// decoders build, where parquet::arrow splits it into chunks.
bool FitsOneArrayPerColumn(const parquet::FileMetaData& md, const std::vector<int>& row_groups) {
  for (int g : row_groups) {
    auto rg = md.RowGroup(g);
    for (int c = 0; c < rg->num_columns(); ++c)
      if (rg->ColumnChunk(c)->total_uncompressed_size() > (int64_t(1) << 30)) return false;
  }
  return true;
}

}  // namespace

Result<std::shared_ptr<arrow::Table>> TableImpl::Read(const ReadOptions& options) const {
  OCTAVO_ASSIGN_OR_RETURN(auto e, entry());
  OCTAVO_ASSIGN_OR_RETURN(auto fields, ResolveColumns(*e->schema, options.columns, path_));
  auto out_schema = ProjectSchema(*e->schema, fields);
  OCTAVO_ASSIGN_OR_RETURN(auto slices, ResolveRowRange(*e, options.start, options.stop));

  // Each unit is read by its own FileReader; units run on the shared pool (ParallelFor: the
  // caller takes part), in row order of results. One unit alone may use Arrow's threads.
  const int workers = options.use_threads ? GetNumThreads() : 1;
  const std::vector<ReadUnit> units = SplitIntoUnits(*e, slices, workers);
  std::vector<std::shared_ptr<arrow::Table>> results(units.size());
  const bool arrow_threads = options.use_threads && (units.size() == 1 || workers == 1) && ArrowMayUseThreads();
  // Whole row groups are decoded by octavo's page decoders (RowGroupSliceReader: flat columns
  // without parquet::arrow's level and copy passes), one unit per task; a read that is one unit
  // of whole row groups on several threads goes to parquet::arrow, which decodes its columns
  // in parallel.
  const bool column_parallel = arrow_threads && units.size() == 1 && workers > 1;
  auto table_of = [&](std::vector<arrow::ArrayVector> columns, int64_t rows) {
    std::vector<std::shared_ptr<arrow::ChunkedArray>> chunked;
    for (size_t c = 0; c < columns.size(); ++c)
      chunked.push_back(std::make_shared<arrow::ChunkedArray>(std::move(columns[c]),
                                                              out_schema->field(static_cast<int>(c))->type()));
    return arrow::Table::Make(out_schema, std::move(chunked), rows);
  };
  OCTAVO_RETURN_NOT_OK(ParallelFor(units.size(), workers, [&](size_t i, int) -> Status {
    const ReadUnit& u = units[i];
    const PartEntry& part = e->parts[u.part];
    std::shared_ptr<ChecksummedFile> source;
    if (u.paged) {  // part of one row group: through the block cache, opening the file only to decode
      const int g = u.row_groups[0];
      std::unique_ptr<parquet::arrow::FileReader> reader;
      std::optional<RowGroupSliceReader> slices;
      auto open = [&]() -> Result<RowGroupSliceReader*> {
        if (!slices) {
          OCTAVO_ASSIGN_OR_RETURN(reader, OpenPart(bundle_->path(), path_, part, arrow_threads, false, nullptr,
                                                   &source));
          slices.emplace(reader.get(), source, e->schema, fields,
                         "table " + path_ + ": part file " + bundle_->AbsPath(part.file), arrow::default_memory_pool());
        }
        return &*slices;
      };
      if (static_cast<size_t>(g) >= part.row_group_rows.size())
        return Status::Corruption("table ", path_, ": part file ", bundle_->AbsPath(part.file),
                                  " has no row group ", g, " in the manifest");
      OCTAVO_ASSIGN_OR_RETURN(auto cols, ReadRowGroupSliceCached(PartCacheKey(bundle_->path() + "/" + part.file, part),
                                                                 g, part.row_group_rows[static_cast<size_t>(g)],
                                                                 *e->schema, fields, u.skip, u.take, open));
      results[i] = table_of(std::move(cols), u.take);
      return Status::OK();
    }
    OCTAVO_ASSIGN_OR_RETURN(auto reader, OpenPart(bundle_->path(), path_, part, arrow_threads, column_parallel,
                                                  nullptr, &source));
    if (!column_parallel && FitsOneArrayPerColumn(*reader->parquet_reader()->metadata(), u.row_groups)) {
      // octavo's page decoders for flat columns, row group by row group
      RowGroupSliceReader slices(reader.get(), source, e->schema, fields,
                                 "table " + path_ + ": part file " + bundle_->AbsPath(part.file),
                                 arrow::default_memory_pool());
      std::vector<arrow::ArrayVector> chunks(fields.size());
      int64_t skip = u.skip, left = u.take;
      for (int g : u.row_groups) {
        const int64_t n = std::min(reader->parquet_reader()->metadata()->RowGroup(g)->num_rows() - skip, left);
        OCTAVO_ASSIGN_OR_RETURN(auto cols, slices.Read(g, skip, n));
        for (size_t c = 0; c < cols.size(); ++c) chunks[c].push_back(std::move(cols[c]));
        left -= n;
        skip = 0;
      }
      results[i] = table_of(std::move(chunks), u.take);
      return Status::OK();
    }
    OCTAVO_ASSIGN_OR_RETURN(auto leaves, LeafIndices(*reader, fields));
    auto t = reader->ReadRowGroups(u.row_groups, leaves);
    if (!t.ok())
      return Status::Corruption("table ", path_, ": part file ", bundle_->AbsPath(part.file),
                                " cannot be decoded: ", t.status().message());
    results[i] = (*t)->Slice(u.skip, u.take);
    return Status::OK();
  }));

  std::vector<arrow::ArrayVector> chunks(fields.size());
  int64_t total = 0;
  for (size_t i = 0; i < units.size(); ++i) {
    const auto& sliced = results[i];
    const std::string file = bundle_->AbsPath(e->parts[units[i].part].file);
    if (sliced->num_columns() != static_cast<int>(fields.size()))
      return Status::Corruption("table ", path_, ": part file ", file, " has unexpected columns");
    for (size_t c = 0; c < fields.size(); ++c) {
      const auto& field = out_schema->field(static_cast<int>(c));
      OCTAVO_ASSIGN_OR_RETURN(auto col, CastToDeclaredType(sliced->column(static_cast<int>(c)), field->type(),
                                                           "table " + path_ + ": part file " + file + " column '" +
                                                               field->name() + "'"));
      for (const auto& chunk : col->chunks()) chunks[c].push_back(chunk);
    }
    total += sliced->num_rows();
  }
  std::vector<std::shared_ptr<arrow::ChunkedArray>> columns(fields.size());
  for (size_t c = 0; c < fields.size(); ++c)
    columns[c] = std::make_shared<arrow::ChunkedArray>(std::move(chunks[c]), out_schema->field(static_cast<int>(c))->type());
  return arrow::Table::Make(out_schema, std::move(columns), total);
}

Result<std::shared_ptr<arrow::Table>> TableImpl::Head(int64_t n, const std::vector<std::string>& columns) const {
  if (n < 0) return Status::Invalid("head(n) needs n >= 0, got ", n);
  ReadOptions o;
  o.columns = columns;
  o.start = 0;
  o.stop = n;
  return Read(o);
}

Status TableImpl::Append(const std::shared_ptr<arrow::RecordBatchReader>& data) {
  return Append(data, AppendOptions{});
}

Status TableImpl::Append(const std::shared_ptr<arrow::RecordBatchReader>& data, const AppendOptions& options) {
  if (!data) return Status::Invalid("append to ", path_, ": no data given");
  std::lock_guard<std::mutex> g(bundle_->writer_mutex());
  OCTAVO_RETURN_NOT_OK(bundle_->CheckWritable("append to table " + path_));
  OCTAVO_ASSIGN_OR_RETURN(auto e, entry());
  const std::string ctx = "append to table " + path_;
  // A schema change (a null column typed, columns added): the existing parts are rewritten
  // with the new schema in this commit, so every part keeps holding the table's schema.
  auto schema = EvolveSchema(e->schema, data->schema(), options.add_columns);
  const bool evolves = schema != e->schema;
  OCTAVO_ASSIGN_OR_RETURN(auto conformed, ConformToSchema(data, schema, path_));  // checked before any write
  std::vector<PartEntry> parts;
  auto work = std::make_shared<TableEntry>(*e);
  if (evolves) {
    OCTAVO_ASSIGN_OR_RETURN(auto old_rows, Scan(ReadOptions{}, 64 * 1024));
    auto rewritten = WriteParts(bundle_->env(), bundle_->path(), e->uid, schema,
                                EvolvingReader(old_rows, schema).get(), e->options);
    if (!rewritten.ok()) return rewritten.status().WithContext(ctx + " (rewriting its parts for the new schema)");
    parts = std::move(rewritten).ValueOrDie();
    work->schema = schema;
    work->parts.clear();
    work->sorted_by.clear();  // new part files: the sorted run is not recorded for them
    work->sorted_parts.clear();
  }
  const size_t first_new = parts.size();
  int64_t rows_done = 0;
  ProgressReader counted(conformed.get(), options.progress, options.expected_rows, &rows_done, path_);
  auto written = WriteParts(bundle_->env(), bundle_->path(), e->uid, schema, &counted, e->options);
  if (!written.ok()) return written.status().WithContext(ctx);
  for (auto& p : *written) parts.push_back(std::move(p));
  if (parts.empty() && !evolves) return Status::OK();  // nothing to add, nothing to commit
  // Indexed tables index their new parts before the commit (docs/format.md).
  for (const auto& col : e->indexed_columns)
    for (auto& p : parts) OCTAVO_RETURN_NOT_OK(BuildPartIndex(bundle_->env(), bundle_->path(), path_, *work, col, &p));
  int64_t added = 0;
  for (size_t i = first_new; i < parts.size(); ++i) added += parts[i].num_rows;
  std::string msg = "append " + std::to_string(added) + " rows to " + path_;
  if (evolves) msg += " (schema changed: " + std::to_string(schema->num_fields()) + " columns)";
  return bundle_->CommitLocked(msg, [&](Manifest& m) -> Status {
    auto it = m.nodes.find(path_);
    if (it == m.nodes.end() || it->second.table != e)
      return Status::Invalid("table ", path_, " changed during the append; retry");
    auto next = std::make_shared<TableEntry>(*work);
    for (auto& p : parts) next->parts.push_back(std::move(p));
    it->second.table = std::move(next);
    it->second.modified_at = NowIso8601();
    return Status::OK();
  });
}

Status TableImpl::Append(const std::shared_ptr<arrow::Table>& data) {
  if (!data) return Status::Invalid("append to ", path_, ": no data given");
  AppendOptions o;
  o.expected_rows = data->num_rows();
  return Append(std::make_shared<arrow::TableBatchReader>(data), o);
}

}  // namespace octavo
