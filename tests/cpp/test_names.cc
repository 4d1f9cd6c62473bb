#include <gtest/gtest.h>

#include <vector>

#include "util/json_util.h"
#include "util/names.h"

using namespace octavo;

TEST(Names, NormalizeAcceptsAbsoluteRelativeAndTrailingSlash) {
  EXPECT_EQ(*NormalizePath("/a/b"), "/a/b");
  EXPECT_EQ(*NormalizePath("a/b"), "/a/b");
  EXPECT_EQ(*NormalizePath("/a/b/"), "/a/b");
  EXPECT_EQ(*NormalizePath("/"), "/");
}

TEST(Names, RejectsDotDotEmptyAndControlCharacters) {
  for (std::string bad : std::vector<std::string>{"/a/../b", "/a//b", "/.", "..", "/a/\x01", std::string("/a\0b", 4), ""}) {
    auto r = NormalizePath(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) EXPECT_EQ(r.status().code(), StatusCode::kInvalid);
  }
}

TEST(Names, ParentBaseJoin) {
  EXPECT_EQ(ParentPath("/a/b"), "/a");
  EXPECT_EQ(ParentPath("/a"), "/");
  EXPECT_EQ(BaseName("/a/b"), "b");
  EXPECT_EQ(JoinPath("/", "x"), "/x");
  EXPECT_TRUE(IsDescendant("/a/b", "/a"));
  EXPECT_FALSE(IsDescendant("/ab", "/a"));
}

// Names end up in the JSON manifest, which holds only UTF-8 (nlohmann refuses to dump
// anything else): invalid bytes are refused up front, naming the name.
TEST(Names, RejectsInvalidUtf8) {
  for (std::string bad : std::vector<std::string>{"/bad\xff", "/a/\xc3", "/\xed\xb3\xbf" /* surrogate U+DCFF */,
                                                  "/\xc0\xaf" /* overlong '/' */, "/\xf4\x90\x80\x80" /* > U+10FFFF */,
                                                  "/x\xe2\x82"}) {
    auto r = NormalizePath(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalid);
    EXPECT_NE(r.status().message().find("not valid UTF-8"), std::string::npos) << r.status().message();
  }
  EXPECT_NE(NormalizePath("/bad\xff").status().message().find("'bad\\xff'"), std::string::npos);
  for (std::string good : std::vector<std::string>{"/é", "/日本", "/\xf0\x9f\x98\x80", "/\xef\xbf\xbf"})
    EXPECT_TRUE(NormalizePath(good).ok()) << good;
  EXPECT_TRUE(CheckUtf8("", "x").ok());
}

// Error messages quote file content and caller input; Python (and JSON output) need them to
// be valid UTF-8, so every Status message escapes stray bytes and keeps valid text as is.
TEST(Names, StatusMessagesAreAlwaysValidUtf8) {
  EXPECT_EQ(EscapeInvalidUtf8("plain é 日本 \xf0\x9f\x98\x80"), "plain é 日本 \xf0\x9f\x98\x80");
  EXPECT_EQ(EscapeInvalidUtf8("a\xff" "b\xc3"), "a\\xffb\\xc3");
  EXPECT_EQ(EscapeInvalidUtf8("\xed\xb3\xbf"), "\\xed\\xb3\\xbf");  // a surrogate is not UTF-8
  EXPECT_EQ(EscapeInvalidUtf8(std::string("nul\0!", 5)), std::string("nul\0!", 5));
  Status st = Status::Corruption("file says '", std::string("x\xe5y"), "'");
  EXPECT_EQ(st.message(), "file says 'x\\xe5y'");
  EXPECT_EQ(st.WithContext("ctx \xba").message(), "ctx \\xba: file says 'x\\xe5y'");
  // The JSON parser's own message quotes the bad bytes it read.
  auto r = ParseJson("{\"a\": \"\xf4\x20\"}", "OCTAVO");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(CheckUtf8(r.status().message(), "message").ok()) << r.status().message();
}
