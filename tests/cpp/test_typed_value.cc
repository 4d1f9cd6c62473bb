// The typed attribute codec (octavo/typed_value.h, docs/format.md 4.2.1): round trips of every
// dtype, the data-list / base64 choice, and malformed values from hand-edited manifests.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "octavo/typed_value.h"

using namespace octavo;
using Json = nlohmann::ordered_json;

namespace {

template <typename T>
std::string Bytes(std::initializer_list<T> values) {
  std::string out;
  for (T v : values) out.append(reinterpret_cast<const char*>(&v), sizeof v);
  return out;
}

Json Spec(const std::string& text) { return Json::parse(text)["@ndarray"]; }

void ExpectRoundTrip(const TypedValue& v, const char* form) {
  auto text = EncodeTypedValue(v, "attr");
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_TRUE(Spec(*text).contains(form)) << *text;
  auto back = DecodeTypedValue(*text, "attr");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->dtype, v.dtype);
  EXPECT_EQ(back->shape, v.shape);
  EXPECT_EQ(back->bytes, v.bytes) << *text;
}

}  // namespace

TEST(TypedValue, ListFormForBoolIntegersAndFiniteFloats) {
  ExpectRoundTrip({"|b1", {3}, std::string("\x01\x00\x01", 3)}, "data");
  ExpectRoundTrip({"|i1", {2}, Bytes<int8_t>({-128, 127})}, "data");
  ExpectRoundTrip({"<i2", {}, Bytes<int16_t>({-3})}, "data");
  ExpectRoundTrip({"<i8", {2}, Bytes<int64_t>({std::numeric_limits<int64_t>::min(), 7})}, "data");
  ExpectRoundTrip({"<u8", {1}, Bytes<uint64_t>({std::numeric_limits<uint64_t>::max()})}, "data");
  ExpectRoundTrip({"<u4", {2, 2}, Bytes<uint32_t>({1, 2, 3, 4294967295u})}, "data");
  ExpectRoundTrip({"<f4", {3}, Bytes<float>({0.1f, -1e30f, 3.5f})}, "data");
  ExpectRoundTrip({"<f8", {2}, Bytes<double>({0.1, -2.5e300})}, "data");
  ExpectRoundTrip({"<i4", {0, 3}, ""}, "data");
  auto text = EncodeTypedValue({"<i4", {2}, Bytes<int32_t>({1, -2})}, "attr");
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(Spec(*text)["data"], Json::parse("[1, -2]"));  // readable by any JSON tool
}

TEST(TypedValue, Base64FormForEverythingJsonCannotHoldExactly) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  ExpectRoundTrip({"<f8", {3}, Bytes<double>({1.0, nan, -std::numeric_limits<double>::infinity()})}, "base64");
  ExpectRoundTrip({"<f4", {}, Bytes<float>({std::numeric_limits<float>::infinity()})}, "base64");
  ExpectRoundTrip({"<f2", {2}, Bytes<uint16_t>({0x3c00, 0x7e00})}, "base64");
  ExpectRoundTrip({"<c16", {}, Bytes<double>({1.0, 2.0})}, "base64");
  ExpectRoundTrip({"<c8", {1}, Bytes<float>({1.0f, -2.0f})}, "base64");
  ExpectRoundTrip({"<M8[ns]", {2}, Bytes<int64_t>({0, 1700000000000000000})}, "base64");
  ExpectRoundTrip({"<m8[10s]", {1}, Bytes<int64_t>({5})}, "base64");
  ExpectRoundTrip({"|S3", {2}, std::string("abc\0\xff\x01", 6)}, "base64");
  ExpectRoundTrip({"<U2", {}, Bytes<uint32_t>({0x1F600, 0x61})}, "base64");
}

TEST(TypedValue, EncodeRefusesWhatIsNotANumpyValueItCanStore) {
  for (const char* bad : {">i4", "<i3", "<b1", "|i4", "<f16", "<O8", "|V8", "<M8[eons]", "<i4x", "i4", "<"}) {
    auto r = EncodeTypedValue({bad, {}, std::string(4, '\0')}, "attribute 'x' on /t");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kTypeError) << bad;
    EXPECT_NE(r.status().message().find("attribute 'x' on /t"), std::string::npos) << r.status().message();
  }
  EXPECT_FALSE(EncodeTypedValue({"<i4", {3}, Bytes<int32_t>({1, 2})}, "a").ok());  // bytes != shape
  EXPECT_FALSE(EncodeTypedValue({"<i4", {-1}, ""}, "a").ok());
  EXPECT_FALSE(EncodeTypedValue({"<i8", {int64_t{1} << 40, int64_t{1} << 40}, ""}, "a").ok());  // overflow
  auto big = EncodeTypedValue({"|u1", {kMaxTypedValueBytes + 1}, std::string(kMaxTypedValueBytes + 1, 'x')}, "a");
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("too large"), std::string::npos);
}

TEST(TypedValue, DecodeRefusesMalformedValuesFromHandEditedManifests) {
  for (const char* bad : {
           R"({"@ndarray": {"dtype": "<i4", "shape": [2], "data": [1]}})",                 // count
           R"({"@ndarray": {"dtype": "<i1", "shape": [1], "data": [128]}})",               // range
           R"({"@ndarray": {"dtype": "<u2", "shape": [1], "data": [-1]}})",                // sign
           R"({"@ndarray": {"dtype": "<i4", "shape": [1], "data": [1.5]}})",               // not an integer
           R"({"@ndarray": {"dtype": "|b1", "shape": [1], "data": [2]}})",                 // not a boolean
           R"({"@ndarray": {"dtype": "<f8", "shape": [1], "data": ["NaN"]}})",             // not a number
           R"({"@ndarray": {"dtype": "<c16", "shape": [], "data": [1, 2]}})",              // list form for complex
           R"({"@ndarray": {"dtype": "<i4", "shape": [1], "data": [1], "base64": "AQAAAA=="}})",
           R"({"@ndarray": {"dtype": "<i4", "shape": [1]}})",
           R"({"@ndarray": {"dtype": "<i4", "shape": [2], "base64": "AQAAAA=="}})",        // length
           R"({"@ndarray": {"dtype": "<i4", "shape": [1], "base64": "A!AAAA=="}})",
           R"({"@ndarray": {"dtype": "<i4", "shape": [-1], "base64": ""}})",
           R"({"@ndarray": {"dtype": "<i4", "shape": [1.0], "base64": "AQAAAA=="}})",
           R"({"@ndarray": {"dtype": "<i4", "shape": [4611686018427387904, 4], "base64": ""}})",
           R"({"@ndarray": {"dtype": 4, "shape": [], "data": [1]}})",
           R"({"@ndarray": [1], "other": 2})",
           R"({"@ndarray": "x"})",
           R"([1, 2])",
           R"({"@ndarray": )",
       }) {
    auto r = DecodeTypedValue(bad, "attribute 'x' of /t");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kTypeError) << bad << ": " << r.status().ToString();
    EXPECT_NE(r.status().message().find("attribute 'x' of /t"), std::string::npos) << r.status().message();
  }
}

TEST(TypedValue, DecodesWhatEarlierPythonWritersStored) {
  // json.dumps of the dict octavo's Python layer wrote before the codec moved into the engine.
  auto v = DecodeTypedValue(R"({"@ndarray": {"dtype": "<f4", "shape": [2, 1], "data": [1.0, 2.5]}})", "a");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->bytes, Bytes<float>({1.0f, 2.5f}));
  auto c = DecodeTypedValue(R"({"@ndarray": {"dtype": "<c16", "shape": [], "base64": "AAAAAAAA8D8AAAAAAAAAQA=="}})", "a");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->bytes, Bytes<double>({1.0, 2.0}));
}
