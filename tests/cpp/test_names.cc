#include <gtest/gtest.h>

#include <vector>

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
