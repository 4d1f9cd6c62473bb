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

// Same values, another physical layout: string vs large_string vs string_view (pandas
// and polars disagree on these), and dictionary index widths.
bool CastableLosslessly(const arrow::DataType& from, const arrow::DataType& to) {
  if (IsStringLike(from.id()) && IsStringLike(to.id())) return true;
  if (IsBinaryLike(from.id()) && IsBinaryLike(to.id())) return true;
  if (from.id() == arrow::Type::DICTIONARY && to.id() == arrow::Type::DICTIONARY) {
    const auto& f = static_cast<const arrow::DictionaryType&>(from);
    const auto& t = static_cast<const arrow::DictionaryType&>(to);
    return f.value_type()->Equals(*t.value_type()) && arrow::is_integer(f.index_type()->id()) &&
           arrow::is_integer(t.index_type()->id());
  }
  return false;
}

class ConformingReader final : public arrow::RecordBatchReader {
 public:
  ConformingReader(std::shared_ptr<arrow::RecordBatchReader> in, std::shared_ptr<arrow::Schema> target,
                   std::vector<int> source_index, std::vector<bool> needs_cast)
      : in_(std::move(in)), target_(std::move(target)), src_(std::move(source_index)), cast_(std::move(needs_cast)) {}

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
        ARROW_ASSIGN_OR_RAISE(auto d, arrow::compute::Cast(col, target_->field(static_cast<int>(i))->type()));
        col = d.make_array();
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
    if (!same && !CastableLosslessly(*ff->type(), *tf->type()))
      return Status::TypeError("cannot append to table ", table_path, ": column '", tf->name(), "' has type ",
                               ff->type()->ToString(), " but the table expects ", tf->type()->ToString(),
                               "; cast the column before appending");
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
      std::make_shared<ConformingReader>(data, target, std::move(src), std::move(cast)));
}

std::shared_ptr<arrow::Schema> NormalizeTableSchema(const std::shared_ptr<arrow::Schema>& schema) {
  arrow::FieldVector fields;
  bool changed = false;
  for (const auto& f : schema->fields()) {
    if (f->type()->id() == arrow::Type::DICTIONARY) {
      const auto& d = static_cast<const arrow::DictionaryType&>(*f->type());
      if (d.index_type()->id() != arrow::Type::INT32) {
        fields.push_back(f->WithType(arrow::dictionary(arrow::int32(), d.value_type(), d.ordered())));
        changed = true;
        continue;
      }
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
