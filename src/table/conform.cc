#include "table/conform.h"

#include <arrow/api.h>
#include <arrow/compute/api.h>

#include "octavo/arrow_status.h"

namespace octavo {
namespace {

bool IsStringLike(arrow::Type::type id) {
  return id == arrow::Type::STRING || id == arrow::Type::LARGE_STRING || id == arrow::Type::STRING_VIEW;
}
bool IsBinaryLike(arrow::Type::type id) {
  return id == arrow::Type::BINARY || id == arrow::Type::LARGE_BINARY || id == arrow::Type::BINARY_VIEW;
}

bool IsStringish(const arrow::DataType& t) {
  return IsStringLike(t.id()) ||
         (t.id() == arrow::Type::DICTIONARY &&
          IsStringLike(static_cast<const arrow::DictionaryType&>(t).value_type()->id()));
}

int IntBits(arrow::Type::type id) {
  switch (id) {
    case arrow::Type::INT8: case arrow::Type::UINT8: return 8;
    case arrow::Type::INT16: case arrow::Type::UINT16: return 16;
    case arrow::Type::INT32: case arrow::Type::UINT32: return 32;
    default: return 64;
  }
}

// How a column of type `from` becomes the table's `to`:
//   kCast     same values, another layout or a wider type (string vs large_string vs
//             string_view, dictionary index widths, categorical <-> string, float32 -> float64,
//             a small integer -> float, an all-null column -> any type)
//   kChecked  a cast whose values are checked: integer -> another integer width or signedness
//             (an overflowing value is an error), timestamp units (a value the table's unit
//             cannot hold exactly is an error)
//   kNo       anything else (lossy or conflicting)
enum class Conversion { kCast, kChecked, kNo };

Conversion ConversionOf(const arrow::DataType& from, const arrow::DataType& to) {
  if (from.id() == arrow::Type::NA) return Conversion::kCast;
  if (IsStringish(from) && IsStringish(to)) return Conversion::kCast;
  if (IsBinaryLike(from.id()) && IsBinaryLike(to.id())) return Conversion::kCast;
  if (from.id() == arrow::Type::DICTIONARY && to.id() == arrow::Type::DICTIONARY) {
    const auto& f = static_cast<const arrow::DictionaryType&>(from);
    const auto& t = static_cast<const arrow::DictionaryType&>(to);
    return f.value_type()->Equals(*t.value_type()) ? Conversion::kCast : Conversion::kNo;
  }
  if (arrow::is_integer(from.id()) && arrow::is_integer(to.id())) return Conversion::kChecked;
  if (arrow::is_floating(from.id()) && arrow::is_floating(to.id()))
    return arrow::bit_width(from.id()) <= arrow::bit_width(to.id()) ? Conversion::kCast : Conversion::kNo;
  if (arrow::is_integer(from.id()) && arrow::is_floating(to.id())) {
    const int mantissa = to.id() == arrow::Type::DOUBLE ? 53 : to.id() == arrow::Type::FLOAT ? 24 : 11;
    return IntBits(from.id()) < mantissa ? Conversion::kCast : Conversion::kNo;
  }
  if (from.id() == arrow::Type::TIMESTAMP && to.id() == arrow::Type::TIMESTAMP) {
    const auto& f = static_cast<const arrow::TimestampType&>(from);
    const auto& t = static_cast<const arrow::TimestampType&>(to);
    return f.timezone() == t.timezone() ? Conversion::kChecked : Conversion::kNo;
  }
  return Conversion::kNo;
}

std::string FixHint(const arrow::DataType& from, const arrow::DataType& to) {
  if (from.id() == arrow::Type::TIMESTAMP && to.id() == arrow::Type::TIMESTAMP)
    return "; give the data the table's time zone (tz_convert / dt.convert_time_zone) before appending";
  if (arrow::is_floating(from.id()) && arrow::is_integer(to.id()))
    return "; an integer column holding NULLs became float in pandas: use a nullable integer dtype "
           "(df[col].astype('Int64')) or cast it to " + to.ToString() + " before appending";
  return "; cast the column to " + to.ToString() + " before appending, or append to a table with a column of type " +
         from.ToString();
}

// Arrow's cast of a dictionary goes through `take` on its values, which has no kernel for
// every value type (string_view): cast the (small) dictionary first, then take / rewrap.
arrow::Result<std::shared_ptr<arrow::Array>> CastColumn(const std::shared_ptr<arrow::Array>& col,
                                                        const std::shared_ptr<arrow::DataType>& to) {
  const auto safe = arrow::compute::CastOptions::Safe();
  if (col->type_id() == arrow::Type::DICTIONARY) {
    const auto& d = static_cast<const arrow::DictionaryArray&>(*col);
    if (to->id() == arrow::Type::DICTIONARY) {
      const auto& dt = static_cast<const arrow::DictionaryType&>(*to);
      ARROW_ASSIGN_OR_RAISE(auto values, arrow::compute::Cast(*d.dictionary(), dt.value_type(), safe));
      ARROW_ASSIGN_OR_RAISE(auto indices, arrow::compute::Cast(*d.indices(), dt.index_type(), safe));
      return arrow::DictionaryArray::FromArrays(to, indices, values);
    }
    ARROW_ASSIGN_OR_RAISE(auto values, arrow::compute::Cast(*d.dictionary(), to, safe));
    ARROW_ASSIGN_OR_RAISE(auto taken, arrow::compute::Take(values, d.indices()));
    return taken.make_array();
  }
  ARROW_ASSIGN_OR_RAISE(auto out, arrow::compute::Cast(col, to, safe));
  return out.make_array();
}

class ConformingReader final : public arrow::RecordBatchReader {
 public:
  ConformingReader(std::shared_ptr<arrow::RecordBatchReader> in, std::shared_ptr<arrow::Schema> target,
                   std::vector<int> source_index, std::vector<bool> needs_cast, std::string table_path)
      : in_(std::move(in)),
        target_(std::move(target)),
        src_(std::move(source_index)),
        cast_(std::move(needs_cast)),
        path_(std::move(table_path)) {}

  std::shared_ptr<arrow::Schema> schema() const override { return target_; }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    std::shared_ptr<arrow::RecordBatch> b;
    ARROW_RETURN_NOT_OK(in_->ReadNext(&b));
    if (!b) {
      *out = nullptr;
      return arrow::Status::OK();
    }
    std::vector<std::shared_ptr<arrow::Array>> cols;
    cols.reserve(src_.size());
    for (size_t i = 0; i < src_.size(); ++i) {
      auto col = b->column(src_[i]);
      if (cast_[i]) {
        const auto& tf = target_->field(static_cast<int>(i));
        auto d = CastColumn(col, tf->type());
        if (!d.ok())
          return ToArrow(Status::TypeError("cannot append to table ", path_, ": column '", tf->name(), "' (",
                                           col->type()->ToString(), " in the new data) does not fit the table's ",
                                           tf->type()->ToString(), ": ", d.status().message(),
                                           "; append it to a table whose column can hold these values"));
        col = *d;
      }
      cols.push_back(std::move(col));
    }
    *out = arrow::RecordBatch::Make(target_, b->num_rows(), std::move(cols));
    return arrow::Status::OK();
  }
  arrow::Status Close() override { return in_->Close(); }

 private:
  std::shared_ptr<arrow::RecordBatchReader> in_;
  std::shared_ptr<arrow::Schema> target_;
  std::vector<int> src_;
  std::vector<bool> cast_;
  std::string path_;
};

}  // namespace

Result<std::shared_ptr<arrow::RecordBatchReader>> ConformToSchema(
    const std::shared_ptr<arrow::RecordBatchReader>& data, const std::shared_ptr<arrow::Schema>& target,
    const std::string& table_path) {
  auto in = data->schema();
  std::vector<int> src;
  std::vector<bool> cast;
  bool identity = in->num_fields() == target->num_fields();
  for (int i = 0; i < target->num_fields(); ++i) {
    const auto& tf = target->field(i);
    auto idx = in->GetAllFieldIndices(tf->name());
    if (idx.empty())
      return Status::TypeError("cannot append to table ", table_path, ": column '", tf->name(), "' (",
                               tf->type()->ToString(), ") is missing from the new data");
    if (idx.size() > 1)
      return Status::TypeError("cannot append to table ", table_path, ": the new data has column '", tf->name(),
                               "' more than once");
    const auto& ff = in->field(idx[0]);
    bool same = ff->type()->Equals(*tf->type());
    if (!same && ConversionOf(*ff->type(), *tf->type()) == Conversion::kNo)
      return Status::TypeError("cannot append to table ", table_path, ": column '", tf->name(), "' has type ",
                               ff->type()->ToString(), " but the table expects ", tf->type()->ToString(),
                               FixHint(*ff->type(), *tf->type()));
    src.push_back(idx[0]);
    cast.push_back(!same);
    if (idx[0] != i || !same) identity = false;
  }
  for (const auto& f : in->fields()) {
    if (target->GetFieldIndex(f->name()) < 0)
      return Status::TypeError("cannot append to table ", table_path, ": the new data has column '", f->name(),
                               "' (", f->type()->ToString(), ") which the table does not have");
  }
  (void)identity;  // Always rewrap: batches must carry the table's schema metadata.
  return std::shared_ptr<arrow::RecordBatchReader>(
      std::make_shared<ConformingReader>(data, target, std::move(src), std::move(cast), table_path));
}

std::shared_ptr<arrow::Schema> EvolveSchema(const std::shared_ptr<arrow::Schema>& table,
                                            const std::shared_ptr<arrow::Schema>& incoming, bool add_columns) {
  arrow::FieldVector fields = table->fields();
  bool changed = false;
  for (auto& f : fields) {
    if (f->type()->id() != arrow::Type::NA) continue;
    auto in = incoming->GetAllFieldIndices(f->name());
    if (in.size() != 1) continue;  // missing or repeated: ConformToSchema says so
    const auto& t = incoming->field(in[0])->type();
    if (t->id() == arrow::Type::NA) continue;
    f = f->WithType(t)->WithNullable(true);
    changed = true;
  }
  if (add_columns) {
    for (const auto& f : incoming->fields()) {
      if (table->GetFieldIndex(f->name()) >= 0 || table->GetAllFieldIndices(f->name()).size() > 1) continue;
      bool dup = false;
      for (const auto& g : fields) dup = dup || g->name() == f->name();
      if (dup) continue;  // a repeated incoming column: ConformToSchema says so
      fields.push_back(f->WithNullable(true)->WithMetadata(nullptr));
      changed = true;
    }
  }
  if (!changed) return table;
  return NormalizeTableSchema(arrow::schema(std::move(fields), table->metadata()));
}

namespace {
class EvolvingReaderImpl final : public arrow::RecordBatchReader {
 public:
  EvolvingReaderImpl(std::shared_ptr<arrow::RecordBatchReader> in, std::shared_ptr<arrow::Schema> target)
      : in_(std::move(in)), target_(std::move(target)) {}
  std::shared_ptr<arrow::Schema> schema() const override { return target_; }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    std::shared_ptr<arrow::RecordBatch> b;
    ARROW_RETURN_NOT_OK(in_->ReadNext(&b));
    if (!b) {
      *out = nullptr;
      return arrow::Status::OK();
    }
    arrow::ArrayVector cols;
    for (const auto& f : target_->fields()) {
      auto col = b->GetColumnByName(f->name());
      if (!col) {
        ARROW_ASSIGN_OR_RAISE(col, arrow::MakeArrayOfNull(f->type(), b->num_rows()));
      } else if (!col->type()->Equals(*f->type())) {
        ARROW_ASSIGN_OR_RAISE(col, CastColumn(col, f->type()));  // null -> the new type
      }
      cols.push_back(std::move(col));
    }
    *out = arrow::RecordBatch::Make(target_, b->num_rows(), std::move(cols));
    return arrow::Status::OK();
  }

 private:
  std::shared_ptr<arrow::RecordBatchReader> in_;
  std::shared_ptr<arrow::Schema> target_;
};
}  // namespace

std::shared_ptr<arrow::RecordBatchReader> EvolvingReader(std::shared_ptr<arrow::RecordBatchReader> old_rows,
                                                         std::shared_ptr<arrow::Schema> evolved) {
  return std::make_shared<EvolvingReaderImpl>(std::move(old_rows), std::move(evolved));
}

std::shared_ptr<arrow::Schema> NormalizeTableSchema(const std::shared_ptr<arrow::Schema>& schema) {
  // polars hands out string_view / binary_view where pandas and pyarrow give (large_)string:
  // one stored type for the same data, and the one every reader and kernel handles.
  auto plain = [](const std::shared_ptr<arrow::DataType>& t) -> std::shared_ptr<arrow::DataType> {
    if (t->id() == arrow::Type::STRING_VIEW) return arrow::large_utf8();
    if (t->id() == arrow::Type::BINARY_VIEW) return arrow::large_binary();
    return t;
  };
  arrow::FieldVector fields;
  bool changed = false;
  for (const auto& f : schema->fields()) {
    if (f->type()->id() == arrow::Type::DICTIONARY) {
      const auto& d = static_cast<const arrow::DictionaryType&>(*f->type());
      auto value = plain(d.value_type());
      if (d.index_type()->id() != arrow::Type::INT32 || value != d.value_type()) {
        fields.push_back(f->WithType(arrow::dictionary(arrow::int32(), value, d.ordered())));
        changed = true;
        continue;
      }
    }
    auto t = plain(f->type());
    if (t != f->type()) {
      fields.push_back(f->WithType(t));
      changed = true;
      continue;
    }
    fields.push_back(f);
  }
  return changed ? arrow::schema(std::move(fields), schema->metadata()) : schema;
}

Result<std::shared_ptr<arrow::ChunkedArray>> CastToDeclaredType(const std::shared_ptr<arrow::ChunkedArray>& column,
                                                                const std::shared_ptr<arrow::DataType>& type,
                                                                const std::string& context) {
  if (column->type()->Equals(*type)) return column;
  auto res = arrow::compute::Cast(arrow::Datum(column), type);
  if (!res.ok())
    return Status::Corruption(context, " holds ", column->type()->ToString(), " where the table declares ",
                              type->ToString(), " (", res.status().message(), ")");
  return res->chunked_array();
}

}  // namespace octavo
