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
