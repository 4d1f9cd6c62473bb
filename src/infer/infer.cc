// Type inference shared by the SQLite and CSV importers (infer.h).
#include "infer/infer.h"

#include <arrow/api.h>

#include <charconv>
#include <cmath>

#include "octavo/arrow_status.h"
#include "util/names.h"

namespace octavo::infer {

namespace {

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {  // H. Hinnant's algorithm
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

// Optional sign and one or more decimal digits (whatever the magnitude).
bool IsIntLiteral(std::string_view s) {
  size_t p = !s.empty() && (s[0] == '+' || s[0] == '-') ? 1 : 0;
  if (p == s.size()) return false;
  for (; p < s.size(); ++p)
    if (s[p] < '0' || s[p] > '9') return false;
  return true;
}

}  // namespace

bool ParseDateTime(std::string_view s, int64_t* micros, int* zoned) {
  int y, mo, d, h, mi, sec = 0;
  if (s.size() < 16 || !Digits(s, 0, 4, &y) || s[4] != '-' || !Digits(s, 5, 2, &mo) || s[7] != '-' ||
      !Digits(s, 8, 2, &d) || (s[10] != 'T' && s[10] != ' ') || !Digits(s, 11, 2, &h) || s[13] != ':' ||
      !Digits(s, 14, 2, &mi))
    return false;
  size_t p = 16;
  int64_t frac_us = 0;
  if (p < s.size() && s[p] == ':') {
    if (!Digits(s, p + 1, 2, &sec)) return false;
    p += 3;
    if (p < s.size() && s[p] == '.') {
      ++p;
      size_t n = 0;
      while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
        if (n < 6) frac_us = frac_us * 10 + (s[p] - '0');
        else if (s[p] != '0') return false;  // sub-microsecond digits would be lost
        ++n;
        ++p;
      }
      if (n == 0) return false;
      for (size_t k = n; k < 6; ++k) frac_us *= 10;
    }
  }
  static const int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (mo < 1 || mo > 12 || d < 1 || d > kDays[mo - 1] || h > 23 || mi > 59 || sec > 59) return false;
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (mo == 2 && d == 29 && !leap) return false;
  int64_t offset_s = 0;
  *zoned = 0;
  if (p < s.size()) {
    if (s[p] == 'Z' || s[p] == 'z') {
      ++p;
    } else if (s[p] == '+' || s[p] == '-') {
      int sign = s[p] == '-' ? -1 : 1, oh, om = 0;
      if (!Digits(s, p + 1, 2, &oh)) return false;
      p += 3;
      if (p < s.size() && s[p] == ':') ++p;
      if (p < s.size()) {
        if (!Digits(s, p, 2, &om)) return false;
        p += 2;
      }
      if (oh > 23 || om > 59) return false;
      offset_s = sign * (oh * 3600 + om * 60);
    } else {
      return false;
    }
    *zoned = 1;
  }
  if (p != s.size()) return false;
  const int64_t secs = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 + h * 3600 +
                       mi * 60 + sec - offset_s;
  *micros = secs * 1000000 + frac_us;
  return true;
}

std::shared_ptr<arrow::DataType> KindType(Kind k) {
  switch (k) {
    case Kind::kInt64: return arrow::int64();
    case Kind::kFloat64: return arrow::float64();
    case Kind::kBool: return arrow::boolean();
    case Kind::kString: return arrow::utf8();
    case Kind::kBinary: return arrow::binary();
    case Kind::kTimestamp: return arrow::timestamp(arrow::TimeUnit::MICRO);
    case Kind::kTimestampUtc: return arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
  }
  return arrow::utf8();
}

Result<Kind> KindForTableType(const arrow::DataType& t, const std::string& table, const std::string& column,
                              const std::string& source) {
  const arrow::DataType* v = &t;
  if (t.id() == arrow::Type::DICTIONARY) v = static_cast<const arrow::DictionaryType&>(t).value_type().get();
  if (arrow::is_integer(v->id())) return Kind::kInt64;
  if (arrow::is_floating(v->id())) return Kind::kFloat64;
  switch (v->id()) {
    case arrow::Type::BOOL: return Kind::kBool;
    case arrow::Type::STRING:
    case arrow::Type::LARGE_STRING:
    case arrow::Type::STRING_VIEW: return Kind::kString;
    case arrow::Type::BINARY:
    case arrow::Type::LARGE_BINARY:
    case arrow::Type::BINARY_VIEW: return Kind::kBinary;
    case arrow::Type::TIMESTAMP:
      return static_cast<const arrow::TimestampType&>(*v).timezone().empty() ? Kind::kTimestamp : Kind::kTimestampUtc;
    default:
      return Status::TypeError("cannot append ", source, " rows to table ", table, ": its column '", column,
                               "' has type ", t.ToString(), ", which ", source,
                               " values do not fill; import into a new table");
  }
}

void ColStats::NoteDateTime(std::string_view v) {
  int64_t us;
  int zoned;
  if (!ParseDateTime(v, &us, &zoned)) {
    ts_ok = false;
  } else if (ts_zoned < 0) {
    ts_zoned = zoned;
  } else if (ts_zoned != zoned) {
    ts_mixed_zone = true;
    ts_ok = false;
  }
}

void Merge(ColStats& into, const ColStats& later) {
  if (into.first_number_where.empty()) into.first_number_where = later.first_number_where;
  if (into.first_text_where.empty()) into.first_text_where = later.first_text_where;
  if (into.first_blob_where.empty()) into.first_blob_where = later.first_blob_where;
  if (into.big_int_row == 0 && later.big_int_row != 0) {
    into.big_int_row = later.big_int_row;
    into.big_int_where = later.big_int_where;
  }
  into.n_int += later.n_int;
  into.n_real += later.n_real;
  into.n_text += later.n_text;
  into.n_blob += later.n_blob;
  into.n_bool += later.n_bool;
  into.ints_01 = into.ints_01 && later.ints_01;
  into.ts_ok = into.ts_ok && later.ts_ok;
  into.ts_mixed_zone = into.ts_mixed_zone || later.ts_mixed_zone;
  if (later.ts_zoned >= 0) {
    if (into.ts_zoned < 0) {
      into.ts_zoned = later.ts_zoned;
    } else if (into.ts_zoned != later.ts_zoned) {
      into.ts_mixed_zone = true;
      into.ts_ok = false;
    }
  }
}

Result<Kind> Decide(const ColStats& cs, const DecideOptions& o, std::vector<std::string>* notes) {
  const bool numbers = cs.n_int + cs.n_real > 0;
  const std::string col = "table " + o.dest + " column '" + cs.name + "'";
  if (cs.n_text > 0) {
    if (numbers) {
      notes->push_back(col + ": numbers (first: " + cs.first_number_where + ") and text (first: " +
                       cs.first_text_where + ") mixed; stored as string, numbers written as text");
      return Kind::kString;
    }
    if (cs.n_bool == cs.n_text) return Kind::kBool;
    if (cs.ts_ok && !o.keep_text_timestamps) return cs.ts_zoned == 1 ? Kind::kTimestampUtc : Kind::kTimestamp;
    if (cs.ts_mixed_zone)
      notes->push_back(col + ": date-times with and without a time zone mixed; kept as string");
    return Kind::kString;
  }
  if (cs.n_real > 0) {
    if (cs.big_int_row > 0)
      return Status::TypeError(col, " mixes REAL values with an integer a float64 cannot hold exactly (",
                               cs.big_int_where, "); ", o.big_int_hint);
    return Kind::kFloat64;
  }
  if (cs.n_int > 0) return o.ints_may_be_bool && cs.ints_01 ? Kind::kBool : Kind::kInt64;
  return o.fallback;
}

bool ParseInt(std::string_view s, int64_t* out) {
  if (!s.empty() && s[0] == '+') {
    s.remove_prefix(1);
    if (!s.empty() && s[0] == '-') return false;
  }
  if (s.empty()) return false;
  const char* end = s.data() + s.size();
  auto r = std::from_chars(s.data(), end, *out);
  return r.ec == std::errc() && r.ptr == end;
}

bool ParseReal(std::string_view s, double* out) {
  if (!s.empty() && s[0] == '+') {
    s.remove_prefix(1);
    if (!s.empty() && s[0] == '-') return false;
  }
  if (s.empty()) return false;
  const char* end = s.data() + s.size();
  auto r = std::from_chars(s.data(), end, *out, std::chars_format::general);
  return r.ec == std::errc() && r.ptr == end;
}

bool ParseBool(std::string_view s, bool* out) {
  auto is = [&](const char* w) {
    const size_t n = std::char_traits<char>::length(w);
    if (s.size() != n) return false;
    for (size_t i = 0; i < n; ++i)
      if (std::tolower(static_cast<unsigned char>(s[i])) != w[i]) return false;
    return true;
  };
  if (is("true")) {
    *out = true;
    return true;
  }
  if (is("false")) {
    *out = false;
    return true;
  }
  return false;
}

TextClass ClassifyText(std::string_view v, int64_t* i) {
  if (IsIntLiteral(v)) return ParseInt(v, i) ? TextClass::kInt : TextClass::kText;
  double d;
  if (ParseReal(v, &d)) return TextClass::kReal;
  bool b;
  return ParseBool(v, &b) ? TextClass::kBool : TextClass::kText;
}

std::string Quoted(std::string_view v) {
  std::string s(v.substr(0, 60));
  if (v.size() > 60) s += "...";
  return "'" + Escaped(s) + "'";
}

Result<bool> AppendText(Kind k, std::string_view v, arrow::ArrayBuilder* b, const char** why) {
  *why = "does not convert to";
  switch (k) {
    case Kind::kInt64: {
      int64_t i;
      if (!ParseInt(v, &i)) {
        double d;
        if (IsIntLiteral(v) || !ParseReal(v, &d)) return false;
        if (!(d >= -9.2e18 && d <= 9.2e18) || std::trunc(d) != d) {
          *why = "is not exactly an";
          return false;
        }
        i = static_cast<int64_t>(d);
      }
      OCTAVO_RETURN_NOT_ARROW_OK(static_cast<arrow::Int64Builder*>(b)->Append(i));
      return true;
    }
    case Kind::kFloat64: {
      double d;
      if (IsIntLiteral(v)) {
        int64_t i;
        if (!ParseInt(v, &i) || i > kMaxExactInt || i < -kMaxExactInt) {
          *why = "is not exactly a";
          return false;
        }
        d = static_cast<double>(i);
      } else if (!ParseReal(v, &d)) {
        return false;
      }
      OCTAVO_RETURN_NOT_ARROW_OK(static_cast<arrow::DoubleBuilder*>(b)->Append(d));
      return true;
    }
    case Kind::kBool: {
      bool x;
      if (v == "0" || v == "1") x = v == "1";
      else if (!ParseBool(v, &x)) return false;
      OCTAVO_RETURN_NOT_ARROW_OK(static_cast<arrow::BooleanBuilder*>(b)->Append(x));
      return true;
    }
    case Kind::kString:
      OCTAVO_RETURN_NOT_ARROW_OK(static_cast<arrow::StringBuilder*>(b)->Append(v));
      return true;
    case Kind::kBinary:
      OCTAVO_RETURN_NOT_ARROW_OK(static_cast<arrow::BinaryBuilder*>(b)->Append(v));
      return true;
    case Kind::kTimestamp:
    case Kind::kTimestampUtc: {
      int64_t us;
      int zoned;
      if (!ParseDateTime(v, &us, &zoned)) {
        *why = "is not a date-time for";
        return false;
      }
      if ((zoned == 1) != (k == Kind::kTimestampUtc)) {
        *why = zoned ? "has a time zone, unlike the column's" : "has no time zone, unlike the column's";
        return false;
      }
      OCTAVO_RETURN_NOT_ARROW_OK(static_cast<arrow::TimestampBuilder*>(b)->Append(us));
      return true;
    }
  }
  return false;
}

arrow::Status StatusBatchReader::ReadNext(std::shared_ptr<arrow::RecordBatch>* out) {
  auto r = Next();
  if (!r.ok()) {
    error_ = r.status();
    return ToArrow(r.status());
  }
  *out = std::move(r).ValueOrDie();
  return arrow::Status::OK();
}

}  // namespace octavo::infer
