#include "table/row_group_slice.h"

#include <arrow/api.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/schema.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>
#include <parquet/page_index.h>

#include "table/conform.h"
#include "table/page_checksums.h"
#include "table/parquet_io.h"
#include "table/row_gather.h"
#include "octavo/arrow_status.h"

namespace octavo {

namespace {

// Whether a column parquet::arrow reads as `stored` may be read by octavo's page readers as
// `declared` directly: the same type, or dictionaries of the same index type whose values
// differ only in offset width (pandas categoricals are declared with large_string values,
// which parquet::arrow reads back as string).
bool ReadableAs(const arrow::DataType& stored, const arrow::DataType& declared) {
  if (stored.Equals(declared)) return true;
  if (stored.id() != arrow::Type::DICTIONARY || declared.id() != arrow::Type::DICTIONARY) return false;
  const auto& s = static_cast<const arrow::DictionaryType&>(stored);
  const auto& d = static_cast<const arrow::DictionaryType&>(declared);
  auto kind = [](arrow::Type::type id) {
    return id == arrow::Type::STRING || id == arrow::Type::LARGE_STRING ? 1
           : id == arrow::Type::BINARY || id == arrow::Type::LARGE_BINARY ? 2
                                                                          : 0;
  };
  return s.index_type()->Equals(*d.index_type()) && kind(s.value_type()->id()) != 0 &&
         kind(s.value_type()->id()) == kind(d.value_type()->id());
}

}  // namespace

std::vector<int> PageReadableLeaves(const parquet::arrow::FileReader& reader, const arrow::Schema& table_schema) {
  const auto& mf = reader.manifest();
  const auto* file_schema = reader.parquet_reader()->metadata()->schema();
  std::vector<int> out(static_cast<size_t>(table_schema.num_fields()), -1);
  for (int f = 0; f < table_schema.num_fields() && f < static_cast<int>(mf.schema_fields.size()); ++f) {
    const auto& sf = mf.schema_fields[static_cast<size_t>(f)];
    const auto& declared = *table_schema.field(f)->type();
    if (sf.is_leaf() && ReadableAs(*sf.field->type(), declared) &&
        CanGatherRows(*file_schema->Column(sf.column_index), declared))
      out[static_cast<size_t>(f)] = sf.column_index;
  }
  return out;
}

RowGroupSliceReader::RowGroupSliceReader(parquet::arrow::FileReader* reader, std::shared_ptr<ChecksummedFile> source,
                                         std::shared_ptr<arrow::Schema> table_schema, std::vector<int> fields,
                                         std::string context, arrow::MemoryPool* pool)
    : reader_(reader), source_(std::move(source)), schema_(std::move(table_schema)), fields_(std::move(fields)),
      context_(std::move(context)), pool_(pool) {
  const auto leaves = PageReadableLeaves(*reader_, *schema_);
  for (int f : fields_) leaf_.push_back(leaves[static_cast<size_t>(f)]);
}

Result<std::vector<std::shared_ptr<arrow::Array>>> RowGroupSliceReader::Read(int g, int64_t first, int64_t count) {
  std::vector<std::shared_ptr<arrow::Array>> out(fields_.size());
  std::vector<int> whole;  // fields decoded a row group at a time
  auto rg = reader_->parquet_reader()->metadata()->RowGroup(g);
  for (size_t c = 0; c < fields_.size(); ++c) {
    // Without an offset index every slice would read the whole chunk again: read it once.
    if (leaf_[c] < 0 || !rg->ColumnChunk(leaf_[c])->GetOffsetIndexLocation()) {
      whole.push_back(fields_[c]);
      continue;
    }
    const auto& field = schema_->field(fields_[c]);
    if (index_group_ != g) {
      index_.reset();
      index_group_ = g;
      try {
        if (auto pages = reader_->parquet_reader()->GetPageIndexReader()) index_ = pages->RowGroup(g);
      } catch (const std::exception& e) {
        return Status::Corruption(context_, " has an unreadable page index in row group ", g, ": ", e.what());
      }
    }
    auto got = ReadPageRange(reader_->parquet_reader(), source_.get(), g, leaf_[c], field->type(), first, count, pool_,
                             index_.get());
    if (!got.ok())
      return Status::Corruption(context_, " column '", field->name(), "' cannot be decoded: ", got.status().message());
    out[c] = std::move(*got);
  }
  if (whole.empty()) return out;
  if (whole_group_ != g || whole_fields_ != whole) {
    whole_table_.reset();
    whole_group_ = -1;
    OCTAVO_ASSIGN_OR_RETURN(auto leaves, LeafIndices(*reader_, whole));
    auto t = reader_->ReadRowGroup(g, leaves);
    if (!t.ok()) return Status::Corruption(context_, " cannot be decoded: ", t.status().message());
    whole_table_ = std::move(*t);
    whole_group_ = g;
    whole_fields_ = whole;
  }
  if (whole_table_->num_columns() != static_cast<int>(whole.size()) || first + count > whole_table_->num_rows())
    return Status::Corruption(context_, " has unexpected columns or rows in row group ", g);
  size_t r = 0;
  for (size_t c = 0; c < fields_.size(); ++c) {
    if (out[c]) continue;
    const auto& field = schema_->field(fields_[c]);
    auto sliced = whole_table_->column(static_cast<int>(r++))->Slice(first, count);
    OCTAVO_ASSIGN_OR_RETURN(auto col, CastToDeclaredType(sliced, field->type(),
                                                         context_ + " column '" + field->name() + "'"));
    if (col->num_chunks() == 0) {
      OCTAVO_ARROW_ASSIGN_OR_RETURN(out[c], arrow::MakeEmptyArray(field->type(), pool_));
    } else if (col->num_chunks() == 1) {
      out[c] = col->chunk(0);
    } else {
      OCTAVO_ARROW_ASSIGN_OR_RETURN(out[c], arrow::Concatenate(col->chunks(), pool_));
    }
  }
  return out;
}

}  // namespace octavo
