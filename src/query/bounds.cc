// What statistics say about a column (query::ColumnBounds, the input of pruning): from the
// manifest's per-part stats and from Parquet row-group statistics; and what a row group takes
// decoded, for sizing the scanner's waves.
#include "query/bounds.h"

#include <arrow/api.h>
#include <parquet/arrow/reader.h>
#include <parquet/metadata.h>
#include <parquet/size_statistics.h>
#include <parquet/statistics.h>

#include <algorithm>
#include <cmath>

#include "query/index_lookup.h"

namespace octavo {
using query::ColumnBounds;

namespace {

bool IsNan(const arrow::Scalar& s) {
  if (!s.is_valid) return true;
  if (s.type->id() == arrow::Type::DOUBLE) return std::isnan(static_cast<const arrow::DoubleScalar&>(s).value);
  if (s.type->id() == arrow::Type::FLOAT) return std::isnan(static_cast<const arrow::FloatScalar&>(s).value);
  return false;
}

std::shared_ptr<arrow::Scalar> CastOrNull(const std::shared_ptr<arrow::Scalar>& s,
                                          const std::shared_ptr<arrow::DataType>& to) {
  if (!s) return nullptr;
  if (s->type->Equals(*to)) return s;
  auto r = s->CastTo(to);
  if (!r.ok()) return nullptr;
  return *r;
}

// A manifest stats value (docs/format.md 4.4) as a scalar of the column's type.
std::shared_ptr<arrow::Scalar> JsonToScalar(const Json& v, const std::shared_ptr<arrow::DataType>& type) {
  std::shared_ptr<arrow::Scalar> s;
  if (v.is_boolean()) {
    s = arrow::MakeScalar(v.get<bool>());
  } else if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    s = arrow::MakeScalar(v.get<uint64_t>());
  } else if (v.is_number_integer()) {
    s = arrow::MakeScalar(v.get<int64_t>());
    if (arrow::is_temporal(type->id())) {
      // temporal stats are the integer storage value; 32-bit types need an int32 first
      const auto& fw = static_cast<const arrow::FixedWidthType&>(*type);
      if (fw.bit_width() == 32) s = CastOrNull(s, arrow::int32());
      if (!s) return nullptr;
    }
    if (arrow::is_floating(type->id())) s = CastOrNull(s, arrow::float64());
  } else if (v.is_number_float()) {
    s = arrow::MakeScalar(v.get<double>());
  } else if (v.is_string()) {
    s = std::make_shared<arrow::StringScalar>(v.get<std::string>());
  } else {
    return nullptr;
  }
  if (!s) return nullptr;
  s = CastOrNull(s, type);
  if (!s || IsNan(*s)) return nullptr;
  return s;
}

}  // namespace

ColumnBounds PartColumnBounds(const PartEntry& part, const arrow::Field& field) {
  ColumnBounds b;
  if (field.type()->id() == arrow::Type::DICTIONARY) return b;
  if (!part.stats.is_object()) return b;
  auto it = part.stats.find(field.name());
  if (it == part.stats.end() || !it->is_object()) return b;
  const Json& st = *it;
  auto nc = st.find("null_count");
  if (nc == st.end() || !nc->is_number_integer()) return b;
  int64_t null_count = nc->get<int64_t>();
  bool has_nan = st.value("has_nan", false);
  b.known = true;
  b.may_missing = null_count > 0 || has_nan;
  b.has_values = null_count < part.num_rows;
  if (st.contains("min") && st.contains("max")) {
    b.min = JsonToScalar(st["min"], field.type());
    b.max = JsonToScalar(st["max"], field.type());
    if (!b.min || !b.max) b.min = b.max = nullptr;
  }
  return b;
}

ColumnBounds query::RowGroupColumnBounds(const parquet::RowGroupMetaData& rg, int leaf, const arrow::Field& field) {
  ColumnBounds b;
  const auto& type = field.type();
  if (leaf < 0 || type->id() == arrow::Type::DICTIONARY) return b;
  auto cc = rg.ColumnChunk(leaf);
  if (!cc || !cc->is_stats_set()) return b;
  auto st = cc->statistics();
  if (!st) return b;
  b.known = true;
  const bool floating = arrow::is_floating(type->id());
  // Parquet statistics say nothing about NaN, so a float column may always hold some.
  b.may_missing = !st->HasNullCount() || st->null_count() > 0 || floating;
  b.has_values = !(st->HasNullCount() && st->null_count() >= rg.num_rows());
  if (st->HasMinMax()) {
    std::shared_ptr<arrow::Scalar> lo, hi;
    if (parquet::arrow::StatisticsAsScalars(*st, &lo, &hi).ok() && lo && hi) {
      b.min = CastOrNull(lo, type);
      b.max = CastOrNull(hi, type);
      if (!b.min || !b.max || IsNan(*b.min) || IsNan(*b.max)) b.min = b.max = nullptr;
    }
    b.exact = st->is_min_value_exact().value_or(true) && st->is_max_value_exact().value_or(true);
  }
  return b;
}

// What decoding every column of a row group takes in memory, roughly. total_byte_size() is
// the size of the encoded pages: a dictionary-encoded column of long repeated strings is a
// few KiB there and hundreds of MiB decoded, so the size statistics (unencoded string bytes)
// and the values' width bound it from below.
int64_t DecodedBytes(const parquet::RowGroupMetaData& rg) {
  const int64_t rows = rg.num_rows();
  int64_t total = 0;
  for (int c = 0; c < rg.num_columns(); ++c) {
    auto cc = rg.ColumnChunk(c);
    int64_t est = cc->total_uncompressed_size();
    switch (cc->type()) {
      case parquet::Type::INT32:
      case parquet::Type::FLOAT: est = std::max(est, rows * 4); break;
      case parquet::Type::INT64:
      case parquet::Type::DOUBLE: est = std::max(est, rows * 8); break;
      case parquet::Type::INT96: est = std::max(est, rows * 12); break;
      case parquet::Type::BYTE_ARRAY: {
        auto ss = cc->size_statistics();
        if (ss && ss->unencoded_byte_array_data_bytes)
          est = std::max(est, *ss->unencoded_byte_array_data_bytes + rows * 4);
        break;
      }
      default: break;
    }
    total += est;
  }
  return total;
}

}  // namespace octavo
