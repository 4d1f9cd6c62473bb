// Read-only commands: tree, info, head. tree and info read only the manifest.
#include <arrow/api.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>

#include "cli/cli.h"

namespace octavo::cli {

namespace {

constexpr size_t kAttrTextWidth = 100;

std::string ParentOf(const std::string& path) {
  if (path == "/") return "";
  size_t pos = path.rfind('/');
  return pos == 0 ? "/" : path.substr(0, pos);
}

int Depth(const std::string& path) {
  if (path == "/") return 0;
  return static_cast<int>(std::count(path.begin(), path.end(), '/'));
}

std::string NameOf(const std::string& path) {
  if (path == "/") return "/";
  return path.substr(path.rfind('/') + 1);
}

Json CommitJson(const CommitInfo& c) {
  Json j = Json::parse(CommitInfoToJson(c));
  j.erase("manifest_file");  // `octavo log --json` and info print the commit without it
  return j;
}

Json OptionsJson(const TableOptions& o) { return Json::parse(TableOptionsToJson(o)); }

// "id: int64, x: double, ... (+7 more)"
std::string ColumnsSummary(const TableInfo& t, int max_columns) {
  std::string out;
  int shown = 0;
  for (size_t i = 0; i < t.column_names.size(); ++i) {
    if (max_columns > 0 && shown == max_columns) {
      out += ", ... (+" + std::to_string(t.column_names.size() - i) + " more)";
      break;
    }
    if (shown > 0) out += ", ";
    out += Printable(t.column_names[i]) + ": " + t.column_types[i];
    ++shown;
  }
  return out;
}

void PrintAttrs(const Json& attrs, const std::string& indent) {
  for (const auto& [k, v] : attrs.items())
    std::cout << indent << "." << Printable(k) << " = " << Truncate(Printable(DumpJson(v)), kAttrTextWidth) << "\n";
}

// Table fields shared by tree --json and info --json.
void AddTableFields(Json& j, const TableInfo& t) {
  j["num_rows"] = t.num_rows;
  j["num_columns"] = t.num_columns;
  j["column_names"] = t.column_names;
  j["column_types"] = t.column_types;
  j["size_bytes"] = t.size_bytes;
  j["num_parts"] = t.num_parts;
}

std::string TableSummary(const TableInfo& t) {
  return Plural(t.num_rows, "row", "rows") + ", " + Plural(t.num_columns, "column", "columns") + ", " +
         HumanSize(t.size_bytes) + " in " + Plural(t.num_parts, "part", "parts");
}

}  // namespace

// --- file nodes and links --------------------------------------------------------------------

// "12.3 KiB, blake2b-256:ab12cd34…" for a file; "-> /target" (dangling: said so) for a link.
static std::string FileOrLinkSummary(const Bundle& b, const NodeInfo& n) {
  if (n.kind == NodeKind::kFile) {
    auto f = b.GetFileInfo(n.path);
    if (!f.ok()) return "(" + f.status().message() + ")";
    return HumanSize(f->size) + ", " + f->digest.substr(0, 20) + "…";
  }
  auto target = b.LinkTarget(n.path);
  if (!target.ok()) return "(" + target.status().message() + ")";
  std::string out = "-> " + Printable(*target);
  if (auto r = b.ResolvePath(n.path); !r.ok()) out += "  (" + Printable(r.status().message()) + ")";
  return out;
}

static void AddFileOrLinkFields(const Bundle& b, const NodeInfo& n, Json& j) {
  if (n.kind == NodeKind::kFile) {
    if (auto f = b.GetFileInfo(n.path); f.ok()) {
      j["size"] = f->size;
      j["digest"] = f->digest;
      j["content_file"] = f->blob;
    }
  } else if (n.kind == NodeKind::kLink) {
    if (auto t = b.LinkTarget(n.path); t.ok()) j["target"] = *t;
    auto r = b.ResolvePath(n.path);
    j["dangling"] = !r.ok();
  }
}

// --- arrays ----------------------------------------------------------------------------------

static std::string ShapeText(const std::vector<int64_t>& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

static std::string RatioText(const ArrayInfo& i) {
  if (i.size_bytes == 0) return "no chunks stored";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fx", static_cast<double>(i.logical_bytes) / static_cast<double>(i.size_bytes));
  return buf;
}

static int64_t ChunkCount(const ArrayInfo& i) {
  int64_t n = 1;
  for (size_t d = 0; d < i.shape.size(); ++d) n *= (i.shape[d] + i.chunks[d] - 1) / i.chunks[d];
  return n;
}

// "shape (100, 512, 512) uint16, chunks (1, 512, 512), blosc:zstd, 50.0 MiB -> 12.1 MiB (4.13x)"
static std::string ArraySummary(const ArrayInfo& i) {
  std::string comp = i.compressor;
  if (i.shuffle) comp += "+shuffle";
  if (i.bitshuffle) comp += "+bitshuffle";
  return "shape " + ShapeText(i.shape) + " " + i.dtype + ", chunks " + ShapeText(i.chunks) + ", " + comp + ", " +
         HumanSize(i.logical_bytes) + " -> " + HumanSize(i.size_bytes) + " stored (" + RatioText(i) + ")";
}

static void AddArrayFields(Json& j, const ArrayInfo& i) {
  j["shape"] = i.shape;
  j["dtype"] = i.dtype;
  j["itemsize"] = i.itemsize;
  j["chunks"] = i.chunks;
  j["fill_value"] = ParseAttrs(i.fill_value, i.path);
  j["compressor"] = i.compressor;
  j["compression_level"] = i.compression_level;
  j["shuffle"] = i.bitshuffle ? "bitshuffle" : i.shuffle ? "shuffle" : "noshuffle";
  j["codecs"] = i.codecs;
  j["logical_bytes"] = i.logical_bytes;
  j["size_bytes"] = i.size_bytes;
  j["compression_ratio"] = i.size_bytes ? static_cast<double>(i.logical_bytes) / static_cast<double>(i.size_bytes)
                                        : 0.0;
  j["num_chunks"] = ChunkCount(i);
  j["num_chunks_stored"] = i.num_chunks_stored;
}

// --- tree ----------------------------------------------------------------------------------

int RunTree(const TreeArgs& args, const GlobalOptions& g) {
  Address a = ParseAddress(args.address);
  auto bundle = OpenBundle(a, OpenMode::kRead);
  auto nodes = Unwrap(bundle->Walk(a.node), "bundle " + a.bundle);
  std::map<std::string, int> children;
  for (const auto& n : nodes) {
    std::string parent = ParentOf(n.path);
    if (!parent.empty()) ++children[parent];
  }
  const int base_depth = nodes.empty() ? 0 : Depth(nodes.front().path);

  if (g.json) {
    Json out = Json::array();
    for (const auto& n : nodes) {
      Json j;
      j["path"] = n.path;
      j["name"] = NameOf(n.path);
      j["kind"] = NodeKindName(n.kind);
      j["depth"] = Depth(n.path);
      j["attrs"] = ParseAttrs(n.attrs_json, n.path);
      j["created_at"] = n.created_at;
      j["modified_at"] = n.modified_at;
      if (n.kind == NodeKind::kGroup) j["num_children"] = children[n.path];
      if (n.kind == NodeKind::kTable) {
        auto table = Unwrap(bundle->OpenTable(n.path), "bundle " + a.bundle);
        AddTableFields(j, Unwrap(table->Info(), "bundle " + a.bundle));
      }
      if (n.kind == NodeKind::kArray)
        AddArrayFields(j, Unwrap(Unwrap(bundle->OpenArray(n.path), "bundle " + a.bundle)->Info(), "bundle " + a.bundle));
      AddFileOrLinkFields(*bundle, n, j);
      out.push_back(std::move(j));
    }
    PrintJson(out);
    return kExitOK;
  }

  CommitInfo c = bundle->commit();
  std::cout << bundle->path() << "  commit " << c.id << "  created_at " << c.created_at;
  if (!c.message.empty()) std::cout << "  (" << Printable(c.message) << ")";
  std::cout << "\n";
  for (const auto& n : nodes) {
    std::string indent(static_cast<size_t>(2 * (Depth(n.path) - base_depth)), ' ');
    std::cout << indent << Printable(n.path) << " (" << NodeKindName(n.kind) << ")";
    std::string sub_indent = indent + "  ";
    if (n.kind == NodeKind::kGroup) {
      int k = children[n.path];
      if (k > 0 || n.path == "/") std::cout << " " << Plural(k, "child", "children");
      std::cout << "\n";
    } else if (n.kind == NodeKind::kTable) {
      auto table = Unwrap(bundle->OpenTable(n.path), "bundle " + a.bundle);
      TableInfo t = Unwrap(table->Info(), "bundle " + a.bundle);
      std::cout << " " << TableSummary(t) << "\n";
      std::cout << sub_indent << "columns: " << ColumnsSummary(t, args.max_columns) << "\n";
    } else if (n.kind == NodeKind::kFile || n.kind == NodeKind::kLink) {
      std::cout << " " << FileOrLinkSummary(*bundle, n) << "\n";
    } else if (n.kind == NodeKind::kArray) {
      auto arr = Unwrap(bundle->OpenArray(n.path), "bundle " + a.bundle);
      std::cout << " " << ArraySummary(Unwrap(arr->Info(), "bundle " + a.bundle)) << "\n";
    } else {
      std::cout << "\n";
    }
    if (!args.no_attrs) PrintAttrs(ParseAttrs(n.attrs_json, n.path), sub_indent);
  }
  return kExitOK;
}

// --- info ----------------------------------------------------------------------------------

int RunInfo(const InfoArgs& args, const GlobalOptions& g) {
  Address a = ParseAddress(args.address);
  auto bundle = OpenBundle(a, OpenMode::kRead);
  const std::string ctx = "bundle " + a.bundle;
  NodeInfo node = Unwrap(bundle->GetNode(a.node), ctx);
  Json attrs = ParseAttrs(node.attrs_json, node.path);
  CommitInfo commit = bundle->commit();

  if (node.kind == NodeKind::kTable) {
    auto table = Unwrap(bundle->OpenTable(node.path), ctx);
    TableInfo t = Unwrap(table->Info(), ctx);
    if (g.json) {
      Json j;
      j["bundle"] = bundle->path();
      j["commit"] = CommitJson(commit);
      j["path"] = t.path;
      j["kind"] = "table";
      AddTableFields(j, t);
      j["created_at"] = t.created_at;
      j["modified_at"] = t.modified_at;
      j["options"] = OptionsJson(t.options);
      Json schema = Json::array();
      if (t.schema) {
        for (const auto& f : t.schema->fields())
          schema.push_back(Json{{"name", f->name()}, {"type", f->type()->ToString()}, {"nullable", f->nullable()}});
      }
      j["schema"] = std::move(schema);
      j["part_files"] = t.part_files;
      j["attrs"] = attrs;
      PrintJson(j);
      return kExitOK;
    }
    const TableOptions& o = t.options;
    std::cout << "path:        " << Printable(t.path) << "\n"
              << "kind:        table\n"
              << "bundle:      " << bundle->path() << " (commit " << commit.id << ")\n"
              << "rows:        " << WithCommas(t.num_rows) << "\n"
              << "columns:     " << t.num_columns << "\n"
              << "size:        " << HumanSize(t.size_bytes) << " (" << WithCommas(t.size_bytes) << " bytes)\n"
              << "parts:       " << t.num_parts << "\n"
              << "created:     " << t.created_at << "\n"
              << "modified:    " << t.modified_at << "\n"
              << "options:     compression=" << o.compression << " (level " << o.compression_level << ")"
              << ", row_group_size=" << WithCommas(o.row_group_size)
              << ", part_max_rows=" << WithCommas(o.part_max_rows)
              << ", data_page_size=" << HumanSize(o.data_page_size)
              << ", dictionary=" << (o.dictionary ? "on (page limit " + HumanSize(o.dictionary_page_limit) + ")" : "off")
              << ", statistics=" << (o.write_statistics ? "on" : "off")
              << ", page_index=" << (o.write_page_index ? "on" : "off") << "\n";
    std::cout << "schema:\n";
    if (t.schema) {
      for (const auto& f : t.schema->fields())
        std::cout << "  " << Printable(f->name()) << ": " << f->type()->ToString() << (f->nullable() ? "" : " not null")
                  << "\n";
    }
    if (!attrs.empty()) {
      std::cout << "attrs:\n";
      PrintAttrs(attrs, "  ");
    }
    std::cout << "part files:\n";
    for (const auto& p : t.part_files) std::cout << "  " << p << "\n";
    return kExitOK;
  }

  if (node.kind == NodeKind::kArray) {
    ArrayInfo i = Unwrap(Unwrap(bundle->OpenArray(node.path), ctx)->Info(), ctx);
    Json zarr = ParseAttrs(i.zarr_json, node.path);
    if (g.json) {
      Json j;
      j["bundle"] = bundle->path();
      j["commit"] = CommitJson(commit);
      j["path"] = i.path;
      j["kind"] = "array";
      AddArrayFields(j, i);
      j["created_at"] = i.created_at;
      j["modified_at"] = i.modified_at;
      j["zarr"] = zarr;
      j["attrs"] = attrs;
      PrintJson(j);
      return kExitOK;
    }
    std::cout << "path:        " << Printable(i.path) << "\n"
              << "kind:        array (Zarr v3)\n"
              << "bundle:      " << bundle->path() << " (commit " << commit.id << ")\n"
              << "shape:       " << ShapeText(i.shape) << "\n"
              << "dtype:       " << i.dtype << " (" << Plural(i.itemsize, "byte", "bytes") << " per element)\n"
              << "chunks:      " << ShapeText(i.chunks) << ", " << WithCommas(i.num_chunks_stored) << " of "
              << WithCommas(ChunkCount(i)) << " stored (the others read as fill_value)\n"
              << "fill_value:  " << i.fill_value << "\n"
              << "compressor:  " << i.compressor << " (level " << i.compression_level << ")"
              << (i.bitshuffle ? ", bitshuffle" : i.shuffle ? ", shuffle" : "") << "\n"
              << "codecs:      " << i.codecs << "\n"
              << "size:        " << HumanSize(i.logical_bytes) << " (" << WithCommas(i.logical_bytes)
              << " bytes) in memory, " << HumanSize(i.size_bytes) << " (" << WithCommas(i.size_bytes)
              << " bytes) stored, ratio " << RatioText(i) << "\n"
              << "created:     " << i.created_at << "\n"
              << "modified:    " << i.modified_at << "\n";
    if (zarr.contains("dimension_names") && !zarr["dimension_names"].is_null())
      std::cout << "dimensions:  " << DumpJson(zarr["dimension_names"]) << "\n";
    std::cout << "attrs:" << (attrs.empty() ? "       (none)" : "") << "\n";
    PrintAttrs(attrs, "  ");
    return kExitOK;
  }

  auto kids = node.kind == NodeKind::kGroup ? Unwrap(bundle->ListChildren(node.path), ctx) : std::vector<NodeInfo>{};
  if (g.json) {
    Json j;
    j["bundle"] = bundle->path();
    j["commit"] = CommitJson(commit);
    j["path"] = node.path;
    j["kind"] = NodeKindName(node.kind);
    j["created_at"] = node.created_at;
    j["modified_at"] = node.modified_at;
    if (node.kind == NodeKind::kGroup) {
      j["num_children"] = kids.size();
      Json ch = Json::array();
      for (const auto& k : kids) ch.push_back(Json{{"path", k.path}, {"name", NameOf(k.path)}, {"kind", NodeKindName(k.kind)}});
      j["children"] = std::move(ch);
    }
    AddFileOrLinkFields(*bundle, node, j);
    j["attrs"] = attrs;
    PrintJson(j);
    return kExitOK;
  }
  std::cout << "path:        " << Printable(node.path) << "\n"
            << "kind:        " << NodeKindName(node.kind) << "\n"
            << "bundle:      " << bundle->path() << " (commit " << commit.id << ", " << commit.created_at << ")\n"
            << "created:     " << node.created_at << "\n"
            << "modified:    " << node.modified_at << "\n";
  if (node.kind == NodeKind::kGroup) {
    std::cout << "children:    " << kids.size() << "\n";
    for (const auto& k : kids) std::cout << "  " << Printable(NameOf(k.path)) << " (" << NodeKindName(k.kind) << ")\n";
  }
  if (node.kind == NodeKind::kFile) {
    FileNodeInfo f = Unwrap(bundle->GetFileInfo(node.path), ctx);
    std::cout << "size:        " << WithCommas(f.size) << " bytes (" << HumanSize(f.size) << ")\n"
              << "digest:      " << f.digest << "\n"
              << "content:     " << f.blob << "\n";
  } else if (node.kind == NodeKind::kLink) {
    std::cout << "target:      " << FileOrLinkSummary(*bundle, node) << "\n";
  }
  std::cout << "attrs:" << (attrs.empty() ? "       (none)" : "") << "\n";
  PrintAttrs(attrs, "  ");
  return kExitOK;
}

// --- head ----------------------------------------------------------------------------------

// --- printing rows ---------------------------------------------------------------------------

RowPrinter::RowPrinter(std::shared_ptr<arrow::Schema> schema, bool json, size_t max_width, std::string ctx,
                       int json_indent)
    : schema_(std::move(schema)), json_(json), max_w_(max_width), ctx_(std::move(ctx)), indent_(json_indent) {
  const int ncols = schema_->num_fields();
  width_.resize(ncols);
  header_.resize(ncols);
  right_.resize(ncols);
  cells_.resize(ncols);
  for (int c = 0; c < ncols; ++c) {
    const auto& field = schema_->field(c);
    header_[c] = Truncate(Printable(field->name()), max_w_);
    width_[c] = DisplayWidth(header_[c]);
    right_[c] = IsNumericType(*field->type());
  }
}

void RowPrinter::Add(const arrow::RecordBatch& batch) {
  const int ncols = batch.num_columns();
  const int64_t nrows = batch.num_rows();
  auto cell = [&](int c, int64_t i) {
    auto s = batch.column(c)->GetScalar(i);
    if (!s.ok()) CheckArrow(s.status(), ctx_ + " column '" + schema_->field(c)->name() + "'");
    return *s;
  };
  if (json_) {
    // Each record as nlohmann prints it inside an indented array, so the streamed text is
    // byte for byte what dumping the whole array at once gave.
    const std::string pad(static_cast<size_t>(indent_ + 2), ' ');
    std::string text;
    for (int64_t i = 0; i < nrows; ++i) {
      Json rec = Json::object();
      for (int c = 0; c < ncols; ++c) rec[schema_->field(c)->name()] = ScalarToJson(*cell(c, i));
      text += rows_ == 0 && i == 0 ? "[\n" : ",\n";
      text += pad;
      for (char ch : DumpJson(rec, 2)) {
        text.push_back(ch);
        if (ch == '\n') text += pad;
      }
      if (text.size() >= (1 << 20)) {  // a batch of wide rows is not held as text whole
        WriteStdout(text);
        text.clear();
      }
    }
    rows_ += nrows;
    WriteStdout(text);
    return;
  }
  for (int64_t i = 0; i < nrows; ++i) {
    for (int c = 0; c < ncols; ++c) {
      std::string t = Truncate(ScalarToText(*cell(c, i)), max_w_);
      width_[c] = std::max(width_[c], DisplayWidth(t));
      pending_bytes_ += t.size() + sizeof(std::string);
      cells_[c].push_back(std::move(t));
    }
    ++pending_;
    if (pending_ >= kAlignRows || pending_bytes_ >= kAlignBytes) FlushText();
  }
  rows_ += nrows;
}

void RowPrinter::FlushText() {
  const int ncols = schema_->num_fields();
  std::string out;
  auto pad = [&](const std::string& s, int c) {
    std::string fill(width_[c] - std::min(width_[c], DisplayWidth(s)), ' ');
    return right_[c] ? fill + s : s + fill;
  };
  auto emit_row = [&](auto&& cell) {
    std::string line;
    for (int c = 0; c < ncols; ++c) {
      if (c > 0) line += "  ";
      line += pad(cell(c), c);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += "\n";
    if (out.size() >= (1 << 20)) {
      WriteStdout(out);
      out.clear();
    }
  };
  if (!header_done_) {
    emit_row([&](int c) { return header_[c]; });
    emit_row([&](int c) { return std::string(width_[c], '-'); });
    header_done_ = true;
  }
  for (int64_t r = 0; r < pending_; ++r) emit_row([&](int c) { return cells_[c][static_cast<size_t>(r)]; });
  for (auto& col : cells_) col.clear();
  pending_ = 0;
  pending_bytes_ = 0;
  WriteStdout(out);
}

void RowPrinter::Finish() {
  if (json_) {
    WriteStdout((rows_ == 0 ? "[]" : "\n" + std::string(static_cast<size_t>(indent_), ' ') + "]") +
                (indent_ == 0 ? "\n" : ""));
    return;
  }
  FlushText();
}

void PrintRows(const arrow::Table& data, bool json, size_t max_w, const std::string& ctx) {
  RowPrinter printer(data.schema(), json, max_w, ctx);
  arrow::TableBatchReader reader(data);
  std::shared_ptr<arrow::RecordBatch> b;
  while (true) {
    CheckArrow(reader.ReadNext(&b), ctx);
    if (!b) break;
    printer.Add(*b);
  }
  printer.Finish();
}

int RunHead(const HeadArgs& args, const GlobalOptions& g) {
  if (args.rows < 0) UsageError("-n must be >= 0, got " + std::to_string(args.rows));
  Address a = ParseAddress(args.address);
  auto bundle = OpenBundle(a, OpenMode::kRead);
  auto table = OpenTableAt(bundle, a);
  const std::string ctx = "bundle " + a.bundle;
  int64_t total = Unwrap(table->num_rows(), ctx);
  std::shared_ptr<arrow::Table> data = Unwrap(table->Head(args.rows, args.columns), ctx);
  const size_t max_w = args.max_width > 0 ? static_cast<size_t>(args.max_width) : 0;
  PrintRows(*data, g.json, max_w, ctx + ": table " + table->path());
  if (g.json) return kExitOK;
  const int64_t nrows = data->num_rows();
  if (nrows < total)
    std::cout << "(first " << WithCommas(nrows) << " of " << Plural(total, "row", "rows") << ")\n";
  else
    std::cout << "(" << Plural(nrows, "row", "rows") << ")\n";
  return kExitOK;
}

}  // namespace octavo::cli
