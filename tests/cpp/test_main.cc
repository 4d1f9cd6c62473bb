#include <gtest/gtest.h>

#include "octavo/bundle.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (!octavo::Initialize().ok()) return 2;
  return RUN_ALL_TESTS();
}
