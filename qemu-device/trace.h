#include "trace/trace-hw_hmmdev.h"
