// EXPECT_ERROR_MENTIONS(statement, fragment): runs `statement`, expecting gramgan::Error whose message contains
// `fragment` (the user-facing messages are part of what the tests check).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "engine/error.h"

#define EXPECT_ERROR_MENTIONS(statement, fragment)                                                   \
  do {                                                                                               \
    try {                                                                                            \
      statement;                                                                                     \
      ADD_FAILURE() << #statement " did not throw";                                                  \
    } catch (const ::gramgan::Error& e) {                                                            \
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << "message: " << e.what(); \
    }                                                                                                \
  } while (0)
