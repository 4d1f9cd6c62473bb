// Umbrella header for the octavo C++ API.
#pragma once

#include "octavo/bundle.h"
#include "octavo/env.h"
#include "octavo/options.h"
#include "octavo/query.h"
#include "octavo/status.h"
#include "octavo/table.h"
#include "octavo/threads.h"
#include "octavo/typed_value.h"
#include "octavo/version.h"
